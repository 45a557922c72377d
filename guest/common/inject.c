/*
 * inject=METRIC:PERCENT makes one measured operation about PERCENT percent
 * slower, so the plugin's tests can prove that a gate catches a slowdown of
 * known size.
 *
 * Every instrumented operation (getpid, sched_yield, malloc, the first-touch
 * page fault) runs inject_point(), which decrements a per-metric countdown:
 * the same two instructions whether injection is on or off, so the
 * uninjected cost is not disturbed.  Off, the countdown starts at 2^64-1 and
 * never reaches zero.  On, every `period` calls inject_fire() spins for
 * `spin_cycles` TSC cycles.  A cheap operation gets a long period so that the
 * spin is long compared with reading the TSC.
 *
 * Calibration at boot: measure the operation as the workload does (base
 * cost a), aim at a * PERCENT / 100 extra cycles per call, then measure with
 * the injection on and correct the spin twice for the overhead of firing.
 * STREAM is handled in stream.c: each timed kernel spins in proportion to
 * its own measured time.
 */
#include <guest.h>

/* Countdown at 2^64-1: never fires. */
struct inject inj[M_COUNT] = {
    [0 ... M_COUNT - 1] = { .countdown = ~0UL, .period = 0, .spin_cycles = 0 },
};

/* basic.c: average cost of one operation in 1/256 cycles */
u64 basic_measure_fp(enum metric m);

void inject_fire(struct inject *in)
{
    u64 t0 = rdtsc();
    in->countdown = in->period;
    while (rdtsc() - t0 < in->spin_cycles)
        ;
}

static u64 rdtsc_cost_fp(void)
{
    u64 t0 = rdtsc();
    for (int i = 0; i < 64; i++)
        (void)rdtsc();
    return (rdtsc() - t0) * 256 / 65;
}

static void calibrate(enum metric m)
{
    struct inject *in = &inj[m];
    u32 pct = cfg.inject[m];
    u64 calls = (m == M_GETPID || m == M_SCHED_YIELD) ? cfg.iters : cfg.mallocs;

    basic_measure_fp(m); /* warm-up */
    u64 base = basic_measure_fp(m);
    u64 extra = base * pct / 100; /* wanted extra cost per call, 1/256 cycles */
    if (!extra) {
        klog(LOG_WARN, "inject=%s:%u: nothing to inject", metric_names[m], pct);
        return;
    }
    /* spin at least ~16 TSC reads per firing; fire >= 16 times per measurement */
    u64 r = rdtsc_cost_fp();
    u64 period = (16 * r + extra - 1) / extra;
    if (m == M_SCHED_YIELD)
        calls *= 2; /* both tasks pass the injection point per round trip */
    if (m == M_FIRST_PAGE)
        calls *= 256;
    if (period > calls / 16)
        period = calls / 16;
    if (!period)
        period = 1;
    s64 spin = (s64)(period * extra / 256);
    for (int round = 0; round < 3; round++) {
        in->period = period;
        in->spin_cycles = spin > 0 ? (u64)spin : 0;
        in->countdown = period;
        u64 got = basic_measure_fp(m);
        s64 err = (s64)(base + extra) - (s64)got; /* 1/256 cycles per call */
        spin += err * (s64)period / 256;
        if (spin < 0)
            spin = 0;
    }
    in->spin_cycles = (u64)spin;
    in->countdown = period;
    klog(LOG_INFO, "inject %s +%u%%: base %lu cycles, +%lu cycles every %lu calls",
         metric_names[m], pct, base / 256, in->spin_cycles, period);
}

void inject_calibrate(void)
{
    for (unsigned m = 0; m < M_COUNT; m++)
        if (m != M_STREAM && cfg.inject[m])
            calibrate((enum metric)m);
}
