/* check_perf.c - chapter 07's performance tests, and the tests of the
 * report (REPORT.md) the student writes beside the code.
 *
 * Every performance test checks results first, then measures ratios with
 * pk_perf_measure() (tests/grader/pk_perf.h): interleaved rounds, a
 * two-core ceiling trial in each, no absolute times. The job is 2 x 10^5
 * items of the practice project's formula through libpk's copy of it,
 * pk_project_item(), so that every driver does the same work whatever the
 * student's item function does: about 120 ms sequentially in this portable
 * (-O2, SSE2) build.
 */
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capstone.h"
#include "capstone_tests.h"
#include "pk/task.h"
#include "pk/tpool.h"
#include "pk_check.h"
#include "pk_perf.h"

#define PERF_N 200000      /* items per timed job */
#define PERF_WORKERS 2     /* the two-core machine's worker count */
#define OVERHEAD_TASKS 50000 /* empty tasks per timed run */
#define BURST 64           /* tasks submitted before waiting for them */

/* ---- the job ------------------------------------------------------------ */

static uint64_t perf_item(capstone_item it)
{
    return pk_project_item(it.x, it.y);
}

typedef enum perf_mode { P_SEQ, P_POOL, P_PROCS, P_OMP, P_REDUCE } perf_mode;

typedef struct perf_job {
    perf_mode mode;
    const capstone_item *in;
    size_t n;
    uint64_t *out;          /* results (P_REDUCE: the results to reduce) */
    cpool *pool;
    capstone_summary sum;   /* P_REDUCE's answer */
    int failed;             /* a call failed during the measurement */
    int err;
} perf_job;

static void run_job(void *ctx)
{
    perf_job *j = ctx;
    int rc = 0;

    switch (j->mode) {
    case P_SEQ: /* the baseline: the test's own loop */
        for (size_t i = 0; i < j->n; i++)
            j->out[i] = perf_item(j->in[i]);
        break;
    case P_POOL:
        rc = capstone_run_pool(j->pool, j->in, j->n, j->out, perf_item, 0);
        break;
    case P_PROCS:
        rc = capstone_run_procs(PERF_WORKERS, j->in, j->n, j->out, perf_item,
                                0);
        break;
    case P_OMP:
        rc = capstone_run_omp(PERF_WORKERS, j->in, j->n, j->out, perf_item, 0);
        break;
    case P_REDUCE:
        rc = capstone_reduce_pool(j->pool, j->out, j->n, &j->sum);
        break;
    }
    if (rc != 0 && !j->failed) {
        j->failed = 1;
        j->err = errno;
    }
}

static const char *const perf_name[] = {
    "the sequential loop", "capstone_run_pool", "capstone_run_procs",
    "capstone_run_omp", "capstone_reduce_pool",
};

typedef struct perf_data {
    capstone_item *in;
    uint64_t *want;
    size_t n;
} perf_data;

static perf_data perf_setup(void)
{
    perf_data d;
    /* Under valgrind (50x slower) only the results are checked: less. */
    d.n = capstone_under_valgrind() ? PERF_N / 20 : PERF_N;
    d.in = malloc(d.n * sizeof *d.in);
    d.want = malloc(d.n * sizeof *d.want);
    ck_assert_msg(d.in != NULL && d.want != NULL, "out of memory (a bug in "
                  "the test)");
    for (size_t i = 0; i < d.n; i++) {
        d.in[i] = (capstone_item){i, 2 * (uint64_t)i};
        d.want[i] = perf_item(d.in[i]);
    }
    return d;
}

static void perf_teardown(perf_data *d)
{
    free(d->want);
    free(d->in);
}

/* Run j once and compare with the sequential answer: speed counts only
 * for right results. */
static void check_job(perf_job *j, const uint64_t *want)
{
    memset(j->out, 0, j->n * sizeof *j->out);
    run_job(j);
    ck_assert_msg(!j->failed, "%s failed (errno = %s) before its speed "
                  "could be measured", perf_name[j->mode],
                  pk_errno_name(j->err));
    for (size_t i = 0; i < j->n; i++)
        if (j->out[i] != want[i])
            ck_abort_msg("%s: item %zu is %llu, the sequential loop says "
                         "%llu: speed is measured only on right results",
                         perf_name[j->mode], i,
                         (unsigned long long)j->out[i],
                         (unsigned long long)want[i]);
}

