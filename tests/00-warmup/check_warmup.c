/* check_warmup.c - graded tests for chapter 00 (warmup.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "pk_check.h"
#include "warmup.h"

/* An independent reference: the sum kept in 128 bits, reduced mod 2^64. */
static uint64_t reference_sum(uint64_t n)
{
    unsigned __int128 s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += (unsigned __int128)i * i;
    return (uint64_t)s;
}

START_TEST(test_warmup_sum_small)
{
    /* range(n) stops before n: 0, 0, 0+1, 0+1+4, ... */
    const uint64_t want[] = {0, 0, 1, 5, 14, 30};
    for (uint64_t n = 0; n < 6; n++)
        ck_assert_msg(warmup_sum_squares(n) == want[n],
                      "warmup_sum_squares(%llu) = %llu, expected %llu",
                      (unsigned long long)n,
                      (unsigned long long)warmup_sum_squares(n),
                      (unsigned long long)want[n]);
}
END_TEST

START_TEST(test_warmup_sum_large)
{
    /* 10^6: the sum is 333332833333500000, exact in 64 bits. */
    uint64_t got = warmup_sum_squares(1000000);
    ck_assert_msg(got == 333332833333500000ull,
                  "warmup_sum_squares(10^6) = %llu, expected "
                  "333332833333500000 (an int or double accumulator?)",
                  (unsigned long long)got);
}
END_TEST

START_TEST(test_warmup_sum_wraps)
{
    /* Beyond n = 3,810,778 the true sum needs more than 64 bits; the
     * contract is the low 64 bits, as unsigned arithmetic gives them. */
    uint64_t n = 5000000;
    ck_assert_msg(warmup_sum_squares(n) == reference_sum(n),
                  "warmup_sum_squares(5e6) should wrap modulo 2^64: got %llu, "
                  "expected %llu", (unsigned long long)warmup_sum_squares(n),
                  (unsigned long long)reference_sum(n));
}
END_TEST

START_TEST(test_warmup_closed_small)
{
    for (uint64_t n = 0; n < 200; n++)
        ck_assert_msg(warmup_sum_squares_closed(n) == reference_sum(n),
                      "closed form at n = %llu gives %llu, expected %llu",
                      (unsigned long long)n,
                      (unsigned long long)warmup_sum_squares_closed(n),
                      (unsigned long long)reference_sum(n));
}
END_TEST

START_TEST(test_warmup_closed_wraps)
{
    /* Where (n-1)*n*(2n-1) overflows 64 bits but the sum does not, and
     * where even the sum wraps: the formula must still agree with the loop. */
    const uint64_t ns[] = {2642246, 3000000, 3810778, 3810779, 5000001,
                           9999999};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        ck_assert_msg(warmup_sum_squares_closed(ns[i]) == reference_sum(ns[i]),
                      "closed form at n = %llu gives %llu, expected %llu: "
                      "divide by 2 and 3 before multiplying",
                      (unsigned long long)ns[i],
                      (unsigned long long)warmup_sum_squares_closed(ns[i]),
                      (unsigned long long)reference_sum(ns[i]));
}
END_TEST

START_TEST(test_warmup_median_odd_even)
{
    double odd[] = {5, 1, 4, 2, 3}, m = -1;
    ck_assert_int_eq(warmup_median(odd, 5, &m), 0);
    ck_assert_msg(m == 3, "median of {5,1,4,2,3} is 3, got %g", m);
    double even[] = {10, 1, 7, 3};
    ck_assert_int_eq(warmup_median(even, 4, &m), 0);
    ck_assert_msg(m == 5, "median of {10,1,7,3} is (3+7)/2 = 5, got %g", m);
    double one = 42;
    ck_assert_int_eq(warmup_median(&one, 1, &m), 0);
    ck_assert_msg(m == 42, "median of one sample is that sample, got %g", m);
}
END_TEST

START_TEST(test_warmup_median_keeps_input)
{
    double s[] = {3, 1, 2}, m;
    ck_assert_int_eq(warmup_median(s, 3, &m), 0);
    ck_assert_msg(s[0] == 3 && s[1] == 1 && s[2] == 2,
                  "warmup_median must not reorder the caller's samples "
                  "(sort a copy)");
}
END_TEST

