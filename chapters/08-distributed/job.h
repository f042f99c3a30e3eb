/**
 * @file job.h
 * @brief Chapter 08's workload, provided: the practice project's items,
 *        the item functions the MPI programs map, and the totals they
 *        reduce (no MPI here; not an exercise).
 *
 * The job is chapter 07's: 10^6 items `(i, 2*i)`, each mapped through the
 * practice project's item function (pk_project_item() in libpk), results in
 * input order, plus totals (the sum and the largest result). This module
 * holds what every program of the chapter shares: the MPI program, the
 * tests and the benchmark fill the same items and check against the same
 * sequential run.
 *
 * A second workload has items of uneven cost, for the manager/worker
 * exercise: an item's `y` says how many rounds of the practice item it
 * costs, and the second quarter of the items (from n/4 to n/2) costs
 * JOB_HEAVY rounds each. Split statically into two contiguous halves, rank
 * 0 gets all the heavy items: 2.25 of the job's 2.75 units of work.
 */
#ifndef JOB_H
#define JOB_H

#include <stddef.h>
#include <stdint.h>

/** The job's size in the Python chapter: 10^6 items. */
#define JOB_N 1000000

/** Rounds of the practice item that one heavy item of the uneven job costs. */
#define JOB_HEAVY 8

/** @brief One input item: the Python tuple `(x, y)`. */
typedef struct job_item {
    uint64_t x; /**< first element: i */
    uint64_t y; /**< second element: 2*i (the uneven job: the item's cost in rounds) */
} job_item;

/**
 * @brief An item function: one item in, one result out. Each rank of an MPI
 *        program passes its own (a function pointer is an address in one
 *        process: it cannot be sent to another).
 */
typedef uint64_t (*job_fn)(job_item item);

/** @brief What the job reduces its results to. */
typedef struct job_totals {
    uint64_t sum;   /**< sum of all results, modulo 2^64 */
    uint64_t max;   /**< the largest result (0 when there is none) */
    uint64_t count; /**< how many results were summed */
} job_totals;

/**
 * @brief Fill @p items with the practice project's data, `(i, 2*i)` for
 *        i = first, first + 1, ..., first + n - 1.
 * @param items room for @p n items.
 * @param n how many; 0 does nothing.
 * @param first the index of the first item (a rank that makes its own
 *        share of a bigger data set passes where its share starts).
 */
void job_fill(job_item *items, size_t n, size_t first);

/**
 * @brief Fill @p items with the uneven job: `(i, rounds)` where rounds is
 *        JOB_HEAVY for the items n/4 to n/2 - 1 and 1 for all the others.
 * @param items room for @p n items.
 * @param n how many; 0 does nothing.
 */
void job_fill_uneven(job_item *items, size_t n);

/**
 * @brief The practice project's item: pk_project_item(item.x, item.y).
 * @param item the item.
 * @return its result; about half a microsecond of work.
 */
uint64_t job_item_project(job_item item);

/**
 * @brief An item of uneven cost: item.y rounds of the practice item (at
 *        least one), mixed into one result.
 * @param item the item; item.y is its cost in rounds.
 * @return the result of the last round plus the sum of the others, modulo
 *         2^64.
 */
uint64_t job_item_uneven(job_item item);

/**
 * @brief The sequential map: out[i] = fn(in[i]) for every i, in order.
 *        The reference that every distributed run is checked against.
 * @param in @p n items.
 * @param n how many.
 * @param out room for @p n results.
 * @param fn the item function.
 */
void job_map_seq(const job_item *in, size_t n, uint64_t *out, job_fn fn);

/**
 * @brief The totals of @p n results, computed in one process.
 * @param results the results.
 * @param n how many; 0 gives all zeros.
 * @return sum, max and count.
 */
job_totals job_totals_of(const uint64_t *results, size_t n);

/**
 * @brief Combine two totals (what a reduction does with each pair).
 * @param a one side.
 * @param b the other side.
 * @return sum a.sum + b.sum, max of the maxes, count a.count + b.count.
 */
job_totals job_totals_add(job_totals a, job_totals b);

/**
 * @brief The first index where two result arrays differ.
 * @param want the reference results.
 * @param got the results to check.
 * @param n how many in each.
 * @return the first i with want[i] != got[i], or @p n when none differs.
 *         Item by item, never a checksum: two wrong results can cancel in
 *         a sum.
 */
size_t job_first_mismatch(const uint64_t *want, const uint64_t *got, size_t n);

#endif /* JOB_H */
