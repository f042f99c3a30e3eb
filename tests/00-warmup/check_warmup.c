/* check_warmup.c - graded tests for chapter 00 (warmup.h).
 *
 * Four groups, in the order the lesson's exercises go:
 *   the loop          exact sums, against an independent reference, at the
 *                     sizes where int, 32-bit and double arithmetic break;
 *   the closed form   the same identity for every n, wrap-around included;
 *   the median        known sample sets: odd and even n, unsorted input,
 *                     fractions of a second, the caller's array untouched;
 *   warmup_measure    exact statistics on a clock the tests control (see
 *                     "the fake clock" below), and one run on the real one;
 * and two performance tests: the closed form against the loop, and
 * warmup_measure's own cost per sample against the bare minimum.
 *
 * Time limits are sized to each test (most take a few milliseconds): an
 * endless loop costs a second per test, not ten. The closed-form speed test
 * compares with a provided loop (bench/sumsq.c), not with yours, so a loop
 * that never ends costs only the four tests of the loop. */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pk/timing.h"
#include "pk_check.h"
#include "pk_perf.h"
#include "warmup.h"

#define NS 1000000000LL            /* nanoseconds per second */
#define SMALL_LIMIT_S 1.0          /* time limit of a test that takes ms */
#define SLEEP_LIMIT_S 2.0          /* ... of the one that really sleeps */
#define PERF_LIMIT_S 30.0          /* ... of a performance test (busy retries) */

/* ==== an independent reference for the sums ================================= */

typedef unsigned __int128 u128;

/* a * b mod m for m < 2^67, by doubling and adding (no product overflows). */
static u128 mulmod(u128 a, u128 b, u128 m)
{
    u128 r = 0;
    a %= m;
    for (; b != 0; b >>= 1) {
        if (b & 1)
            r = (r + a) % m;
        a = (a * 2) % m;
    }
    return r;
}

/* The sum of i*i for i < n, modulo 2^64, for every n: with P = (n-1)n(2n-1)
 * = 6S, S mod 2^64 = (P mod 6*2^64) / 6. Nothing here is shared with the
 * solution's way of dividing first. */
static uint64_t reference_sum(uint64_t n)
{
    if (n == 0)
        return 0;
    const u128 m = (u128)6 << 64;
    u128 p = mulmod(mulmod((u128)n - 1, n, m), 2 * (u128)n - 1, m);
    return (uint64_t)(p / 6);
}

/* ==== the loop ================================================================ */

START_TEST(test_warmup_sum_small)
{
    /* range(n) stops before n: 0, 0, 0+1, 0+1+4, ... */
    const uint64_t want[] = {0, 0, 1, 5, 14, 30};
    for (uint64_t n = 0; n < 6; n++) {
        uint64_t got = warmup_sum_squares(n);
        ck_assert_msg(got == want[n], "warmup_sum_squares(%llu) returned %llu, "
                      "expected %llu%s", (unsigned long long)n,
                      (unsigned long long)got, (unsigned long long)want[n],
                      n == 0 ? " (no terms at all)" : "");
    }
}
END_TEST

/* The sizes at which narrower arithmetic first goes wrong, in increasing
 * order, then two large ones: the first wrong n says which mistake it is. */
static const struct limit {
    uint64_t n;
    const char *cause;
} LIMITS[] = {
    {1861, "nothing overflows yet at this n"},
    {1862, "the sum passes INT_MAX = 2^31 - 1 when i = 1861 is added: an "
           "int accumulator?"},
    {2345, "the sum passes 2^32 - 1 when i = 2344 is added: a 32-bit "
           "(unsigned) accumulator?"},
    {46342, "i*i passes INT_MAX at i = 46341: is i (or i*i) an int?"},
    {65537, "i*i is 2^32 at i = 65536: is i a 32-bit unsigned?"},
    {1000000, "the sum, 333332833333500000, needs 59 bits: more than a "
              "double holds exactly (53)"},
    {5000000, "past n = 3,810,778 the true sum needs more than 64 bits: the "
              "contract is its low 64 bits, which uint64_t arithmetic gives "
              "by wrapping"},
};

/* What a wrong sum looks like when a narrower type made it. */
static const char *sum_cause(uint64_t got, uint64_t want, const char *fallback)
{
    if (got == (uint64_t)(int64_t)(int32_t)(uint32_t)want)
        return "it is the right sum cut to 32 bits and sign-extended: an int "
               "accumulator";
    if (got == (uint32_t)want)
        return "it is the right sum cut to 32 bits: a 32-bit accumulator";
    if (got != 0 && want != 0 &&
        fabs((double)got - (double)want) <= 1e-9 * (double)want)
        return "close but not exact: a double accumulator rounds to 53 bits";
    return fallback;
}