START_TEST(test_warmup_median_bad_args)
{
    double s[] = {1}, m;
    errno = 0;
    ck_assert_int_eq(warmup_median(NULL, 1, &m), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(warmup_median(s, 0, &m), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(warmup_median(s, 1, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void count_calls(void *ctx)
{
    (*(int *)ctx)++;
}

START_TEST(test_warmup_measure_calls)
{
    int calls = 0;
    pk_stats st;
    ck_assert_int_eq(warmup_measure(count_calls, &calls, 3, 7, &st), 0);
    ck_assert_msg(calls == 10, "3 warm-up + 7 timed runs = 10 calls, got %d",
                  calls);
    ck_assert_msg(st.runs == 7, "stats.runs counts timed runs only: 7, got %zu",
                  st.runs);
}
END_TEST

static void sleep_2ms(void *ctx)
{
    (void)ctx;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
}

START_TEST(test_warmup_measure_units)
{
    pk_stats st;
    ck_assert_int_eq(warmup_measure(sleep_2ms, NULL, 0, 5, &st), 0);
    /* Loose bounds: sleeps last at least what was asked; 1 s catches a
     * unit mistake (milliseconds or nanoseconds reported as seconds). */
    ck_assert_msg(st.min >= 0.002 && st.median < 1.0,
                  "a 2 ms sleep measured as min %g s, median %g s: report "
                  "seconds", st.min, st.median);
    ck_assert_msg(st.min <= st.median && st.median <= st.max &&
                  st.min <= st.mean && st.mean <= st.max,
                  "expected min <= median, mean <= max; got %g %g %g %g",
                  st.min, st.median, st.mean, st.max);
    ck_assert_msg(st.stddev >= 0, "stddev cannot be negative");
}
END_TEST

/* The first call is slow (a cold start); later calls are fast. */
static void slow_first(void *ctx)
{
    int *calls = ctx;
    struct timespec ts = {0, (*calls)++ == 0 ? 200000000 : 1000};
    nanosleep(&ts, NULL);
}

START_TEST(test_warmup_measure_skips_warmup)
{
    int calls = 0;
    pk_stats st;
    ck_assert_int_eq(warmup_measure(slow_first, &calls, 1, 5, &st), 0);
    ck_assert_msg(st.max < 0.1,
                  "the 200 ms first call is a warm-up run and must not be "
                  "timed; max was %g s", st.max);
}
END_TEST

START_TEST(test_warmup_measure_bad_args)
{
    pk_stats st;
    errno = 0;
    ck_assert_int_eq(warmup_measure(NULL, NULL, 0, 1, &st), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(warmup_measure(sleep_2ms, NULL, 0, 0, &st), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(warmup_measure(sleep_2ms, NULL, 0, 1, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("00-warmup");

    pk_test_add(s, test_warmup_sum_small, 1,
                "range(n) is 0 .. n-1: the loop runs while i < n");
    pk_test_add(s, test_warmup_sum_large, 1,
                "keep the sum and i*i in uint64_t; an int overflows at 46341^2");
    pk_test_add(s, test_warmup_sum_wraps, 1,
                "unsigned arithmetic wraps modulo 2^64: just let it");
    pk_test_add(s, test_warmup_closed_small, 1,
                "the sum of i*i for i < n is (n-1)n(2n-1)/6; n = 0 gives 0");
    pk_test_add(s, test_warmup_closed_wraps, 2,
                "the product overflows before the division: make each factor "
                "smaller first (one of n-1, n is even; one factor is a "
                "multiple of 3)");
    pk_test_add(s, test_warmup_median_odd_even, 1,
                "sort a copy; for even n average the two middle values");
    pk_test_add(s, test_warmup_median_keeps_input, 1,
                "qsort the copy you malloc'd, not the caller's array");
    pk_test_add(s, test_warmup_median_bad_args, 1,
                "check samples, out and n before touching them; set errno = "
                "EINVAL and return -1");
    pk_test_add(s, test_warmup_measure_calls, 1,
                "warm-up calls are made but not timed; runs counts timed calls");
    pk_test_add(s, test_warmup_measure_units, 1,
                "time each run with clock_gettime(CLOCK_MONOTONIC); "
                "seconds = tv_sec + tv_nsec * 1e-9");
    pk_test_add(s, test_warmup_measure_skips_warmup, 1,
                "start timing only after the warm-up calls");
    pk_test_add(s, test_warmup_measure_bad_args, 1,
                "fn, out and runs > 0 are required: EINVAL otherwise");
    return s;
}
