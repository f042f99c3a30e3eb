/* check_profiler.c - graded tests for chapter 06 (instrument.h, sampler.h,
 * alloctrack.h, flame.h) and the provided symbols.h.
 *
 * This file is compiled with -finstrument-functions (chapter.mk): the WORK
 * functions below are the workloads the instrumenting profiler sees. The
 * helpers that must stay invisible to it carry PK_NO_INSTRUMENT. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pk/timing.h"
#include "pk_check.h"

#include "alloctrack.h"
#include "flame.h"
#include "instrument.h"
#include "sampler.h"
#include "symbols.h"

/* A workload function: never inlined, cloned or merged, so that its address
 * is the one the hooks report. gcc's noipa says all that; clang has no
 * noipa and does not clone a noinline function. */
#if defined(__clang__)
#define WORK __attribute__((noinline))
#else
#define WORK __attribute__((noipa))
#endif

#define FN(f) ((const void *)(uintptr_t)(f)) /* function address as data */

/* Results go here so that nothing is optimised out; one per thread, as
 * several threads run the same workload at once. */
static _Thread_local volatile uint64_t sink;

/* Under valgrind everything runs about 50 times slower; the sizes that
 * depend on speed scale down (see each use). */
PK_NO_INSTRUMENT static int under_valgrind(void)
{
    const char *v = getenv("PK_UNDER_VALGRIND");
    return v != NULL && strcmp(v, "1") == 0;
}

/* Busy for ns nanoseconds of wall time; not instrumented, so its time is
 * the tottime of whichever workload calls it. */
PK_NO_INSTRUMENT static void spin_for_ns(uint64_t ns)
{
    uint64_t end = pk_now_ns() + ns, x = sink;
    while (pk_now_ns() < end)
        for (int i = 0; i < 100; i++)
            x = x * 6364136223846793005u + 1;
    sink = x;
}

/* A test that failed half-way (no-fork mode runs tests in one process)
 * may have left a profiler running: start each test from a quiet state. */
PK_NO_INSTRUMENT static void quiet(void)
{
    int saved = errno;
    prof_stop();
    samp_stop();
    at_stop();
    errno = saved;
}

/* Find fn in the report; NULL when missing. */
PK_NO_INSTRUMENT static const prof_row *find_row(const prof_row *rows, size_t n,
                                                 const void *fn)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].fn == fn)
            return &rows[i];
    return NULL;
}

#define MAX_ROWS 64

/* ======================================================================== */
/* Exercise 1: the instrumenting profiler                                   */
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
    size_t n = 0;

    quiet();
    ck_assert_msg(prof_reset() == 0, "prof_reset() failed: %s", strerror(errno));
    ck_assert_msg(prof_start() == 0, "prof_start() failed: %s", strerror(errno));
    work_a();
    ck_assert_msg(prof_stop() == 0, "prof_stop() failed: %s", strerror(errno));
    ck_assert_msg(prof_report(PROF_SORT_NCALLS, rows, MAX_ROWS, &n) == 0,
                  "prof_report() failed: %s", strerror(errno));
    const prof_row *a = find_row(rows, n, FN(work_a)),
                   *b = find_row(rows, n, FN(work_b)),
                   *c = find_row(rows, n, FN(work_c));
    ck_assert_msg(a && b && c, "work_a, work_b and work_c should all be in the "
                  "report (%zu rows): does the enter hook record calls?", n);
    ck_assert_msg(a->ncalls == 1 && b->ncalls == 1000 && c->ncalls == 10,
                  "A calls B 1000 times and C 10 times: expected ncalls 1, "
                  "1000, 10; got %llu, %llu, %llu",
                  (unsigned long long)a->ncalls, (unsigned long long)b->ncalls,
                  (unsigned long long)c->ncalls);
    ck_assert_msg(rows[0].fn == FN(work_b) && rows[1].fn == FN(work_c),
                  "sorted by ncalls, work_b (1000) comes first and work_c (10) "
                  "second");
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
    size_t n = 0;

    quiet();
    ck_assert_int_eq(prof_reset(), 0);
    ck_assert_int_eq(prof_start(), 0);
    work_recurse(REC_DEPTH);
    ck_assert_int_eq(prof_stop(), 0);
    ck_assert_int_eq(prof_report(PROF_SORT_CUMTIME, rows, MAX_ROWS, &n), 0);
    const prof_row *r = find_row(rows, n, FN(work_recurse));
    ck_assert_msg(r != NULL, "work_recurse is missing from the report");
    ck_assert_msg(r->ncalls == REC_DEPTH,
                  "a recursion %d deep is %d calls; got ncalls %llu",
                  REC_DEPTH, REC_DEPTH, (unsigned long long)r->ncalls);
    ck_assert_msg(r->primcalls == 1,
                  "only the outermost of the %d activations is primitive "
                  "(cProfile prints 50/1); got primcalls %llu", REC_DEPTH,
                  (unsigned long long)r->primcalls);
}
END_TEST

