/* Shared declarations of the reference guest's common code. */
#ifndef GUEST_H
#define GUEST_H

#include <types.h>
#include <x86.h>

/* boot (arch/x86 assembly and common/setup.c) */
enum boot_mode { BOOT_MULTIBOOT = 1, BOOT_PVH = 2 };
extern u32 boot_mode, boot_magic, boot_info;
extern char _start[], _end[], _bss_start[], _bss_end[];
void kmain(void);

/* lib.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool parse_u64(const char *s, size_t len, u64 *out);

/* console.c: printk formats once and fans out to every console */
void console_init(void);
void console_add(void (*write)(const char *buf, size_t len));
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
enum log_level { LOG_INFO, LOG_WARN, LOG_ERROR };
void klog(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* serial.c */
bool serial_init(void);

/* time.c */
extern u64 tsc_khz;
void time_init(void);
u64 tsc_to_us(u64 cycles);
void time_origin_init(u64 tsc_at_entry);
const char *time_origin_name(void);
u64 uptime_ms(void);

/* hypervisor.c */
enum hv_kind { HV_NONE, HV_KVM, HV_TCG, HV_XEN, HV_OTHER };
extern enum hv_kind hv_kind;
extern char hv_signature[13];
void hypervisor_detect(void);
u64 hypervisor_tsc_khz(void);
bool cpu_is_emulated(void);

/* xen.c (untested here: needs Xen) */
void xen_init(void);
bool xen_shutdown(int reason);

/* traps.c */
struct cpu_regs {
    u64 r15, r14, r13, r12, r11, r10, r9, r8;
    u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 vector, error_code;
    u64 rip, cs, rflags, rsp, ss;
};
void traps_init(void);
noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* paging.c and memory map */
#define PAGE_SIZE 4096UL
void mem_add_range(u64 start, u64 end);
void paging_init(void);
u64 frame_alloc(void);
void frame_free(u64 pa);
u64 mem_free_bytes(void);
u64 mem_total_bytes(void);
bool page_fault_fixup(u64 va);
void heap_reserve_pages(u64 va, u64 npages);
void heap_release(u64 start, u64 end);
#define PTE_RESERVED (1UL << 9)

/* malloc.c: reserves virtual memory; pages are mapped on first touch */
void malloc_init(void);
void *malloc(size_t size);
void heap_reset(void);
u64 heap_page_faults(void);

/* sched.c */
struct task;
void sched_init(void);
int task_create(void (*fn)(void *), void *arg);
void sched_yield(void);
int getpid(void);
extern volatile int panic_request;

/* cmdline.c */
enum workload { WL_BASIC, WL_STREAM, WL_HELLO, WL_HANG, WL_PANIC };
enum metric { M_GETPID, M_SCHED_YIELD, M_MALLOC, M_FIRST_PAGE, M_STREAM, M_COUNT };
struct config {
    enum workload workload;
    u64 reps;
    u64 stream_n;
    u64 iters;      /* getpid and sched_yield calls per measurement */
    u64 mallocs;    /* 1 MiB blocks per malloc / first-page measurement */
    u32 inject[M_COUNT]; /* percent, 0 = off */
    bool stream_auto, stream_soft; /* stream_fp=auto|sse2|soft */
    bool inject_ab; /* inject_ab=1: injection on odd repetitions only */
};
extern struct config cfg;
extern const char *metric_names[M_COUNT];
bool cmdline_parse(const char *cmdline, bool skip_first_word);

/* inject.c: a known slowdown, calibrated at boot */
struct inject {
    volatile u64 countdown;  /* decremented per call; fires at 0 */
    u64 period;
    u64 spin_iters;  /* turns of a register-only loop per firing */
};
extern struct inject inj[M_COUNT];
void inject_fire(struct inject *in);
static inline void inject_point(enum metric m)
{
    if (unlikely(--inj[m].countdown == 0))
        inject_fire(&inj[m]);
}
void inject_calibrate(void);
void inject_enable(bool on);

/* report.c */
noreturn void hermit_done(bool ok);
noreturn void poweroff(bool ok);

/* workloads */
void workload_basic(void);
void basic_rep(u64 out[M_COUNT], bool print);
bool workload_stream(bool inject);
void workload_hello(void);

#endif
