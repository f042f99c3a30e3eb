/* check_instrument.c - chapter 06, exercise 1 (core): the instrumenting
 * profiler of instrument.h, cProfile in C. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "pk_perf.h"
#include "profiling_test.h"

#include "bench/hotspots.h"

/* The workload of bench/hotspots.c, linked twice (chapter.mk): plain_
 * compiled without -finstrument-functions, instr_ with it. */
HOT_DECLARE(plain_);
HOT_DECLARE(instr_);
uint64_t instr_hot_leaf(uint64_t i);

#define MAX_ROWS 64

/* Find fn in the report; NULL when missing. */
PK_NO_INSTRUMENT static const prof_row *find_row(const prof_row *rows, size_t n,
                                                 const void *fn)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].fn == fn)
            return &rows[i];
    return NULL;
}

/* The report sorted by key into rows; asserts that prof_report() works. */
PK_NO_INSTRUMENT static size_t report(prof_sort key, prof_row *rows, size_t max)
{
    size_t n = 0;
    errno = 0;
    int rc = prof_report(key, rows, max, &n);
    ck_assert_msg(rc == 0, "prof_report(key %d, rows, %zu, &n) returned %d "
                  "(errno = %s), expected 0", (int)key, max, rc,
                  pk_errno_name(errno));
    return n;
}

/* prof_reset() then prof_start(), asserting both. */
PK_NO_INSTRUMENT static void reset_and_start(void)
{
    quiet();
    PK_EXPECT_INT("prof_reset()", prof_reset(), 0);
    PK_EXPECT_INT("prof_start()", prof_start(), 0);
}

/* ======================================================================== */
/* Call counts and times                                                     */
/* ======================================================================== */

WORK void work_b(void) { sink = sink + 1; }
WORK void work_c(void) { sink = sink * 3; }

/* A calls B 1000 times and C 10 times. */
WORK void work_a(void)
{
    for (int i = 0; i < 1000; i++)
        work_b();
    for (int i = 0; i < 10; i++)
        work_c();
}

START_TEST(test_prof_ncalls_tree)
{
    prof_row rows[MAX_ROWS];

    reset_and_start();
    work_a();
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    size_t n = report(PROF_SORT_NCALLS, rows, MAX_ROWS);
    const prof_row *a = find_row(rows, n, FN(work_a)),
                   *b = find_row(rows, n, FN(work_b)),
                   *c = find_row(rows, n, FN(work_c));
    ck_assert_msg(a && b && c, "after work_a(), prof_report() gave %zu rows "
                  "without work_a, work_b and work_c: does the enter hook "
                  "record calls?", n);
    ck_assert_msg(a->ncalls == 1 && b->ncalls == 1000 && c->ncalls == 10,
                  "work_a calls work_b 1000 times and work_c 10 times: "
                  "prof_report() gave ncalls %llu, %llu, %llu, expected 1, "
                  "1000, 10", (unsigned long long)a->ncalls,
                  (unsigned long long)b->ncalls, (unsigned long long)c->ncalls);
    ck_assert_msg(n == 3, "prof_report() gave %zu rows, expected 3 (work_a, "
                  "work_b, work_c): only calls made while running count", n);
    ck_assert_msg(rows[0].fn == FN(work_b) && rows[1].fn == FN(work_c),
                  "prof_report(PROF_SORT_NCALLS, ...) put ncalls %llu, %llu "
                  "first, expected work_b (1000) then work_c (10)",
                  (unsigned long long)rows[0].ncalls,
                  (unsigned long long)rows[1].ncalls);
}
END_TEST

#define REC_DEPTH 50
#define REC_SPIN_NS 20000000u /* 20 ms at the bottom of the recursion */

WORK void work_recurse(int depth)
{
    if (depth > 1)
        work_recurse(depth - 1);
    else
        spin_for_ns(REC_SPIN_NS);
}

START_TEST(test_prof_recursion_ncalls)
{
    prof_row rows[MAX_ROWS];

    reset_and_start();
    work_recurse(REC_DEPTH);
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    size_t n = report(PROF_SORT_CUMTIME, rows, MAX_ROWS);
    const prof_row *r = find_row(rows, n, FN(work_recurse));
    ck_assert_msg(r != NULL, "work_recurse(%d) ran, but prof_report() has no "
                  "row for it (%zu rows)", REC_DEPTH, n);
    ck_assert_msg(r->ncalls == REC_DEPTH,
                  "work_recurse(%d) is %d calls: ncalls is %llu, expected %d",
                  REC_DEPTH, REC_DEPTH, (unsigned long long)r->ncalls, REC_DEPTH);
    ck_assert_msg(r->primcalls == 1,
                  "only the outermost of the %d activations is primitive "
                  "(cProfile prints 50/1): primcalls is %llu, expected 1",
                  REC_DEPTH, (unsigned long long)r->primcalls);
}
END_TEST