START_TEST(test_prof_recursion_cumtime)
{
    prof_row rows[MAX_ROWS];
    size_t n = 0;

    quiet();
    ck_assert_int_eq(prof_reset(), 0);
    ck_assert_int_eq(prof_start(), 0);
    uint64_t t0 = pk_now_ns();
    work_recurse(REC_DEPTH);
    double outside = 1e-9 * (double)(pk_now_ns() - t0);
    ck_assert_int_eq(prof_stop(), 0);
    ck_assert_int_eq(prof_report(PROF_SORT_CUMTIME, rows, MAX_ROWS, &n), 0);
    const prof_row *r = find_row(rows, n, FN(work_recurse));
    ck_assert_msg(r != NULL, "work_recurse is missing from the report");
    /* Not a speed test: cumtime must fit inside the time measured around
     * the call, whatever the machine's load. Counting every activation
     * would make it about 50 times that. */
    ck_assert_msg(r->cumtime <= outside && r->cumtime >= 0.5 * REC_SPIN_NS * 1e-9,
                  "the whole recursion took %.4f s, but cumtime says %.4f s: "
                  "add to cumtime only when the outermost activation exits",
                  outside, r->cumtime);
    ck_assert_msg(r->tottime <= r->cumtime + 1e-9,
                  "tottime (%.4f s) cannot exceed cumtime (%.4f s)",
                  r->tottime, r->cumtime);
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
    size_t n = 0;

    quiet();
    ck_assert_int_eq(prof_reset(), 0);
    ck_assert_int_eq(prof_start(), 0);
    work_parent();
    ck_assert_int_eq(prof_stop(), 0);
    ck_assert_int_eq(prof_report(PROF_SORT_CUMTIME, rows, MAX_ROWS, &n), 0);
    /* 80 ms against 10 ms of busy waiting: the order survives a loaded
     * machine unless the light one is preempted for over 70 ms. */
    ck_assert_msg(n >= 3 && rows[0].fn == FN(work_parent) &&
                  rows[1].fn == FN(work_heavy) && rows[2].fn == FN(work_light),
                  "sorted by cumtime: work_parent (all 90 ms), work_heavy "
                  "(80 ms), work_light (10 ms); check cumtime includes callees "
                  "and the sort is largest first");
    const prof_row *p = &rows[0];
    ck_assert_msg(p->tottime < 0.5 * p->cumtime,
                  "work_parent only calls the others: its tottime (%.4f s) "
                  "should be far below its cumtime (%.4f s); subtract the "
                  "callees' time", p->tottime, p->cumtime);
    ck_assert_int_eq(prof_report(PROF_SORT_TOTTIME, rows, MAX_ROWS, &n), 0);
    ck_assert_msg(n >= 3 && rows[0].fn == FN(work_heavy) &&
                  rows[1].fn == FN(work_light),
                  "sorted by tottime: work_heavy then work_light (they do the "
                  "work themselves)");
}
END_TEST

START_TEST(test_prof_sort_top_n)
{
    prof_row rows[MAX_ROWS];
    size_t n = 99;

    quiet();
    ck_assert_int_eq(prof_reset(), 0);
    ck_assert_int_eq(prof_start(), 0);
    work_a();
    ck_assert_int_eq(prof_stop(), 0);
    ck_assert_int_eq(prof_report(PROF_SORT_NCALLS, rows, 2, &n), 0);
    ck_assert_msg(n == 2, "asked for the top 2 rows, got %zu", n);
    ck_assert_msg(rows[0].ncalls >= rows[1].ncalls,
                  "rows must be sorted largest first");
    ck_assert_int_eq(prof_report(PROF_SORT_PERCALL_TOT, rows, MAX_ROWS, &n), 0);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(rows[i - 1].percall_tot >= rows[i].percall_tot,
                      "sorted by tottime per call, row %zu (%g) is above row "
                      "%zu (%g)", i, rows[i].percall_tot, i - 1,
                      rows[i - 1].percall_tot);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(rows[i].ncalls > 0 &&
                      rows[i].percall_tot * (double)rows[i].ncalls <=
                          rows[i].tottime * 1.000001 + 1e-12,
                      "percall is tottime / ncalls");
    ck_assert_int_eq(prof_report(PROF_SORT_NCALLS, NULL, 0, &n), 0);
    ck_assert_msg(n == 0, "top 0 writes no rows");
}
END_TEST

#define NTHREADS 4

PK_NO_INSTRUMENT static void *thread_main(void *arg)
{
    (void)arg;
    work_a();
    return NULL;
}

START_TEST(test_prof_threads)
{
    prof_row rows[MAX_ROWS];
    pthread_t th[NTHREADS];
    size_t n = 0;

    quiet();
    ck_assert_int_eq(prof_reset(), 0);
    ck_assert_int_eq(prof_start(), 0);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, NULL), 0);
    work_a(); /* and the main thread at the same time */
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(prof_stop(), 0);
    ck_assert_int_eq(prof_report(PROF_SORT_NCALLS, rows, MAX_ROWS, &n), 0);
    const prof_row *a = find_row(rows, n, FN(work_a)),
                   *b = find_row(rows, n, FN(work_b));
    ck_assert_msg(a && b, "work_a and work_b should be in the report");
    ck_assert_msg(a->ncalls == NTHREADS + 1 && b->ncalls == 1000 * (NTHREADS + 1),
                  "%d threads each ran work_a (which calls work_b 1000 times): "
                  "expected %d and %d calls, got %llu and %llu. One shared "
                  "call stack gets the threads' calls mixed up: keep a stack "
                  "per thread and merge the counts in the report",
                  NTHREADS + 1, NTHREADS + 1, 1000 * (NTHREADS + 1),
                  (unsigned long long)a->ncalls, (unsigned long long)b->ncalls);
    ck_assert_msg(a->primcalls == NTHREADS + 1,
                  "each thread's work_a is an outermost activation: primcalls "
                  "%d, got %llu", NTHREADS + 1, (unsigned long long)a->primcalls);
}
END_TEST

