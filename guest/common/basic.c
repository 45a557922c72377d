/*
 * workload=basic: the method of HermitCore's usr/benchmarks/basic.c.
 * TSC (lfence; rdtsc; lfence) around a loop of `iters` calls of getpid and
 * of sched_yield, after two warm-up calls; `mallocs` allocations of 1 MiB
 * after one warm-up allocation; then one write to every 4 KiB page of those
 * blocks (each a first touch: a page fault that maps a frame).  Each printed
 * figure is total cycles / number of operations.
 */
#include <guest.h>

#define BLOCK (1UL << 20)

static int last_pid;

struct timing {
    u64 cycles, ops;
};

static struct timing time_getpid(void)
{
    u64 n = cfg.iters;
    int pid = getpid();
    pid = getpid();
    u64 t0 = rdtsc();
    for (u64 i = 0; i < n; i++)
        pid = getpid();
    u64 t1 = rdtsc();
    last_pid = pid;
    return (struct timing){ t1 - t0, n };
}

static struct timing time_sched_yield(void)
{
    u64 n = cfg.iters;
    sched_yield();
    sched_yield();
    u64 t0 = rdtsc();
    for (u64 i = 0; i < n; i++)
        sched_yield();
    u64 t1 = rdtsc();
    return (struct timing){ t1 - t0, n };
}

/* malloc and first-touch timings from one pass; releases the memory after. */
static void time_malloc_touch(struct timing *malloc_t, struct timing *touch_t)
{
    static char *blocks[65536 + 1];
    u64 m = cfg.mallocs;

    blocks[0] = malloc(BLOCK); /* warm-up, as basic.c */
    u64 t0 = rdtsc();
    for (u64 i = 1; i <= m; i++)
        blocks[i] = malloc(BLOCK);
    u64 t1 = rdtsc();
    for (u64 j = 0; j < BLOCK; j += PAGE_SIZE)
        ((volatile char *)blocks[0])[j] = '1';
    u64 t2 = rdtsc();
    for (u64 i = 1; i <= m; i++)
        for (u64 j = 0; j < BLOCK; j += PAGE_SIZE)
            ((volatile char *)blocks[i])[j] = '1';
    u64 t3 = rdtsc();
    heap_reset();
    *malloc_t = (struct timing){ t1 - t0, m };
    *touch_t = (struct timing){ t3 - t2, m * (BLOCK / PAGE_SIZE) };
}

/* Average cost of one operation in 1/256 cycles (used by inject.c). */
u64 basic_measure_fp(enum metric m)
{
    struct timing t, mt, tt;
    switch (m) {
    case M_GETPID:
        t = time_getpid();
        break;
    case M_SCHED_YIELD:
        t = time_sched_yield();
        break;
    case M_MALLOC:
    case M_FIRST_PAGE:
        time_malloc_touch(&mt, &tt);
        t = m == M_MALLOC ? mt : tt;
        break;
    default:
        return 0;
    }
    return t.cycles * 256 / t.ops;
}

/* Fit the malloc pass into memory: (mallocs + 1) MiB plus page tables. */
void basic_check_memory(void)
{
    u64 avail = mem_free_bytes();
    u64 need = (cfg.mallocs + 1) * (BLOCK + BLOCK / 512) + (4UL << 20);
    if (need > avail) {
        u64 fit = avail > (8UL << 20) ? (avail - (4UL << 20)) / (BLOCK + BLOCK / 512) - 1 : 1;
        klog(LOG_WARN, "mallocs=%lu needs %lu MiB, have %lu MiB: using mallocs=%lu",
             cfg.mallocs, need >> 20, avail >> 20, fit);
        cfg.mallocs = fit;
    }
}

void workload_basic(void)
{
    struct timing t, mt, tt;

    printk("Determine systems performance\n");
    printk("=============================\n");

    t = time_getpid();
    printk("Average time for getpid: %lu cycles, pid %d\n", t.cycles / t.ops, last_pid);

    t = time_sched_yield();
    printk("Average time for sched_yield: %lu cycles\n", t.cycles / t.ops);

    time_malloc_touch(&mt, &tt);
    printk("Average time for malloc: %lu cycles\n", mt.cycles / mt.ops);
    printk("Average time for the first page access: %lu cycles\n", tt.cycles / tt.ops);
}