START_TEST(test_prof_recursion_cumtime)
{
    prof_row rows[MAX_ROWS];

    reset_and_start();
    uint64_t t0 = pk_now_ns();
    work_recurse(REC_DEPTH);
    double outside = 1e-9 * (double)(pk_now_ns() - t0);
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    size_t n = report(PROF_SORT_CUMTIME, rows, MAX_ROWS);
    const prof_row *r = find_row(rows, n, FN(work_recurse));
    ck_assert_msg(r != NULL, "work_recurse(%d) ran, but prof_report() has no "
                  "row for it", REC_DEPTH);
    /* Not a speed test: cumtime must fit inside the time measured around
     * the call, whatever the machine's load. Counting every activation
     * would make it about 50 times that. */
    ck_assert_msg(r->cumtime <= outside && r->cumtime >= 0.5 * REC_SPIN_NS * 1e-9,
                  "the whole recursion took %.4f s, but cumtime is %.4f s, "
                  "expected at most that and at least %.3f s: add to cumtime "
                  "only when the outermost activation exits", outside,
                  r->cumtime, 0.5 * REC_SPIN_NS * 1e-9);
    ck_assert_msg(r->tottime <= r->cumtime,
                  "tottime (%.6f s) is above cumtime (%.6f s): the time in "
                  "a function itself is part of its time with callees",
                  r->tottime, r->cumtime);
}
END_TEST

/* work_tree is the only outermost call in test_prof_self_times_add_up: the
 * tottimes of everything under it add up to its cumtime. */
WORK void work_tree(void)
{
    work_a();
    work_recurse(5);
    work_c();
}

START_TEST(test_prof_self_times_add_up)
{
    prof_row rows[MAX_ROWS];

    reset_and_start();
    work_tree();
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    size_t n = report(PROF_SORT_CUMTIME, rows, MAX_ROWS);
    const prof_row *root = find_row(rows, n, FN(work_tree));
    ck_assert_msg(root != NULL && n == 5, "work_tree() calls work_a, "
                  "work_recurse and work_c, and work_a calls work_b: expected "
                  "5 rows with work_tree among them, prof_report() gave %zu", n);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const prof_row *r = &rows[i];
        sum += r->tottime;
        ck_assert_msg(r->cumtime >= r->tottime && r->ncalls >= r->primcalls &&
                      r->primcalls >= 1,
                      "row %zu has ncalls %llu, primcalls %llu, tottime %.9f, "
                      "cumtime %.9f: expected cumtime >= tottime and "
                      "ncalls >= primcalls >= 1", i,
                      (unsigned long long)r->ncalls,
                      (unsigned long long)r->primcalls, r->tottime, r->cumtime);
        double want_tot = r->tottime / (double)r->ncalls,
               want_cum = r->cumtime / (double)r->primcalls;
        ck_assert_msg(r->percall_tot <= want_tot * (1 + 1e-9) + 1e-15 &&
                      r->percall_tot >= want_tot * (1 - 1e-9) - 1e-15 &&
                      r->percall_cum <= want_cum * (1 + 1e-9) + 1e-15 &&
                      r->percall_cum >= want_cum * (1 - 1e-9) - 1e-15,
                      "row %zu: percall %.9g and %.9g, expected tottime/ncalls "
                      "= %.9g and cumtime/primcalls = %.9g", i, r->percall_tot,
                      r->percall_cum, want_tot, want_cum);
    }
    /* Exact: each call's own time is its time minus its callees' time, and
     * the times are whole nanoseconds until the report; 1 ns covers the
     * rounding of the conversion to seconds. */
    ck_assert_msg(sum >= root->cumtime - 1e-9 && sum <= root->cumtime + 1e-9,
                  "the tottimes of the 5 rows add up to %.9f s, but work_tree's "
                  "cumtime is %.9f s; they must be equal: tottime is the "
                  "elapsed time minus the elapsed time of the direct callees, "
                  "each callee's time added to its caller's frame once",
                  sum, root->cumtime);
    const prof_row *c = find_row(rows, n, FN(work_c)),
                   *rec = find_row(rows, n, FN(work_recurse));
    ck_assert_msg(root->ncalls == 1 && c && c->ncalls == 11 && rec &&
                  rec->ncalls == 5,
                  "expected ncalls 1 for work_tree, 11 for work_c (10 from "
                  "work_a, 1 from work_tree), 5 for work_recurse; got %llu, "
                  "%llu, %llu", (unsigned long long)root->ncalls,
                  c ? (unsigned long long)c->ncalls : 0ull,
                  rec ? (unsigned long long)rec->ncalls : 0ull);
}
END_TEST