START_TEST(test_prof_reset)
{
    prof_row rows[MAX_ROWS];
    size_t n = 0;

    quiet();
    ck_assert_int_eq(prof_reset(), 0);
    ck_assert_int_eq(prof_start(), 0);
    work_a();
    errno = 0;
    ck_assert_msg(prof_reset() == -1 && errno == EBUSY,
                  "prof_reset() while running must fail with EBUSY");
    ck_assert_int_eq(prof_stop(), 0);
    ck_assert_int_eq(prof_reset(), 0);
    ck_assert_int_eq(prof_report(PROF_SORT_NCALLS, rows, MAX_ROWS, &n), 0);
    ck_assert_msg(n == 0, "after prof_reset() the report is empty, got %zu rows", n);
    ck_assert_int_eq(prof_start(), 0);
    work_c();
    ck_assert_int_eq(prof_stop(), 0);
    ck_assert_int_eq(prof_report(PROF_SORT_NCALLS, rows, MAX_ROWS, &n), 0);
    ck_assert_msg(n == 1 && rows[0].fn == FN(work_c) && rows[0].ncalls == 1,
                  "after a reset, one call of work_c is the whole report "
                  "(got %zu rows)", n);
}
END_TEST

START_TEST(test_prof_bad_state)
{
    prof_row rows[2];
    size_t n;

    quiet();
    errno = 0;
    ck_assert_msg(prof_stop() == -1 && errno == EINVAL,
                  "prof_stop() before prof_start() must fail with EINVAL");
    ck_assert_int_eq(prof_start(), 0);
    errno = 0;
    ck_assert_msg(prof_start() == -1 && errno == EBUSY,
                  "a second prof_start() must fail with EBUSY");
    ck_assert_int_eq(prof_stop(), 0);
    errno = 0;
    ck_assert_msg(prof_report(PROF_SORT_COUNT, rows, 2, &n) == -1 && errno == EINVAL,
                  "an unknown sort key must fail with EINVAL");
    errno = 0;
    ck_assert_msg(prof_report(PROF_SORT_NCALLS, NULL, 2, &n) == -1 && errno == EINVAL,
                  "rows == NULL with max 2 must fail with EINVAL");
    errno = 0;
    ck_assert_msg(prof_report(PROF_SORT_NCALLS, rows, 2, NULL) == -1 && errno == EINVAL,
                  "nrows == NULL must fail with EINVAL");
    errno = 0;
    ck_assert_msg(prof_print(NULL, PROF_SORT_NCALLS, 5) == -1 && errno == EINVAL,
                  "prof_print(NULL, ...) must fail with EINVAL");
}
END_TEST

