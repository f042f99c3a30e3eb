/**
 * @file pk/report.h
 * @brief Benchmark tables and CSV, and the machine's parallel ceiling.
 *
 * Every chapter's bench.c reports through this module so that all tables and
 * CSV files look the same. The CSV format (one row per measured variant) is
 *
 *     benchmark,variant,n,median_s,min_s,max_s,speedup
 *
 * where `speedup` is the median of the benchmark's first variant (the
 * baseline) divided by this variant's median. The file is
 * `$PK_BENCH_CSV` when set (make bench sets it to build/bench/NN-topic.csv),
 * otherwise `NN-topic.csv` in the current directory.
 */
#ifndef PK_REPORT_H
#define PK_REPORT_H

#include <stddef.h>

#include "pk/timing.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief An open benchmark report (opaque). */
typedef struct pk_report pk_report;

/**
 * @brief Open a report for one chapter and print its title.
 * @param chapter the chapter's directory name, e.g. "00-warmup".
 * @return the report, or NULL with errno (EINVAL for NULL, or why the CSV
 *         file could not be created).
 */
pk_report *pk_report_open(const char *chapter);

/**
 * @brief Add one measured variant: print a table row and write a CSV row.
 * @param r the report.
 * @param benchmark the benchmark's name; a new name starts a new table whose
 *        first variant is the baseline (speedup 1.00).
 * @param variant the variant's name.
 * @param n the problem size (items, bytes, iterations: say which in the
 *        benchmark's name or in a note).
 * @param st the measurement, in seconds.
 * @return 0, or -1 with errno EINVAL (NULL argument) or EIO (write failed).
 */
int pk_report_add(pk_report *r, const char *benchmark, const char *variant,
                  size_t n, const pk_stats *st);

/**
 * @brief Add a row for a variant whose code is still a PK_TODO stub: the
 *        table says "not written yet"; no CSV row is written.
 * @param r the report.
 * @param benchmark the benchmark's name (as for pk_report_add()).
 * @param variant the variant's name.
 * @return 0, or -1 with errno EINVAL for a NULL argument.
 *
 * A benchmark of the student's code calls their function, sees it fail
 * with errno ENOSYS (what PK_TODO sets) and reports this row instead of a
 * time, then goes on with the rest.
 */
int pk_report_todo(pk_report *r, const char *benchmark, const char *variant);

/**
 * @brief The speedup of the last variant added (baseline median / its median).
 * @param r the report.
 * @return the ratio, or 0 when nothing was added yet.
 */
double pk_report_last_speedup(const pk_report *r);

/**
 * @brief Print a free-form line under the current table (not written to CSV).
 * @param r the report.
 * @param fmt printf format.
 */
void pk_report_note(pk_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * @brief Flush and close the report. NULL is a no-op.
 * @param r the report.
 */
void pk_report_close(pk_report *r);

/**
 * @brief Measure how much faster @p nprocs independent busy processes finish
 *        than one: the best speedup this machine allows for CPU-bound work.
 * @param nprocs processes to run at once (0 means pk_cpu_count()).
 * @param seconds roughly how long one busy run should take (e.g. 0.2).
 * @return the ceiling, nprocs x (time of one) / (time of nprocs at once),
 *         median of three trials; ideally @p nprocs. 0 with errno on failure.
 *
 * A parallel program's speedup is read against this figure, not against the
 * core count: on a shared or throttled machine two cores rarely give a full
 * 2.0x, and efficiency = speedup / ceiling says how much of what the
 * hardware offers the program actually got.
 */
double pk_parallel_ceiling(unsigned nprocs, double seconds);

/**
 * @brief How many iterations of the ceiling's busy loop take about
 *        @p seconds in one process, measured now (for pk_ceiling_trial()).
 * @param seconds the wanted duration, > 0.
 * @return the count, at least 1; 0 with errno EINVAL for seconds <= 0.
 */
unsigned long long pk_ceiling_calibrate(double seconds);

/**
 * @brief One trial of the ceiling: the busy loop of @p iters in one
 *        process, then in @p nprocs processes at once.
 * @param nprocs processes to run at once, 1 to 256 (0 means pk_cpu_count()).
 * @param iters the loop's length, from pk_ceiling_calibrate().
 * @return nprocs x (time of one) / (time of nprocs at once); 0 with errno
 *         EINVAL (bad argument) or ECHILD (a process failed).
 *
 * Benchmarks and performance tests that time variants in interleaved
 * rounds run one trial per round, so that the ceiling is measured in the
 * same conditions as the code it is compared with.
 */
double pk_ceiling_trial(unsigned nprocs, unsigned long long iters);

/**
 * @brief One trial of the lockstep ceiling: the same busy loop cut into
 *        steps of about half a millisecond, run by one thread, then by
 *        @p nthreads threads that meet at a barrier after every step.
 * @param nthreads threads at once, 1 to 256 (0 means pk_cpu_count()).
 * @param iters the loop's total length, from pk_ceiling_calibrate().
 * @return nthreads x (time of one) / (time of all in lockstep); 0 with
 *         errno EINVAL (bad argument) or EAGAIN (a thread could not start).
 *
 * Independent processes (pk_ceiling_trial()) feel another program's load
 * only by the CPU time it takes from them; threads that wait for each
 * other feel every delay of either one, as OpenMP's barriers do. On a
 * loaded machine this ceiling falls further than the other, and it is the
 * fair measure for synchronised code. The barrier spins (yielding now and
 * then), as libgomp's does, rather than sleeping in the kernel: on a
 * virtual machine a sleep and wake-up every half millisecond would
 * measure the hypervisor, not the cores.
 */
double pk_ceiling_trial_sync(unsigned nthreads, unsigned long long iters);

/**
 * @brief Whether benchmarks should run their quick version (fewer rounds,
 *        smaller sizes): PK_BENCH_QUICK=1 in the environment, as CI sets
 *        where a full run proves nothing more.
 * @return 1 or 0.
 */
int pk_bench_quick(void);

/**
 * @brief Declare the reference solution's version of @p name, for a
 *        benchmark that times the student's code beside it.
 *
 * `make bench` links the student's code in chapters/ (or SUBMISSION) and,
 * where solutions/ exists, the reference solution with every global name
 * renamed pk_ref_NAME. Declare each function the benchmark compares at file
 * scope, after including the chapter's header:
 * @code
 *     PK_REF_DECLARE(thr_fan_out);
 *     ...
 *     if (PK_REF(thr_fan_out) != NULL)   // NULL in the student handout
 *         PK_REF(thr_fan_out)(tasks, n, nthreads);
 * @endcode
 * @param name a function declared by the chapter's header.
 */
#define PK_REF_DECLARE(name) extern __typeof__(name) pk_ref_##name __attribute__((weak))

/**
 * @brief The reference solution's @p name (see PK_REF_DECLARE()), or NULL
 *        when the benchmark was built without solutions/.
 * @param name the function's name in the chapter's header.
 */
#define PK_REF(name) (pk_ref_##name)

#ifdef __cplusplus
}
#endif

#endif /* PK_REPORT_H */