#define HEAVY_NS 80000000u /* 80 ms */
#define LIGHT_NS 10000000u /* 10 ms */

WORK void work_heavy(void) { spin_for_ns(HEAVY_NS); }
WORK void work_light(void) { spin_for_ns(LIGHT_NS); }
WORK void work_parent(void)
{
    work_light();
    work_heavy();
}

START_TEST(test_prof_cumtime_order)
{
    prof_row rows[MAX_ROWS];

    reset_and_start();
    work_parent();
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    size_t n = report(PROF_SORT_CUMTIME, rows, MAX_ROWS);
    /* 80 ms against 10 ms of busy waiting: the order survives a loaded
     * machine unless the light one is preempted for over 70 ms. */
    ck_assert_msg(n >= 3 && rows[0].fn == FN(work_parent) &&
                  rows[1].fn == FN(work_heavy) && rows[2].fn == FN(work_light),
                  "prof_report(PROF_SORT_CUMTIME, ...) should give work_parent "
                  "(all 90 ms), work_heavy (80 ms), work_light (10 ms), in "
                  "that order: check that cumtime includes callees and that "
                  "the sort is largest first");
    const prof_row *p = &rows[0];
    ck_assert_msg(p->tottime < 0.5 * p->cumtime,
                  "work_parent only calls the others: its tottime is %.4f s, "
                  "expected far below its cumtime (%.4f s); subtract the "
                  "callees' time", p->tottime, p->cumtime);
    n = report(PROF_SORT_TOTTIME, rows, MAX_ROWS);
    ck_assert_msg(n >= 3 && rows[0].fn == FN(work_heavy) &&
                  rows[1].fn == FN(work_light),
                  "prof_report(PROF_SORT_TOTTIME, ...) should give work_heavy "
                  "then work_light first (they do the work themselves)");
}
END_TEST

START_TEST(test_prof_sort_top_n)
{
    prof_row rows[MAX_ROWS];
    size_t n = 99;

    reset_and_start();
    work_a();
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    PK_EXPECT_INT("prof_report(PROF_SORT_NCALLS, rows, 2, &n)",
                  prof_report(PROF_SORT_NCALLS, rows, 2, &n), 0);
    ck_assert_msg(n == 2, "prof_report(PROF_SORT_NCALLS, rows, 2, &n) set n to "
                  "%zu, expected 2 (the top 2 of 3 rows)", n);
    ck_assert_msg(rows[0].ncalls >= rows[1].ncalls,
                  "sorted by ncalls, row 0 has %llu calls and row 1 %llu: "
                  "expected largest first", (unsigned long long)rows[0].ncalls,
                  (unsigned long long)rows[1].ncalls);
    n = report(PROF_SORT_PERCALL_TOT, rows, MAX_ROWS);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(rows[i - 1].percall_tot >= rows[i].percall_tot,
                      "sorted by tottime per call, row %zu (%g) is above row "
                      "%zu (%g): expected largest first", i, rows[i].percall_tot,
                      i - 1, rows[i - 1].percall_tot);
    PK_EXPECT_INT("prof_report(PROF_SORT_NCALLS, NULL, 0, &n)",
                  prof_report(PROF_SORT_NCALLS, NULL, 0, &n), 0);
    ck_assert_msg(n == 0, "prof_report(PROF_SORT_NCALLS, NULL, 0, &n) set n to "
                  "%zu, expected 0 (top 0 writes no rows)", n);
}
END_TEST

/* ======================================================================== */
/* Threads                                                                   */
/* ======================================================================== */

#define NTHREADS 4
#define THREAD_ROUNDS 200 /* work_a per thread: 202,000 calls, ~10 ms */

static pthread_barrier_t start_line;

PK_NO_INSTRUMENT static void *thread_main(void *arg)
{
    int rounds = *(const int *)arg;
    pthread_barrier_wait(&start_line); /* all threads at once */
    for (int i = 0; i < rounds; i++)
        work_a();
    return NULL;
}

/* A shared call stack mixes the threads' frames when they overlap in time.
 * The threads start together behind a barrier and each runs ~10 ms of
 * calls, so they overlap on two cores and also on one (a time slice is
 * 4 ms). Measured on the course's machine under load (load average 10 to
 * 15 on 2 cores): the mutant that shares one stack (prof-shared-stack)
 * failed 100 runs of 100; the reference solution failed none of 100. */