START_TEST(test_prof_print_pstats)
{
    char *text = NULL;
    size_t len = 0;

    quiet();
    ck_assert_int_eq(prof_reset(), 0);
    ck_assert_int_eq(prof_start(), 0);
    work_recurse(5);
    work_a();
    ck_assert_int_eq(prof_stop(), 0);
    FILE *out = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(out);
    int rc = prof_print(out, PROF_SORT_CUMTIME, 10);
    fclose(out);
    ck_assert_msg(rc == 0, "prof_print() failed: %s", strerror(errno));
    int ok = strstr(text, "ncalls") && strstr(text, "tottime") &&
             strstr(text, "cumtime") && strstr(text, "work_b") &&
             strstr(text, "5/1") && strstr(text, "check_profiler.c");
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
/* Exercise 2: the sampling profiler                                        */
/* ======================================================================== */

#define SAMPLE_HZ 1000
#define SPIN_CHUNK 20000

/* Spin until the sampler has `want` samples (or a deadline passes). The
 * loop's body is one line, HOT_LINE: almost every sample lands on it. */
enum { HOT_LINE = __LINE__ + 6 }; /* the multiply line, 6 lines down */
WORK void spin_hot(size_t want, uint64_t deadline_ns)
{
    uint64_t x = sink;
    while (samp_count() < want && pk_now_ns() < deadline_ns) {
        for (int i = 0; i < SPIN_CHUNK; i++)
            x = x * 6364136223846793005u + 1442695040888963407u;
        sink = x;
    }
}

WORK void spin_caller(size_t want, uint64_t deadline_ns)
{
    spin_hot(want, deadline_ns);
    sink = sink + 1;
}

/* Collect samples of spin_caller -> spin_hot. The number of samples does
 * not depend on the machine's speed (the spin waits for them); the
 * deadline only catches a sampler that never fires, and on a machine so
 * loaded that the spin gets little CPU, a quarter of the samples is still
 * plenty to tell 80 % from 99 %. Valgrind makes CPU time slow but the
 * timer still counts it, so fewer samples keep the test short. */
PK_NO_INSTRUMENT static size_t sample_spin(void)
{
    size_t want = under_valgrind() ? 60 : 200;
    uint64_t limit = under_valgrind() ? 60000000000u : 20000000000u;

    quiet();
    ck_assert_msg(samp_start(SAMPLE_HZ) == 0, "samp_start(%d) failed: %s",
                  SAMPLE_HZ, strerror(errno));
    spin_caller(want, pk_now_ns() + limit);
    ck_assert_msg(samp_stop() == 0, "samp_stop() failed: %s", strerror(errno));
    size_t got = samp_count();
    ck_assert_msg(got >= want / 4,
                  "spinning for up to %llu s at %d Hz collected %zu samples: "
                  "is setitimer(ITIMER_PROF) armed and the SIGPROF handler "
                  "storing samples?", (unsigned long long)(limit / 1000000000u),
                  SAMPLE_HZ, got);
    return got;
}

START_TEST(test_samp_hot_function)
{
    samp_row rows[8];
    size_t n = 0;

    size_t total = sample_spin();
    ck_assert_msg(samp_by_function(rows, 8, &n) == 0,
                  "samp_by_function() failed: %s", strerror(errno));
    ck_assert_msg(n >= 1 && strcmp(rows[0].func, "spin_hot") == 0,
                  "the function that spins should top the flat profile, got "
                  "\"%s\" first", n ? rows[0].func : "(nothing)");
    ck_assert_msg(rows[0].percent >= 80.0,
                  "spin_hot holds %.1f%% of %zu samples; it spins nearly all "
                  "the time, so at least 80%% was expected (record the "
                  "interrupted pc from the ucontext, not the handler's own)",
                  rows[0].percent, total);
    samp_free();
}
END_TEST

START_TEST(test_samp_hot_line)
{
    samp_row rows[8];
    size_t n = 0;

    sample_spin();
    ck_assert_msg(samp_by_line(rows, 8, &n) == 0, "samp_by_line() failed: %s",
                  strerror(errno));
    ck_assert_msg(n >= 1, "no lines in the by-line report");
    int dist = rows[0].line - HOT_LINE;
    ck_assert_msg(strcmp(sym_basename(rows[0].file), "check_profiler.c") == 0 &&
                  dist >= -3 && dist <= 3,
                  "the hot line is check_profiler.c:%d (the multiply in "
                  "spin_hot); the report's top line is %s:%d (%s). Resolve the "
                  "leaf pc itself, not pc - 1", HOT_LINE,
                  sym_basename(rows[0].file), rows[0].line, rows[0].func);
    samp_free();
}
END_TEST

START_TEST(test_samp_folded_stacks)
{
    char *text = NULL;
    size_t len = 0;

    size_t total = sample_spin();
    FILE *out = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(out);
    int rc = samp_write_folded(out);
    fclose(out);
    ck_assert_msg(rc == 0, "samp_write_folded() failed: %s", strerror(errno));

    size_t sum = 0, lines = 0;
    int caller_then_hot = 0, bad = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *space = strrchr(line, ' ');
        char *end;
        unsigned long c = space ? strtoul(space + 1, &end, 10) : 0;
        if (space == NULL || c == 0 || *end != '\0' || strchr(line, ' ') != space)
            bad = 1;
        sum += c;
        lines++;
        if (strstr(line, "spin_caller;spin_hot ") != NULL)
            caller_then_hot = 1;
    }
    free(text);
    ck_assert_msg(!bad, "every folded line is \"a;b;c count\": names joined "
                  "by ';', one space, a positive count");
    ck_assert_msg(sum == total, "the counts add up to %zu, expected samp_count() "
                  "= %zu", sum, total);
    ck_assert_msg(caller_then_hot,
                  "no line has \"spin_caller;spin_hot\": stacks go from the "
                  "outermost frame to the leaf, and the walk follows the "
                  "frame-pointer chain (saved frame pointer, return address)");
    samp_free();
}
END_TEST

START_TEST(test_samp_bad_args)
{
    size_t n;
    samp_row row;

    quiet();
    errno = 0;
    ck_assert_msg(samp_stop() == -1 && errno == EINVAL,
                  "samp_stop() before samp_start() must fail with EINVAL");
    errno = 0;
    ck_assert_msg(samp_start(0) == -1 && errno == EINVAL,
                  "a rate of 0 Hz must fail with EINVAL");
    errno = 0;
    ck_assert_msg(samp_start(SAMP_MAX_HZ + 1) == -1 && errno == EINVAL,
                  "a rate above SAMP_MAX_HZ must fail with EINVAL");
    ck_assert_int_eq(samp_start(100), 0);
    errno = 0;
    ck_assert_msg(samp_start(100) == -1 && errno == EBUSY,
                  "a second samp_start() must fail with EBUSY");
    errno = 0;
    ck_assert_msg(samp_by_function(&row, 1, &n) == -1 && errno == EINVAL,
                  "reports while the timer runs must fail with EINVAL (the "
                  "handler is still writing)");
    ck_assert_int_eq(samp_stop(), 0);
    errno = 0;
    ck_assert_msg(samp_by_line(NULL, 1, &n) == -1 && errno == EINVAL,
                  "rows == NULL with max 1 must fail with EINVAL");
    errno = 0;
    ck_assert_msg(samp_write_folded(NULL) == -1 && errno == EINVAL,
                  "samp_write_folded(NULL) must fail with EINVAL");
    samp_free();
}
END_TEST

/* ======================================================================== */
/* Exercise 3: the allocation tracker                                       */
/* ======================================================================== */

