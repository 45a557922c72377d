/*
 * IDT for the 32 CPU exceptions.  A page fault inside reserved heap memory
 * maps a fresh frame (paging.c); any other exception is a panic, which
 * prints a kernel-log line, HERMIT-DONE status=error, and powers off.
 */
#include <guest.h>

struct idt_entry {
    u16 off_lo, sel;
    u8 ist, type;
    u16 off_mid;
    u32 off_hi, zero;
} __attribute__((packed));

static struct idt_entry idt[32] __attribute__((aligned(16)));
extern char exc_stubs[];

static const char *const exc_names[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
    "invalid opcode", "device not available", "double fault", "coprocessor overrun",
    "invalid TSS", "segment not present", "stack fault", "general protection",
    "page fault", "reserved", "x87 FP error", "alignment check", "machine check",
    "SIMD FP error", "virtualization", "control protection",
};

void traps_init(void)
{
    for (unsigned v = 0; v < 32; v++) {
        u64 off = (u64)exc_stubs + v * 16;
        idt[v] = (struct idt_entry){
            .off_lo = (u16)off, .sel = 0x08, .ist = 0, .type = 0x8e,
            .off_mid = (u16)(off >> 16), .off_hi = (u32)(off >> 32), .zero = 0,
        };
    }
    struct { u16 limit; u64 base; } __attribute__((packed)) ptr = { sizeof(idt) - 1, (u64)idt };
    asm volatile("lidt %0" :: "m"(ptr));
}

static volatile int in_panic;

noreturn void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    if (in_panic++)       /* a fault while panicking: just stop */
        poweroff(false);
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    klog(LOG_ERROR, "PANIC: %s", buf);
    hermit_done(false);
}

void do_exception(struct cpu_regs *r)
{
    if (r->vector == 14) {
        u64 va = read_cr2();
        if (!(r->error_code & 1) && page_fault_fixup(va))
            return;
        panic("page fault at %p (rip %p, error %lx)", (void *)va, (void *)r->rip,
              r->error_code);
    }
    panic("%s (vector %lu) at rip %p, error %lx",
          r->vector < 32 && exc_names[r->vector] ? exc_names[r->vector] : "exception",
          r->vector, (void *)r->rip, r->error_code);
}