START_TEST(test_prof_threads)
{
    prof_row rows[MAX_ROWS];
    pthread_t th[NTHREADS];
    int rounds = under_valgrind() ? 10 : THREAD_ROUNDS;

    reset_and_start();
    pthread_barrier_init(&start_line, NULL, NTHREADS + 1);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_msg(pthread_create(&th[i], NULL, thread_main, &rounds) == 0,
                      "pthread_create failed (a test problem, not yours)");
    thread_main(&rounds); /* and the main thread at the same time */
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    size_t n = report(PROF_SORT_NCALLS, rows, MAX_ROWS);
    const prof_row *a = find_row(rows, n, FN(work_a)),
                   *b = find_row(rows, n, FN(work_b));
    unsigned long long want_a = (NTHREADS + 1) * (unsigned long long)rounds;
    ck_assert_msg(a && b, "work_a and work_b ran on %d threads, but the report "
                  "(%zu rows) misses them", NTHREADS + 1, n);
    ck_assert_msg(a->ncalls == want_a && b->ncalls == 1000 * want_a &&
                  a->primcalls == want_a,
                  "%d threads each ran work_a %d times (each calls work_b 1000 "
                  "times): ncalls %llu and %llu, primcalls %llu, expected "
                  "%llu, %llu and %llu. One shared call stack gets the "
                  "threads' calls mixed up: keep a stack per thread "
                  "(_Thread_local) and merge the counts in the report",
                  NTHREADS + 1, rounds, (unsigned long long)a->ncalls,
                  (unsigned long long)b->ncalls, (unsigned long long)a->primcalls,
                  want_a, 1000 * want_a, want_a);
}
END_TEST

/* ======================================================================== */
/* Deep recursion and the backtrace                                          */
/* ======================================================================== */

#define DEEP 1500 /* beyond PROF_MAX_DEPTH (1024) */

static const void *deep_bt[DEEP + 8];
static int deep_bt_n = -2;

WORK void work_deep(int depth)
{
    if (depth > 1)
        work_deep(depth - 1);
    else
        deep_bt_n = prof_backtrace(deep_bt, DEEP + 8);
}

START_TEST(test_prof_deep_recursion)
{
    prof_row rows[MAX_ROWS];

    reset_and_start();
    work_deep(DEEP);
    work_c(); /* after the deep stack unwound: counted as usual */
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    size_t n = report(PROF_SORT_NCALLS, rows, MAX_ROWS);
    const prof_row *d = find_row(rows, n, FN(work_deep)),
                   *c = find_row(rows, n, FN(work_c));
    ck_assert_msg(d != NULL && d->ncalls == PROF_MAX_DEPTH && d->primcalls == 1,
                  "work_deep(%d) recursed %d deep: expected the outermost "
                  "PROF_MAX_DEPTH = %d calls counted (ncalls %d, primcalls 1), "
                  "got ncalls %llu, primcalls %llu. Past PROF_MAX_DEPTH only "
                  "count the depth, write no frame, and pop nothing on the "
                  "way back until the depth is back under it", DEEP, DEEP,
                  PROF_MAX_DEPTH, PROF_MAX_DEPTH,
                  d ? (unsigned long long)d->ncalls : 0ull,
                  d ? (unsigned long long)d->primcalls : 0ull);
    ck_assert_msg(n == 2 && c != NULL && c->ncalls == 1,
                  "after the deep recursion, one call of work_c: expected 2 "
                  "rows with work_c called once, got %zu rows, work_c %llu "
                  "calls", n, c ? (unsigned long long)c->ncalls : 0ull);
    ck_assert_msg(deep_bt_n == PROF_MAX_DEPTH,
                  "prof_backtrace(buf, %d) at the bottom of a %d-deep "
                  "recursion returned %d, expected %d (the frames the hooks "
                  "keep)", DEEP + 8, DEEP, deep_bt_n, PROF_MAX_DEPTH);
    for (int i = 0; i < deep_bt_n; i++)
        if (deep_bt[i] != FN(work_deep))
            ck_abort_msg("prof_backtrace() entry %d is %p, expected work_deep "
                         "(%p)", i, deep_bt[i], FN(work_deep));
}
END_TEST

static const void *bt_buf[8];
static int bt_n = -2, bt_n1 = -2;

WORK void work_bt_inner(void)
{
    bt_n = prof_backtrace(bt_buf, 8);
    bt_n1 = prof_backtrace(bt_buf + 4, 1);
}

WORK void work_bt_outer(void) { work_bt_inner(); }