START_TEST(test_warmup_sum_exact)
{
    for (size_t k = 0; k < sizeof LIMITS / sizeof LIMITS[0]; k++) {
        uint64_t n = LIMITS[k].n, got = warmup_sum_squares(n),
                 want = reference_sum(n);
        ck_assert_msg(got == want, "warmup_sum_squares(%llu) returned %llu, "
                      "expected %llu: %s", (unsigned long long)n,
                      (unsigned long long)got, (unsigned long long)want,
                      sum_cause(got, want, LIMITS[k].cause));
    }
}
END_TEST

/* ==== the closed form ========================================================== */

START_TEST(test_warmup_closed_small)
{
    for (uint64_t n = 0; n <= 2000; n++) {
        uint64_t got = warmup_sum_squares_closed(n), want = reference_sum(n);
        if (got != want)
            ck_abort_msg("warmup_sum_squares_closed(%llu) returned %llu, "
                         "expected %llu (the sum of i*i for i = 0 .. n-1)",
                         (unsigned long long)n, (unsigned long long)got,
                         (unsigned long long)want);
    }
}
END_TEST

START_TEST(test_warmup_closed_wraps)
{
    /* From n = 2,097,153 the product (n-1)n(2n-1) needs more than 64 bits;
     * from 3,810,779 the sum itself wraps. The formula must still give the
     * loop's result: the true sum modulo 2^64. */
    const uint64_t ns[] = {2097152, 2097153, 3000000, 3810778, 3810779,
                           5000001, 9999999, 4294967296ull, 4294967297ull,
                           1000000000000ull};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        uint64_t got = warmup_sum_squares_closed(ns[i]),
                 want = reference_sum(ns[i]);
        ck_assert_msg(got == want, "warmup_sum_squares_closed(%llu) returned "
                      "%llu, expected %llu (the product overflows 64 bits "
                      "before the division by 6 if that comes last)",
                      (unsigned long long)ns[i], (unsigned long long)got,
                      (unsigned long long)want);
    }
}
END_TEST

START_TEST(test_warmup_closed_huge)
{
    /* "For every n": from 2^63 on, 2n-1 wraps too. */
    const uint64_t ns[] = {(1ull << 63) - 1, 1ull << 63, (1ull << 63) + 1,
                           (1ull << 63) + 2, UINT64_MAX - 2, UINT64_MAX - 1,
                           UINT64_MAX};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        uint64_t got = warmup_sum_squares_closed(ns[i]),
                 want = reference_sum(ns[i]);
        ck_assert_msg(got == want, "warmup_sum_squares_closed(%llu) returned "
                      "%llu, expected %llu (n %% 3 = %d: for n >= 2^63, 2n-1 "
                      "has wrapped before it is divided by 3)",
                      (unsigned long long)ns[i], (unsigned long long)got,
                      (unsigned long long)want, (int)(ns[i] % 3));
    }
}
END_TEST

/* ==== the median ================================================================ */

/* "{5, 1, 4}" for a message. */
static const char *show(const double *v, size_t n)
{
    static char buf[256];
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof buf - 16; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%g",
                                 i ? ", " : "{", v[i]);
    snprintf(buf + used, sizeof buf - used, "}");
    return buf;
}

/* warmup_median(v, n, &m) must return 0 and m == want. */
static void expect_median(const double *v, size_t n, double want,
                          const char *cause)
{
    double m = NAN;
    errno = 0;
    int rc = warmup_median(v, n, &m);
    ck_assert_msg(rc == 0, "warmup_median(%s, %zu, &out) returned %d (errno "
                  "= %s), expected 0", show(v, n), n, rc, pk_errno_name(errno));
    ck_assert_msg(m == want, "warmup_median(%s, %zu, &out) gave out = %.15g, "
                  "expected %.15g (%s)", show(v, n), n, m, want, cause);
}

START_TEST(test_warmup_median_odd_even)
{
    const double odd[] = {5, 1, 4, 2, 3};
    expect_median(odd, 5, 3, "the middle of 1 2 3 4 5: sort a copy first");
    const double even[] = {10, 1, 7, 3};
    expect_median(even, 4, 5, "for even n, the mean of the two middle values "
                  "of 1 3 7 10: (3 + 7) / 2");
    const double down[] = {9, 8, 7, 6, 5, 4};
    expect_median(down, 6, 6.5, "(6 + 7) / 2 of the sorted 4 .. 9");
    const double dup[] = {2, 2, 1, 2};
    expect_median(dup, 4, 2, "1 2 2 2: the two middle values are both 2");
    const double one[] = {42};
    expect_median(one, 1, 42, "one sample is its own median");
}
END_TEST

START_TEST(test_warmup_median_fractions)
{
    /* Timing samples are fractions of a second. */
    const double odd[] = {0.5, 0.1, 0.4, 0.2, 0.3};
    expect_median(odd, 5, 0.3, "samples under a second apart must still sort: "
                  "does the comparison turn a - b into an int?");
    const double even[] = {0.004, 0.001, 0.003, 0.002};
    expect_median(even, 4, (0.002 + 0.003) / 2,
                  "samples a millisecond apart must still sort");
}
END_TEST