START_TEST(test_at_counts_and_peak)
{
    at_stats st;

    quiet();
    ck_assert_msg(at_start() == 0, "at_start() failed: %s", strerror(errno));
    char *a = at_malloc(100), *b = at_malloc(200), *c = at_calloc(10, 30);
    ck_assert_msg(a && b && c, "at_malloc/at_calloc returned NULL");
    ck_assert_msg(c[0] == 0 && c[299] == 0, "at_calloc must zero the block");
    memset(a, 1, 100);
    at_free(b);                 /* current 400, peak was 600 */
    char *d = at_malloc(50);    /* current 450 */
    ck_assert_int_eq(at_get_stats(&st), 0);
    ck_assert_msg(st.allocs == 4 && st.frees == 1,
                  "4 allocations and 1 free so far, got %llu and %llu",
                  (unsigned long long)st.allocs, (unsigned long long)st.frees);
    ck_assert_msg(st.current_bytes == 450 && st.current_blocks == 3,
                  "100 + 300 + 50 = 450 bytes in 3 blocks are live, got %zu "
                  "bytes in %zu blocks", st.current_bytes, st.current_blocks);
    ck_assert_msg(st.peak_bytes == 600,
                  "the peak was 100 + 200 + 300 = 600 bytes, before the free; "
                  "got %zu", st.peak_bytes);
    at_free(a);
    at_free(c);
    at_free(d);
    ck_assert_int_eq(at_stop(), 0);
    ck_assert_int_eq(at_get_stats(&st), 0);
    ck_assert_msg(st.frees == 4 && st.current_bytes == 0 && st.peak_bytes == 600,
                  "after freeing everything: 4 frees, 0 bytes live, peak still "
                  "600; got %llu, %zu, %zu", (unsigned long long)st.frees,
                  st.current_bytes, st.peak_bytes);
}
END_TEST

static void *kept[2]; /* the "leaked" blocks, freed at the end of the test */

WORK void leaky_function(void)
{
    kept[0] = at_malloc(123);
    kept[1] = at_malloc(77);
}

WORK void tidy_function(void)
{
    void *p = at_malloc(1000);
    at_free(p);
}

START_TEST(test_at_finds_leak)
{
    at_site rows[8];
    size_t n = 0;

    quiet();
    ck_assert_int_eq(at_start(), 0);
    tidy_function();
    leaky_function();
    tidy_function();
    ck_assert_msg(at_leaks(rows, 8, &n) == 0, "at_leaks() failed: %s",
                  strerror(errno));
    if (getenv("PK_SHOW") != NULL) /* PK_SHOW=1: see the report */
        at_print(stderr);
    at_stop();
    at_free(kept[0]);
    at_free(kept[1]);
    ck_assert_msg(n == 2, "two call sites still hold a block (leaky_function's "
                  "two at_malloc calls); got %zu sites", n);
    ck_assert_msg(rows[0].bytes == 123 && rows[0].blocks == 1 &&
                  rows[1].bytes == 77 && rows[1].blocks == 1,
                  "expected the 123-byte site then the 77-byte site, got "
                  "%zu then %zu bytes", rows[0].bytes, rows[1].bytes);
    ck_assert_msg(strcmp(rows[0].func, "leaky_function") == 0 &&
                  strcmp(sym_basename(rows[0].file), "check_profiler.c") == 0 &&
                  rows[1].line > rows[0].line,
                  "the leak's site is leaky_function in check_profiler.c, got "
                  "%s in %s:%d: record __builtin_return_address(0) in the "
                  "allocator and keep it from being inlined", rows[0].func,
                  rows[0].file, rows[0].line);
}
END_TEST

START_TEST(test_at_untracked_blocks)
{
    at_stats st;

    quiet();
    void *before = at_malloc(64); /* not tracking yet */
    ck_assert_msg(before != NULL, "at_malloc() must work while not tracking");
    ck_assert_int_eq(at_start(), 0);
    void *during = at_realloc(NULL, 32);
    during = at_realloc(during, 48);
    at_free(before);
    ck_assert_int_eq(at_get_stats(&st), 0);
    at_free(during);
    at_stop();
    ck_assert_msg(st.frees == 1 && st.allocs == 2,
                  "the block from before at_start() is freed but not counted; "
                  "the realloc counts one free and one allocation: expected 2 "
                  "allocations and 1 free, got %llu and %llu",
                  (unsigned long long)st.allocs, (unsigned long long)st.frees);
    ck_assert_msg(st.current_bytes == 48 && st.peak_bytes == 48,
                  "48 bytes live and a peak of 48, got %zu and %zu",
                  st.current_bytes, st.peak_bytes);
}
END_TEST

#define AT_PER_THREAD 2000

PK_NO_INSTRUMENT static void *alloc_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < AT_PER_THREAD; i++)
        at_free(at_malloc((size_t)i % 64 + 1));
    return NULL;
}

