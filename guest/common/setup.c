/*
 * kmain: bring the machine up, read the command line, run one workload, and
 * end with HERMIT-DONE.  Called by arch/x86/boot.S in long mode.
 */
#include <guest.h>

#define MB_INFO_MEM (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)
#define PVH_MAGIC 0x336ec578
#define BAD_ADDRESS 0x00007f00dead0000UL /* never mapped, never reserved */

static char cmdline[2048];

bool stream_prepare(void);
void basic_check_memory(void);

static void copy_cmdline(u64 pa)
{
    if (!pa || pa >= (4UL << 30))
        return;
    const char *s = (const char *)pa;
    size_t i = 0;
    while (s[i] && i < sizeof(cmdline) - 1) {
        cmdline[i] = s[i];
        i++;
    }
    cmdline[i] = 0;
}

static const char *read_boot_info(void)
{
    if (boot_mode == BOOT_MULTIBOOT) {
        if (boot_magic != 0x2badb002)
            return "bad multiboot magic";
        const u32 *mb = (const u32 *)(u64)boot_info;
        if (mb[0] & MB_INFO_CMDLINE)
            copy_cmdline(mb[4]);
        if (mb[0] & MB_INFO_MMAP) {
            u64 p = mb[12], end = p + mb[11];
            while (p < end) {
                const u8 *e = (const u8 *)p;
                u32 size = *(const u32 *)e;
                u64 base = *(const u64 *)(e + 4), len = *(const u64 *)(e + 12);
                if (*(const u32 *)(e + 20) == 1)
                    mem_add_range(base, base + len);
                p += size + 4;
            }
        } else if (mb[0] & MB_INFO_MEM) {
            mem_add_range(0x100000, 0x100000 + (u64)mb[2] * 1024);
        }
        return NULL;
    }
    if (boot_mode == BOOT_PVH) {
        const u8 *si = (const u8 *)(u64)boot_info;
        if (*(const u32 *)si != PVH_MAGIC)
            return "bad PVH start info magic";
        copy_cmdline(*(const u64 *)(si + 24));
        u32 version = *(const u32 *)(si + 4);
        u64 memmap = *(const u64 *)(si + 40);
        u32 entries = *(const u32 *)(si + 48);
        if (version >= 1 && memmap && entries) {
            for (u32 i = 0; i < entries; i++) {
                const u8 *e = (const u8 *)(memmap + 24UL * i);
                if (*(const u32 *)(e + 16) == 1)
                    mem_add_range(*(const u64 *)e, *(const u64 *)e + *(const u64 *)(e + 8));
            }
        } else {
            /* no memory map: only trust a little RAM past the image */
            mem_add_range((u64)_end, (u64)_end + (32UL << 20));
        }
        return NULL;
    }
    return "unknown boot mode";
}

/* Task 1: yields straight back; on request touches a bad address. */
static void peer_task(void *arg)
{
    (void)arg;
    for (;;) {
        if (panic_request)
            *(volatile u64 *)BAD_ADDRESS = 1;
        sched_yield();
    }
}

void kmain(void)
{
    u64 tsc_at_entry = rdtsc();
    hypervisor_detect();
    serial_init();
    xen_init();
    time_init();
    time_origin_init(tsc_at_entry);
    traps_init();
    sched_init();
    const char *boot_err = read_boot_info();
    paging_init();

    printk("HERMIT-INFO hypervisor=%s tsc_khz=%lu\n", hv_signature, tsc_khz);
    if (boot_err) {
        printk("HERMIT-ERROR %s\n", boot_err);
        hermit_done(false);
    }
    klog(LOG_INFO, "refguest: %s boot, %lu MiB usable RAM, clock from %s%s",
         boot_mode == BOOT_PVH ? "PVH" : "multiboot", mem_total_bytes() >> 20,
         time_origin_name(), cpu_is_emulated() ? ", CPU instruction-emulated" : "");
    if (!cmdline_parse(cmdline, boot_mode == BOOT_MULTIBOOT))
        hermit_done(false);
    task_create(peer_task, NULL);

    bool ok = true;
    switch (cfg.workload) {
    case WL_HELLO:
        workload_hello();
        break;
    case WL_HANG:
        halt_forever();
    case WL_PANIC:
        panic_request = 1;
        sched_yield();
        panic("workload=panic: the faulting task came back");
    case WL_BASIC:
        basic_check_memory();
        basic_rep(NULL, false); /* warm-up, as benchmarks discard a first pass */
        inject_calibrate();     /* silent calibration reps, injected or not */
        for (u64 r = 0; r < cfg.reps; r++) {
            if (cfg.inject_ab)
                inject_enable(r & 1);
            workload_basic();
        }
        break;
    case WL_STREAM:
        if (!stream_prepare())
            hermit_done(false);
        for (u64 r = 0; r < cfg.reps; r++)
            ok = workload_stream(!cfg.inject_ab || (r & 1)) && ok;
        break;
    }
    hermit_done(ok);
}