START_TEST(test_prof_backtrace)
{
    reset_and_start();
    work_bt_outer();
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    ck_assert_msg(bt_n == 2 && bt_buf[0] == FN(work_bt_inner) &&
                  bt_buf[1] == FN(work_bt_outer),
                  "inside work_bt_inner, called by work_bt_outer, "
                  "prof_backtrace(buf, 8) returned %d (errno = %s), expected 2: "
                  "work_bt_inner then work_bt_outer, innermost first", bt_n,
                  pk_errno_name(errno));
    ck_assert_msg(bt_n1 == 1 && bt_buf[4] == FN(work_bt_inner),
                  "prof_backtrace(buf, 1) returned %d, expected 1 (the "
                  "innermost frame only)", bt_n1);
    PK_EXPECT_INT("prof_backtrace(buf, 8) after prof_stop()",
                  prof_backtrace(bt_buf, 8), 0);
    PK_EXPECT_EINVAL(prof_backtrace(NULL, 1), "prof_backtrace(NULL, 1)");
    PK_EXPECT_INT("prof_backtrace(NULL, 0)", prof_backtrace(NULL, 0), 0);
}
END_TEST

/* The stress test of "store the depth last". A timer sends this thread a
 * SIGUSR1 every STORM_PERIOD_NS while it runs, so signals land anywhere,
 * inside the hooks too; the handler takes prof_backtrace() and checks it
 * is a path of the known call tree: storm_root calls storm_a and storm_b,
 * which call storm_a2 and storm_b2. A hook that publishes the depth before
 * the frame shows a stale frame from the last call at that depth:
 * storm_b -> storm_a2, which never happens. The timer is a POSIX timer on
 * CLOCK_MONOTONIC aimed at this thread (SIGEV_THREAD_ID): it fires while
 * the thread runs, however busy the machine is, where a storm from another
 * thread needs both threads on a core at once. */
WORK void storm_a2(void) { sink = sink + 1; }
WORK void storm_b2(void) { sink = sink + 2; }
WORK void storm_a(void) { storm_a2(); }
WORK void storm_b(void) { storm_b2(); }
WORK void storm_root(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        storm_a();
        storm_b();
    }
}

#define STORM_PERIOD_NS 50000      /* 20 kHz while the thread runs */
#define STORM_SIGNALS 20000        /* handled signals wanted */
#define STORM_MIN 200              /* at least this many, however long it takes */
#define STORM_LIMIT_NS 3000000000u /* after this, stop at STORM_MIN */
#define STORM_HARD_NS 10000000000u /* and give up after this */

/* Written by the handler on this thread, read by this thread. */
static volatile sig_atomic_t storm_handled, storm_bad;
static const void *storm_seen[8];
static int storm_seen_n;

/* 1 if fns[0..n) (innermost first) is a path of the storm's call tree. */
PK_NO_INSTRUMENT static int storm_valid(const void *const *fns, int n)
{
    if (n == 0)
        return 1;
    if (n > 3 || fns[n - 1] != FN(storm_root))
        return 0;
    if (n == 1)
        return 1;
    const void *mid = fns[n - 2];
    if (mid != FN(storm_a) && mid != FN(storm_b))
        return 0;
    return n == 2 || fns[0] == (mid == FN(storm_a) ? FN(storm_a2) : FN(storm_b2));
}

PK_NO_INSTRUMENT static void storm_handler(int sig)
{
    const void *fns[8];
    int saved = errno;
    (void)sig;
    int n = prof_backtrace(fns, 8);
    if (n < 0 || !storm_valid(fns, n)) {
        if (!storm_bad) {
            storm_seen_n = n < 0 ? 0 : n;
            memcpy(storm_seen, fns, (size_t)storm_seen_n * sizeof fns[0]);
        }
        storm_bad = 1;
    }
    storm_handled = storm_handled + 1;
    errno = saved;
}

PK_NO_INSTRUMENT static const char *storm_name(const void *fn)
{
    return fn == FN(storm_root) ? "storm_root" : fn == FN(storm_a) ? "storm_a" :
           fn == FN(storm_b) ? "storm_b" : fn == FN(storm_a2) ? "storm_a2" :
           fn == FN(storm_b2) ? "storm_b2" : "another function";
}

/* Measured on the course's machine under load (load average 10 to 15 on
 * 2 cores): the mutant that stores the depth first (prof-depth-first)
 * failed 100 runs of 100; the reference solution failed none of 100. */
