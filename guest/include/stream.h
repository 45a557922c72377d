/* STREAM's kernels (stream_kernels.c) as seen by the driver (stream.c). */
#ifndef GUEST_STREAM_H
#define GUEST_STREAM_H

#ifdef STREAM_HOST
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
typedef uint64_t u64;
#define stream_print printf
#else
#include <types.h>
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define stream_print printk
#endif

typedef void (*stream_kernel_fn)(void *a, void *b, void *c, u64 n);

struct stream_kernels {
    stream_kernel_fn init;
    stream_kernel_fn kernel[4]; /* Copy, Scale, Add, Triad */
    bool (*validate)(void *a, void *b, void *c, u64 n, int ntimes);
};

extern const struct stream_kernels stream_kernels_sse2, stream_kernels_soft;

/* One STREAM run (stream.c): prints the table and the validation line. */
bool stream_run(const struct stream_kernels *k, void *a, void *b, void *c, u64 n, u64 inject_pct);

#endif
