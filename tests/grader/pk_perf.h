/**
 * @file pk_perf.h
 * @brief Performance tests: a speed ratio measured in the test's own
 *        process, against a baseline measured beside it, graded with
 *        partial credit.
 *
 * A performance test first checks that the student's code gives the right
 * results (an ordinary Check assertion), then measures. It never compares
 * with an absolute time: it times the student's code and a baseline (the
 * sequential run, a provided scalar loop, the student's own slower
 * function) in interleaved rounds, and in every round also measures the
 * machine's two-core ceiling (one busy process against two at once), so
 * that a parallel speedup is read as a share of what the machine gave.
 *
 * @code
 *     START_TEST(test_threads_perf_fan_out)
 *     {
 *         ... check thr_fan_out's results first ...
 *         void (*fns[])(void *) = {run_sequential, run_fan_out};
 *         void *ctxs[] = {&work, &work};
 *         PK_PERF_LOOP {
 *             pk_perf_result r;
 *             if (pk_perf_measure(fns, ctxs, 2, &r) != 0)
 *                 continue; // machine too busy: recorded, points withheld
 *             pk_perf_award(r.efficiency[1], 0.90, PK_PERF_HIGHER,
 *                           "thr_fan_out: %.2fx over sequential, ceiling "
 *                           "%.2fx (%.0f%%); target 90%%", r.ratio[1],
 *                           r.ceiling, 100 * r.efficiency[1]);
 *         }
 *     }
 *     END_TEST
 *     ...
 *     pk_test_add_perf(s, test_threads_perf_fan_out, 3, PK_PERF_TIMEOUT, hint);
 * @endcode
 *
 * Scoring (as CMU's malloc lab): full points at or beyond the target, none
 * at half of it (or, for a figure meant to be small, at twice it), linear
 * between. PK_PERF_LOOP measures up to PK_PERF_ATTEMPTS times and keeps the
 * best score: one unlucky round cannot cost a fast solution its points,
 * and a slow one cannot get lucky three times by a factor of two. A
 * measurement PK_PERF_HOPELESS times worse than the target is not repeated.
 *
 * Two ceilings are measured in every round: two independent processes
 * (libpk's pk_ceiling_trial(): what work in independent pieces can get)
 * and two threads in lockstep, meeting at a barrier every half millisecond
 * (pk_ceiling_trial_sync(): what code whose threads wait for each other,
 * OpenMP's barriers and reductions, can get). On an idle machine both are
 * close to 2; on a loaded one the second falls further, as synchronised
 * code does: a thread that is preempted holds up the other.
 *
 * Noise is handled, never hidden: if the ceiling the test relies on stays
 * under PK_PERF_MIN_CEILING in 1 + PK_PERF_BUSY_RETRIES measurements,
 * spaced by growing pauses (PK_PERF_BUSY_PAUSE_MS) that let a passing
 * burst of load go by (the process ceiling for pk_perf_measure(), both for
 * pk_perf_measure_sync()), the test says "machine too busy to measure
 * speed" and the grader withholds its points (in `make test` it is
 * reported as skipped). PK_PERF=0 in the environment, a sanitizer build or
 * valgrind turn measuring off: the loop body never runs and the test
 * records why.
 */
#ifndef PK_PERF_H
#define PK_PERF_H

#include <stddef.h>

/** Most variants one measurement times side by side. */
#define PK_PERF_MAX_VARIANTS 8
/** Interleaved rounds per measurement (medians over these). */
#define PK_PERF_ROUNDS 5
/** A ceiling below this means the machine is too busy to measure. */
#define PK_PERF_MIN_CEILING 1.5
/** Measurements repeated after the first before giving up on a busy
 *  machine (so at most 1 + PK_PERF_BUSY_RETRIES measurements). */
#define PK_PERF_BUSY_RETRIES 3
/** Pause before the first repeat, in milliseconds; it doubles before each
 *  further one (1, 2 and 4 s). The course machine's host takes a core now
 *  and then for a few seconds at a time: measured on 5 December (idle, 343
 *  five-trial ceilings over 150 s), 17% of the ceilings were under 1.5x,
 *  in stretches of up to 4 s. Repeating at once, all of three measurements
 *  fell in such a stretch for 4% of the starting moments; four spread over
 *  about 10 s, for 0.3%. A machine that another program keeps busy stays
 *  under the line however long one waits. */
#define PK_PERF_BUSY_PAUSE_MS 1000
/** Measurements PK_PERF_LOOP makes at most, keeping the best score. */
#define PK_PERF_ATTEMPTS 3
/** A measurement whose figure is this many times worse than the target
 *  (a quarter of it, or four times it for a figure meant to be small:
 *  twice as far as the mark that already scores 0) ends PK_PERF_LOOP. No
 *  unlucky round explains a gap that size, and timing a code that slow
 *  three times over would only run the test out of its time limit. */
