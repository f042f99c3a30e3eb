/**
 * @file pk/timing.h
 * @brief Timing done right: a monotonic clock, warm-up runs, the median.
 *
 * The Python chapter times a function with `time.time()` once, without a
 * warm-up. That clock is the wall clock: NTP may step it, and one run is
 * at the mercy of a cold cache, a page fault or a context switch. This module
 * reads CLOCK_MONOTONIC, throws away warm-up runs, repeats the measurement
 * and reports the median, which one slow outlier cannot move.
 *
 * All durations in pk_stats are in seconds.
 */
#ifndef PK_TIMING_H
#define PK_TIMING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Nanoseconds on CLOCK_MONOTONIC (never goes backwards).
 * @return the current reading; only differences between two readings mean
 *         anything. Costs about 20 ns (a vDSO call, no system call).
 */
uint64_t pk_now_ns(void);

/**
 * @brief CPU time the whole process has used so far, in nanoseconds: user
 *        and system time of every thread (CLOCK_PROCESS_CPUTIME_ID).
 * @return the current reading; only differences mean anything. Beside
 *         pk_now_ns() it tells how many cores a piece of code kept busy:
 *         CPU time over wall time (a thread that spins while it waits
 *         costs no wall time and a whole core).
 */
uint64_t pk_cpu_ns(void);

/** @brief Summary of repeated measurements, all in seconds. */
typedef struct pk_stats {
    size_t runs;    /**< number of samples summarised */
    double min;     /**< fastest sample */
    double median;  /**< middle sample (mean of the two middle ones if even) */
    double mean;    /**< arithmetic mean */
    double max;     /**< slowest sample */
    double stddev;  /**< sample standard deviation (n - 1); 0 for one sample */
} pk_stats;

/**
 * @brief Summarise @p n samples.
 * @param samples durations in seconds; not modified (a copy is sorted).
 * @param n number of samples, at least 1.
 * @param out where the summary is written.
 * @return 0, or -1 with errno EINVAL (NULL pointer or n == 0) or ENOMEM.
 */
int pk_stats_from(const double *samples, size_t n, pk_stats *out);

/**
 * @brief Time @p fn: @p warmup untimed calls, then @p runs timed calls.
 * @param fn the code under test; called as fn(ctx).
 * @param ctx passed to fn unchanged (what a Python closure would capture).
 * @param warmup calls made first and not timed (caches, page faults, CPU
 *        frequency); 0 is allowed.
 * @param runs timed calls, at least 1.
 * @param out the summary of the timed calls.
 * @return 0, or -1 with errno EINVAL (NULL fn or out, runs == 0) or ENOMEM.
 *
 * Each run is timed on its own with pk_now_ns(); the overhead is two clock
 * reads per run, well under 100 ns.
 */
int pk_bench(void (*fn)(void *ctx), void *ctx, size_t warmup, size_t runs,
             pk_stats *out);

/**
 * @brief Time several variants in interleaved rounds, so that a drift in the
 *        machine's speed (another process, the CPU's clock) hits them all.
 * @param fns @p k functions; round r times fns[0], fns[1], ..., fns[k-1] once
 *        each, then round r + 1 starts.
 * @param ctxs @p k context pointers, ctxs[i] passed to fns[i] (the array may
 *        be NULL: every call then gets NULL).
 * @param k number of variants, at least 1.
 * @param warmup untimed rounds first.
 * @param runs timed rounds, at least 1.
 * @param out @p k summaries, out[i] for fns[i].
 * @return 0, or -1 with errno EINVAL (NULL fns or out, a NULL function,
 *         k or runs 0) or ENOMEM.
 *
 * On a shared or virtual machine, timing variant A for a minute and then B
 * for a minute compares two different machines. Interleaving compares them
 * on the same one.
 */
int pk_bench_many(void (*const fns[])(void *ctx), void *const ctxs[], size_t k,
                  size_t warmup, size_t runs, pk_stats out[]);

/**
 * @brief Number of CPUs this process may run on.
 * @return the online CPUs, further limited by the process's affinity mask
 *         (taskset, cgroups); always at least 1.
 */
unsigned pk_cpu_count(void);

/**
 * @brief Keep the compiler from deleting a computation whose result is
 *        otherwise unused.
 * @param value the result to "use".
 *
 * Benchmarks pass their results here: an optimiser may remove a loop whose
 * result nobody reads (chapter 00 shows it happening).
 */
void pk_consume_u64(uint64_t value);

#ifdef __cplusplus
}
#endif

#endif /* PK_TIMING_H */