START_TEST(test_prof_backtrace_signal)
{
    const void *probe[2];
    struct sigaction sa, old;
    struct sigevent sev;
    timer_t timer;
    long want = under_valgrind() ? 500 : STORM_SIGNALS;
    long period = under_valgrind() ? 4 * STORM_PERIOD_NS : STORM_PERIOD_NS;

    reset_and_start();
    errno = 0;
    int rc = prof_backtrace(probe, 2);
    ck_assert_msg(rc >= 0, "prof_backtrace(buf, 2) returned %d (errno = %s), "
                  "expected 0 or more", rc, pk_errno_name(errno));
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = storm_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    storm_handled = storm_bad = 0;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev._sigev_un._tid = gettid();
    const struct itimerspec every = {{0, period}, {0, period}};
    ck_assert_msg(timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0 &&
                  timer_settime(timer, 0, &every, NULL) == 0,
                  "timer_create/timer_settime failed: %s (a test problem, "
                  "not yours)", pk_errno_name(errno));
    /* Until enough signals came: a busy machine runs this thread less. */
    uint64_t t0 = pk_now_ns(), scale = under_valgrind() ? 10 : 1;
    while (storm_handled < want && !storm_bad) {
        uint64_t spent = pk_now_ns() - t0;
        if ((spent > scale * STORM_LIMIT_NS && storm_handled >= STORM_MIN) ||
            spent > scale * STORM_HARD_NS)
            break;
        storm_root(100);
    }
    timer_delete(timer);
    prof_stop();
    restore_signal(SIGUSR1, &old);
    if (getenv("PK_SHOW") != NULL) /* PK_SHOW=1: how many signals came */
        fprintf(stderr, "%ld signals handled\n", (long)storm_handled);
    ck_assert_msg(!storm_bad, "a signal handler's prof_backtrace() returned %d "
                  "frames: %s <- %s <- %s, which is not a path of the calls "
                  "(storm_root calls storm_a and storm_b; storm_a calls "
                  "storm_a2, storm_b calls storm_b2): the handler saw a frame "
                  "before the hook had written it. Store the new depth after "
                  "the frame, with atomic_signal_fence(memory_order_release) "
                  "between them", storm_seen_n,
                  storm_seen_n > 0 ? storm_name(storm_seen[0]) : "-",
                  storm_seen_n > 1 ? storm_name(storm_seen[1]) : "-",
                  storm_seen_n > 2 ? storm_name(storm_seen[2]) : "-");
    ck_assert_msg(storm_handled >= STORM_MIN, "only %ld signals reached the "
                  "test thread in %.0f s (a very busy machine?): too few to "
                  "test anything, run the test again",
                  (long)storm_handled, 1e-9 * (double)(scale * STORM_HARD_NS));
}
END_TEST

/* ======================================================================== */
/* States and the printed report                                             */
/* ======================================================================== */

START_TEST(test_prof_reset)
{
    prof_row rows[MAX_ROWS];

    reset_and_start();
    work_a();
    PK_EXPECT_ERRNO("prof_reset() while running", prof_reset(), EBUSY);
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    PK_EXPECT_INT("prof_reset()", prof_reset(), 0);
    size_t n = report(PROF_SORT_NCALLS, rows, MAX_ROWS);
    ck_assert_msg(n == 0, "after prof_reset() the report has %zu rows, "
                  "expected 0", n);
    PK_EXPECT_INT("prof_start()", prof_start(), 0);
    work_c();
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    n = report(PROF_SORT_NCALLS, rows, MAX_ROWS);
    ck_assert_msg(n == 1 && rows[0].fn == FN(work_c) && rows[0].ncalls == 1,
                  "after a reset, one call of work_c is the whole report: got "
                  "%zu rows, expected 1 row with ncalls 1", n);
}
END_TEST

START_TEST(test_prof_bad_state)
{
    prof_row rows[2];
    size_t n;

    quiet();
    PK_EXPECT_ERRNO("prof_stop() before prof_start()", prof_stop(), EINVAL);
    PK_EXPECT_INT("prof_start()", prof_start(), 0);
    PK_EXPECT_ERRNO("a second prof_start()", prof_start(), EBUSY);
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    PK_EXPECT_EINVAL(prof_report(PROF_SORT_COUNT, rows, 2, &n),
                     "prof_report(PROF_SORT_COUNT, rows, 2, &n)");
    PK_EXPECT_EINVAL(prof_report(PROF_SORT_NCALLS, NULL, 2, &n),
                     "prof_report(PROF_SORT_NCALLS, NULL, 2, &n)");
    PK_EXPECT_EINVAL(prof_report(PROF_SORT_NCALLS, rows, 2, NULL),
                     "prof_report(PROF_SORT_NCALLS, rows, 2, NULL)");
    PK_EXPECT_EINVAL(prof_print(NULL, PROF_SORT_NCALLS, 5),
                     "prof_print(NULL, PROF_SORT_NCALLS, 5)");
}
END_TEST

