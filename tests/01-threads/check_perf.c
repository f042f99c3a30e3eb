/* check_perf.c - chapter 01's performance tests (tests/grader/pk_perf.h).
 *
 * Each checks the results first, then times the student's code against a
 * baseline that the test provides, in interleaved rounds with the machine's
 * two-core ceiling measured in every round, and scores the ratio: full
 * points at the target, none at half of it (twice it, for a figure meant to
 * be small), the best of three measurements. On a machine too busy to
 * measure (ceiling under 1.5x) the points are withheld, and the message
 * says so.
 *
 * The targets sit well inside what the reference solution reaches (see
 * each test); the slow mutants they exist for (tests/01-threads/mutants/,
 * Kind: slow) land near zero.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pk/task.h"
#include "pk/timing.h"
#include "pk_check.h"
#include "pk_perf.h"
#include "threads.h"
#include "threads_test.h"

/* The score pk_perf_award() gives @p value against @p target. */
static double score_of(double value, double target, pk_perf_dir dir)
{
    if (dir == PK_PERF_HIGHER)
        return value >= target ? 1 : value <= target / 2 ? 0
             : (value - target / 2) / (target / 2);
    return value <= target ? 1 : value >= 2 * target ? 0
         : (2 * target - value) / target;
}

/* Record @p score (0..1) with a message, through pk_perf_award(): a value
 * of 0.5 + score / 2 against a target of 1 scores exactly @p score. For a
 * test whose score is the smaller of two figures' scores. */