static void expect_no_failure(const perf_job *j)
{
    ck_assert_msg(!j->failed, "%s failed during the measurement (errno = %s)",
                  perf_name[j->mode], pk_errno_name(j->err));
}

static cpool *perf_pool(size_t n)
{
    errno = 0;
    cpool *pool = cpool_create(n);
    ck_assert_msg(pool != NULL, "cpool_create(%zu) returned NULL (errno = "
                  "%s): your pool comes first", n, pk_errno_name(errno));
    return pool;
}

/* ---- each driver against the sequential loop ---------------------------- */

/* One driver at >= target of the two-core ceiling: t_seq / t_driver,
 * paired per round, divided by that round's ceiling. Threads (the pool,
 * OpenMP) reach 95 to 110% of it on the course's machine; a process map
 * 73 to 89% (5 December 2026, quiet): on that virtual machine a fork with
 * its exit costs about 1.2 ms and the copy-on-write faults of the output
 * about 45 ns per item (chapter 02 measures the same), so its target is
 * lower. */
#define PERF_THREADS_TARGET 0.90
#define PERF_PROCS_TARGET 0.65

static void perf_driver(perf_mode mode, const char *what, double target)
{
    perf_data d = perf_setup();
    uint64_t *out_seq = malloc(d.n * sizeof *out_seq);
    uint64_t *out_par = malloc(d.n * sizeof *out_par);
    ck_assert_msg(out_seq != NULL && out_par != NULL, "out of memory (a bug "
                  "in the test)");
    cpool *pool = mode == P_POOL ? perf_pool(PERF_WORKERS) : NULL;
    perf_job seq = {P_SEQ, d.in, d.n, out_seq, NULL, {0}, 0, 0};
    perf_job par = {mode, d.in, d.n, out_par, pool, {0}, 0, 0};
    check_job(&par, d.want);

    void (*const fns[])(void *) = {run_job, run_job};
    void *const ctxs[] = {&seq, &par};
    /* OpenMP's threads meet at a barrier at the end of the loop: a thread
     * that another program preempts holds up the other, which the process
     * ceiling does not always see (each process gets its fair share).
     * With two busy loops on the two cores it once read 1.64x and the
     * reference reached 87% of it; the lockstep ceiling read 0.74x to
     * 1.51x in the same conditions (six measurements, 5 December). So an
     * OpenMP driver is measured only when both reach 1.5x, as chapter
     * 05's OpenMP test is. */
    PK_PERF_LOOP {
        pk_perf_result r;
        if ((mode == P_OMP ? pk_perf_measure_sync(fns, ctxs, 2, &r)
                           : pk_perf_measure(fns, ctxs, 2, &r)) != 0)
            continue;
        expect_no_failure(&par);
        pk_perf_award(r.efficiency[1], target, PK_PERF_HIGHER,
                      "%s, %d workers: %.2fx over sequential, ceiling %.2fx "
                      "(%.0f%%); target %.0f%% of the ceiling", what,
                      PERF_WORKERS, r.ratio[1], r.ceiling,
                      100 * r.efficiency[1], 100 * target);
    }
    cpool_destroy(pool);
    free(out_par);
    free(out_seq);
    perf_teardown(&d);
}

START_TEST(test_capstone_perf_pool)
{
    perf_driver(P_POOL, "capstone_run_pool (your cpool_map)",
                PERF_THREADS_TARGET);
}
END_TEST

START_TEST(test_capstone_perf_procs)
{
    perf_driver(P_PROCS, "capstone_run_procs (your cproc_map)",
                PERF_PROCS_TARGET);
}
END_TEST

START_TEST(test_capstone_perf_omp)
{
    perf_driver(P_OMP, "capstone_run_omp", PERF_THREADS_TARGET);
}
END_TEST

/* ---- the reduce against the map ------------------------------------------- */

