/* bench.c - chapter 00: what the optimiser does to the CPU task, what Python
 * pays for it, what measuring costs, and two ways a measurement goes wrong.
 *
 * `make bench CH=00-warmup` builds it against your warmup.c (chapters/, or
 * SUBMISSION) and, where solutions/ exists, links the reference solution
 * beside it (PK_REF), so that "yours" and "reference" rows are timed in the
 * same interleaved rounds. A function still at PK_TODO gets a "not written
 * yet" row and the rest goes on. chapter.mk also builds your file, and the
 * reference, at -O0 and at -O2 -fno-tree-vectorize, and bench/sumsq.c (a
 * provided loop) at -O0: the first row of the first table, always there.
 * PK_BENCH_QUICK=1 runs a short version. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk/report.h"
#include "pk/timing.h"
#include "warmup.h"

#define N 1000000u        /* terms of the sum: Python's range(10**6) */
#define CLOSED_BATCH 1000 /* closed-form calls per timed sample */
#define SAMPLES 100       /* samples per measuring call (last table) */
#define MAX_ROWS 12

/* The extra builds (chapter.mk): the provided loop at -O0, yours at -O0 and
 * at -O2 -fno-tree-vectorize, and the reference's (NULL without
 * solutions/). */
uint64_t sumsq_loop_O0(uint64_t n);
uint64_t warmup_sum_squares_O0(uint64_t n);
uint64_t warmup_sum_squares_novec(uint64_t n);
PK_REF_DECLARE(warmup_sum_squares_O0);
PK_REF_DECLARE(warmup_sum_squares_novec);
PK_REF_DECLARE(warmup_sum_squares);
PK_REF_DECLARE(warmup_sum_squares_closed);
PK_REF_DECLARE(warmup_measure);

static size_t warm_rounds, timed_rounds;   /* pk_bench_many's rounds */

/* ==== rows timed in interleaved rounds ======================================
 * A row runs its function once per round; rows[0] is the table's baseline.
 * A row whose function is NULL (the reference, in the student handout) is
 * left out; one still at PK_TODO (errno ENOSYS) is reported as "not
 * written yet" and not timed. */

typedef struct row {
    const char *name;
    void (*run)(struct row *);
    uint64_t (*sum)(uint64_t);        /* a sum of squares ... */
    size_t batch;                     /* ... called this many times */
    int (*measure)(void (*)(void *), void *, size_t, size_t, pk_stats *);
    int (*pkbench)(void (*)(void *), void *, size_t, size_t, pk_stats *);
    uint64_t sink;
    int failed, err;                  /* the first failing call, errno */
} row;

#define SUM_ROW(name_, fn_, batch_) \
    {.name = (name_), .run = run_sum, .sum = (fn_), .batch = (batch_)}

static void run_sum(row *r)
{
    uint64_t s = 0;
    for (size_t b = 0; b < r->batch; b++)
        s += r->sum(N + b);
    r->sink += s;
}

static void empty_fn(void *ctx)
{
    (void)ctx;
}

static void run_measure(row *r)
{
    pk_stats st;
    int (*m)(void (*)(void *), void *, size_t, size_t, pk_stats *) =
        r->measure ? r->measure : r->pkbench;
    errno = 0;
    if (m(empty_fn, NULL, 0, SAMPLES, &st) != 0 && !r->failed) {
        r->failed = 1;
        r->err = errno;
    }
}

static void run_row(void *p)
{
    row *r = p;
    r->run(r);
}

/* 1 if the row's code is still a PK_TODO stub. */
static int row_todo(row *r)
{
    errno = 0;
    if (r->sum != NULL) {
        pk_consume_u64(r->sum(3));
        return errno == ENOSYS;
    }
    run_measure(r);
    return r->failed && r->err == ENOSYS;
}

/* Time the rows in the same rounds, then report them in order, per call of
 * the sum (a batch is divided by its size) or per sample of the measuring
 * functions. extra, if not NULL, is a row measured elsewhere, reported
 * right after the baseline. */
static void time_rows(pk_report *rep, const char *bench, row *rows, size_t k,
                      size_t n, const pk_stats *extra, const char *extra_name)
{
    void (*fns[MAX_ROWS])(void *);
    void *ctxs[MAX_ROWS];
    size_t slot[MAX_ROWS], m = 0;
    int todo[MAX_ROWS];
    pk_stats st[MAX_ROWS];

    for (size_t i = 0; i < k; i++) {
        int have = rows[i].sum != NULL || rows[i].measure != NULL ||
                   rows[i].pkbench != NULL;
        todo[i] = have ? row_todo(&rows[i]) : -1;   /* -1: not in this build */
        rows[i].failed = 0;
        if (todo[i] == 0) {
            fns[m] = run_row;
            ctxs[m] = &rows[i];
            slot[i] = m++;
        }
    }
    if (m > 0 && pk_bench_many(fns, ctxs, m, warm_rounds, timed_rounds, st) != 0) {
        pk_report_note(rep, "timing failed: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; i < k; i++) {
        if (i == 1 && extra != NULL) /* right after the baseline */
            pk_report_add(rep, bench, extra_name, n, extra);
        if (todo[i] < 0)
            continue;
        if (todo[i] == 1 || rows[i].failed) {
            pk_report_todo(rep, bench, rows[i].name);
            continue;
        }
        pk_stats s = st[slot[i]];
        double per = rows[i].sum != NULL ? 1.0 / (double)rows[i].batch
                                         : 1.0 / SAMPLES;
        s.min *= per, s.median *= per, s.mean *= per, s.max *= per,
            s.stddev *= per;
        pk_report_add(rep, bench, rows[i].name, n, &s);
    }
}

/* ==== Python ====================================================================== */

/* Python's own figure for the same sum, measured now by the python3 on
 * PATH (timeit.repeat, one call per sample); -1 when there is none. */
static int python_stats(int repeat, pk_stats *st, char *version, size_t vsize)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "python3 -c 'import sys, timeit; "
             "print(sys.version.split()[0]); "
             "print(*timeit.repeat(\"sum(i*i for i in range(n))\", "
             "setup=\"n = %u\", number=1, repeat=%d))' 2>/dev/null", N, repeat);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    double s[64];
    size_t n = 0;
    char v[32] = "?";
    if (fscanf(p, "%31s", v) == 1)
        snprintf(version, vsize, "%s", v);
    while (n < 64 && fscanf(p, "%lf", &s[n]) == 1)
        n++;
    int rc = pclose(p);
    return (rc == 0 && n > 0 && pk_stats_from(s, n, st) == 0) ? 0 : -1;
}

