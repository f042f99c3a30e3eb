/* bench.c - chapter 00: what the optimiser does to the CPU task, what Python
 * pays for it, and the ways a measurement goes wrong.
 *
 * Built by `make bench CH=00-warmup` with the reference solution; the same
 * loop is also linked in at -O0 and at -O2 without vectorisation (see
 * chapter.mk), so one run compares all three. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk/report.h"
#include "pk/timing.h"
#include "warmup.h"

#define N 1000000u        /* terms of the sum: Python's range(10**6) */
#define WARMUP 3          /* untimed runs before each measurement */
#define RUNS 21           /* timed runs; the median is reported */

/* The two extra builds of the solution (chapter.mk renames them). */
uint64_t warmup_sum_squares_O0(uint64_t n);
uint64_t warmup_sum_squares_novec(uint64_t n);

typedef struct job {
    uint64_t (*fn)(uint64_t);
    uint64_t n;
} job;

static void run_job(void *p)
{
    job *j = p;
    pk_consume_u64(j->fn(j->n));
}

static void measure(pk_report *r, const char *bench, const char *variant,
                    uint64_t (*fn)(uint64_t), uint64_t n)
{
    job j = {fn, n};
    pk_stats st;
    if (pk_bench(run_job, &j, WARMUP, RUNS, &st) == 0)
        pk_report_add(r, bench, variant, n, &st);
}

/* The same loop visible to the optimiser, with its result thrown away: gcc
 * and clang delete the whole loop, and the "benchmark" times nothing. */
static inline uint64_t local_sum(uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += i * i;
    return s;
}

static void unused_result(void *p)
{
    (void)local_sum(*(uint64_t *)p);
}

static void used_result(void *p)
{
    pk_consume_u64(local_sum(*(uint64_t *)p));
}

/* Python's own figure for the same sum, measured now by python3 itself
 * (timeit.repeat, one call per sample), or -1 when python3 is missing. */
static int python_samples(double *s, size_t max, size_t *n)
{
    FILE *p = popen("python3 -c 'import timeit;"
                    "print(*timeit.repeat(\"sum(i*i for i in range(n))\","
                    "setup=\"n=10**6\", number=1, repeat=7))' 2>/dev/null", "r");
    if (p == NULL)
        return -1;
    *n = 0;
    while (*n < max && fscanf(p, "%lf", &s[*n]) == 1)
        (*n)++;
    int rc = pclose(p);
    return (rc == 0 && *n > 0) ? 0 : -1;
}

int main(void)
{
    pk_report *r = pk_report_open("00-warmup");
    if (r == NULL)
        return 1;

    const char *b1 = "sum of i*i for i < 10^6, one call";
    double py[16];
    size_t npy;
    pk_stats st;
    int have_python = python_samples(py, 16, &npy) == 0 &&
                      pk_stats_from(py, npy, &st) == 0;
    if (have_python)
        pk_report_add(r, b1, "Python 3 generator (timeit)", N, &st);
    measure(r, b1, "C loop, -O0", warmup_sum_squares_O0, N);
    measure(r, b1, "C loop, -O2 -fno-tree-vectorize", warmup_sum_squares_novec, N);
    measure(r, b1, "C loop, -O2 (vectorised)", warmup_sum_squares, N);
    measure(r, b1, "closed form (n-1)n(2n-1)/6", warmup_sum_squares_closed, N);
    if (!have_python)
        pk_report_note(r, "(python3 not found: no Python row)");

    /* Pitfall 1: the optimiser deletes work whose result nobody uses. */
    const char *b2 = "the same loop inlined into the benchmark";
    uint64_t n = N;
    if (pk_bench(used_result, &n, WARMUP, RUNS, &st) == 0)
        pk_report_add(r, b2, "result kept (pk_consume_u64)", N, &st);
    if (pk_bench(unused_result, &n, WARMUP, RUNS, &st) == 0)
        pk_report_add(r, b2, "result thrown away", N, &st);
    pk_report_note(r, "a \"speedup\" here means the loop was deleted, not sped up");

    /* Pitfall 2: one cold run, timed once, as time.time() before and after. */
    const char *b3 = "one cold call against the median of warm calls";
    uint64_t t0 = pk_now_ns();
    pk_consume_u64(warmup_sum_squares_O0(N));
    double cold = (double)(pk_now_ns() - t0) * 1e-9;
    pk_stats one = {1, cold, cold, cold, cold, 0};
    pk_report_add(r, b3, "first call, -O0 (cold)", N, &one);
    job j = {warmup_sum_squares_O0, N};
    if (pk_bench(run_job, &j, WARMUP, RUNS, &st) == 0)
        pk_report_add(r, b3, "median of 21 warm calls, -O0", N, &st);
    pk_report_note(r, "spread of the warm calls: min %.3f ms, max %.3f ms, "
                   "stddev %.3f ms", st.min * 1e3, st.max * 1e3,
                   st.stddev * 1e3);

    pk_report_close(r);
    return 0;
}
