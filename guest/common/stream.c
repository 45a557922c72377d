/*
 * workload=stream: the STREAM 5.10 method (J. D. McCalpin), written for this
 * guest.  Three arrays of stream_n doubles from malloc (their pages are
 * mapped lazily by the first write, in the initialisation loop), ten passes
 * of Copy, Scale, Add and Triad, best/avg/min/max over passes 2..10, and
 * STREAM's validation of all three arrays.  Built with SSE2 double math.
 *
 * The same file builds for the host (benchmarks/guest): with -DSTREAM_HOST
 * it takes its clock, allocation and printing from the host program.
 */
#ifdef STREAM_HOST
#include "stream_host.h"
#else
#include <guest.h>
#include <fmtfloat.h>
#endif

#define NTIMES 10
#define SCALAR 3.0

static const char *const labels[4] = { "Copy:      ", "Scale:     ", "Add:       ", "Triad:     " };

static double seconds(u64 cycles)
{
    return (double)cycles / ((double)tsc_khz * 1000.0);
}

/* inject=stream:P stretches each timed kernel so its rate drops by P percent. */
static u64 stretch(u64 t0, u64 pct)
{
    u64 t1 = rdtsc();
    if (pct) {
        u64 extra = (t1 - t0) * pct / (100 - pct);
        while (rdtsc() - t1 < extra)
            ;
        t1 = rdtsc();
    }
    return t1 - t0;
}

static bool check_array(const char *name, const double *x, u64 n, double expect, double eps)
{
    double err = 0.0;
    for (u64 j = 0; j < n; j++) {
        double d = x[j] - expect;
        err += d < 0 ? -d : d;
    }
    double avg = err / (double)n;
    double rel = avg / (expect < 0 ? -expect : expect);
    if (rel <= eps)
        return true;
    char e1[32], e2[32], e3[32];
    fmt_exp(e1, sizeof(e1), eps, 6);
    printk("Failed Validation on array %s[], AvgRelAbsErr > epsilon (%s)\n", name, e1);
    fmt_exp(e1, sizeof(e1), expect, 6);
    fmt_exp(e2, sizeof(e2), avg, 6);
    fmt_exp(e3, sizeof(e3), rel, 6);
    printk("     Expected Value: %s, AvgAbsErr: %s, AvgRelAbsErr: %s\n", e1, e2, e3);
    return false;
}

