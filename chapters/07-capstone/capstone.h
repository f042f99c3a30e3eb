/**
 * @file capstone.h
 * @brief Chapter 07: the large-dataset job as map + reduce, sequential, on
 *        your thread pool, on your process map and with OpenMP.
 *
 * The Python chapter's practice project builds 10^6 items `(i, 2*i)` and
 * maps each through
 *
 * @code
 *     def process_item(item):
 *         x, y = item
 *         return x * y + sum(i * i for i in range(1000))
 * @endcode
 *
 * on a ProcessPoolExecutor. This chapter runs the same job in C four ways
 * (one thread, your thread pool of pool.h, your process map of procmap.h,
 * OpenMP), checks every parallel result against the sequential one, item by
 * item, and then reduces the results (their sum and a histogram) in
 * parallel: the job is a map followed by a reduce.
 *
 * Two item functions are part of the contract. capstone_item_literal() is
 * the Python formula word for word; its inner sum does not depend on the
 * item, so an optimising compiler computes it once (or at compile time) and
 * a benchmark of it measures nothing. capstone_item_mixed() mixes the item
 * into every term of the inner sum, so the 1000 multiply-adds per item must
 * really be done: the benchmark's figures use it.
 *
 * Conventions: functions return 0 on success and -1 with errno on failure;
 * NULL pointers (where items are needed), zero or absurd sizes give EINVAL,
 * never a crash. Arithmetic is uint64_t, so results are exact modulo 2^64
 * (exact outright for every item capstone_fill() can make).
 */
#ifndef CAPSTONE_H
#define CAPSTONE_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/** Terms of the inner sum: `range(1000)` in the Python formula. */
#define CAPSTONE_INNER 1000

/** The inner sum of the literal formula: sum of k*k for k < 1000. */
#define CAPSTONE_INNER_SUM 332833500u

/** The job's size in the Python chapter: 10^6 items. */
#define CAPSTONE_N 1000000

/**
 * Largest item count any function accepts (2^31). Beyond it x*y = 2 i^2 no
 * longer fits 64 bits, and the input alone would need 32 GiB.
 */
#define CAPSTONE_MAX_ITEMS ((size_t)1 << 31)

/** Largest worker count (threads or processes) a driver accepts. */
#define CAPSTONE_MAX_WORKERS 4096

/** @brief One input item: the Python tuple `(x, y)`. */
typedef struct capstone_item {
    uint64_t x; /**< first element: i */
    uint64_t y; /**< second element: 2*i */
} capstone_item;

/**
 * @brief An item function: one item in, one result out.
 *
 * The drivers take it as a parameter, like the Python chapter's
 * `processor.process_pool_execution(func, items)`, so that one driver runs
 * either formula (and the tests can hand it a function that crashes).
 */
typedef uint64_t (*capstone_fn)(capstone_item item);

/* ---- the data ---- */

/**
 * @brief Fill @p items with the Python data set `[(i, 2*i) for i in range(n)]`.
 * @param items room for @p n items; written, not read.
 * @param n number of items; 0 does nothing (items may then be NULL).
 * @return 0, or -1 with errno EINVAL (items NULL with n > 0, n larger than
 *         CAPSTONE_MAX_ITEMS).
 */
int capstone_fill(capstone_item *items, size_t n);

/* ---- the item functions ---- */

/**
 * @brief The Python formula as written: x*y + sum of k*k for k < 1000.
 * @param item the item.
 * @return `item.x * item.y + CAPSTONE_INNER_SUM` modulo 2^64, computed with
 *         the loop (the compiler is free to fold it; that is the point of
 *         the lesson). capstone_item_literal((3, 6)) = 18 + 332833500.
 */
uint64_t capstone_item_literal(capstone_item item);

/**
 * @brief The honest variant: x*y + sum of t*t for k < 1000, where
 *        t = (k XOR x) mod 2^32.
 * @param item the item.
 * @return that value modulo 2^64. Every term depends on x, so no compiler
 *         can compute the sum once for all items; t is kept to 32 bits so
 *         that t*t is exact in 64 bits and the vector unit's 32x32-to-64-bit
 *         multiply can do four of them at a time.
 *         capstone_item_mixed((0, 0)) = 332833500. The same function as
 *         libpk's pk_project_item(x, y).
 */
uint64_t capstone_item_mixed(capstone_item item);

/* ---- the drivers (the map) ---- */

/**
 * @brief Sequential driver: out[i] = fn(in[i]) for every i, in order, on the
 *        calling thread. The reference every other driver is checked against.
 * @param in @p n items (not modified).
 * @param n number of items; 0 does nothing (in and out may then be NULL).
 * @param out room for @p n results, owned by the caller.
 * @param fn the item function.
 * @return 0, or -1 with errno EINVAL (NULL fn; NULL in or out with n > 0;
 *         n larger than CAPSTONE_MAX_ITEMS).
 */
int capstone_run_seq(const capstone_item *in, size_t n, uint64_t *out,
                     capstone_fn fn);

/**
 * @brief Thread-pool driver: the same map on the workers of @p pool, through
 *        your cpool_map(). Results land in input order.
 * @param pool a pool from cpool_create(), owned by the caller (create it
 *        once, map many times: that is what a pool is for).
 * @param in @p n items.
 * @param n number of items; 0 does nothing.
 * @param out room for @p n results.
 * @param fn the item function; called from several threads at once, so it
 *        must not touch shared state without synchronisation.
 * @param chunk items per task; 0 lets cpool_map() choose. Any value works,
 *        whether or not it divides @p n.
 * @return 0, or -1 with errno EINVAL (NULL pool or fn, NULL in or out with
 *         n > 0, n too large) or what cpool_map() reported.
 */