START_TEST(test_warmup_median_keeps_input)
{
    const double orig[] = {3, 1, 2, 9, 0.5, 7, 4, 8, 6};
    double s[9];
    memcpy(s, orig, sizeof s);
    double m = NAN;
    errno = 0;
    int rc = warmup_median(s, 9, &m);
    ck_assert_msg(rc == 0 && m == 4, "warmup_median(%s, 9, &out) returned %d, "
                  "out = %g, expected 0 and 4", show(orig, 9), rc, m);
    for (size_t i = 0; i < 9; i++)
        ck_assert_msg(s[i] == orig[i], "warmup_median(%s, 9, &out) changed the "
                      "caller's samples to %s: they are const; sort a copy",
                      show(orig, 9), show(s, 9));
}
END_TEST

START_TEST(test_warmup_median_many)
{
    /* 100,001 samples, a shuffle of 0 .. 100000 (step 7919, a prime, mod n):
     * more than any fixed-size buffer a median "should" need. */
    const size_t n = 100001;
    double *v = malloc(n * sizeof *v);
    ck_assert_msg(v != NULL, "out of memory in the test");
    for (size_t i = 0; i < n; i++)
        v[i] = (double)(i * 7919 % n);
    double m = NAN;
    errno = 0;
    int rc = warmup_median(v, n, &m);
    ck_assert_msg(rc == 0 && m == 50000, "warmup_median(a shuffle of 0 .. "
                  "100000, 100001, &out) returned %d (errno = %s), out = %g, "
                  "expected 0 and 50000 (allocate the copy for n samples)", rc,
                  pk_errno_name(errno), m);
    rc = warmup_median(v, n - 1, &m);
    ck_assert_msg(rc == 0, "warmup_median(v, 100000, &out) returned %d, "
                  "expected 0", rc);
    free(v);
}
END_TEST

START_TEST(test_warmup_median_bad_args)
{
    const double s[] = {1};
    double m;
    PK_EXPECT_EINVAL(warmup_median(NULL, 1, &m), "warmup_median(NULL, 1, &out)");
    PK_EXPECT_EINVAL(warmup_median(s, 0, &m), "warmup_median(samples, 0, &out)");
    PK_EXPECT_EINVAL(warmup_median(s, 1, NULL), "warmup_median(samples, 1, NULL)");
}
END_TEST

/* ==== the fake clock ===========================================================
 * warmup_measure's statistics depend on how long its runs take. To check
 * them exactly, these tests give it a clock they control. This file defines
 * clock_gettime(): the linker binds every call made inside this program
 * (your warmup.c, libpk's pk_now_ns(), Check) to it rather than to the C
 * library's. Except while measure_fake() runs it passes each call on to
 * the C library (found with dlsym(RTLD_NEXT)), so every other test and the
 * performance tests see real time; that costs a test and a call, about a
 * nanosecond, on both sides of every comparison.
 *
 * While measure_fake() runs, the steady clocks (CLOCK_MONOTONIC and its variants)
 * read a counter that moves only when the measured function runs: fake_fn()
 * advances it by the next duration of a script. Each warm-up call advances
 * it by an hour, so a timed warm-up cannot hide. The wall clock
 * (CLOCK_REALTIME) reads the same counter plus an offset that a script may
 * step back by an hour during one run, as NTP or an administrator may step
 * the real one. CPU-time clocks are not faked (a measurement that reads
 * them gets real, tiny CPU times). */

#define FAKE_START_NS (8 * NS - 1000000)      /* 7.999 s: runs cross seconds */
#define WALL_START_NS (1767225600LL * NS)     /* 2026-01-01 00:00:00 UTC */
#define WARMUP_FAKE_NS (3600 * NS)            /* one warm-up call: an hour */
#define STEP_NS (3600 * NS)                   /* the wall clock's step back */

static int fake_on;
static int64_t fake_ns, wall_offset_ns;
static unsigned reads_steady, reads_wall, reads_other;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void find_real_clock(void)
{
    *(void **)&real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    if (fake_on) {
        int64_t t;
        switch (id) {
        case CLOCK_MONOTONIC:
        case CLOCK_MONOTONIC_RAW:
        case CLOCK_MONOTONIC_COARSE:
        case CLOCK_BOOTTIME:
            reads_steady++;
            t = fake_ns;
            break;
        case CLOCK_REALTIME:
        case CLOCK_REALTIME_COARSE:
        case CLOCK_TAI:
            reads_wall++;
            t = fake_ns + wall_offset_ns;
            break;
        default:
            reads_other++;
            goto real;
        }
        ts->tv_sec = (time_t)(t / NS);
        ts->tv_nsec = (long)(t % NS);
        return 0;
    }
real:
    if (real_clock_gettime != NULL)
        return real_clock_gettime(id, ts);
    return (int)syscall(SYS_clock_gettime, id, ts); /* before the constructor */
}

