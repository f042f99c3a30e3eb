/* warmup.c - chapter 00 reference solution. */
#include "warmup.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t warmup_sum_squares(uint64_t n)
{
    uint64_t sum = 0;

    /* Unsigned overflow is defined (it wraps), so this is exact mod 2^64. */
    for (uint64_t i = 0; i < n; i++)
        sum += i * i;
    return sum;
}

uint64_t warmup_sum_squares_closed(uint64_t n)
{
    if (n == 0)
        return 0;
    /* (n-1) n (2n-1) / 6: one of n-1 and n is even, and one of the three
     * factors is a multiple of 3. Divide those out first; what is left is a
     * plain product, which wraps exactly as the loop's sum does. */
    uint64_t a = n - 1, b = n, c = 2 * n - 1;

    if (a % 2 == 0)
        a /= 2;
    else
        b /= 2;
    if (a % 3 == 0)
        a /= 3;
    else if (b % 3 == 0)
        b /= 3;
    else
        /* n = 3m + 2, so 2n - 1 = 6m + 3 and (2n - 1) / 3 = 2m + 1. Not
         * c / 3: for n >= 2^63, 2n - 1 has already wrapped, and the
         * wrapped value is no longer a multiple of 3. */
        c = 2 * (n / 3) + 1;
    return a * b * c;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    /* Not (int)(a - b): two samples 0.3 ms apart would compare equal. */
    return (a > b) - (a < b);
}

int warmup_median(const double *samples, size_t n, double *out)
{
    if (samples == NULL || out == NULL || n == 0) {
        errno = EINVAL;
        return -1;
    }
    double *copy = malloc(n * sizeof *copy);
    if (copy == NULL)
        return -1;
    memcpy(copy, samples, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, cmp_double);
    *out = n % 2 ? copy[n / 2] : (copy[n / 2 - 1] + copy[n / 2]) / 2;
    free(copy);
    return 0;
}

/* Nanoseconds on CLOCK_MONOTONIC, which never jumps when NTP or a user
 * sets the time. Two readings are subtracted as integers, exactly, and
 * the difference is converted to seconds once. */
static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int warmup_measure(void (*fn)(void *ctx), void *ctx, size_t warmup,
                   size_t runs, pk_stats *out)
{
    if (fn == NULL || out == NULL || runs == 0) {
        errno = EINVAL;
        return -1;
    }
    double *t = malloc(runs * sizeof *t);
    if (t == NULL)
        return -1;

    for (size_t i = 0; i < warmup; i++)
        fn(ctx);
    for (size_t i = 0; i < runs; i++) {
        int64_t t0 = now_ns();
        fn(ctx);
        t[i] = (double)(now_ns() - t0) * 1e-9;
    }

    double sum = 0, min = t[0], max = t[0];
    for (size_t i = 0; i < runs; i++) {
        sum += t[i];
        min = t[i] < min ? t[i] : min;
        max = t[i] > max ? t[i] : max;
    }
    double mean = sum / (double)runs, ss = 0;
    for (size_t i = 0; i < runs; i++)
        ss += (t[i] - mean) * (t[i] - mean);

    int rc = warmup_median(t, runs, &out->median);
    if (rc == 0) {
        out->runs = runs;
        out->min = min;
        out->max = max;
        out->mean = mean;
        /* The sample standard deviation (n - 1), as pk_stats_from(). */
        out->stddev = runs > 1 ? sqrt(ss / (double)(runs - 1)) : 0;
    }
    free(t);
    return rc;
}