int capstone_run_pool(cpool *pool, const capstone_item *in, size_t n,
                      uint64_t *out, capstone_fn fn, size_t chunk);

/**
 * @brief Process driver: the same map in @p nprocs forked children, through
 *        your cproc_map().
 * @param nprocs worker processes, 1 to CAPSTONE_MAX_WORKERS.
 * @param in @p n items (the children read them from copy-on-write memory).
 * @param n number of items; 0 does nothing and forks nothing.
 * @param out room for @p n results.
 * @param fn the item function, run in the children. Unlike Python's
 *        ProcessPoolExecutor, any function works, local or not: nothing is
 *        pickled, the child is a copy of the parent.
 * @param chunk items per work unit; 0 lets cproc_map() choose.
 * @return 0, or -1 with errno: EINVAL bad arguments (as for
 *         capstone_run_seq(), or a worker count of 0 or above
 *         CAPSTONE_MAX_WORKERS); ECHILD when a worker died or quit early
 *         (every child has been reaped, nothing hangs, and @p out is
 *         untouched); ENOMEM or EAGAIN when resources ran out.
 */
int capstone_run_procs(size_t nprocs, const capstone_item *in, size_t n,
                       uint64_t *out, capstone_fn fn, size_t chunk);

/**
 * @brief OpenMP driver: the same map as a `parallel for` loop (Numba's
 *        `prange`, or what the Python chapter's 15.5 would write).
 * @param nthreads threads; 0 means OpenMP's default (one per CPU); at most
 *        CAPSTONE_MAX_WORKERS.
 * @param in @p n items.
 * @param n number of items; 0 does nothing.
 * @param out room for @p n results.
 * @param fn the item function; called from several threads at once.
 * @param chunk items per work unit for `schedule(dynamic, chunk)`; 0 means
 *        automatic (CAPSTONE_CHUNKS_PER_WORKER chunks per thread).
 * @return 0, or -1 with errno EINVAL (bad arguments as for the other
 *         drivers). When the program is built without OpenMP the pragma is
 *         ignored and the loop runs on the calling thread, with the same
 *         results.
 */
int capstone_run_omp(size_t nthreads, const capstone_item *in, size_t n,
                     uint64_t *out, capstone_fn fn, size_t chunk);

/**
 * Automatic chunking (chunk = 0) in every driver: about this many chunks
 * per worker, so that one slow chunk holds up the end of the job by at most
 * a 32nd of a worker's share, for 32 counter updates per worker.
 */
#define CAPSTONE_CHUNKS_PER_WORKER 32

/* ---- the verifier ---- */

/**
 * @brief Compare two result arrays item by item.
 * @param want the reference results (from capstone_run_seq()).
 * @param got the results to check.
 * @param n number of results in each; 0 compares nothing (the pointers may
 *        then be NULL).
 * @param first_mismatch where to store the index of the first item that
 *        differs, or @p n when none does; may be NULL when the caller only
 *        wants the verdict.
 * @return 0 when all @p n results are equal, 1 when some differ, -1 with
 *         errno EINVAL (want or got NULL with n > 0).
 *
 * A checksum (sum of all results) can hide errors: two wrong items can
 * cancel, and a result written to the wrong slot keeps the sum. Comparing
 * item by item cannot, and the first mismatch tells where to look.
 */
int capstone_verify(const uint64_t *want, const uint64_t *got, size_t n,
                    size_t *first_mismatch);

/* ---- the reduce ---- */

/** Histogram bins: one per bit length of a result, 0 to 64. */
#define CAPSTONE_BINS 65

/**
 * @brief What the reduce stage computes from the results: Python's
 *        `len(r)`, `sum(r)` and `Counter(x.bit_length() for x in r)`.
 */
typedef struct capstone_summary {
    uint64_t count;               /**< results reduced */
    uint64_t sum;                 /**< their sum modulo 2^64 */
    uint64_t hist[CAPSTONE_BINS]; /**< hist[b]: results whose bit length is
                                       b (see capstone_bin()) */
} capstone_summary;

/**
 * @brief A result's histogram bin: its bit length, Python's
 *        `int.bit_length()`.
 * @param r a result.
 * @return 0 for 0, else 1 + the index of the highest set bit (1 for 1,
 *         2 for 2 and 3, 64 for 2^63 and above).
 */
unsigned capstone_bin(uint64_t r);

/**
 * @brief The reduce, sequentially: count, sum and histogram of @p n results.
 * @param res @p n results.
 * @param n number of results; 0 gives an all-zero summary (res may then be
 *        NULL).
 * @param out the summary, overwritten (not added to).
 * @return 0, or -1 with errno EINVAL (NULL out; res NULL with n > 0; n
 *         larger than CAPSTONE_MAX_ITEMS).
 */
int capstone_reduce_seq(const uint64_t *res, size_t n, capstone_summary *out);

/**
 * @brief The same reduce on the workers of @p pool: each task sums its own
 *        share into a summary of its own (no lock, no shared counter in the
 *        loop), and the caller merges the partial summaries at the end.
 * @param pool a pool from cpool_create().
 * @param res @p n results (read by several threads at once).
 * @param n number of results; 0 gives an all-zero summary.
 * @param out the summary, overwritten; equal to capstone_reduce_seq()'s.
 * @return 0, or -1 with errno EINVAL (as capstone_reduce_seq(), or NULL
 *         pool) or what the pool reported (ESHUTDOWN, ENOMEM).
 */
int capstone_reduce_pool(cpool *pool, const uint64_t *res, size_t n,
                         capstone_summary *out);

#endif /* CAPSTONE_H */