/* What the measured function does on each call. */
typedef struct script {
    size_t warmup;         /* the first calls are warm-up calls (an hour each) */
    const double *run_s;   /* seconds each timed run takes */
    size_t runs;
    long step_run;         /* timed run (from 0) during which the wall clock
                              is stepped back an hour, or -1 */
    size_t calls;          /* calls so far */
} script;

static void fake_fn(void *ctx)
{
    script *s = ctx;
    size_t k = s->calls++;
    if (k < s->warmup) {
        fake_ns += WARMUP_FAKE_NS;
        return;
    }
    size_t j = k - s->warmup;
    fake_ns += llround(s->run_s[j < s->runs ? j : s->runs - 1] * 1e9);
    if ((long)j == s->step_run)
        wall_offset_ns -= STEP_NS;
}

typedef struct outcome {
    int rc, err;
    pk_stats st;
} outcome;

/* warmup_measure(fake_fn, s, s->warmup, s->runs, &st) on the fake clock. */
static outcome measure_fake(script *s)
{
    outcome o;
    o.st = (pk_stats){(size_t)-1, NAN, NAN, NAN, NAN, NAN};
    s->calls = 0;
    fake_ns = FAKE_START_NS;
    wall_offset_ns = WALL_START_NS - FAKE_START_NS;
    reads_steady = reads_wall = reads_other = 0;
    fake_on = 1;
    errno = 0;
    o.rc = warmup_measure(fake_fn, s, s->warmup, s->runs, &o.st);
    o.err = errno;
    fake_on = 0;
    return o;
}

static int close_to(double got, double want)
{
    return fabs(got - want) <= 1e-9 * fabs(want) + 1e-12;
}

/* The statistics the script's runs must give, computed plainly. */
static pk_stats expected_stats(const script *s, double *pop_stddev)
{
    double v[16] = {0}, sum = 0, ss = 0;
    size_t n = s->runs;
    pk_stats e = {n, s->run_s[0], 0, 0, s->run_s[0], 0};
    for (size_t i = 0; i < n; i++) {
        v[i] = s->run_s[i];
        sum += v[i];
        e.min = v[i] < e.min ? v[i] : e.min;
        e.max = v[i] > e.max ? v[i] : e.max;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: n is tiny */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    e.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    e.mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - e.mean) * (v[i] - e.mean);
    e.stddev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    *pop_stddev = sqrt(ss / (double)n);
    return e;
}

/* The likely cause of wrong statistics, from what the fake clock saw. */
static const char *diagnose(const script *s, const outcome *o,
                            const pk_stats *e, double pop_stddev)
{
    const pk_stats *g = &o->st;
    static char why[256];
    if (s->calls != s->warmup + s->runs) {
        snprintf(why, sizeof why, "fn was called %zu times, expected %zu "
                 "(%zu warm-up + %zu timed)", s->calls, s->warmup + s->runs,
                 s->warmup, s->runs);
        return why;
    }
    if (reads_steady == 0 && reads_wall > 0)
        return "it read only CLOCK_REALTIME, the wall clock, which NTP or an "
               "administrator can step: time with CLOCK_MONOTONIC";
    if (reads_steady == 0 && reads_other > 0)
        return "it read a CPU-time clock (clock()? CLOCK_PROCESS_CPUTIME_ID?), "
               "not the elapsed time: use CLOCK_MONOTONIC";
    if (reads_steady == 0)
        return "it never called clock_gettime(CLOCK_MONOTONIC, ...) (or "
               "pk_now_ns()): read the time through them";
    if (g->runs != s->runs)
        return "runs must count the timed calls only";
    if (g->max >= 3599.0)
        return "a warm-up call was timed (each one takes an hour here): start "
               "the clock after the warm-up calls";
    if (g->min < 0)
        return "a run came out negative: the wall clock was stepped back "
               "during it; CLOCK_MONOTONIC never goes back";
    if (s->runs > 1 && close_to(g->min, g->max))
        return "every run got the same time: time each run on its own";
    if (close_to(g->min * 1e-9, e->min) || close_to(g->min * 1e-6, e->min) ||
        close_to(g->min * 1e-3, e->min))
        return "the figures are not in seconds: seconds = tv_sec + tv_nsec * "
               "1e-9";
    if (fabs(g->min - e->min) > 0.5 || fabs(g->max - e->max) > 0.5)
        return "the figures are off by whole seconds: tv_sec was lost "
               "(seconds = tv_sec + tv_nsec * 1e-9), or tv_nsec was not "
               "subtracted as part of the whole time";
    if (s->runs > 1 && close_to(g->stddev, pop_stddev))
        return "stddev divides by runs: the sample standard deviation "
               "divides by runs - 1, as pk_stats_from()";
    if (isnan(g->stddev))
        return "stddev is NaN: with one run it is 0 (runs - 1 = 0: do not "
               "divide by it)";
    if (close_to(g->median, e->mean) && !close_to(e->median, e->mean))
        return "the median is the mean: sort the samples and take the middle";
    return "compare each figure with the expected one";
}

