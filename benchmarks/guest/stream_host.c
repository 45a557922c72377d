/*
 * Host main for the guest's STREAM (guest/common/stream.c and
 * stream_kernels.c, same sources, same compiler flags for the kernels):
 *   stream_host N [REPS] [sse2|soft|check]
 * `check` runs both kernel sets on N elements and compares them bit for bit
 * (the guest's software doubles against the hardware's).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stream.h>
#include "stream_host.h"

u64 tsc_khz;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void calibrate(void)
{
    double t0 = now();
    u64 c0 = rdtsc();
    while (now() - t0 < 0.1)
        ;
    double t1 = now();
    u64 c1 = rdtsc();
    tsc_khz = (u64)((double)(c1 - c0) / (t1 - t0) / 1000.0);
}

static void *array(u64 n)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, n * 8)) {
        perror("posix_memalign");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    u64 n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    int reps = argc > 2 ? atoi(argv[2]) : 1;
    const char *mode = argc > 3 ? argv[3] : "sse2";
    void *a = array(n), *b = array(n), *c = array(n);
    calibrate();
    printf("HERMIT-INFO hypervisor=host tsc_khz=%llu\n", (unsigned long long)tsc_khz);
    if (!strcmp(mode, "check")) {
        void *a2 = array(n), *b2 = array(n), *c2 = array(n);
        stream_kernels_sse2.init(a, b, c, n);
        stream_kernels_soft.init(a2, b2, c2, n);
        for (int k = 0; k < 10; k++)
            for (int f = 0; f < 4; f++) {
                stream_kernels_sse2.kernel[f](a, b, c, n);
                stream_kernels_soft.kernel[f](a2, b2, c2, n);
            }
        bool same = !memcmp(a, a2, n * 8) && !memcmp(b, b2, n * 8) && !memcmp(c, c2, n * 8);
        printf("soft %s sse2\n", same ? "==" : "!=");
        return same ? 0 : 1;
    }
    const struct stream_kernels *k = strcmp(mode, "soft") ? &stream_kernels_sse2 : &stream_kernels_soft;
    bool ok = true;
    for (int r = 0; r < reps; r++)
        ok = stream_run(k, a, b, c, n, 0) && ok;
    printf("HERMIT-DONE status=%s\n", ok ? "ok" : "error");
    return ok ? 0 : 1;
}