START_TEST(test_at_threads)
{
    pthread_t th[NTHREADS];
    at_stats st;

    quiet();
    ck_assert_int_eq(at_start(), 0);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, alloc_thread, NULL), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    at_stop();
    ck_assert_int_eq(at_get_stats(&st), 0);
    ck_assert_msg(st.allocs == NTHREADS * AT_PER_THREAD &&
                  st.frees == NTHREADS * AT_PER_THREAD && st.current_bytes == 0,
                  "%d threads each allocated and freed %d blocks: expected "
                  "%d and %d, 0 bytes live; got %llu, %llu, %zu. Lost updates "
                  "mean the counters are not protected by a lock",
                  NTHREADS, AT_PER_THREAD, NTHREADS * AT_PER_THREAD,
                  NTHREADS * AT_PER_THREAD, (unsigned long long)st.allocs,
                  (unsigned long long)st.frees, st.current_bytes);
}
END_TEST

START_TEST(test_at_bad_args)
{
    size_t n;

    quiet();
    errno = 0;
    ck_assert_msg(at_stop() == -1 && errno == EINVAL,
                  "at_stop() before at_start() must fail with EINVAL");
    ck_assert_int_eq(at_start(), 0);
    errno = 0;
    ck_assert_msg(at_start() == -1 && errno == EBUSY,
                  "a second at_start() must fail with EBUSY");
    errno = 0;
    ck_assert_msg(at_calloc(SIZE_MAX / 2, 4) == NULL && errno == ENOMEM,
                  "at_calloc whose size overflows must return NULL with ENOMEM");
    errno = 0;
    ck_assert_msg(at_malloc(SIZE_MAX) == NULL && errno == ENOMEM,
                  "at_malloc(SIZE_MAX) must return NULL with ENOMEM (mind the "
                  "header when adding sizes)");
    at_free(NULL);
    errno = 0;
    ck_assert_msg(at_get_stats(NULL) == -1 && errno == EINVAL,
                  "at_get_stats(NULL) must fail with EINVAL");
    errno = 0;
    ck_assert_msg(at_leaks(NULL, 3, &n) == -1 && errno == EINVAL,
                  "at_leaks(NULL, 3, ...) must fail with EINVAL");
    ck_assert_int_eq(at_stop(), 0);
}
END_TEST

/* ======================================================================== */
/* Exercise 4: the flame graph                                              */
/* ======================================================================== */

/* A minimal XML well-formedness check: one root element, tags balanced and
 * properly nested, attributes quoted, no bare '<' or '&' in text or values.
 * Returns NULL if well-formed, else what is wrong. */
PK_NO_INSTRUMENT static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':' || c == '.';
}

PK_NO_INSTRUMENT static const char *check_entity(const char **pp)
{
    static const char *const ok[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    const char *p = *pp;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(p, ok[i], strlen(ok[i])) == 0) {
            *pp = p + strlen(ok[i]);
            return NULL;
        }
    if (p[1] == '#') {
        const char *q = p + 2;
        while (name_char(*q))
            q++;
        if (*q == ';' && q > p + 2) {
            *pp = q + 1;
            return NULL;
        }
    }
    return "an '&' that is not an entity";
}

PK_NO_INSTRUMENT static const char *xml_wellformed(const char *p)
{
    enum { MAXD = 256 };
    const char *stack[MAXD];
    size_t len[MAXD], depth = 0;
    int roots = 0;

    while (*p) {
        if (*p == '&') {
            const char *e = check_entity(&p);
            if (e)
                return e;
            continue;
        }
        if (*p != '<') {
            if (depth == 0 && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
                return "text outside the root element";
            p++;
            continue;
        }
        if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!--", 4) == 0) {
            const char *end = strstr(p, p[1] == '?' ? "?>" : "-->");
            if (end == NULL)
                return "unterminated <? or <!--";
            p = end + (p[1] == '?' ? 2 : 3);
            continue;
        }
        if (p[1] == '/') { /* end tag */
            const char *n = p + 2, *q = n;
            while (name_char(*q))
                q++;
            if (depth == 0 || (size_t)(q - n) != len[depth - 1] ||
                strncmp(n, stack[depth - 1], len[depth - 1]) != 0)
                return "an end tag that does not match its start tag";
            depth--;
            while (*q == ' ')
                q++;
            if (*q != '>')
                return "junk in an end tag";
            p = q + 1;
            continue;
        }
        const char *n = p + 1, *q = n; /* start tag */
        while (name_char(*q))
            q++;
        if (q == n)
            return "a '<' that starts no tag";
        size_t nlen = (size_t)(q - n);
        for (;;) {
            while (*q == ' ' || *q == '\n' || *q == '\t')
                q++;
            if (*q == '>' || (q[0] == '/' && q[1] == '>'))
                break;
            const char *a = q;
            while (name_char(*q))
                q++;
            if (q == a || *q != '=' || (q[1] != '"' && q[1] != '\''))
                return "an attribute without a quoted value";
            char quote = q[1];
            q += 2;
            while (*q && *q != quote) {
                if (*q == '<')
                    return "'<' inside an attribute value";
                if (*q == '&') {
                    const char *e = check_entity(&q);
                    if (e)
                        return e;
                    continue;
                }
                q++;
            }
            if (*q != quote)
                return "unterminated attribute value";
            q++;
        }
        if (depth == 0 && roots++ > 0)
            return "more than one root element";
        if (*q == '/') {
            p = q + 2;
            continue;
        }
        if (depth == MAXD)
            return "nesting too deep";
        stack[depth] = n;
        len[depth++] = nlen;
        p = q + 1;
    }
    if (depth != 0)
        return "an element left open";
    return roots == 1 ? NULL : "no root element";
}