/* Run the script on the fake clock and check every statistic exactly. */
static void expect_exact_stats(script *s)
{
    char runs[128];
    size_t used = 0;
    runs[0] = '\0';
    for (size_t i = 0; i < s->runs; i++)
        used += (size_t)snprintf(runs + used, sizeof runs - used, "%s%g",
                                 i ? ", " : "", s->run_s[i]);
    char call[64];
    snprintf(call, sizeof call, "warmup_measure(fn, ctx, %zu, %zu, &st)",
             s->warmup, s->runs);

    outcome o = measure_fake(s);
    ck_assert_msg(o.rc == 0, "%s returned %d (errno = %s), expected 0", call,
                  o.rc, pk_errno_name(o.err));
    double pop;
    pk_stats e = expected_stats(s, &pop);
    const pk_stats *g = &o.st;
    int ok = s->calls == s->warmup + s->runs && g->runs == e.runs &&
             close_to(g->min, e.min) && close_to(g->median, e.median) &&
             close_to(g->mean, e.mean) && close_to(g->max, e.max) &&
             close_to(g->stddev, e.stddev);
    ck_assert_msg(ok, "%s, with timed runs of %s s%s%s, gave runs %zu, min "
                  "%.9g, median %.9g, mean %.9g, max %.9g, stddev %.9g; "
                  "expected %zu, %.9g, %.9g, %.9g, %.9g, %.9g (clock reads: "
                  "CLOCK_MONOTONIC %u, CLOCK_REALTIME %u, others %u): %s",
                  call, runs, s->warmup ? " after warm-up calls of an hour each"
                  : "", s->step_run >= 0 ? " (the wall clock was stepped back an "
                  "hour during one of them)" : "", g->runs, g->min, g->median,
                  g->mean, g->max, g->stddev, e.runs, e.min, e.median, e.mean,
                  e.max, e.stddev, reads_steady, reads_wall, reads_other,
                  diagnose(s, &o, &e, pop));
}

/* ==== warmup_measure =========================================================== */

static void count_calls(void *ctx)
{
    (*(int *)ctx)++;
}

START_TEST(test_warmup_measure_calls)
{
    int calls = 0;
    pk_stats st = {0, 0, 0, 0, 0, 0};
    errno = 0;
    int rc = warmup_measure(count_calls, &calls, 3, 7, &st);
    ck_assert_msg(rc == 0, "warmup_measure(fn, ctx, 3, 7, &st) returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    ck_assert_msg(calls == 10, "warmup_measure(fn, ctx, 3, 7, &st) called fn "
                  "%d times, expected 10 (3 warm-up + 7 timed)", calls);
    ck_assert_msg(st.runs == 7, "warmup_measure(fn, ctx, 3, 7, &st) set "
                  "st.runs = %zu, expected 7 (the timed runs only)", st.runs);
}
END_TEST

START_TEST(test_warmup_measure_exact_stats)
{
    /* Unsorted, crossing whole seconds, after two warm-up calls. */
    const double run_s[] = {0.5, 2.25, 0.125, 1.0, 0.375};
    script s = {2, run_s, 5, -1, 0};
    expect_exact_stats(&s);
}
END_TEST

START_TEST(test_warmup_measure_even_runs)
{
    const double run_s[] = {0.25, 4.0, 1.0, 0.5, 3.0, 0.75};
    script s = {1, run_s, 6, -1, 0};
    expect_exact_stats(&s);
}
END_TEST

START_TEST(test_warmup_measure_one_run)
{
    const double run_s[] = {1.5};
    script s = {0, run_s, 1, -1, 0};
    expect_exact_stats(&s);
}
END_TEST

START_TEST(test_warmup_measure_clock_step)
{
    /* The wall clock goes back an hour during the third run. */
    const double run_s[] = {0.5, 0.25, 0.75, 1.0, 0.125};
    script s = {1, run_s, 5, 2, 0};
    expect_exact_stats(&s);
}
END_TEST

static void sleep_2ms(void *ctx)
{
    (void)ctx;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
}