/* One STREAM run over arrays a, b, c of n elements; returns validation. */
bool stream_run(double *a, double *b, double *c, u64 n, u64 inject_pct)
{
    u64 times[4][NTIMES];
    const double bytes[4] = { 2.0 * 8 * (double)n, 2.0 * 8 * (double)n, 3.0 * 8 * (double)n,
                              3.0 * 8 * (double)n };
    const double scalar = SCALAR;

    for (u64 j = 0; j < n; j++) {
        a[j] = 1.0;
        b[j] = 2.0;
        c[j] = 0.0;
    }
    for (u64 j = 0; j < n; j++)
        a[j] = 2.0E0 * a[j];

    for (int k = 0; k < NTIMES; k++) {
        u64 t0 = rdtsc();
        for (u64 j = 0; j < n; j++)
            c[j] = a[j];
        times[0][k] = stretch(t0, inject_pct);

        t0 = rdtsc();
        for (u64 j = 0; j < n; j++)
            b[j] = scalar * c[j];
        times[1][k] = stretch(t0, inject_pct);

        t0 = rdtsc();
        for (u64 j = 0; j < n; j++)
            c[j] = a[j] + b[j];
        times[2][k] = stretch(t0, inject_pct);

        t0 = rdtsc();
        for (u64 j = 0; j < n; j++)
            a[j] = b[j] + scalar * c[j];
        times[3][k] = stretch(t0, inject_pct);
    }

    printk("-------------------------------------------------------------\n");
    printk("Function    Best Rate MB/s  Avg time     Min time     Max time\n");
    for (int f = 0; f < 4; f++) {
        double sum = 0, mn = 1e300, mx = 0;
        for (int k = 1; k < NTIMES; k++) { /* the first pass is not counted */
            double t = seconds(times[f][k]);
            sum += t;
            mn = t < mn ? t : mn;
            mx = t > mx ? t : mx;
        }
        char rate[32], avg[32], tmin[32], tmax[32];
        fmt_fixed(rate, sizeof(rate), 1.0E-06 * bytes[f] / mn, 12, 1);
        fmt_fixed(avg, sizeof(avg), sum / (NTIMES - 1), 11, 6);
        fmt_fixed(tmin, sizeof(tmin), mn, 11, 6);
        fmt_fixed(tmax, sizeof(tmax), mx, 11, 6);
        printk("%s%s  %s  %s  %s\n", labels[f], rate, avg, tmin, tmax);
    }
    printk("-------------------------------------------------------------\n");

    /* Expected values: replay the kernels on scalars. */
    double aj = 1.0, bj = 2.0, cj = 0.0;
    aj = 2.0E0 * aj;
    for (int k = 0; k < NTIMES; k++) {
        cj = aj;
        bj = scalar * cj;
        cj = aj + bj;
        aj = bj + scalar * cj;
    }
    const double eps = 1.e-13;
    bool ok = check_array("a", a, n, aj, eps);
    ok = check_array("b", b, n, bj, eps) && ok;
    ok = check_array("c", c, n, cj, eps) && ok;
    if (ok) {
        char e[32];
        fmt_exp(e, sizeof(e), eps, 6);
        printk("Solution Validates: avg error less than %s on all three arrays\n", e);
    }
    printk("-------------------------------------------------------------\n");
    return ok;
}

#ifndef STREAM_HOST
static double *arr_a, *arr_b, *arr_c;

/* Allocate the arrays once (the first repetition pays the page faults). */
bool stream_prepare(void)
{
    u64 n = cfg.stream_n;
    u64 bytes = 3 * (ALIGN_UP(n * sizeof(double), PAGE_SIZE) + ALIGN_UP(n * sizeof(double), 1UL << 21) / 512);
    u64 avail = mem_free_bytes();
    if (bytes + (2UL << 20) > avail) {
        printk("HERMIT-ERROR bad value in 'stream_n=%lu': needs %lu MiB, %lu MiB free\n", n,
               bytes >> 20, avail >> 20);
        return false;
    }
    arr_a = malloc(n * sizeof(double));
    arr_b = malloc(n * sizeof(double));
    arr_c = malloc(n * sizeof(double));
    return arr_a && arr_b && arr_c;
}

bool workload_stream(void)
{
    u64 n = cfg.stream_n;
    char mib[32], gib[32];
    printk("-------------------------------------------------------------\n");
    printk("STREAM version $Revision: 5.10 $\n");
    printk("-------------------------------------------------------------\n");
    printk("This system uses 8 bytes per array element.\n");
    printk("-------------------------------------------------------------\n");
    printk("Array size = %lu (elements), Offset = 0 (elements)\n", n);
    fmt_fixed(mib, sizeof(mib), (double)n * 8 / 1048576.0, 1, 1);
    fmt_fixed(gib, sizeof(gib), (double)n * 8 / 1073741824.0, 1, 1);
    printk("Memory per array = %s MiB (= %s GiB).\n", mib, gib);
    fmt_fixed(mib, sizeof(mib), 3.0 * (double)n * 8 / 1048576.0, 1, 1);
    fmt_fixed(gib, sizeof(gib), 3.0 * (double)n * 8 / 1073741824.0, 1, 1);
    printk("Total memory required = %s MiB (= %s GiB).\n", mib, gib);
    printk("Each kernel will be executed %d times.\n", NTIMES);
    printk(" The *best* time for each kernel (excluding the first iteration)\n");
    printk(" will be used to compute the reported bandwidth.\n");
    return stream_run(arr_a, arr_b, arr_c, n, cfg.inject[M_STREAM]);
}
#endif
