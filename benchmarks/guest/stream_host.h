/* What guest/common/stream.c needs when built for the host (-DSTREAM_HOST). */
#ifndef STREAM_HOST_H
#define STREAM_HOST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef uint64_t u64;
extern u64 tsc_khz;

static inline u64 rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) :: "memory");
    return ((u64)hi << 32) | lo;
}

#endif