START_TEST(test_warmup_measure_real_sleep)
{
    /* On the real clock: five sleeps of 2 ms. Sleeps last at least what
     * was asked; a median over a second is a unit mistake. */
    pk_stats st = {0, NAN, NAN, NAN, NAN, NAN};
    errno = 0;
    int rc = warmup_measure(sleep_2ms, NULL, 1, 5, &st);
    ck_assert_msg(rc == 0, "warmup_measure(sleep_2ms, NULL, 1, 5, &st) "
                  "returned %d (errno = %s), expected 0", rc,
                  pk_errno_name(errno));
    ck_assert_msg(st.runs == 5 && st.min >= 0.002 && st.median < 1.0 &&
                  st.min <= st.median && st.median <= st.max &&
                  st.min <= st.mean && st.mean <= st.max && st.stddev >= 0,
                  "warmup_measure(sleep_2ms, NULL, 1, 5, &st) gave runs %zu, "
                  "min %g s, median %g s, mean %g s, max %g s, stddev %g s; "
                  "expected 5 runs of 2 ms or a little more, min <= median, "
                  "mean <= max, stddev >= 0", st.runs, st.min, st.median,
                  st.mean, st.max, st.stddev);
}
END_TEST

START_TEST(test_warmup_measure_bad_args)
{
    pk_stats st;
    PK_EXPECT_EINVAL(warmup_measure(NULL, NULL, 0, 1, &st),
                     "warmup_measure(NULL, NULL, 0, 1, &st)");
    PK_EXPECT_EINVAL(warmup_measure(sleep_2ms, NULL, 0, 0, &st),
                     "warmup_measure(fn, NULL, 0, 0, &st)");
    PK_EXPECT_EINVAL(warmup_measure(sleep_2ms, NULL, 0, 1, NULL),
                     "warmup_measure(fn, NULL, 0, 1, NULL)");
}
END_TEST

/* ==== performance ============================================================== */

/* Calls per timed sample so that one sample lasts about target_s: doubled
 * from 1 until a sample is long enough. A slow function stays at 1 call. */
static size_t calibrate(void (*fn)(void *), void *ctx, size_t *reps,
                        double target_s, size_t max_reps)
{
    for (*reps = 1;; *reps *= 2) {
        uint64_t t0 = pk_now_ns();
        fn(ctx);
        double t = (double)(pk_now_ns() - t0) * 1e-9;
        if (t >= target_s || *reps * 2 > max_reps)
            return *reps;
        if (t * 4 < target_s && *reps * 8 <= max_reps)
            *reps *= 4; /* far off: take bigger steps */
    }
}

/* ---- the closed form against the loop ---------------------------------------
 * At n = 10^7, in the same rounds. The loop is bench/sumsq.c's, the plain
 * loop kept a loop (clang -O2 turns your warmup_sum_squares into the closed
 * form by itself, which would leave nothing to compare), about 4 ms of CPU
 * time per call on the course machine. One call of a closed form takes a
 * few nanoseconds, less than reading the clock, so a timed sample makes many
 * calls (on consecutive n, which nothing can hoist) and the ratio is per
 * call. A "closed form" that loops scores 1x. The reference measured 0.6 to
 * 15 million x (the spread is the machine's load); the target has room for
 * a closed form done in 128-bit or floating-point arithmetic, tens of
 * nanoseconds. */
#define PERF_SUM_N 10000000ull
#define PERF_CLOSED_TARGET 1000.0

uint64_t sumsq_loop(uint64_t n);  /* bench/sumsq.c */

typedef struct sum_job {
    uint64_t n;
    size_t reps;
    uint64_t sink;
} sum_job;

static void time_loop(void *p)
{
    sum_job *j = p;
    j->sink += sumsq_loop(j->n);
}

static void time_closed(void *p)
{
    sum_job *j = p;
    uint64_t s = 0;
    for (size_t r = 0; r < j->reps; r++)
        s += warmup_sum_squares_closed(j->n + r);
    j->sink += s;
}

START_TEST(test_warmup_perf_closed)
{
    /* Correct first, on the n this test times. */
    for (uint64_t n = PERF_SUM_N; n < PERF_SUM_N + 10; n++) {
        uint64_t got = warmup_sum_squares_closed(n), want = reference_sum(n);
        if (got != want)
            ck_abort_msg("warmup_sum_squares_closed(%llu) returned %llu, "
                         "expected %llu", (unsigned long long)n,
                         (unsigned long long)got, (unsigned long long)want);
    }

    sum_job loop = {PERF_SUM_N, 1, 0}, closed = {PERF_SUM_N, 1, 0};
    if (pk_perf_enabled())
        calibrate(time_closed, &closed, &closed.reps, 0.002, (size_t)1 << 24);
    void (*const fns[])(void *) = {time_loop, time_closed};
    void *const ctxs[] = {&loop, &closed};
    PK_PERF_LOOP {
        pk_perf_result r;
        if (pk_perf_measure(fns, ctxs, 2, &r) != 0)
            continue;
        double ratio = r.ratio[1] * (double)closed.reps;
        pk_perf_award(ratio, PERF_CLOSED_TARGET, PK_PERF_HIGHER,
                      "warmup_sum_squares_closed(n) took %.3g ns per call, the "
                      "loop %.2f ms at n = 10^7: %.3gx faster; target %.0fx",
                      1e9 * r.median_s[1] / (double)closed.reps,
                      1e3 * r.median_s[0], ratio, PERF_CLOSED_TARGET);
    }
}
END_TEST

