/* timing.c - monotonic clock, robust statistics, a benchmark loop. */
#include "pk/timing.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t pk_now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pk_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int pk_stats_from(const double *samples, size_t n, pk_stats *out)
{
    if (samples == NULL || out == NULL || n == 0) {
        errno = EINVAL;
        return -1;
    }
    double *s = malloc(n * sizeof *s);
    if (s == NULL)
        return -1;
    memcpy(s, samples, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);

    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += s[i];
    double mean = sum / (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (s[i] - mean) * (s[i] - mean);

    out->runs = n;
    out->min = s[0];
    out->max = s[n - 1];
    out->median = (n % 2) ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    out->mean = mean;
    out->stddev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    free(s);
    return 0;
}

int pk_bench(void (*fn)(void *ctx), void *ctx, size_t warmup, size_t runs,
             pk_stats *out)
{
    if (fn == NULL || out == NULL || runs == 0) {
        errno = EINVAL;
        return -1;
    }
    double *samples = malloc(runs * sizeof *samples);
    if (samples == NULL)
        return -1;
    for (size_t i = 0; i < warmup; i++)
        fn(ctx);
    for (size_t i = 0; i < runs; i++) {
        uint64_t t0 = pk_now_ns();
        fn(ctx);
        samples[i] = (double)(pk_now_ns() - t0) * 1e-9;
    }
    int rc = pk_stats_from(samples, runs, out);
    free(samples);
    return rc;
}

int pk_bench_many(void (*const fns[])(void *ctx), void *const ctxs[], size_t k,
                  size_t warmup, size_t runs, pk_stats out[])
{
    if (fns == NULL || out == NULL || k == 0 || runs == 0) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        if (fns[i] == NULL) {
            errno = EINVAL;
            return -1;
        }
    }
    if (SIZE_MAX / sizeof(double) / k < runs) {
        errno = ENOMEM;
        return -1;
    }
    double *samples = malloc(k * runs * sizeof *samples); /* [variant][run] */
    if (samples == NULL)
        return -1;
    for (size_t r = 0; r < warmup + runs; r++) {
        for (size_t i = 0; i < k; i++) {
            void *ctx = ctxs ? ctxs[i] : NULL;
            uint64_t t0 = pk_now_ns();
            fns[i](ctx);
            if (r >= warmup)
                samples[i * runs + (r - warmup)] = (double)(pk_now_ns() - t0) * 1e-9;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++)
        rc = pk_stats_from(samples + i * runs, runs, &out[i]);
    free(samples);
    return rc;
}

unsigned pk_cpu_count(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = online > 0 ? (unsigned)online : 1;
    cpu_set_t set;

    /* taskset and cgroup cpusets shrink what this process may use. */
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int allowed = CPU_COUNT(&set);
        if (allowed > 0 && (unsigned)allowed < n)
            n = (unsigned)allowed;
    }
    return n;
}

void pk_consume_u64(uint64_t value)
{
    /* An empty asm that claims to read value: the compiler must compute it. */
    __asm__ volatile("" : : "r"(value) : "memory");
}
