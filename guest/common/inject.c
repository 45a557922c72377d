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
 * turns (per injection point of an operation) less the measured cost of
 * firing itself.  Injected boots then run four more silent repetitions with
 * the injection on and take off what it added beyond the target: the cost
 * of a firing in place, which the timed loop does not see.  STREAM is
 * handled in stream.c: each timed kernel spins in proportion to its own
 * measured time.
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
#define CHECK_REPS 4 /* even: the free list's LIFO order flips every repetition */
#define MAX_REPS 5

/* Silent repetitions, each metric's values kept sorted as they arrive. */
struct samples {
    int n;
    u64 v[M_COUNT][MAX_REPS];
};

static void sample_rep(struct samples *s)
{
    u64 out[M_COUNT];
    basic_rep(out, false);
    for (int m = 0; m < M_STREAM; m++) {
        int j = s->n;
        for (; j > 0 && s->v[m][j - 1] > out[m]; j--)
            s->v[m][j] = s->v[m][j - 1];
        s->v[m][j] = out[m];
    }
    s->n++;
}

/*
 * Per-metric median: robust to a burst of host noise (other VMs on the same
 * cores) in a minority of the repetitions, and where the printed
 * repetitions' median sits (malloc's minimum is ~10% below its median).
 * An even count takes the mean of the middle two.
 */
static void medians(const struct samples *s, u64 med[M_COUNT])
{
    int h = s->n / 2;
    for (int m = 0; m < M_STREAM; m++)
        med[m] = s->n & 1 ? s->v[m][h] : (s->v[m][h - 1] + s->v[m][h]) / 2;
}

/* Injection points one measured operation passes: both tasks yield per round trip. */
static u64 points_per_op(int m)
{
    return m == M_SCHED_YIELD ? 2 : 1;
}

/* Injection points per repetition: what bounds a period. */
static u64 points_per_rep(int m)
{
    u64 ops = (m == M_GETPID || m == M_SCHED_YIELD) ? cfg.iters : cfg.mallocs;
    if (m == M_FIRST_PAGE)
        ops *= 256; /* pages of a 1 MiB block */
    return ops * points_per_op(m);
}

static void set_spin(struct inject *in, s64 cycles, u64 turn)
{
    in->spin_iters = cycles > 0 ? (u64)cycles * 256 / turn : 0;
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
    struct samples plain = { 0 };
    for (int i = 0; i < BASE_REPS; i++)
        sample_rep(&plain);
    medians(&plain, base);
    /* also in every boot: the whole calibration path is the same code either way */
    u64 r = rdtsc_cost_fp();
    u64 turn = turn_cost_fp();
    if (!any)
        return;

    for (int m = 0; m < M_STREAM; m++) {
        struct inject *in = &inj[m];
        extra[m] = base[m] * cfg.inject[m] / 100; /* per operation, 1/256 cycles */
        if (!extra[m])
            continue;
        u64 per_op = points_per_op(m);
        /*
         * spin >= ~16 TSC reads per firing (the call around it is then
         * small), yet fire >= 16 times per measurement: under TCG a rare
         * firing pays a cold path (see below).  Measured, malloc with
         * mallocs=16 and inject_ab=1, after that correction: firing every
         * 4th call, +2/+5/+10% read +8.5..9.7/+10.2..11.4/+8.2..13.3% (the
         * cold path alone costs more than asked); firing every call,
         * +0.8..3.7/+3.6..5.6/+4.7..12.1%.
         */
        u64 period = (16 * r * per_op + extra[m] - 1) / extra[m];
        if (period > points_per_rep(m) / 16)
            period = points_per_rep(m) / 16;
        if (!period)
            period = 1;
        spin[m] = (s64)(period * extra[m] / per_op / 256) - (s64)fire_overhead(in);
        in->period = period;
        set_spin(in, spin[m], turn);
        in->countdown = period;
    }

    /*
     * Then measure the injection where it really runs, and take off what it
     * adds beyond the target.  Under TCG a firing costs more in place than
     * the timed loop above says: measured without this step, malloc at
     * +1..30% with mallocs=16, firing every 4th call, read 8-14 points
     * high, 600-1,400 cycles a firing whatever the spin (a cold path into
     * inject_fire and back: see "Code layout under TCG" in README.md).
     * One correction, bounded to [0, 1.25x] of the first guess: a firing in
     * place costs more than in the timed loop, never much less, so a large
     * step up can only be a burst of host noise in the check.
     *
     * The check runs in the regime of the printed repetitions, because the
     * cold cost depends on it: with inject_ab=1 a firing after a repetition
     * without one read ~5 points dearer than after one with, so there the
     * check alternates too and compares with its own plain repetitions.
     * These repetitions run in injected boots only; their count is even,
     * so the printed repetitions keep the free list's order of a plain boot.
     */
    struct samples fired = { 0 };
    if (cfg.inject_ab)
        plain.n = 0; /* the check's own plain repetitions, in its regime */
    for (int i = 0; i < CHECK_REPS; i++) {
        if (cfg.inject_ab) {
            inject_enable(false);
            sample_rep(&plain);
            inject_enable(true);
        }
        sample_rep(&fired);
    }
    for (int m = 0; m < M_STREAM; m++) {
        struct inject *in = &inj[m];
        if (!extra[m])
            continue;
        /*
         * The quietest repetition of each kind, not the medians: the host
         * only ever adds time, and four repetitions are too few for a median
         * to shrug it off.  Measured with both cores busy with other work,
         * medians read a getpid +50% injection at +225% in two boots of six
         * (preempted repetitions) and cut the spin to nothing.
         */
        s64 low_plain = (s64)plain.v[m][0], low_fired = (s64)fired.v[m][0];
        s64 excess = (low_fired - low_plain - (s64)extra[m]) * (s64)in->period / (s64)points_per_op(m) / 256;
        s64 first = spin[m] > 0 ? spin[m] : 0;
        s64 fixed = first - excess;
        spin[m] = fixed < 0 ? 0 : fixed > first * 5 / 4 ? first * 5 / 4 : fixed;
        set_spin(in, spin[m], turn);
        in->countdown = in->period;
        klog(LOG_INFO, "inject %s +%u%%: base %lu cycles, first guess read %ld%%, now +%ld cycles (%lu turns) every %lu calls",
             metric_names[m], cfg.inject[m], base[m] / 256, (low_fired - low_plain) * 100 / low_plain, spin[m],
             in->spin_iters, in->period);
        if (fixed < 0)
            klog(LOG_WARN, "inject %s +%u%%: firing alone adds more than asked here; reads high",
                 metric_names[m], cfg.inject[m]);
    }
}

/* inject_ab=1 switches the calibrated injection off and on between repetitions. */
void inject_enable(bool on)
{
    for (int m = 0; m < M_STREAM; m++)
        if (inj[m].period)
            inj[m].countdown = on ? inj[m].period : ~0UL;
}