/* ---- warmup_measure's own cost per sample -------------------------------------
 * Timing an empty function shows what the measuring itself costs. The
 * honest yardstick is the least any correct warmup_measure must do per
 * sample, measured in the same rounds: the "direct" loop below reads the
 * clock, calls the function through a pointer, reads the clock again and
 * stores the difference. warmup_measure(empty, NULL, 0, N, &st) does that
 * and more: the allocation, the statistics, the sort for the median. The
 * figure is that extra time per sample,
 *     (time of warmup_measure - time of the direct loop) / N,
 * a difference of two times measured side by side, so the cost of the
 * clock itself (25-60 ns per read on the course machine, microseconds
 * where the clock is a system call) cancels out. N = 100, a long but
 * ordinary benchmark. Measured on the course machine: the reference
 * spends 45-65 ns of CPU time per sample more than the direct loop (the
 * direct loop 60 ns), most of it in qsort; in wall time, with the machine
 * loaded but not "too busy", 90-160 ns. The target, 200 ns, leaves room
 * for any O(N log N) median. Sorting after every sample (1-2 us per
 * sample at N = 100) or a system call per sample (2-4 us each on the
 * course machine's VM) scores 0. */
#define OVH_N 100                  /* samples per warmup_measure call */
#define OVH_TARGET_NS 200.0
#define OVH_SAMPLE_S 0.005         /* aim of one timed sample */

typedef struct ovh_job {
    size_t reps;                   /* warmup_measure calls (or loops) per sample */
    double *buf;                   /* the direct loop's samples */
    int rc;                        /* the first failing return of warmup_measure */
} ovh_job;

static void empty_fn(void *ctx)
{
    (void)ctx;
}

/* Through a volatile pointer, as warmup_measure calls it (no inlining). */
static void (*volatile empty_ptr)(void *) = empty_fn;

static void time_direct(void *p)
{
    ovh_job *j = p;
    for (size_t r = 0; r < j->reps; r++)
        for (size_t i = 0; i < OVH_N; i++) {
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            empty_ptr(NULL);
            clock_gettime(CLOCK_MONOTONIC, &b);
            j->buf[i] = (double)((b.tv_sec - a.tv_sec) * NS + (b.tv_nsec - a.tv_nsec)) * 1e-9;
        }
}

static void time_measure(void *p)
{
    ovh_job *j = p;
    for (size_t r = 0; r < j->reps; r++) {
        pk_stats st;
        if (warmup_measure(empty_fn, NULL, 0, OVH_N, &st) != 0 && j->rc == 0)
            j->rc = -1;
    }
}

START_TEST(test_warmup_perf_measure_overhead)
{
    pk_stats st = {0, NAN, NAN, NAN, NAN, NAN};
    errno = 0;
    int rc = warmup_measure(empty_fn, NULL, 0, OVH_N, &st);
    ck_assert_msg(rc == 0, "warmup_measure(empty, NULL, 0, %d, &st) returned "
                  "%d (errno = %s), expected 0", OVH_N, rc, pk_errno_name(errno));
    ck_assert_msg(st.runs == OVH_N && st.min >= 0 && st.min <= st.median &&
                  st.median <= st.max && st.min <= st.mean && st.mean <= st.max &&
                  st.max < 1.0, "warmup_measure(empty, NULL, 0, %d, &st) gave "
                  "runs %zu, min %g, median %g, mean %g, max %g; expected %d "
                  "runs, 0 <= min <= median, mean <= max", OVH_N, st.runs,
                  st.min, st.median, st.mean, st.max, OVH_N);

    double *buf = malloc(OVH_N * sizeof *buf);
    ck_assert_msg(buf != NULL, "out of memory in the test");
    ovh_job direct = {1, buf, 0}, measure = {1, NULL, 0};
    if (pk_perf_enabled()) {
        calibrate(time_direct, &direct, &direct.reps, OVH_SAMPLE_S, 4096);
        calibrate(time_measure, &measure, &measure.reps, OVH_SAMPLE_S, 4096);
    }
    void (*const fns[])(void *) = {time_direct, time_measure};
    void *const ctxs[] = {&direct, &measure};
    PK_PERF_LOOP {
        pk_perf_result r;
        if (pk_perf_measure(fns, ctxs, 2, &r) != 0)
            continue;
        /* Per sample: the direct loop's time, and warmup_measure's from the
         * paired ratio of the rounds (r.ratio[1] = direct / measure). */
        double direct_ns = 1e9 * r.median_s[0] / (double)(direct.reps * OVH_N);
        double measure_ns = direct_ns * (double)direct.reps /
                            (r.ratio[1] * (double)measure.reps);
        double extra = measure_ns - direct_ns;
        pk_perf_award(extra < 0 ? 0 : extra, OVH_TARGET_NS, PK_PERF_LOWER,
                      "warmup_measure(empty, NULL, 0, %d, &st) took %.0f ns "
                      "per sample, %.0f ns more than reading the clock twice "
                      "around the call (%.0f ns); target at most %.0f ns more",
                      OVH_N, measure_ns, extra, direct_ns, OVH_TARGET_NS);
    }
    ck_assert_msg(measure.rc == 0, "warmup_measure(empty, NULL, 0, %d, &st) "
                  "failed during the measurement", OVH_N);
    free(buf);
}
END_TEST

