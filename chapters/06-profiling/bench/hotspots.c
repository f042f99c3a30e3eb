/* hotspots.c - a program with a known profile, for gprof, perf, callgrind
 * and massif (see ../README.md, "The real tools") and for the benchmark.
 *
 *   hotspots [scale]     scale 1 (the default) runs about a second
 *
 * Three kernels do the same loop for 6, 3 and 1 tenths of the work, so a
 * profiler should give them about 60 %, 30 % and 10 % of the time; a loop
 * calls a tiny function millions of times, which is what an instrumenting
 * profiler pays for; an allocation phase reaches a peak of about 9 MB and
 * leaks one 64 KB block, for massif and memcheck to find. */
#include "hotspots.h"

#include <stdio.h>
#include <stdlib.h>

/* The benchmark builds this file twice, with HOT_PREFIX=plain_ and
 * instr_; on its own it is built with no prefix. */
#ifndef HOT_PREFIX
#define HOT_PREFIX
#endif
#define HOT_CAT2(a, b) a##b
#define HOT_CAT(a, b) HOT_CAT2(a, b)
#define HOT(name) HOT_CAT(HOT_PREFIX, name)

/* Never inlined or cloned: each kernel stays one function in every
 * profile. (clang has no noclone and does not clone noinline functions.) */
#if defined(__clang__)
#define HOT_FN __attribute__((noinline))
#else
#define HOT_FN __attribute__((noinline, noclone))
#endif

#define HOT_DECLARE_EXPANDED(p) HOT_DECLARE(p) /* expand HOT_PREFIX first */
HOT_DECLARE_EXPANDED(HOT_PREFIX);

#define TENTH (HOT_UNIT / 10)       /* iterations in a tenth of a unit */
#define ALLOC_BLOCKS 300            /* blocks live at the peak */
#define ALLOC_MAX 60000             /* largest block, bytes */
#define LEAK_BYTES 65536            /* the block hot_remember never frees */

/* Three kernels: the same dependent multiply-add chain (one multiply's
 * latency per iteration), with different constants so that the compiler
 * cannot merge them into one function. */
HOT_FN uint64_t HOT(hot_mix)(uint64_t x, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

HOT_FN uint64_t HOT(hot_scan)(uint64_t x, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005u + 1013904223u;
    return x;
}

HOT_FN uint64_t HOT(hot_tail)(uint64_t x, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005u + 12345u;
    return x;
}

HOT_FN uint64_t HOT(hot_compute)(unsigned units)
{
    uint64_t x = 1, seed = 1, d = 0;

    for (unsigned u = 0; u < units; u++) {
        /* Units of varying length, so that the program does not keep step
         * with a periodic sampler (see the lesson on aliasing). Each even
         * unit is longer by d and the next one shorter by d: over an even
         * number of units the work is exactly units * HOT_UNIT. */
        if (u % 2 == 0) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            d = (seed >> 33) % (TENTH / 2);
        }
        uint64_t n = u % 2 == 0 ? TENTH + d : TENTH - d;
        x = HOT(hot_mix)(x, 6 * n);
        x = HOT(hot_scan)(x, 3 * n);
        x = HOT(hot_tail)(x, 1 * n);
    }
    return x;
}

/* The call-heavy part: a function so small that calling it costs more than
 * what it does. */
HOT_FN uint64_t HOT(hot_leaf)(uint64_t i)
{
    return i * i + 1;
}

HOT_FN uint64_t HOT(hot_calls)(unsigned n)
{
    uint64_t sum = 0;

    for (unsigned i = 0; i < n; i++)
        sum += HOT(hot_leaf)(i);
    return sum;
}

/* Allocates a block that nobody frees: the leak massif and memcheck should
 * point at. The caller drops the pointer, so memcheck calls it "definitely
 * lost". (The volatile store keeps the compiler from removing the malloc.) */
HOT_FN void *HOT(hot_remember)(void)
{
    void *p = malloc(LEAK_BYTES);

    if (p != NULL)
        ((volatile char *)p)[0] = 1;
    return p;
}

HOT_FN uint64_t HOT(hot_allocate)(unsigned rounds)
{
    void *blocks[ALLOC_BLOCKS];
    uint64_t count = 0;

    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < ALLOC_BLOCKS; i++) {
            size_t size = 16 + (size_t)(i * 7919u) % ALLOC_MAX;
            blocks[i] = malloc(size);
            if (blocks[i] != NULL)
                ((volatile char *)blocks[i])[0] = (char)i; /* touch it */
            count++;
        }
        for (unsigned i = 0; i < ALLOC_BLOCKS; i++)
            free(blocks[i]);
    }
    if (HOT(hot_remember)() != NULL)
        count++;
    return count;
}

#ifndef HOT_NO_MAIN
int main(int argc, char **argv)
{
    double scale = argc > 1 ? atof(argv[1]) : 1.0;

    if (!(scale > 0 && scale <= 100)) {
        fprintf(stderr, "usage: %s [scale]   (0 < scale <= 100; 1 runs "
                "about a second)\n", argv[0]);
        return 2;
    }
    uint64_t c = HOT(hot_compute)((unsigned)(700 * scale));
    uint64_t s = HOT(hot_calls)((unsigned)(50000000 * scale));
    uint64_t a = HOT(hot_allocate)(20);
    printf("compute %016llx  calls %llu  blocks %llu\n", (unsigned long long)c,
           (unsigned long long)s, (unsigned long long)a);
    return 0;
}
#endif