#define PK_PERF_HOPELESS 4

/** @brief What pk_perf_measure() found. Times in seconds. */
typedef struct pk_perf_result {
    size_t k;                                /**< variants timed */
    double median_s[PK_PERF_MAX_VARIANTS];   /**< median time of each */
    double ratio[PK_PERF_MAX_VARIANTS];      /**< median over rounds of
                                                  t[0] / t[i]: variant i's
                                                  speedup over variant 0 */
    double ceiling;                          /**< median of the rounds'
                                                  two-core ceilings (two
                                                  independent processes) */
    double ceiling_sync;                     /**< the same for two threads
                                                  in lockstep (a barrier
                                                  every half millisecond) */
    double efficiency[PK_PERF_MAX_VARIANTS]; /**< median over rounds of
                                                  each round's ratio over
                                                  that round's ceiling:
                                                  when rounds disagree it
                                                  differs from ratio[i] /
                                                  ceiling, the quotient of
                                                  two medians (by up to 16
                                                  points in a 20-run
                                                  series) */
    double efficiency_sync[PK_PERF_MAX_VARIANTS]; /**< ratio / ceiling_sync:
                                                  the fair figure for code
                                                  whose threads wait for
                                                  each other (OpenMP) */
} pk_perf_result;

/** Direction of a figure for pk_perf_award(). */
typedef enum pk_perf_dir {
    PK_PERF_HIGHER, /**< bigger is better: full at >= target, 0 at target/2 */
    PK_PERF_LOWER,  /**< smaller is better: full at <= target, 0 at 2*target */
} pk_perf_dir;

/**
 * @brief Whether speed is measured in this run.
 * @return 0 under PK_PERF=0, a sanitizer build or valgrind, else 1.
 */
int pk_perf_enabled(void);

/**
 * @brief Time @p k functions in PK_PERF_ROUNDS interleaved rounds, with
 *        one two-core ceiling trial in each round.
 * @param fns the variants; fns[0] is the baseline the ratios divide by.
 * @param ctxs ctxs[i] is passed to fns[i].
 * @param k number of variants, 1 to PK_PERF_MAX_VARIANTS.
 * @param out the medians, paired ratios, ceiling and efficiencies.
 * @return 0; or 1 when the machine stayed too busy (ceiling below
 *         PK_PERF_MIN_CEILING) in 1 + PK_PERF_BUSY_RETRIES measurements:
 *         that is recorded, and the caller stops measuring; -1 on a bad
 *         argument or when the ceiling could not be measured (recorded as
 *         a failure of the test).
 *
 * Each function is called once untimed first (warm-up), then once per
 * round; the order of the variants rotates from round to round, so that
 * none always runs right after the ceiling's processes.
 */
int pk_perf_measure(void (*const fns[])(void *), void *const ctxs[], size_t k,
                    pk_perf_result *out);

/**
 * @brief pk_perf_measure() for code whose threads wait for each other
 *        (OpenMP, barriers, a lock): the machine also counts as too busy
 *        when the lockstep ceiling stays under PK_PERF_MIN_CEILING. Score
 *        such code with efficiency_sync.
 * @param fns the variants; fns[0] is the baseline.
 * @param ctxs ctxs[i] is passed to fns[i].
 * @param k number of variants.
 * @param out the figures.
 * @return as pk_perf_measure().
 */
int pk_perf_measure_sync(void (*const fns[])(void *), void *const ctxs[], size_t k,
                         pk_perf_result *out);

/**
 * @brief Score a measured figure and record it with its explanation.
 * @param value the figure (a ratio, an efficiency, nanoseconds ...).
 * @param target the figure that earns full points.
 * @param dir whether bigger or smaller is better.
 * @param fmt printf format of the message the student sees: the figures,
 *        what they were measured against, and the target.
 * @return the fraction of the test's points this earns, 0 to 1. Within
 *         PK_PERF_LOOP the best of the attempts is kept.
 */
double pk_perf_award(double value, double target, pk_perf_dir dir,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** @cond internal: the parts of PK_PERF_LOOP */
void pk_perf_begin(void);
int pk_perf_again(void);
/** @endcond */

/**
 * @brief Repeat the measurement (the loop body) up to PK_PERF_ATTEMPTS
 *        times while it earns less than full points; stop at once when
 *        measuring is off, the machine is too busy, or a measurement was
 *        PK_PERF_HOPELESS times worse than the target. After the loop the
 *        best score stands: in `make test` a score below full fails the
 *        test (and a busy machine skips it, saying so); under the grader
 *        the score becomes partial credit.
 */
#define PK_PERF_LOOP for (pk_perf_begin(); pk_perf_again();)

#endif /* PK_PERF_H */
