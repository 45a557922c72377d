/*
 * inject=METRIC:PERCENT makes one measured operation about PERCENT percent
 * slower, so the plugin's tests can prove that a gate catches a slowdown of
 * known size.
 *
 * Every instrumented operation (getpid, sched_yield, malloc, the first-touch
 * page fault) runs inject_point(), which decrements a per-metric countdown:
 * the same two instructions whether injection is on or off, so the
 * uninjected cost is not disturbed.  Off, the countdown starts at 2^64-1 and
 * never reaches zero.  On, every `period` calls inject_fire() runs
 * `spin_iters` turns of a register-only loop.  A cheap operation gets a long
 * period so that the loop is long compared with the call into it.
 *
 * The extra cost is an amount of guest work, not an amount of host time: a
 * TSC deadline under TCG is host time, so a spin that polls the TSC
 * shrinks when the host preempts QEMU in the middle of it and every poll is
 * a call out of translated code into QEMU.  A loop of dec/jnz on a register
 * touches no memory, no device and no clock, and slows down with the host
 * exactly as the operation it is added to does.
 *
 * Calibration at boot: five silent repetitions of the basic workload give
 * each metric's typical cost a (the median), and a timed run of the loop its
 * cost per turn; each firing adds period * a * PERCENT / 100 cycles worth of
 * turns less the measured cost of firing itself.  STREAM is handled in
 * stream.c: each timed kernel spins in proportion to its own measured time.
 */
#include <guest.h>

/* Countdown at 2^64-1: never fires. */
struct inject inj[M_COUNT] = {
    [0 ... M_COUNT - 1] = { .countdown = ~0UL, .period = 0, .spin_iters = 0 },
};

/* basic.c: one silent repetition, averages in 1/256 cycles */

#define TURN_PROBE_CYCLES 200000

/*
 * Not inlined anywhere: the calibration below must time this very loop.
 * Under TCG the cost of a turn depends on the translated block, not only on
 * the instructions: separate copies of the same two instructions ran at
 * 4.4 and 5.7 cycles a turn in one boot (where the host code of each copy
 * landed), so a loop timed in one place and spun in another missed the
 * asked slowdown by up to a third of it.
 */
__attribute__((noinline)) void inject_fire(struct inject *in)
{
    u64 n = in->spin_iters;
    in->countdown = in->period;
    if (n) /* n turns of a loop that only counts a register down */
        asm volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

/*
 * Loop cost in 1/256 TSC cycles per turn: the median of five runs, as the
 * base costs are medians, so that a firing is neither cut short by the
 * fastest run nor stretched by one the host preempted.  Each run is long
 * enough against the TSC reads around it, and no longer: under emulated KVM
 * a turn costs ~10^4 cycles, and this runs in every basic boot.  A probe of
 * its own fires, so no metric's countdown or period is touched.
 */
static u64 time_turns(u64 n)
{
    struct inject probe = { .countdown = ~0UL, .period = ~0UL, .spin_iters = n };
    u64 t0 = rdtsc();
    inject_fire(&probe);
    return rdtsc() - t0;
}

static u64 turn_cost_fp(void)
{
    u64 n = 256, v[5];
    while (n < (1UL << 24) && time_turns(n) < TURN_PROBE_CYCLES)
        n *= 2;
    for (int round = 0; round < 5; round++) {
        u64 t = time_turns(n);
        int j = round;
        for (; j > 0 && v[j - 1] > t; j--)
            v[j] = v[j - 1];
        v[j] = t;
    }
    u64 c = v[2] * 256 / n;
    return c ? c : 1;
}

static u64 rdtsc_cost_fp(void)
{
    u64 t0 = rdtsc();
    for (int i = 0; i < 64; i++)
        (void)rdtsc();
    return (rdtsc() - t0) * 256 / 65;
}

/* Cost of one firing with no spin: the call, the countdown reload, the return. */
static u64 fire_overhead(struct inject *in)
{
    u64 best = ~0UL;
    in->spin_iters = 0;
    for (int round = 0; round < 5; round++) {
        u64 t0 = rdtsc();
        for (int i = 0; i < 16; i++)
            inject_fire(in);
        u64 t = (rdtsc() - t0) / 16;
        best = t < best ? t : best;
    }
    return best;
}

#define BASE_REPS 5

/*
 * Per-metric median over silent repetitions: robust to a burst of host
 * noise (other VMs on the same cores) in two of five, and where the printed
 * repetitions' median sits (malloc's minimum is ~10% below its median).
 */
static void measure_medians(int reps, u64 med[M_COUNT])
{
    u64 v[M_COUNT][BASE_REPS];
    for (int i = 0; i < reps; i++) {
        u64 out[M_COUNT];
        basic_rep(out, false);
        for (int m = 0; m < M_STREAM; m++) {
            int j = i;
            for (; j > 0 && v[m][j - 1] > out[m]; j--)
                v[m][j] = v[m][j - 1];
            v[m][j] = out[m];
        }
    }
    for (int m = 0; m < M_STREAM; m++)
        med[m] = v[m][reps / 2];
}

void inject_calibrate(void)
{
    u64 base[M_COUNT], extra[M_COUNT];
    s64 spin[M_COUNT];
    bool any = false;

    for (int m = 0; m < M_STREAM; m++)
        any |= cfg.inject[m] != 0;

    /*
     * The calibration repetitions run in every basic boot, injected or not:
     * they warm the heap and the page-fault path, and a boot that skipped
     * them measured malloc ~11% dearer and the first page access ~6% cheaper
     * than an injected one, so a getpid injection looked like changes there.
     */
    measure_medians(BASE_REPS, base);
    /* also in every boot: the whole calibration path is the same code either way */
    u64 r = rdtsc_cost_fp();
    u64 turn = turn_cost_fp();
    if (!any)
        return;

    for (int m = 0; m < M_STREAM; m++) {
        struct inject *in = &inj[m];
        extra[m] = base[m] * cfg.inject[m] / 100; /* per call, 1/256 cycles */
        if (!extra[m])
            continue;
        u64 calls = (m == M_GETPID || m == M_SCHED_YIELD) ? cfg.iters : cfg.mallocs;
        if (m == M_SCHED_YIELD)
            calls *= 2; /* both tasks pass the injection point per round trip */
        if (m == M_FIRST_PAGE)
            calls *= 256;
        /* spin >= ~16 TSC reads per firing (the call around it is then small), yet fire >= 4 times per measurement */
        u64 period = (16 * r + extra[m] - 1) / extra[m];
        if (period > calls / 4)
            period = calls / 4;
        if (!period)
            period = 1;
        spin[m] = (s64)(period * extra[m] / 256) - (s64)fire_overhead(in);
        in->period = period;
        in->spin_iters = spin[m] > 0 ? (u64)spin[m] * 256 / turn : 0;
        in->countdown = period;
    }

    /*
     * No feedback step: a check measured during a burst of host noise would
     * drive the spin to zero.  The spin is set from the median base and
     * the measured cost of firing.
     */
    for (int m = 0; m < M_STREAM; m++) {
        struct inject *in = &inj[m];
        if (!extra[m])
            continue;
        klog(LOG_INFO, "inject %s +%u%%: base %lu cycles, +%ld cycles (%lu turns) every %lu calls",
             metric_names[m], cfg.inject[m], base[m] / 256, spin[m], in->spin_iters, in->period);
    }
}

/* inject_ab=1 switches the calibrated injection off and on between repetitions. */
void inject_enable(bool on)
{
    for (int m = 0; m < M_STREAM; m++)
        if (inj[m].period)
            inj[m].countdown = on ? inj[m].period : ~0UL;
}