/* Run the folded text through flame_svg(); the SVG in a malloc'd string. */
PK_NO_INSTRUMENT static char *render(const char *folded, const char *title, int *rc)
{
    char *svg = NULL;
    size_t len = 0;
    FILE *in = fmemopen((void *)(uintptr_t)folded, strlen(folded), "r");
    FILE *out = open_memstream(&svg, &len);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    *rc = flame_svg(in, out, title);
    int saved = errno; /* fclose may change errno; the test reads it */
    fclose(in);
    fclose(out);
    errno = saved;
    return svg;
}

/* If xmllint is installed, it has the last word. */
PK_NO_INSTRUMENT static int xmllint_accepts(const char *svg)
{
    if (access("/usr/bin/xmllint", X_OK) != 0)
        return 1;
    char path[] = "/tmp/pk-flame-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    FILE *f = fdopen(fd, "w");
    fputs(svg, f);
    fclose(f);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "/usr/bin/xmllint --noout %s 2>/dev/null", path);
    int st = system(cmd);
    unlink(path);
    return st == 0;
}

static const char folded_demo[] =
    "main;run;parse 30\n"
    "main;run;compute;inner 50\n"
    "main;run;compute 10\n"
    "main;idle 10\n";

START_TEST(test_flame_wellformed)
{
    int rc;
    char *svg = render(folded_demo, "demo", &rc);
    ck_assert_msg(rc == 0, "flame_svg() failed: %s", strerror(errno));
    const char *why = xml_wellformed(svg);
    int names = strstr(svg, "<svg") && strstr(svg, "compute") &&
                strstr(svg, "inner") && strstr(svg, "idle") &&
                strstr(svg, "<rect");
    int lint = xmllint_accepts(svg);
    char head[300];
    snprintf(head, sizeof head, "%s", svg);
    free(svg);
    ck_assert_msg(why == NULL, "the SVG is not well-formed XML: %s. It "
                  "starts:\n%s", why, head);
    ck_assert_msg(lint, "xmllint --noout rejects the SVG");
    ck_assert_msg(names, "the SVG should be an <svg> with a <rect> and a "
                  "label per frame (main, run, compute, inner, idle...)");
}
END_TEST

START_TEST(test_flame_escapes_names)
{
    int rc;
    char *svg = render("main;operator<<&\"x\" 5\nmain;a>b 5\n", "a < b & c", &rc);
    ck_assert_msg(rc == 0, "flame_svg() failed: %s", strerror(errno));
    const char *why = xml_wellformed(svg);
    int escaped = strstr(svg, "operator&lt;&lt;&amp;") != NULL;
    free(svg);
    ck_assert_msg(why == NULL, "names with <, & and \" must be escaped for XML "
                  "(&lt; &amp; &quot;): %s", why);
    ck_assert_msg(escaped, "the name operator<<&\"x\" should appear escaped as "
                  "operator&lt;&lt;&amp;...");
}
END_TEST

/* The width attribute of the <rect> that follows "<title>name (". */
PK_NO_INSTRUMENT static double width_of(const char *svg, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "<title>%s (", name);
    const char *t = strstr(svg, key);
    const char *w = t ? strstr(t, "width=\"") : NULL;
    return w ? strtod(w + 7, NULL) : -1;
}

START_TEST(test_flame_widths)
{
    int rc;
    char *svg = render("root;big 3\nroot;small 1\n", NULL, &rc);
    ck_assert_msg(rc == 0, "flame_svg() failed: %s", strerror(errno));
    double root = width_of(svg, "root"), big = width_of(svg, "big"),
           small = width_of(svg, "small");
    free(svg);
    ck_assert_msg(root > 0 && big > 0 && small > 0,
                  "expected one <g><title>name (...)</title><rect ... "
                  "width=...> per frame for root, big and small");
    ck_assert_msg(big > 2.9 * small && big < 3.1 * small,
                  "big has 3 samples and small 1: its frame should be 3 times "
                  "as wide (%.2f against %.2f)", big, small);
    ck_assert_msg(root > 0.99 * (big + small) && root < 1.01 * (big + small),
                  "a parent is as wide as its children together (%.2f against "
                  "%.2f + %.2f)", root, big, small);
}
END_TEST

START_TEST(test_flame_bad_input)
{
    int rc;
    char *svg;

    errno = 0;
    ck_assert_msg(flame_svg(NULL, stdout, "x") == -1 && errno == EINVAL,
                  "flame_svg(NULL, ...) must fail with EINVAL");
    errno = 0;
    svg = render("main;run\n", "x", &rc);
    free(svg);
    ck_assert_msg(rc == -1 && errno == EINVAL,
                  "a line without a count must fail with EINVAL");
    errno = 0;
    svg = render("main;run -4\n", "x", &rc);
    free(svg);
    ck_assert_msg(rc == -1 && errno == EINVAL,
                  "a negative count must fail with EINVAL");
    svg = render("", "empty", &rc);
    ck_assert_msg(rc == 0 && svg != NULL && xml_wellformed(svg) == NULL,
                  "no samples at all still gives a well-formed SVG");
    free(svg);
}
END_TEST

