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

/*
 * HermitCore prints whole cycles.  Under QEMU's icount the count is exact
 * and getpid costs 15 instructions, so a whole number would hide anything
 * below 7%: the reference guest adds three decimals (the plugin reads both).
 * Rounded down, as HermitCore's integer division is.
 */
static u64 whole(struct timing t)
{
    return t.cycles / t.ops;
}

static u64 thousandths(struct timing t)
{
    return t.cycles * 1000 / t.ops % 1000;
}

/*
 * One repetition of the whole sequence; out[] gets each metric's average in
 * 1/256 cycles.  inject.c calibrates with silent repetitions so it measures
 * under exactly the conditions of the printed ones.
 */
void basic_rep(u64 out[M_COUNT], bool print)
{
    struct timing g, y, mt, tt;

    if (print) {
        printk("Determine systems performance\n");
        printk("=============================\n");
    }
    g = time_getpid();
    if (print)
        printk("Average time for getpid: %lu.%03lu cycles, pid %d\n", whole(g), thousandths(g), last_pid);
    y = time_sched_yield();
    if (print)
        printk("Average time for sched_yield: %lu.%03lu cycles\n", whole(y), thousandths(y));
    time_malloc_touch(&mt, &tt);
    if (print) {
        printk("Average time for malloc: %lu.%03lu cycles\n", whole(mt), thousandths(mt));
        printk("Average time for the first page access: %lu.%03lu cycles\n", whole(tt), thousandths(tt));
    }
    if (out) {
        out[M_GETPID] = g.cycles * 256 / g.ops;
        out[M_SCHED_YIELD] = y.cycles * 256 / y.ops;
        out[M_MALLOC] = mt.cycles * 256 / mt.ops;
        out[M_FIRST_PAGE] = tt.cycles * 256 / tt.ops;
    }
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
    basic_rep(NULL, true);
}