START_TEST(test_prof_print_pstats)
{
    char *text = NULL;
    size_t len = 0;

    reset_and_start();
    work_recurse(5);
    work_a();
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    FILE *out = open_memstream(&text, &len);
    ck_assert_msg(out != NULL, "open_memstream failed (a test problem)");
    errno = 0;
    int rc = prof_print(out, PROF_SORT_CUMTIME, 10);
    int e = errno;
    fclose(out);
    ck_assert_msg(rc == 0, "prof_print(out, PROF_SORT_CUMTIME, 10) returned "
                  "%d (errno = %s), expected 0", rc, pk_errno_name(e));
    int ok = strstr(text, "ncalls") && strstr(text, "tottime") &&
             strstr(text, "cumtime") && strstr(text, "work_b") &&
             strstr(text, "5/1") && strstr(text, "check_instrument.c");
    if (getenv("PK_SHOW") != NULL) /* PK_SHOW=1: see the report */
        fputs(text, stderr);
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", text);
    free(text);
    ck_assert_msg(ok, "prof_print() should print a pstats-like table with "
                  "ncalls/tottime/cumtime columns, \"5/1\" for the recursion "
                  "and file:line(function) names; it printed:\n%s", copy);
}
END_TEST

/* ======================================================================== */
/* Performance: the cost of a call/return pair                              */
/* ======================================================================== */

#define PERF_TARGET_NS 150.0   /* full points at or under this */
#define PERF_RUN_S 0.08        /* each timed run, about */
#define PERF_MIN_CALLS 20000u
#define PERF_MAX_CALLS 2000000u

static unsigned perf_calls;
static cpu_runs perf_cpu;

PK_NO_INSTRUMENT static void run_plain(void *ctx)
{
    (void)ctx;
    double c0 = thread_cpu_s();
    sink = plain_hot_calls(perf_calls);
    cpu_runs_add(&perf_cpu, 0, thread_cpu_s() - c0);
}

PK_NO_INSTRUMENT static void run_profiled(void *ctx)
{
    (void)ctx;
    double c0 = thread_cpu_s();
    prof_start();
    sink = instr_hot_calls(perf_calls);
    prof_stop();
    cpu_runs_add(&perf_cpu, 1, thread_cpu_s() - c0);
}

/* Nanoseconds per call/return pair: one round's profiled CPU time minus
 * its plain CPU time, over the pairs. */
PK_NO_INSTRUMENT static double ns_per_pair(double plain, double profiled)
{
    return (profiled - plain) / (perf_calls + 1.0) * 1e9;
}

/* Why this is an honest figure, measured in the run: the two variants are
 * the same source (bench/hotspots.c), compiled with the same flags except
 * -finstrument-functions, and make the same n calls of a one-line function
 * in the same rounds, interleaved, a few milliseconds apart. The only
 * difference between them is what instrumentation adds: two hook calls
 * per call and what the hooks do. So (profiled - plain) / (n + 1)
 * call/return pairs is the price of one pair, measured on this machine as
 * it is now, and a slower machine makes both runs slower, not the
 * difference larger than the hooks make it. Each run is timed in CPU time
 * of the thread (pk_perf_measure() interleaves the rounds, measures the
 * ceiling and gives up on a machine too busy): the hooks' cost is CPU work
 * on this thread, system calls included, while a wall clock would also
 * count the time the thread waited for a core behind other programs. The
 * figure is the median over the rounds. The run length is sized from one
 * quick measurement, so that a slow hook does not make the test run for
 * minutes. */
