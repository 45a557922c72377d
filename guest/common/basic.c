/*
 * workload=basic: the work of HermitCore's usr/benchmarks/basic.c, timed in
 * chunks.  `iters` calls of getpid and of sched_yield after two warm-up
 * calls; `mallocs` allocations of 1 MiB after one warm-up allocation; then
 * one write to every 4 KiB page of those blocks (each a first touch: a page
 * fault that maps a frame).  HermitCore times each of these as one loop
 * (TSC, lfence; rdtsc; lfence) and prints total cycles / operations.  Here
 * the same total work runs in CHUNKS consecutive chunks, each timed by
 * itself, and the printed figure is the lower quartile of the chunks'
 * per-operation averages: under TCG the guest's TSC is host time, and a
 * chunk during which the host preempted QEMU reads slow and is outvoted,
 * where it would have inflated the one long loop.  Chunks are whole calls
 * (default sizes: malloc two blocks each, first touch one block's pages
 * each), so an injection, which fires every `period` calls with a
 * period that divides the chunk (inject.c), adds the same share to every
 * chunk and moves the quartile by its full amount.
 */
#include <guest.h>

#define BLOCK (1UL << 20)
#define CHUNKS 64

static int last_pid;

struct timing {
    u64 cycles, ops;
};

/* Chunk c of n operations in k chunks: its first operation and its size (the remainder goes to the first chunks). */
static u64 chunk_start(u64 n, u64 k, u64 c)
{
    return c * (n / k) + (c < n % k ? c : n % k);
}

/*
 * malloc: chunks of two blocks.  Each malloc fills half a page table (256
 * of 512 entries), and under TCG here every other one reads dearer (per
 * call ~1,870-1,920 against ~2,080-2,160 cycles; not under icount, so not
 * more instructions; cause not known): a pair holds one of each, where a
 * quantile of single mallocs would read the cheap half only.
 */
u64 basic_chunks(enum metric m, u64 n)
{
    if (m == M_MALLOC)
        n = n >= 2 ? n / 2 : 1;
    return n < CHUNKS ? (n ? n : 1) : CHUNKS;
}

/*
 * The lower quartile of k chunk averages (cycles/ops, compared exactly by
 * cross-multiplying), returned as that chunk's timing so that it prints
 * and scales as one.
 */
static struct timing robust(struct timing *t, u64 k)
{
    for (u64 i = 1; i < k; i++) {
        struct timing x = t[i];
        u64 j = i;
        for (; j > 0 && t[j - 1].cycles * x.ops > x.cycles * t[j - 1].ops; j--)
            t[j] = t[j - 1];
        t[j] = x;
    }
    return t[k / 4];
}

static struct timing time_getpid(void)
{
    struct timing t[CHUNKS];
    u64 n = cfg.iters, k = basic_chunks(M_GETPID, n);
    int pid = getpid();
    pid = getpid();
    for (u64 c = 0; c < k; c++) {
        u64 m = chunk_start(n, k, c + 1) - chunk_start(n, k, c);
        u64 t0 = rdtsc();
        for (u64 i = 0; i < m; i++)
            pid = getpid();
        t[c] = (struct timing){ rdtsc() - t0, m };
    }
    last_pid = pid;
    return robust(t, k);
}

static struct timing time_sched_yield(void)
{
    struct timing t[CHUNKS];
    u64 n = cfg.iters, k = basic_chunks(M_SCHED_YIELD, n);
    sched_yield();
    sched_yield();
    for (u64 c = 0; c < k; c++) {
        u64 m = chunk_start(n, k, c + 1) - chunk_start(n, k, c);
        u64 t0 = rdtsc();
        for (u64 i = 0; i < m; i++)
            sched_yield();
        t[c] = (struct timing){ rdtsc() - t0, m };
    }
    return robust(t, k);
}

/* malloc and first-touch timings from one pass; releases the memory after. */
static void time_malloc_touch(struct timing *malloc_t, struct timing *touch_t)
{
    static char *blocks[65536 + 1];
    struct timing t[CHUNKS];
    u64 n = cfg.mallocs, k = basic_chunks(M_MALLOC, n), kt = basic_chunks(M_FIRST_PAGE, n);

    blocks[0] = malloc(BLOCK); /* warm-up, as basic.c */
    for (u64 c = 0; c < k; c++) {
        u64 a = 1 + chunk_start(n, k, c), b = 1 + chunk_start(n, k, c + 1);
        u64 t0 = rdtsc();
        for (u64 i = a; i < b; i++)
            blocks[i] = malloc(BLOCK);
        t[c] = (struct timing){ rdtsc() - t0, b - a };
    }
    *malloc_t = robust(t, k);
    for (u64 j = 0; j < BLOCK; j += PAGE_SIZE)
        ((volatile char *)blocks[0])[j] = '1';
    for (u64 c = 0; c < kt; c++) {
        u64 a = 1 + chunk_start(n, kt, c), b = 1 + chunk_start(n, kt, c + 1);
        u64 t0 = rdtsc();
        for (u64 i = a; i < b; i++)
            for (u64 j = 0; j < BLOCK; j += PAGE_SIZE)
                ((volatile char *)blocks[i])[j] = '1';
        t[c] = (struct timing){ rdtsc() - t0, (b - a) * (BLOCK / PAGE_SIZE) };
    }
    *touch_t = robust(t, kt);
    heap_reset();
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