/* ==== the suite ================================================================ */

/* Weights add up to 100: 75 for correctness, 25 for the two speed tests. */
Suite *pk_suite(void)
{
    Suite *s = suite_create("00-warmup");

    pk_test_add_timeout(s, test_warmup_sum_small, 5, SMALL_LIMIT_S,
                        "range(n) is 0 .. n-1: the loop runs while i < n, "
                        "and not at all for n = 0");
    pk_test_add_timeout(s, test_warmup_sum_exact, 15, SMALL_LIMIT_S,
                        "keep i, i*i and the sum in uint64_t and let it wrap: "
                        "the message names the first n that broke and the "
                        "likely cause");
    pk_test_add_timeout(s, test_warmup_closed_small, 5, SMALL_LIMIT_S,
                        "the sum of i*i for i < n is (n-1)n(2n-1)/6 (not "
                        "n(n+1)(2n+1)/6, which stops at n); n = 0 gives 0");
    pk_test_add_timeout(s, test_warmup_closed_wraps, 6, SMALL_LIMIT_S,
                        "the product overflows before the division: make the "
                        "factors smaller first (one of n-1, n is even; one "
                        "factor is a multiple of 3)");
    pk_test_add_timeout(s, test_warmup_closed_huge, 3, SMALL_LIMIT_S,
                        "for n >= 2^63, 2n-1 wraps: is the wrapped value still "
                        "a multiple of 3? Which n make 2n-1 the factor to "
                        "divide?");
    pk_test_add_timeout(s, test_warmup_median_odd_even, 5, SMALL_LIMIT_S,
                        "sort a copy; for even n average the two middle values");
    pk_test_add_timeout(s, test_warmup_median_fractions, 4, SMALL_LIMIT_S,
                        "qsort's comparison returns -1, 0 or 1: (a > b) - (a "
                        "< b); (int)(a - b) is 0 for values under 1 apart");
    pk_test_add_timeout(s, test_warmup_median_keeps_input, 4, SMALL_LIMIT_S,
                        "qsort the copy you malloc'd, not the caller's array");
    pk_test_add_timeout(s, test_warmup_median_many, 2, SMALL_LIMIT_S,
                        "malloc the copy for n samples, whatever n is");
    pk_test_add_timeout(s, test_warmup_median_bad_args, 3, SMALL_LIMIT_S,
                        "check samples, out and n before touching them; set "
                        "errno = EINVAL and return -1");
    pk_test_add_timeout(s, test_warmup_measure_calls, 4, SMALL_LIMIT_S,
                        "warm-up calls are made but not timed; runs counts "
                        "timed calls");
    pk_test_add_timeout(s, test_warmup_measure_exact_stats, 6, SMALL_LIMIT_S,
                        "time each run on its own with clock_gettime("
                        "CLOCK_MONOTONIC), after the warm-up; the message "
                        "names the figure that is off and the likely cause");
    pk_test_add_timeout(s, test_warmup_measure_even_runs, 3, SMALL_LIMIT_S,
                        "for an even number of runs the median is the mean of "
                        "the two middle samples");
    pk_test_add_timeout(s, test_warmup_measure_one_run, 2, SMALL_LIMIT_S,
                        "one run: min = median = mean = max, stddev 0");
    pk_test_add_timeout(s, test_warmup_measure_clock_step, 4, SMALL_LIMIT_S,
                        "a duration needs a clock that never jumps: "
                        "CLOCK_MONOTONIC, not CLOCK_REALTIME");
    pk_test_add_timeout(s, test_warmup_measure_real_sleep, 1, SLEEP_LIMIT_S,
                        "report seconds: tv_sec + tv_nsec * 1e-9");
    pk_test_add_timeout(s, test_warmup_measure_bad_args, 3, SMALL_LIMIT_S,
                        "fn, out and runs > 0 are required: EINVAL otherwise");
    pk_test_add_perf(s, test_warmup_perf_closed, 10, PERF_LIMIT_S,
                     "the closed form is a few multiplications: no loop");
    pk_test_add_perf(s, test_warmup_perf_measure_overhead, 15, PERF_LIMIT_S,
                     "per sample: two clock reads and a store; the sort and "
                     "the statistics once, after the last run");
    return s;
}