static void award_score(double score, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void award_score(double score, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pk_perf_award(0.5 + score / 2, 1.0, PK_PERF_HIGHER, "%s", msg);
}

/* A measurement that says more about the machine than about the code.
 * pk_perf_measure() refuses a machine whose ceilings are under 1.5x; each
 * test here also checks that its own figures are physically possible (a
 * parallel run cannot beat independent processes by a quarter) or that the
 * effect it grades was visible at all (false sharing needs both threads
 * writing at the same moment). If three measurements in a row fail that
 * check, the test withholds its points as "too busy", exactly as for a low
 * ceiling; a score from an earlier attempt stands. */
typedef int (*plausible_fn)(const pk_perf_result *r, char *why, size_t len);

static int measure_plausible(void (*const fns[])(void *), void *const ctxs[],
                             size_t k, pk_perf_result *r, plausible_fn ok)
{
    char why[256] = "";
    for (int i = 0; i < PK_PERF_BUSY_RETRIES; i++) {
        int rc = pk_perf_measure(fns, ctxs, k, r);
        if (rc != 0)
            return rc;             /* busy or failed: already recorded */
        if (ok(r, why, sizeof why))
            return 0;
    }
    if (pk_check_recorded(NULL, NULL, 0) < 0) /* no earlier attempt scored */
        pk_check_record(0, PK_NOTE_IS_BUSY,
                        "machine too busy to measure speed (%s, in %d "
                        "measurements): these points are not awarded; run "
                        "make grade again on a quiet machine", why,
                        PK_PERF_BUSY_RETRIES);
    return 1;
}

/* No variant can beat independent processes by a quarter: one that does
 * was measured while other programs took the cores unevenly. */
#define MAX_EFFICIENCY 1.25

/* ==== thr_fan_out on CPU-bound tasks ========================================== */

#define FAN_TASKS 4              /* two per core, as in the lesson */
#define FAN_N 60000000ull        /* pk_cpu_task(6e7): about 25 ms here */

typedef struct fan_work {
    uint64_t in[FAN_TASKS], out[FAN_TASKS], want[FAN_TASKS];
    int failed, err;
} fan_work;

static void fan_sequential(void *p)
{
    fan_work *w = p;
    for (int i = 0; i < FAN_TASKS; i++)
        w->want[i] = pk_cpu_task(w->in[i]);
}

static void fan_threads(void *p)
{
    fan_work *w = p;
    errno = 0;
    if (thr_fan_out(pk_cpu_task, w->in, w->out, FAN_TASKS) != 0 && !w->failed) {
        w->failed = 1;
        w->err = errno;
    }
}

static int fan_plausible(const pk_perf_result *r, char *why, size_t len)
{
    snprintf(why, len, "thr_fan_out reached %.0f%% of the ceiling %.2fx, "
             "which no program can", 100 * r->efficiency[1], r->ceiling);
    return r->efficiency[1] <= MAX_EFFICIENCY;
}

/* Four tasks of pk_cpu_task(6e7) on threads against the same four in a
 * loop. The reference reached 72% to 117% of the ceiling on the course's
 * machine in 20 runs of make perf-series (5 December 2026, 14:31-14:55
 * UTC; 84% or more in 19 of them), so the target is 80%: the series' 19
 * runs in 20 (a fan-out that joins each thread first gets about 50%). */
#define FAN_TARGET 0.80
START_TEST(test_threads_perf_fan_out)
{
    static fan_work w;
    memset(&w, 0, sizeof w);
    for (int i = 0; i < FAN_TASKS; i++)
        w.in[i] = FAN_N + (uint64_t)i; /* four different sums */
    fan_sequential(&w);
    fan_threads(&w);
    ck_assert_msg(!w.failed, "thr_fan_out(pk_cpu_task, in, out, 4) returned "
                  "-1 (errno = %s), expected 0", pk_errno_name(w.err));
    for (int i = 0; i < FAN_TASKS; i++)
        ck_assert_msg(w.out[i] == w.want[i],
                      "thr_fan_out(pk_cpu_task, in, out, 4) left out[%d] = "
                      "%llu, expected pk_cpu_task(in[%d]) = %llu", i,
                      (unsigned long long)w.out[i], i,
                      (unsigned long long)w.want[i]);

    void (*const fns[])(void *) = {fan_sequential, fan_threads};
    void *const ctxs[] = {&w, &w};
    PK_PERF_LOOP {
        pk_perf_result r;
        if (measure_plausible(fns, ctxs, 2, &r, fan_plausible) != 0)
            continue;
        pk_perf_award(r.efficiency[1], FAN_TARGET, PK_PERF_HIGHER,
                      "thr_fan_out: %.2fx over sequential, ceiling %.2fx "
                      "(%.0f%%); target %.0f%% (4 tasks of pk_cpu_task(6e7))",
                      r.ratio[1], r.ceiling, 100 * r.efficiency[1],
                      100 * FAN_TARGET);
    }
    ck_assert_msg(!w.failed, "thr_fan_out(pk_cpu_task, in, out, 4) returned "
                  "-1 (errno = %s) while it was timed, expected 0",
                  pk_errno_name(w.err));
}
END_TEST

/* ==== padded per-thread counters against a mutex ================================ */

#define CNT_THREADS 2            /* one per core */
#define CNT_K 2000000ull         /* increments per thread */

/* The baseline: the mutex counter, written here (not the student's), one
 * call per increment as thr_counter_inc() is. */
static pthread_mutex_t base_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t base_value;

__attribute__((noinline)) static void base_inc(void)
{
    pthread_mutex_lock(&base_mu);
    base_value++;
    pthread_mutex_unlock(&base_mu);
}

static void *base_thread(void *p)
{
    for (uint64_t i = 0; i < CNT_K; i++)
        base_inc();
    return p;
}

/* Two more provided loops, to see whether the machine shows false sharing
 * right now: per-thread slots 8 bytes apart (one cache line), and the same
 * code on slots a line apart. */
typedef struct line_slot {
    _Alignas(THR_CACHE_LINE) _Atomic uint64_t value;
} line_slot;

static _Atomic uint64_t packed_slots[CNT_THREADS];
static line_slot padded_slots[CNT_THREADS];

__attribute__((noinline)) static void slot_inc(_Atomic uint64_t *v)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void *packed_thread(void *p)
{
    _Atomic uint64_t *v = p;
    for (uint64_t i = 0; i < CNT_K; i++)
        slot_inc(v);
    return NULL;
}

static void count_slots(_Atomic uint64_t *slot0, _Atomic uint64_t *slot1)
{
    pthread_t t[CNT_THREADS];
    _Atomic uint64_t *v[CNT_THREADS] = {slot0, slot1};
    for (int i = 0; i < CNT_THREADS; i++)
        pthread_create(&t[i], NULL, packed_thread, v[i]);
    for (int i = 0; i < CNT_THREADS; i++)
        pthread_join(t[i], NULL);
}

static void count_packed(void *p)
{
    (void)p;
    count_slots(&packed_slots[0], &packed_slots[1]);
}

static void count_padded_bare(void *p)
{
    (void)p;
    count_slots(&padded_slots[0].value, &padded_slots[1].value);
}

typedef struct cnt_work {
    int failed, err;
    uint64_t total;
} cnt_work;

static void count_mutex(void *p)
{
    (void)p;
    pthread_t t[CNT_THREADS];
    base_value = 0;
    for (int i = 0; i < CNT_THREADS; i++)
        pthread_create(&t[i], NULL, base_thread, NULL);
    for (int i = 0; i < CNT_THREADS; i++)
        pthread_join(t[i], NULL);
}

static void count_padded(void *p)
{
    cnt_work *w = p;
    w->total = 0;
    errno = 0;
    if ((thr_count(THR_COUNTER_PADDED, CNT_THREADS, CNT_K, &w->total) != 0 ||
         w->total != CNT_THREADS * CNT_K) && !w->failed) {
        w->failed = 1;
        w->err = errno;
    }
}

/* False sharing costs only while both threads write at the same moment.
 * On a machine too busy to run them side by side, packed slots are as fast
 * as padded ones, and this test could not tell them apart. */
#define MIN_FALSE_SHARING 2.0

static int cnt_plausible(const pk_perf_result *r, char *why, size_t len)
{
    double fs = r->median_s[2] / r->median_s[3];
    snprintf(why, len, "packed slots were only %.2fx slower than padded "
             "ones, under %.1fx: the two threads hardly ran side by side",
             fs, MIN_FALSE_SHARING);
    return fs >= MIN_FALSE_SHARING;
}

/* thr_count(THR_COUNTER_PADDED, 2, 2e6) against two threads incrementing
 * one mutex-guarded counter (target: 4x faster) and against the same loop
 * on two packed slots, one cache line (target: 1.3x faster). The second
 * target is what catches false sharing: packed counters are still about
 * 13x faster than a mutex, but no faster than the packed slots. On the
 * course's machine (5 December 2026) the reference ran 39-79x the mutex
 * and 1.7x to 3x the packed slots. The score is that of the worse of the two
 * figures, each as a share of its target. */
#define CNT_VS_MUTEX 4.0
#define CNT_VS_PACKED 1.3
START_TEST(test_threads_perf_counters)
{
    static cnt_work w;
    memset(&w, 0, sizeof w);
    count_padded(&w);
    ck_assert_msg(!w.failed, "thr_count(THR_COUNTER_PADDED, 2, 2000000, "
                  "&total) returned -1 (errno = %s) or total = %llu, "
                  "expected 0 and total = 4000000", pk_errno_name(w.err),
                  (unsigned long long)w.total);

    void (*const fns[])(void *) = {count_mutex, count_padded, count_packed,
                                   count_padded_bare};
    void *const ctxs[] = {NULL, &w, NULL, NULL};
    PK_PERF_LOOP {
        pk_perf_result r;
        if (measure_plausible(fns, ctxs, 4, &r, cnt_plausible) != 0)
            continue;
        double n = (double)(CNT_THREADS * CNT_K);
        double vs_packed = r.ratio[2] > 0 ? r.ratio[1] / r.ratio[2] : 0;
        double share = r.ratio[1] / CNT_VS_MUTEX;
        if (vs_packed / CNT_VS_PACKED < share)
            share = vs_packed / CNT_VS_PACKED;
        pk_perf_award(share, 1.0, PK_PERF_HIGHER,
                      "padded counter (thr_count): %.2fx faster than a mutex "
                      "counter and %.2fx faster than two packed slots (%.1f "
                      "ns against %.1f and %.1f ns of wall time per "
                      "increment, 2 threads), ceiling %.2fx; targets %.0fx "
                      "and %.1fx", r.ratio[1], vs_packed,
                      r.median_s[1] * 1e9 / n, r.median_s[0] * 1e9 / n,
                      r.median_s[2] * 1e9 / n, r.ceiling, CNT_VS_MUTEX,
                      CNT_VS_PACKED);
    }
    ck_assert_msg(!w.failed, "thr_count(THR_COUNTER_PADDED, 2, 2000000, "
                  "&total) returned -1 (errno = %s) or a wrong total while "
                  "it was timed, expected 0 and total = 4000000",
                  pk_errno_name(w.err));
}
END_TEST

/* ==== the GIL simulation: GIL mode against free mode ============================= */

#define GIL_TASKS 4
#define GIL_TICK_N 200000ull     /* work per tick: about 0.07 ms here */
#define GIL_TICKS 350            /* ticks per task: about 25 ms of work */

typedef struct cpu_task {
    uint64_t left, sum;
} cpu_task;

static int cpu_tick(void *p)
{
    cpu_task *t = p;
    t->sum += pk_cpu_task(GIL_TICK_N + t->left % 7);
    return --t->left > 0;
}

typedef struct gil_work {
    cpu_task tasks[GIL_TASKS];
    void *states[GIL_TASKS];
    uint64_t want[GIL_TASKS];
    int failed, err;
    thr_gil_mode failed_mode;
} gil_work;

static void gil_reset(gil_work *w)
{
    for (int i = 0; i < GIL_TASKS; i++) {
        w->tasks[i] = (cpu_task){GIL_TICKS, (uint64_t)i};
        w->states[i] = &w->tasks[i];
    }
}

static void gil_sequential(void *p)
{
    gil_work *w = p;
    gil_reset(w);
    for (int i = 0; i < GIL_TASKS; i++) {
        while (cpu_tick(&w->tasks[i]))
            ;
        w->want[i] = w->tasks[i].sum;
    }
}

static void gil_run(gil_work *w, thr_gil_mode mode)
{
    thr_interp_config cfg = {mode, 0, NULL, NULL}; /* 5 ms, real clock */
    gil_reset(w);
    errno = 0;
    int rc = thr_interp_run(&cfg, cpu_tick, w->states, GIL_TASKS);
    int bad = rc != 0;
    for (int i = 0; i < GIL_TASKS; i++)
        bad |= w->tasks[i].sum != w->want[i];
    if (bad && !w->failed) {
        w->failed = 1;
        w->err = rc != 0 ? errno : 0;
        w->failed_mode = mode;
    }
}

/* GIL mode, with the CPU time and the wall time it took added up: one
 * tick runs at a time, so while it runs the process should use one core;
 * threads that spin while they wait for the GIL use the other one too. */
static double gil_cpu_s, gil_wall_s;

static void gil_on(void *p)
{
    double c0 = (double)pk_cpu_ns() * 1e-9, w0 = (double)pk_now_ns() * 1e-9;
    gil_run(p, THR_GIL_ON);
    gil_cpu_s += (double)pk_cpu_ns() * 1e-9 - c0;
    gil_wall_s += (double)pk_now_ns() * 1e-9 - w0;
}
static void gil_free(void *p) { gil_run(p, THR_GIL_FREE); }

static int gil_plausible(const pk_perf_result *r, char *why, size_t len)
{
    snprintf(why, len, "free mode reached %.0f%% of the ceiling %.2fx, "
             "which no program can", 100 * r->efficiency[2], r->ceiling);
    return r->efficiency[2] <= MAX_EFFICIENCY;
}

/* GIL mode's window: it gains nothing over the loop (one tick at a time)
 * and loses little (a hand-off every 5 ms; the waiting threads asleep).
 * Waiters that spin (unlock, sched_yield, lock, look again) take the
 * holder's core: 3 spinners against 1 holder on 2 cores. */
#define GIL_AT_MOST 1.15
#define GIL_AT_LEAST 0.85
/* Cores GIL mode may keep busy: one, and a little for the hand-offs.
 * Whether spinning waiters also cost time depends on the scheduler (on
 * the course's machine, sched_yield() gave the holder its core back and
 * GIL mode still ran at 0.98x); the CPU time they burn shows every time. */
#define GIL_CPU_CORES 1.2

/* Four CPU-bound tasks of 350 ticks, run tick by tick in one loop, then by
 * thr_interp_run in GIL mode (the default 5 ms switch interval, the real
 * clock) and in free mode. GIL mode must gain nothing and lose little
 * (0.85x to 1.15x) and free mode must use both cores (90% of the
 * ceiling). The reference: GIL mode 0.98x to 0.99x, free mode 99% to 102%
 * (5 December 2026); and GIL mode may keep at most 1.2 cores busy (the
 * reference: about 1.0). The score is the smallest of the four scores. */
START_TEST(test_threads_perf_gil)
{
    static gil_work w;
    memset(&w, 0, sizeof w);
    gil_sequential(&w);
    gil_on(&w);
    gil_free(&w);
    ck_assert_msg(!w.failed, "thr_interp_run({%s, 5 ms}, tick, states, 4) "
                  "returned -1 (errno = %s) or left a task with a wrong "
                  "sum, expected 0 and every task's ticks run once",
                  w.failed_mode == THR_GIL_ON ? "THR_GIL_ON" : "THR_GIL_FREE",
                  pk_errno_name(w.err));

    void (*const fns[])(void *) = {gil_sequential, gil_on, gil_free};
    void *const ctxs[] = {&w, &w, &w};
    PK_PERF_LOOP {
        pk_perf_result r;
        gil_cpu_s = gil_wall_s = 0;
        if (measure_plausible(fns, ctxs, 3, &r, gil_plausible) != 0)
            continue;
        double cores = gil_wall_s > 0 ? gil_cpu_s / gil_wall_s : 0;
        double s_gil = score_of(r.ratio[1], GIL_AT_MOST, PK_PERF_LOWER);
        double s_wait = score_of(r.ratio[1], GIL_AT_LEAST, PK_PERF_HIGHER);
        double s_cpu = score_of(cores, GIL_CPU_CORES, PK_PERF_LOWER);
        double s_free = score_of(r.efficiency[2], 0.90, PK_PERF_HIGHER);
        double s = s_gil < s_wait ? s_gil : s_wait;
        s = s < s_cpu ? s : s_cpu;
        award_score(s < s_free ? s : s_free,
                    "thr_interp_run: GIL mode %.2fx over sequential (target "
                    "%.2fx to %.2fx: one tick at a time) and %.2f cores busy "
                    "(target at most %.1f: the waiting threads asleep, not "
                    "spinning); free mode %.2fx, ceiling %.2fx (%.0f%%; "
                    "target 90%%)", r.ratio[1], GIL_AT_LEAST, GIL_AT_MOST,
                    cores, GIL_CPU_CORES, r.ratio[2], r.ceiling,
                    100 * r.efficiency[2]);
    }
    ck_assert_msg(!w.failed, "thr_interp_run({%s, 5 ms}, tick, states, 4) "
                  "returned -1 (errno = %s) or left a wrong sum while it was "
                  "timed, expected 0 and every task's ticks run once",
                  w.failed_mode == THR_GIL_ON ? "THR_GIL_ON" : "THR_GIL_FREE",
                  pk_errno_name(w.err));
}
END_TEST

void add_perf_tests(Suite *s)
{
    pk_test_add_perf(s, test_threads_perf_fan_out, 4, 45,
                     "start every thread before you join any: four tasks "
                     "on two cores should take half the time of a loop");
    pk_test_add_perf(s, test_threads_perf_counters, 4, 45,
                     "give each thread's slot a cache line of its own "
                     "(_Alignas(THR_CACHE_LINE), aligned_alloc), and "
                     "increment it without a lock");
    pk_test_add_perf(s, test_threads_perf_gil, 4, 45,
                     "GIL mode: one tick at a time, waiting threads asleep "
                     "(pthread_cond_wait, not a spin); free mode: no lock "
                     "at all");
}