START_TEST(test_capstone_perf_reduce)
{
    /* The reduce runs over results already in memory: a few nanoseconds
     * per item if every worker counts into its own summary, against 0.3 us
     * per item for the map. A lock (or a shared atomic) per item costs 20
     * to 100 ns more per item, with both workers fighting over it. */
    perf_data d = perf_setup();
    uint64_t *out = malloc(d.n * sizeof *out);
    ck_assert_msg(out != NULL, "out of memory (a bug in the test)");
    cpool *pool = perf_pool(PERF_WORKERS);
    perf_job map = {P_POOL, d.in, d.n, out, pool, {0}, 0, 0};
    perf_job red = {P_REDUCE, d.in, d.n, d.want, pool, {0}, 0, 0};
    check_job(&map, d.want);
    run_job(&red);
    expect_no_failure(&red);
    capstone_summary want = {0};
    for (size_t i = 0; i < d.n; i++) {
        unsigned b = 0;
        for (uint64_t v = d.want[i]; v != 0; v >>= 1)
            b++;
        want.hist[b]++;
        want.sum += d.want[i];
    }
    want.count = d.n;
    ck_assert_msg(memcmp(&red.sum, &want, sizeof want) == 0,
                  "capstone_reduce_pool over %zu results gave a wrong "
                  "summary (count %llu, sum %llu; expected %llu and %llu)",
                  d.n, (unsigned long long)red.sum.count,
                  (unsigned long long)red.sum.sum,
                  (unsigned long long)want.count,
                  (unsigned long long)want.sum);

    void (*const fns[])(void *) = {run_job, run_job};
    void *const ctxs[] = {&map, &red};
    PK_PERF_LOOP {
        pk_perf_result r;
        if (pk_perf_measure(fns, ctxs, 2, &r) != 0)
            continue;
        expect_no_failure(&map);
        expect_no_failure(&red);
        /* ratio[1] = t_map / t_reduce: at 20 the reduce adds 5%. */
        pk_perf_award(r.ratio[1], 20, PK_PERF_HIGHER,
                      "capstone_reduce_pool: %.2f ms, %.2f%% of the %.1f ms "
                      "map on the same pool of %d; target at most 5%%",
                      r.median_s[1] * 1e3, 100 / r.ratio[1],
                      r.median_s[0] * 1e3, PERF_WORKERS);
    }
    cpool_destroy(pool);
    free(out);
    perf_teardown(&d);
}
END_TEST

/* ---- the pool's cost per task ------------------------------------------- */

typedef struct burst_ctx {
    cpool *mine;
    struct tb_pool *textbook;
    cpool_future **mf;
    struct tb_task **tf;
    int failed;
} burst_ctx;

static int empty_task(void *arg, void **result)
{
    *result = arg;
    return 0;
}

/* OVERHEAD_TASKS empty tasks, submitted one call at a time in bursts of
 * BURST, each burst waited for before the next. */
static void bursts_mine(void *ctx)
{
    burst_ctx *b = ctx;
    for (size_t i = 0; i < OVERHEAD_TASKS; i += BURST) {
        for (size_t j = 0; j < BURST; j++) {
            b->mf[j] = cpool_submit(b->mine, empty_task, (void *)(i + j));
            if (b->mf[j] == NULL)
                b->failed = 1;
        }
        for (size_t j = 0; j < BURST; j++) {
            void *r = NULL;
            if (b->mf[j] != NULL && (cpool_future_get(b->mf[j], &r) != 0 ||
                                     (uintptr_t)r != i + j))
                b->failed = 1;
            cpool_future_free(b->mf[j]);
        }
    }
}

/* The baseline: a textbook pool, the plainest correct design of this
 * chapter's lesson. One mutex guards everything; workers sleep on one
 * condition variable until a task is queued; each future has a condition
 * variable its waiter sleeps on. No spinning, no helping: what a student's
 * first correct cpool should cost. (libpk's pk_tpool is no baseline for
 * this: it spins 20 us before sleeping and lets a waiter run queued tasks
 * itself, so its time per empty task moved between 0.17 and 0.89 us from
 * one run to the next.) */