START_TEST(test_flame_from_sampler)
{
    char *folded = NULL, *svg = NULL;
    size_t flen = 0, slen = 0;

    sample_spin();
    FILE *f = open_memstream(&folded, &flen);
    ck_assert_int_eq(samp_write_folded(f), 0);
    fclose(f);
    samp_free();
    FILE *in = fmemopen(folded, flen, "r");
    FILE *out = open_memstream(&svg, &slen);
    int rc = flame_svg(in, out, "spin_caller");
    fclose(in);
    fclose(out);
    const char *why = rc == 0 ? xml_wellformed(svg) : "flame_svg failed";
    int has = rc == 0 && strstr(svg, "spin_hot") != NULL;
    free(folded);
    free(svg);
    ck_assert_msg(why == NULL, "the sampler's folded stacks should draw as a "
                  "well-formed SVG: %s", why);
    ck_assert_msg(has, "the flame graph of the spin should show spin_hot");
}
END_TEST

/* ======================================================================== */
/* Provided code: the symbolizer                                            */
/* ======================================================================== */

START_TEST(test_symbols_resolve)
{
    const void *addrs[2] = {FN(work_a), FN(spin_hot)};
    sym_info out[2];

    ck_assert_int_eq(sym_resolve(addrs, 2, out), 0);
    ck_assert_msg(strcmp(out[0].func, "work_a") == 0 &&
                  strcmp(out[1].func, "spin_hot") == 0,
                  "expected work_a and spin_hot, got %s and %s (is addr2line "
                  "installed?)", out[0].func, out[1].func);
    ck_assert_str_eq(sym_basename(out[0].file), "check_profiler.c");
    ck_assert_int_gt(out[0].line, 0);
    errno = 0;
    ck_assert_msg(sym_resolve(NULL, 1, out) == -1 && errno == EINVAL,
                  "sym_resolve(NULL, 1, ...) fails with EINVAL");
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("06-profiling");

    pk_test_add(s, test_prof_ncalls_tree, 2,
                "the enter hook pushes (function, time) on this thread's "
                "stack; the exit hook pops it and adds one call");
    pk_test_add(s, test_prof_recursion_ncalls, 1,
                "count every exit in ncalls, and only exits that leave no "
                "other activation of the function on the stack in primcalls");
    pk_test_add(s, test_prof_recursion_cumtime, 2,
                "keep an 'active' count per function; add the elapsed time to "
                "cumtime only when it drops back to 0");
    pk_test_add(s, test_prof_cumtime_order, 2,
                "tottime = elapsed - time in callees: add each frame's elapsed "
                "time to its parent frame's child time");
    pk_test_add(s, test_prof_sort_top_n, 1,
                "qsort the merged rows by the chosen key, largest first, then "
                "copy at most max of them");
    pk_test_add(s, test_prof_threads, 2,
                "a _Thread_local stack and table per thread; the report adds "
                "up every thread's table");
    pk_test_add(s, test_prof_reset, 1,
                "reset zeroes the counters of every thread's table");
    pk_test_add(s, test_prof_bad_state, 1,
                "stop before start is EINVAL, a second start EBUSY, bad "
                "arguments EINVAL");
    pk_test_add(s, test_prof_print_pstats, 1,
                "resolve the functions with sym_resolve() and print "
                "ncalls tottime percall cumtime percall file:line(function)");
    pk_test_add_timeout(s, test_samp_hot_function, 3, 60,
                        "sigaction(SIGPROF) with SA_SIGINFO, setitimer("
                        "ITIMER_PROF); the handler stores the ucontext's pc "
                        "into a preallocated slot");
    pk_test_add_timeout(s, test_samp_hot_line, 2, 60,
                        "resolve the leaf pc with sym_resolve() and count "
                        "samples per file:line");
    pk_test_add_timeout(s, test_samp_folded_stacks, 2, 60,
                        "walk the frame pointers from the ucontext's rbp: "
                        "[fp] is the caller's fp, [fp+8] the return address");
    pk_test_add(s, test_samp_bad_args, 1,
                "check hz before arming anything; refuse reports while the "
                "timer runs");
    pk_test_add(s, test_at_counts_and_peak, 2,
                "a header before each block remembers its size; update "
                "current, and peak = max(peak, current), under a lock");
    pk_test_add(s, test_at_finds_leak, 2,
                "count blocks and bytes per call site "
                "(__builtin_return_address(0)); list the sites with blocks left");
    pk_test_add(s, test_at_untracked_blocks, 1,
                "mark in the header whether (and under which at_start) a "
                "block was counted");
    pk_test_add(s, test_at_threads, 1,
                "one mutex around the counters and the site table");
    pk_test_add(s, test_at_bad_args, 1,
                "check for overflow before adding the header size; NULL "
                "arguments are EINVAL");
    pk_test_add(s, test_flame_wellformed, 2,
                "build a tree from the folded lines; each node is a <g> with "
                "<title>, <rect> and <text>");
    pk_test_add(s, test_flame_escapes_names, 1,
                "escape & < > \" ' in names and the title");
    pk_test_add(s, test_flame_widths, 1,
                "width = samples * (FLAME_WIDTH / total samples); children "
                "start at their parent's x");
    pk_test_add(s, test_flame_bad_input, 1,
                "each line must end in ' <positive count>'; EINVAL otherwise");
    pk_test_add_timeout(s, test_flame_from_sampler, 1, 60,
                        "samp_write_folded() output feeds flame_svg() as is");
    pk_test_add_ungraded(s, test_symbols_resolve);
    return s;
}
