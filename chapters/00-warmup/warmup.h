/**
 * @file warmup.h
 * @brief Chapter 00: the CPU task and timing done right.
 *
 * The Python chapter's `cpu_intensive_task(n)` is `sum(i * i for i in
 * range(n))`, and its `benchmark()` reads `time.time()` before and after one
 * call. This chapter writes the task in C, twice (a loop and a closed form),
 * and writes the measuring code the way a benchmark must: a monotonic clock,
 * warm-up runs that are not counted, several timed runs, and the median.
 *
 * libpk's pk_bench() and pk_stats_from() are the finished versions of the
 * last two exercises; the lesson compares them.
 */
#ifndef WARMUP_H
#define WARMUP_H

#include <stddef.h>
#include <stdint.h>

#include "pk/timing.h"

/**
 * @brief Sum of i*i for 0 <= i < n, computed by a loop.
 * @param n one past the last term (Python's range(n)).
 * @return the sum modulo 2^64: uint64_t arithmetic wraps, so the result is
 *         exact while the true sum fits (n up to 3,810,778) and the low 64
 *         bits of it beyond. warmup_sum_squares(3) = 0 + 1 + 4 = 5.
 */
uint64_t warmup_sum_squares(uint64_t n);

/**
 * @brief The same sum from the closed form (n-1)n(2n-1)/6, in O(1).
 * @param n as for warmup_sum_squares().
 * @return exactly warmup_sum_squares(n) for every n, wrap-around included.
 *
 * The product overflows 64 bits long before the sum does (from n =
 * 2,097,153), and division does not commute with wrap-around: divide each
 * factor by 2 and 3 where it is divisible, before multiplying. Mind 2n-1
 * itself, which wraps for n >= 2^63.
 */
uint64_t warmup_sum_squares_closed(uint64_t n);

/**
 * @brief Median of @p n samples without changing them.
 * @param samples the values, in any order; left as they were (sort a
 *        copy).
 * @param n how many, at least 1.
 * @param out the middle value, or the mean of the two middle values when n
 *        is even.
 * @return 0, or -1 with errno EINVAL (NULL pointer, n == 0) or ENOMEM.
 *
 * Timing samples are fractions of a second: compare them as doubles.
 */
int warmup_median(const double *samples, size_t n, double *out);

/**
 * @brief Time @p fn the right way.
 * @param fn called as fn(ctx), exactly @p warmup + @p runs times.
 * @param ctx passed through.
 * @param warmup untimed calls made first.
 * @param runs timed calls, at least 1; each is timed on its own with
 *        clock_gettime(CLOCK_MONOTONIC, ...).
 * @param out filled like pk_stats_from() fills it, in seconds: runs is
 *        @p runs (warm-up calls are not counted), min, median, mean, max of
 *        the timed calls, and their sample standard deviation (divided by
 *        runs - 1; 0 for one run).
 * @return 0, or -1 with errno EINVAL (NULL fn or out, runs == 0) or ENOMEM.
 *
 * The tests check the statistics exactly: they give warmup_measure a clock
 * they control (their own clock_gettime(), which advances only while @p fn
 * runs), so read the time through clock_gettime() (or libpk's pk_now_ns(),
 * which calls it) and nothing else.
 */
int warmup_measure(void (*fn)(void *ctx), void *ctx, size_t warmup,
                   size_t runs, pk_stats *out);

#endif /* WARMUP_H */