typedef struct tb_task {
    struct tb_task *next;
    void *arg, *result;
    int done;
    pthread_cond_t cv;
} tb_task;

typedef struct tb_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tb_task *head, *tail;
    int stop;
    pthread_t th[PERF_WORKERS];
} tb_pool;

static void *tb_worker(void *p)
{
    tb_pool *tp = p;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (tp->head == NULL && !tp->stop)
            pthread_cond_wait(&tp->cv, &tp->mu);
        tb_task *t = tp->head;
        if (t == NULL)
            break;
        tp->head = t->next;
        if (tp->head == NULL)
            tp->tail = NULL;
        pthread_mutex_unlock(&tp->mu);
        t->result = t->arg; /* the empty task */
        pthread_mutex_lock(&tp->mu);
        t->done = 1;
        pthread_cond_signal(&t->cv);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

static tb_pool *tb_create(void)
{
    tb_pool *tp = calloc(1, sizeof *tp);
    ck_assert_msg(tp != NULL, "out of memory (a bug in the test)");
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    for (int i = 0; i < PERF_WORKERS; i++)
        ck_assert_msg(pthread_create(&tp->th[i], NULL, tb_worker, tp) == 0,
                      "pthread_create failed (a bug in the test)");
    return tp;
}

static void tb_destroy(tb_pool *tp)
{
    pthread_mutex_lock(&tp->mu);
    tp->stop = 1;
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 0; i < PERF_WORKERS; i++)
        pthread_join(tp->th[i], NULL);
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->mu);
    free(tp);
}

