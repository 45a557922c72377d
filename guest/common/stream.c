/*
 * workload=stream: the STREAM 5.10 method (J. D. McCalpin), written for this
 * guest.  Three arrays of stream_n 8-byte elements from malloc (pages mapped
 * lazily by the first write, in the initialisation loop), ten passes of
 * Copy, Scale, Add and Triad timed with the TSC, best/avg/min/max over passes
 * 2..10, and STREAM's validation of all three arrays.  The table is computed
 * in integer arithmetic; only the kernels touch doubles (stream_kernels.c).
 *
 * benchmarks/guest builds this file and stream_kernels.c for the host
 * (-DSTREAM_HOST) so the guest's and the host's figures come from one source.
 */
#ifdef STREAM_HOST
#include "stream_host.h"
#else
#include <guest.h>
#endif
#include <stream.h>

#define NTIMES 10

static const char *const labels[4] = { "Copy:      ", "Scale:     ", "Add:       ", "Triad:     " };
static const u64 words[4] = { 2, 2, 3, 3 }; /* array accesses per element */

/* cycles as seconds with six decimals, like printf("%11.6f") */
static void print_secs(char *buf, size_t size, u64 cycles)
{
    u64 us = (cycles * 1000 + tsc_khz / 2) / tsc_khz;
    snprintf(buf, size, "%11s", "");
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%lu.%06lu", us / 1000000, us % 1000000);
    snprintf(buf, size, "%11s", tmp);
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

bool stream_run(const struct stream_kernels *k, void *a, void *b, void *c, u64 n, u64 inject_pct)
{
    u64 times[4][NTIMES];

    k->init(a, b, c, n);
    for (int i = 0; i < NTIMES; i++) {
        for (int f = 0; f < 4; f++) {
            u64 t0 = rdtsc();
            k->kernel[f](a, b, c, n);
            times[f][i] = stretch(t0, inject_pct);
        }
    }

    stream_print("-------------------------------------------------------------\n");
    stream_print("Function    Best Rate MB/s  Avg time     Min time     Max time\n");
    for (int f = 0; f < 4; f++) {
        u64 sum = 0, mn = ~0UL, mx = 0;
        for (int i = 1; i < NTIMES; i++) { /* the first pass is not counted */
            u64 t = times[f][i];
            sum += t;
            mn = t < mn ? t : mn;
            mx = t > mx ? t : mx;
        }
        if (!mn)
            mn = 1;
        /* MB/s to one decimal: bytes / (mn / (khz * 1000)) / 1e6 * 10 */
        u64 num = words[f] * 8 * n * tsc_khz; /* < 2^64 for n <= 1e9, 5 GHz */
        u64 rate10 = (num + mn * 50) / (mn * 100);
        char rate[32], r[32], avg[32], tmin[32], tmax[32];
        snprintf(r, sizeof(r), "%lu.%lu", rate10 / 10, rate10 % 10);
        snprintf(rate, sizeof(rate), "%12s", r);
        print_secs(avg, sizeof(avg), (sum + (NTIMES - 1) / 2) / (NTIMES - 1));
        print_secs(tmin, sizeof(tmin), mn);
        print_secs(tmax, sizeof(tmax), mx);
        stream_print("%s%s  %s  %s  %s\n", labels[f], rate, avg, tmin, tmax);
    }
    stream_print("-------------------------------------------------------------\n");
    bool ok = k->validate(a, b, c, n, NTIMES);
    if (ok)
        stream_print("Solution Validates: avg error less than 1.000000e-13 on all three arrays\n");
    stream_print("-------------------------------------------------------------\n");
    return ok;
}

#ifndef STREAM_HOST
static void *arr_a, *arr_b, *arr_c;
static const struct stream_kernels *kernels = &stream_kernels_sse2;

/* Allocate the arrays once (the first repetition pays the page faults). */
bool stream_prepare(void)
{
    u64 n = cfg.stream_n;
    u64 array = ALIGN_UP(n * 8, PAGE_SIZE);
    u64 bytes = 3 * (array + array / 512);
    u64 avail = mem_free_bytes();
    if (bytes + (2UL << 20) > avail) {
        printk("HERMIT-ERROR bad value in 'stream_n=%lu': needs %lu MiB, %lu MiB free\n", n,
               bytes >> 20, avail >> 20);
        return false;
    }
    arr_a = malloc(n * 8);
    arr_b = malloc(n * 8);
    arr_c = malloc(n * 8);
    if (cfg.stream_soft || (cfg.stream_auto && cpu_is_emulated())) {
        kernels = &stream_kernels_soft;
        klog(LOG_WARN, "STREAM uses software doubles (%s)",
             cfg.stream_soft ? "stream_fp=soft" : "instruction emulator without SSE");
    }
    return arr_a && arr_b && arr_c;
}

static void mib(char *buf, size_t size, u64 bytes, u64 unit)
{
    u64 t = (bytes * 10 + unit / 2) / unit;
    snprintf(buf, size, "%lu.%lu", t / 10, t % 10);
}

bool workload_stream(bool inject)
{
    u64 n = cfg.stream_n;
    char m1[32], g1[32], m3[32], g3[32];
    mib(m1, sizeof(m1), n * 8, 1UL << 20);
    mib(g1, sizeof(g1), n * 8, 1UL << 30);
    mib(m3, sizeof(m3), 3 * n * 8, 1UL << 20);
    mib(g3, sizeof(g3), 3 * n * 8, 1UL << 30);
    printk("-------------------------------------------------------------\n");
    printk("STREAM version $Revision: 5.10 $\n");
    printk("-------------------------------------------------------------\n");
    printk("This system uses 8 bytes per array element.\n");
    printk("-------------------------------------------------------------\n");
    printk("Array size = %lu (elements), Offset = 0 (elements)\n", n);
    printk("Memory per array = %s MiB (= %s GiB).\n", m1, g1);
    printk("Total memory required = %s MiB (= %s GiB).\n", m3, g3);
    printk("Each kernel will be executed %d times.\n", NTIMES);
    printk(" The *best* time for each kernel (excluding the first iteration)\n");
    printk(" will be used to compute the reported bandwidth.\n");
    return stream_run(kernels, arr_a, arr_b, arr_c, n, inject ? cfg.inject[M_STREAM] : 0);
}
#endif
