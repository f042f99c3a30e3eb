/* warmup.c - chapter 00 exercises. Replace each PK_TODO with real code;
 * warmup.h says exactly what each function must do. `make grade CH=00-warmup`
 * tells you how far you are. */
#include "warmup.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pk/todo.h"

uint64_t warmup_sum_squares(uint64_t n)
{
    (void)n;
    PK_TODO("add up i*i for i = 0 .. n-1 in a uint64_t");
    return 0;
}

uint64_t warmup_sum_squares_closed(uint64_t n)
{
    (void)n;
    PK_TODO("compute (n-1)*n*(2n-1)/6, dividing out 2 and 3 before multiplying");
    return 0;
}

int warmup_median(const double *samples, size_t n, double *out)
{
    (void)samples, (void)n, (void)out;
    PK_TODO("check the arguments, sort a copy with qsort, take the middle");
    return -1;
}

int warmup_measure(void (*fn)(void *ctx), void *ctx, size_t warmup,
                   size_t runs, pk_stats *out)
{
    (void)fn, (void)ctx, (void)warmup, (void)runs, (void)out;
    PK_TODO("call fn warmup times untimed, then time each of runs calls with "
            "clock_gettime(CLOCK_MONOTONIC) and summarise into out");
    return -1;
}