static tb_task *tb_submit(tb_pool *tp, void *arg)
{
    tb_task *t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    *t = (tb_task){NULL, arg, NULL, 0, PTHREAD_COND_INITIALIZER};
    pthread_mutex_lock(&tp->mu);
    if (tp->tail != NULL)
        tp->tail->next = t;
    else
        tp->head = t;
    tp->tail = t;
    pthread_cond_signal(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    return t;
}

static void *tb_get_free(tb_pool *tp, tb_task *t)
{
    pthread_mutex_lock(&tp->mu);
    while (!t->done)
        pthread_cond_wait(&t->cv, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
    void *r = t->result;
    pthread_cond_destroy(&t->cv);
    free(t);
    return r;
}

static void bursts_textbook(void *ctx)
{
    burst_ctx *b = ctx;
    for (size_t i = 0; i < OVERHEAD_TASKS; i += BURST) {
        for (size_t j = 0; j < BURST; j++)
            b->tf[j] = tb_submit(b->textbook, (void *)(i + j));
        for (size_t j = 0; j < BURST; j++)
            if (b->tf[j] == NULL ||
                (uintptr_t)tb_get_free(b->textbook, b->tf[j]) != i + j)
                b->failed = 1;
    }
}

/* At most 1.2x the textbook pool's time per task: full points; 2.4x: none. */
#define OVERHEAD_TARGET 1.2

START_TEST(test_pool_perf_task_overhead)
{
    /* The per-task time of empty tasks, submitted one cpool_submit() at a
     * time in bursts of 64 and waited for, against a textbook pool's time
     * for the same bursts in the same rounds (an absolute time would
     * measure the machine's load more than the pool). Bursts, not one
     * batch of 50,000: a batch hides how a pool wakes its workers (a pool
     * that polls with usleep() drains a long queue as fast as one that
     * sleeps on a condition variable); a burst of 64 pays one wake-up,
     * which a condition variable does in 5 to 50 us and a polling sleep in
     * its whole period. On the course machine (5 December 2026, quiet) the
     * reference took 0.8 us per task, 0.96x to 0.99x the textbook pool's
     * time, and a pool that polls with usleep(100) 1.5 us, 1.45x to 1.52x. */
    burst_ctx b = {perf_pool(PERF_WORKERS), tb_create(),
                   malloc(BURST * sizeof *b.mf), malloc(BURST * sizeof *b.tf),
                   0};
    ck_assert_msg(b.mf != NULL && b.tf != NULL,
                  "malloc failed (a bug in the test)");
    bursts_mine(&b);
    ck_assert_msg(!b.failed, "empty tasks submitted in bursts of %d: a "
                  "submit failed or a future gave the wrong result", BURST);

    void (*const fns[])(void *) = {bursts_textbook, bursts_mine};
    void *const ctxs[] = {&b, &b};
    PK_PERF_LOOP {
        pk_perf_result r;
        if (pk_perf_measure(fns, ctxs, 2, &r) != 0)
            continue;
        ck_assert_msg(!b.failed, "a submit or a get failed during the "
                      "measurement");
        double mine_us = r.median_s[1] / OVERHEAD_TASKS * 1e6;
        double tb_us = r.median_s[0] / OVERHEAD_TASKS * 1e6;
        double times = r.ratio[1] > 0 ? 1 / r.ratio[1] : 1e9;
        pk_perf_award(times, OVERHEAD_TARGET, PK_PERF_LOWER,
                      "empty tasks in bursts of %d on %d workers: your pool "
                      "%.2f us per task, a textbook pool (one mutex, condition "
                      "variables, no spinning) %.2f us: yours takes %.2fx its "
                      "time; target at most %.1fx", BURST, PERF_WORKERS,
                      mine_us, tb_us, times, OVERHEAD_TARGET);
    }
    free(b.tf);
    free(b.mf);
    tb_destroy(b.textbook);
    cpool_destroy(b.mine);
}
END_TEST

/* ---- the report ------------------------------------------------------------ */

#ifndef PK_SRC_DIR
#define PK_SRC_DIR "chapters/07-capstone" /* the Makefile always sets it */
#endif
#define REPORT_PATH PK_SRC_DIR "/REPORT.md"
#define MIN_WORDS 25   /* words an explanation needs at least */
#define ARITH_REL 0.02 /* relative tolerance of the student's arithmetic */
#define ARITH_ABS 0.01 /* and the absolute one, for figures near 0 */

enum {
    F_CPUS, F_CEILING, F_SEQ_MS, F_SERIAL_MS, F_SERIAL_PCT, F_PROF_ITEM,
    F_PROF_FILL, F_AMDAHL2, F_AMDAHL4, F_S2, F_S4, F_KF2, F_KF4, F_TASK_MINE,
    F_TASK_PK, F_PY_SEQ, F_C_SEQ, F_RATIO_SEQ, F_PY_BEST, F_C_BEST,
    F_RATIO_BEST, F_COUNT
};

/* The fields, in the template's order, with the range a real figure must
 * be in (a wider net than any machine needs: it catches slips such as a
 * percentage written as a fraction). */
static const struct { const char *name; double lo, hi; } field[F_COUNT] = {
    {"cpus", 1, 4096},
    {"ceiling, 2 processes", 0.5, 2.5},
    {"sequential job, ms", 1, 1e7},
    {"serial part, ms", 0, 1e7},
    {"serial fraction, %", 0, 100},
    {"item function in the profile, %", 0, 100},
    {"fill in the profile, %", 0, 100},
    {"Amdahl speedup, 2 workers", 1, 2},
    {"Amdahl speedup, 4 workers", 1, 4},
    {"measured speedup, 2 workers", 0.05, 64},
    {"measured speedup, 4 workers", 0.05, 64},
    {"Karp-Flatt, 2 workers", -2, 20},
    {"Karp-Flatt, 4 workers", -2, 20},
    {"empty task, my pool, us", 0.001, 1e6},
    {"empty task, pk_tpool, us", 0.001, 1e6},
    {"Python sequential, s per 10^6 items", 0.01, 1e6},
    {"C sequential, s per 10^6 items", 1e-4, 1e6},
    {"C over Python, sequential", 0.01, 1e6},
    {"Python best, s per 10^6 items", 0.01, 1e6},
    {"C best, s per 10^6 items", 1e-4, 1e6},
    {"C over Python, best", 0.01, 1e6},
};

/* The explanations: each heading needs MIN_WORDS words under it. */
static const char *const section[] = {
    "### What the profile shows",
    "### Why the measurement differs from the prediction",
    "### Where the pool's time goes",
    "### What the comparison means",
};
#define N_SECTIONS (sizeof section / sizeof section[0])

typedef struct report {
    double v[F_COUNT];
    int have[F_COUNT];
    size_t words[N_SECTIONS];
    int todo_line; /* line number of a TODO left in, 0 if none */
} report;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
                       s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    return s;
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    int in_word = 0;
    for (; *s; s++) {
        int space = *s == ' ' || *s == '\t' || *s == '\n';
        if (!space && !in_word)
            n++;
        in_word = !space;
    }
    return n;
}

/* Read and parse REPORT.md; on a problem, fail the test with a message
 * that says which line or field. */
static void read_report(report *rep)
{
    memset(rep, 0, sizeof *rep);
    FILE *f = fopen(REPORT_PATH, "r");
    ck_assert_msg(f != NULL, "cannot open %s: the report lives beside your "
                  "code, in the folder of capstone.c", REPORT_PATH);
    char line[1024];
    int lineno = 0;
    int sec = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *s = trim(line);
        if (strncmp(s, "TODO", 4) == 0 && rep->todo_line == 0)
            rep->todo_line = lineno;
        if (strncmp(s, "#", 1) == 0) {
            sec = -1;
            for (size_t k = 0; k < N_SECTIONS; k++)
                if (strcmp(s, section[k]) == 0)
                    sec = (int)k;
            continue;
        }
        if (sec >= 0) {
            rep->words[sec] += count_words(s);
            continue;
        }
        if (strncmp(s, "- ", 2) != 0)
            continue;
        char *colon = strrchr(s, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        const char *name = trim(s + 2);
        const char *value = trim(colon + 1);
        for (size_t k = 0; k < F_COUNT; k++) {
            if (strcmp(name, field[k].name) != 0)
                continue;
            char *end;
            errno = 0;
            double x = strtod(value, &end);
            if (end == value || *trim(end) != '\0' || errno != 0 ||
                !isfinite(x)) {
                fclose(f);
                ck_abort_msg("%s line %d: \"- %s:\" must be followed by a "
                             "plain number, found \"%s\"", REPORT_PATH,
                             lineno, name, value);
            }
            if (x < field[k].lo || x > field[k].hi) {
                fclose(f);
                ck_abort_msg("%s line %d: \"%s\" is %g, outside %g to %g: "
                             "a slip (a percentage as a fraction, a unit "
                             "mixed up)?", REPORT_PATH, lineno, name, x,
                             field[k].lo, field[k].hi);
            }
            rep->v[k] = x;
            rep->have[k] = 1;
        }
    }
    fclose(f);
    for (size_t k = 0; k < F_COUNT; k++)
        ck_assert_msg(rep->have[k], "%s: the field \"- %s: <number>\" is "
                      "missing or still \"?\"", REPORT_PATH, field[k].name);
}

/* got must be want within the arithmetic tolerance. */
static void expect_close(const report *rep, int k, double want,
                         const char *formula)
{
    double got = rep->v[k];
    ck_assert_msg(fabs(got - want) <= ARITH_REL * fabs(want) + ARITH_ABS,
                  "%s: \"%s\" is %g, but %s gives %.4g from your other "
                  "figures (the grader allows 2%%)", REPORT_PATH,
                  field[k].name, got, formula, want);
}

static double amdahl(double f, double p)
{
    return 1 / (f + (1 - f) / p);
}

static double karp_flatt(double s, double p)
{
    return (1 / s - 1 / p) / (1 - 1 / p);
}

START_TEST(test_capstone_report_filled)
{
    report rep;
    read_report(&rep);
    const double *v = rep.v;
    ck_assert_msg(rep.todo_line == 0, "%s line %d still says TODO: replace "
                  "it with your explanation", REPORT_PATH, rep.todo_line);
    for (size_t k = 0; k < N_SECTIONS; k++)
        ck_assert_msg(rep.words[k] >= MIN_WORDS, "%s: the section \"%s\" has "
                      "%zu words; explain in at least %d", REPORT_PATH,
                      section[k], rep.words[k], MIN_WORDS);
    ck_assert_msg(v[F_SERIAL_MS] <= v[F_SEQ_MS], "%s: the serial part (%g ms) "
                  "cannot be longer than the whole sequential job (%g ms)",
                  REPORT_PATH, v[F_SERIAL_MS], v[F_SEQ_MS]);
    expect_close(&rep, F_SERIAL_PCT, 100 * v[F_SERIAL_MS] / v[F_SEQ_MS],
                 "100 x serial part / sequential job");
    double f = v[F_SERIAL_PCT] / 100;
    expect_close(&rep, F_AMDAHL2, amdahl(f, 2), "1 / (f + (1 - f) / 2)");
    expect_close(&rep, F_AMDAHL4, amdahl(f, 4), "1 / (f + (1 - f) / 4)");
    expect_close(&rep, F_KF2, karp_flatt(v[F_S2], 2),
                 "(1 / S - 1 / 2) / (1 - 1 / 2) with your measured S");
    expect_close(&rep, F_KF4, karp_flatt(v[F_S4], 4),
                 "(1 / S - 1 / 4) / (1 - 1 / 4) with your measured S");
    expect_close(&rep, F_RATIO_SEQ, v[F_PY_SEQ] / v[F_C_SEQ],
                 "Python sequential / C sequential");
    expect_close(&rep, F_RATIO_BEST, v[F_PY_BEST] / v[F_C_BEST],
                 "Python best / C best");
    ck_assert_msg(v[F_PROF_ITEM] + v[F_PROF_FILL] <= 100.5, "%s: the item "
                  "function (%g%%) and the fill (%g%%) cannot take more than "
                  "all of the profile", REPORT_PATH, v[F_PROF_ITEM],
                  v[F_PROF_FILL]);
}
END_TEST

/* The whole job, as make bench times it: fill, map (the mixed formula),
 * reduce; sequentially, or on a pool. */
typedef struct whole_job {
    capstone_item *in;
    uint64_t *out;
    size_t n;
    cpool *pool; /* NULL: sequential */
    capstone_summary sum;
    int failed;
    int err;
} whole_job;

static void run_whole(void *ctx)
{
    whole_job *j = ctx;
    int rc = capstone_fill(j->in, j->n);
    if (rc == 0 && j->pool == NULL)
        rc = capstone_run_seq(j->in, j->n, j->out, capstone_item_mixed);
    else if (rc == 0)
        rc = capstone_run_pool(j->pool, j->in, j->n, j->out,
                               capstone_item_mixed, 0);
    if (rc == 0 && j->pool == NULL)
        rc = capstone_reduce_seq(j->out, j->n, &j->sum);
    else if (rc == 0)
        rc = capstone_reduce_pool(j->pool, j->out, j->n, &j->sum);
    if (rc != 0 && !j->failed) {
        j->failed = 1;
        j->err = errno;
    }
}

#define REPORT_FULL 0.30 /* efficiencies within 30%: full points */

START_TEST(test_capstone_perf_report)
{
    /* The report's speedups must be the student's own. They were measured
     * at another moment, when the machine's ceiling was what the report
     * says; so the test compares shares of the ceiling: the report's
     * speedup / the report's ceiling against the one measured here /
     * the ceiling measured here. Full points within 30%, none beyond 60%: on
     * the course's two-core machine the same pool's share moved between
     * 78% and 109% within minutes (5 December 2026, gcc and clang builds).
     * A pool at its best gets 95-100% of the ceiling with 2 workers and a
     * bit less with 4 on two cores: figures written from Amdahl's law, or
     * from another machine with more cores, fall outside. The job here is
     * 2 x 10^5 items in the portable build (make bench: 10^6 built with
     * -march=native), so fixed costs weigh a little more here: under 1%
     * of the share on the course machine. */
    report rep;
    read_report(&rep);
    size_t n = capstone_under_valgrind() ? PERF_N / 20 : PERF_N;
    capstone_item *in = malloc(3 * n * sizeof *in);
    uint64_t *out = malloc(3 * n * sizeof *out);
    ck_assert_msg(in != NULL && out != NULL, "out of memory (a bug in the "
                  "test)");
    cpool *pool2 = perf_pool(2), *pool4 = perf_pool(4);
    whole_job seq = {in, out, n, NULL, {0}, 0, 0};
    whole_job par2 = {in + n, out + n, n, pool2, {0}, 0, 0};
    whole_job par4 = {in + 2 * n, out + 2 * n, n, pool4, {0}, 0, 0};
    run_whole(&seq);
    run_whole(&par2);
    run_whole(&par4);
    ck_assert_msg(!seq.failed && !par2.failed && !par4.failed,
                  "the whole job (capstone_fill, a driver, a reduce) failed "
                  "(errno = %s)", pk_errno_name(seq.failed ? seq.err
                                                : par2.failed ? par2.err
                                                              : par4.err));
    ck_assert_msg(memcmp(out, out + n, n * sizeof *out) == 0 &&
                  memcmp(out, out + 2 * n, n * sizeof *out) == 0 &&
                  memcmp(&seq.sum, &par2.sum, sizeof seq.sum) == 0 &&
                  memcmp(&seq.sum, &par4.sum, sizeof seq.sum) == 0,
                  "the job on your pool (2 and 4 workers) does not give the "
                  "sequential job's results and summary");

    double e2_rep = rep.v[F_S2] / rep.v[F_CEILING];
    double e4_rep = rep.v[F_S4] / rep.v[F_CEILING];
    void (*const fns[])(void *) = {run_whole, run_whole, run_whole};
    void *const ctxs[] = {&seq, &par2, &par4};
    PK_PERF_LOOP {
        pk_perf_result r;
        if (pk_perf_measure(fns, ctxs, 3, &r) != 0)
            continue;
        double d2 = fabs(e2_rep / r.efficiency[1] - 1);
        double d4 = fabs(e4_rep / r.efficiency[2] - 1);
        double d = d2 > d4 ? d2 : d4;
        pk_perf_award(d, REPORT_FULL, PK_PERF_LOWER,
                      "REPORT.md: %.2fx (2 workers) and %.2fx (4) at a "
                      "ceiling of %.2fx, %.0f%% and %.0f%% of it; measured "
                      "now: %.2fx and %.2fx at %.2fx, %.0f%% and %.0f%%; "
                      "%.0f%% apart, target within %.0f%%", rep.v[F_S2],
                      rep.v[F_S4], rep.v[F_CEILING], 100 * e2_rep,
                      100 * e4_rep, r.ratio[1], r.ratio[2], r.ceiling,
                      100 * r.efficiency[1], 100 * r.efficiency[2], 100 * d,
                      100 * REPORT_FULL);
    }
    cpool_destroy(pool4);
    cpool_destroy(pool2);
    free(out);
    free(in);
}
END_TEST

void capstone_add_perf_tests(Suite *s)
{
    pk_test_add_perf(s, test_capstone_perf_pool, 4, PK_PERF_TIMEOUT,
                     "the pool's workers must all compute: chunks of about "
                     "n / (32 x workers) items, no lock held while fn runs");
    pk_test_add_perf(s, test_capstone_perf_procs, 4, PK_PERF_TIMEOUT,
                     "fork every worker before waiting for any; they pull "
                     "chunks from one shared counter");
    pk_test_add_perf(s, test_capstone_perf_omp, 4, PK_PERF_TIMEOUT,
                     "`parallel for`, not just `for`: without parallel "
                     "there is one thread");
    pk_test_add_perf(s, test_pool_perf_task_overhead, 4, PK_PERF_TIMEOUT,
                     "sleep on a condition variable and signal it when a "
                     "task arrives for an idle worker: polling with sleeps "
                     "costs a whole sleep per wake-up");
    pk_test_add_perf(s, test_capstone_perf_reduce, 3, PK_PERF_TIMEOUT,
                     "a summary per task, merged at the end: no lock and no "
                     "shared counter inside the loop");
    pk_test_add_timeout(s, test_capstone_report_filled, 3, 5,
                        "every field a plain number, your arithmetic right "
                        "(within 2%), every explanation written");
    pk_test_add_perf(s, test_capstone_perf_report, 4, PK_PERF_TIMEOUT,
                     "copy the speedups and the ceiling from one make bench "
                     "run of your own code, on a quiet machine");
}