START_TEST(test_prof_perf_overhead)
{
    prof_row rows[MAX_ROWS];

    /* Correctness first: the profiler counts this workload exactly. */
    reset_and_start();
    sink = instr_hot_calls(1000);
    PK_EXPECT_INT("prof_stop()", prof_stop(), 0);
    size_t n = report(PROF_SORT_NCALLS, rows, MAX_ROWS);
    const prof_row *leaf = find_row(rows, n, FN(instr_hot_leaf)),
                   *loop = find_row(rows, n, FN(instr_hot_calls));
    ck_assert_msg(n == 2 && leaf && loop && leaf->ncalls == 1000 && loop->ncalls == 1,
                  "instr_hot_calls(1000) calls instr_hot_leaf 1000 times: "
                  "expected 2 rows with ncalls 1000 and 1, got %zu rows", n);
    PK_EXPECT_INT("prof_reset()", prof_reset(), 0);

    /* Size the runs: about PERF_RUN_S profiled. */
    perf_calls = PERF_MIN_CALLS;
    if (pk_perf_enabled()) {
        run_profiled(NULL);
        double c0 = thread_cpu_s();
        run_profiled(NULL);
        double per_call = (thread_cpu_s() - c0) / perf_calls;
        double want = PERF_RUN_S / (per_call > 0 ? per_call : 1e-9);
        perf_calls = want > PERF_MAX_CALLS ? PERF_MAX_CALLS :
                     want < PERF_MIN_CALLS ? PERF_MIN_CALLS : (unsigned)want;
    }

    void (*fns[])(void *) = {run_plain, run_profiled};
    PK_PERF_LOOP {
        pk_perf_result r;
        memset(&perf_cpu, 0, sizeof perf_cpu);
        if (pk_perf_measure(fns, NULL, 2, &r) != 0)
            continue;
        cpu_runs_show(&perf_cpu, "hot_calls, plain/profiled");
        double ns = cpu_runs_median(&perf_cpu, ns_per_pair);
        double wall_ns = (r.median_s[1] - r.median_s[0]) / (perf_calls + 1.0) * 1e9;
        pk_perf_award(ns, PERF_TARGET_NS, PK_PERF_LOWER,
                      "profiler on: %.1f ns per call/return pair over the "
                      "build without instrumentation (CPU time; %.1f ns by "
                      "the wall clock), %u calls; target %.0f ns",
                      ns, wall_ns, perf_calls, PERF_TARGET_NS);
    }
    prof_reset();
}
END_TEST

void add_instrument_tests(Suite *s)
{
    pk_test_add_timeout(s, test_prof_ncalls_tree, 4, 5,
                        "the enter hook pushes (function, time) on this "
                        "thread's stack; the exit hook pops it and adds one "
                        "call");
    pk_test_add_timeout(s, test_prof_recursion_ncalls, 2, 5,
                        "count every exit in ncalls, and only exits that leave "
                        "no other activation of the function on the stack in "
                        "primcalls");
    pk_test_add_timeout(s, test_prof_recursion_cumtime, 2, 5,
                        "keep an 'active' count per function; add the elapsed "
                        "time to cumtime only when it drops back to 0");
    pk_test_add_timeout(s, test_prof_self_times_add_up, 3, 5,
                        "on exit: tottime += elapsed - child; then add elapsed "
                        "(not tottime) to the caller's frame's child");
    pk_test_add_timeout(s, test_prof_cumtime_order, 2, 5,
                        "tottime = elapsed - time in callees: add each frame's "
                        "elapsed time to its parent frame's child time");
    pk_test_add_timeout(s, test_prof_sort_top_n, 2, 5,
                        "qsort the merged rows by the chosen key, largest "
                        "first, then copy at most max of them");
    pk_test_add_timeout(s, test_prof_threads, 4, 10,
                        "a _Thread_local stack and table per thread; the "
                        "report adds up every thread's table");
    pk_test_add_timeout(s, test_prof_deep_recursion, 2, 5,
                        "past PROF_MAX_DEPTH, only count the depth: no frame "
                        "written, nothing popped until the depth is back "
                        "under it");
    pk_test_add_timeout(s, test_prof_backtrace, 2, 5,
                        "copy stack[depth - 1], stack[depth - 2] ... (their "
                        "fn), at most max of them; 0 when stopped");
    pk_test_add_timeout(s, test_prof_backtrace_signal, 3, 20,
                        "enter: write the whole frame, atomic_signal_fence("
                        "memory_order_release), then store depth + 1; "
                        "prof_backtrace: load depth, atomic_signal_fence("
                        "memory_order_acquire), then read the frames");
    pk_test_add_timeout(s, test_prof_reset, 1, 5,
                        "reset zeroes the counters of every thread's table");
    pk_test_add_timeout(s, test_prof_bad_state, 1, 5,
                        "stop before start is EINVAL, a second start EBUSY, "
                        "bad arguments EINVAL");
    pk_test_add_timeout(s, test_prof_print_pstats, 3, 10,
                        "resolve the functions with sym_resolve() and print "
                        "ncalls tottime percall cumtime percall "
                        "file:line(function)");
    pk_test_add_perf(s, test_prof_perf_overhead, 12, PK_PERF_TIMEOUT,
                     "two clock reads (CLOCK_MONOTONIC: a vDSO call, no "
                     "system call), a hash lookup and a few stores per "
                     "call; no lock, no malloc, no system call on the hot "
                     "path");
}