/* ==== the pitfalls' own loops ======================================================== */

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

int main(void)
{
    int quick = pk_bench_quick();
    warm_rounds = quick ? 1 : 3;
    timed_rounds = quick ? 5 : 21;

    /* The cold call first, before anything has touched the provided loop's
     * code: its first call in this process. */
    uint64_t t0 = pk_now_ns();
    pk_consume_u64(sumsq_loop_O0(N));
    double cold = (double)(pk_now_ns() - t0) * 1e-9;

    pk_report *r = pk_report_open("00-warmup");
    if (r == NULL)
        return 1;

    /* ---- 1. the sum, one call, from Python to the closed form ---- */
    const char *b1 = "sum of i*i for i < 10^6, one call";
    pk_stats py;
    char pyver[32] = "?";
    int have_py = python_stats(quick ? 3 : 7, &py, pyver, sizeof pyver) == 0;
    row sums[] = {
        SUM_ROW("provided loop, -O0 (bench/sumsq.c)", sumsq_loop_O0, 1),
        SUM_ROW("yours, -O0", warmup_sum_squares_O0, 1),
        SUM_ROW("yours, -O2 -fno-tree-vectorize", warmup_sum_squares_novec, 1),
        SUM_ROW("yours, -O2", warmup_sum_squares, 1),
        SUM_ROW("yours, closed form", warmup_sum_squares_closed, CLOSED_BATCH),
        SUM_ROW("reference, -O0", PK_REF(warmup_sum_squares_O0), 1),
        SUM_ROW("reference, -O2 -fno-tree-vectorize", PK_REF(warmup_sum_squares_novec), 1),
        SUM_ROW("reference, -O2", PK_REF(warmup_sum_squares), 1),
        SUM_ROW("reference, closed form", PK_REF(warmup_sum_squares_closed), CLOSED_BATCH),
    };
    time_rows(r, b1, sums, sizeof sums / sizeof sums[0], N,
              have_py ? &py : NULL, "Python 3 generator (timeit)");
    if (have_py)
        pk_report_note(r, "Python: the python3 on your PATH, version %s, "
                       "measured just before the C rows (not in their rounds)",
                       pyver);
    else
        pk_report_note(r, "(python3 not found: no Python row)");
    pk_report_note(r, "closed forms: timed %d calls at a time, per call",
                   CLOSED_BATCH);

    /* ---- 2. pitfall: the optimiser deletes work whose result nobody uses ---- */
    const char *b2 = "the same loop inlined into the benchmark";
    uint64_t n = N;
    pk_stats st;
    if (pk_bench(used_result, &n, warm_rounds, timed_rounds, &st) == 0)
        pk_report_add(r, b2, "result kept (pk_consume_u64)", N, &st);
    if (pk_bench(unused_result, &n, warm_rounds, timed_rounds, &st) == 0)
        pk_report_add(r, b2, "result thrown away", N, &st);
    pk_report_note(r, "a \"speedup\" here means the loop was deleted, not sped up");

    /* ---- 3. pitfall: one cold run, timed once, as time.time() before and after ---- */
    const char *b3 = "one cold call against the median of warm calls";
    pk_stats one = {1, cold, cold, cold, cold, 0};
    pk_report_add(r, b3, "first call, provided loop -O0 (cold)", N, &one);
    row warm[] = {SUM_ROW("median of warm calls, same loop", sumsq_loop_O0, 1)};
    time_rows(r, b3, warm, 1, N, NULL, NULL);

    /* ---- 4. what measuring costs: an empty function, SAMPLES samples ---- */
    const char *b4 = "measuring an empty function, per sample";
    row meas[] = {
        {.name = "libpk's pk_bench", .run = run_measure, .pkbench = pk_bench},
        {.name = "yours: warmup_measure", .run = run_measure, .measure = warmup_measure},
        {.name = "reference: warmup_measure", .run = run_measure, .measure = PK_REF(warmup_measure)},
    };
    time_rows(r, b4, meas, sizeof meas / sizeof meas[0], SAMPLES, NULL, NULL);
    pk_report_note(r, "each timed call takes %d samples of an empty function; "
                   "the figures are per sample: two clock reads, the call, "
                   "and a share of the statistics", SAMPLES);

    pk_report_close(r);
    return 0;
}
