/**
 * @file pk/tpool.h
 * @brief A fixed-size thread pool with futures: the ThreadPoolExecutor of C.
 *
 * Python's `ThreadPoolExecutor.submit(fn, arg)` returns a Future whose
 * `result()` blocks until fn has run; `executor.map(fn, items)` returns the
 * results in input order. This module is the same thing in C:
 *
 * @code
 *     pk_tpool *pool = pk_tpool_create(0);            // one thread per CPU
 *     pk_future *f = pk_tpool_submit(pool, work, arg);
 *     void *r = pk_future_get(f);                     // waits for work(arg)
 *     pk_future_free(f);
 *     pk_tpool_destroy(pool);                         // runs the queue, joins
 * @endcode
 *
 * Design (after libuv's threadpool.c): a FIFO queue of tasks; workers pop
 * under a mutex and sleep on a condition variable in a `while` loop; the
 * submitter signals only when a worker is idle. Submitting takes no lock:
 * the queue is Dmitry Vyukov's intrusive multi-producer queue, one atomic
 * exchange per task, so a submitter never waits for a worker that was
 * preempted holding the mutex. Unlike Python there is no GIL, so CPU-bound
 * tasks run truly in parallel.
 *
 * Thread safety: every function may be called from any thread, including
 * from a task running on the same pool (a task may submit, wait for a
 * future and map: a worker that waits runs queued tasks itself meanwhile,
 * so even a 1-thread pool cannot deadlock on its own queue). The
 * exceptions: pk_tpool_destroy() must not race with submits to the same
 * pool nor be called from one of its tasks (a thread cannot join itself),
 * and a future belongs to one owner (get and free it from one thread).
 */
#ifndef PK_TPOOL_H
#define PK_TPOOL_H

#include <stddef.h>

#include "pk/map.h" /* pk_map_fn */

#ifdef __cplusplus
extern "C" {
#endif

/** @brief A pool of worker threads (opaque). */
typedef struct pk_tpool pk_tpool;
/** @brief The pending result of one submitted task (opaque). */
typedef struct pk_future pk_future;

/**
 * @brief Start a pool.
 * @param nthreads worker threads; 0 means pk_cpu_count(). At most 4096.
 * @return the pool, or NULL with errno (EINVAL for an absurd count, ENOMEM,
 *         EAGAIN when threads cannot be created; none is left running).
 */
pk_tpool *pk_tpool_create(size_t nthreads);

/**
 * @brief Queue fn(arg) to run on a worker.
 * @param pool the pool.
 * @param fn the task; its return value is what pk_future_get() returns.
 * @param arg passed to fn; the caller keeps it alive until the task ran.
 * @return a future the caller must pk_future_free(), or NULL with errno
 *         EINVAL (NULL pool or fn, pool being destroyed) or ENOMEM.
 */
pk_future *pk_tpool_submit(pk_tpool *pool, void *(*fn)(void *arg), void *arg);

/**
 * @brief Wait until the task has run and return its result.
 * @param f a future from pk_tpool_submit(); NULL returns NULL with EINVAL.
 * @return fn's return value. May be called more than once.
 *
 * Called from a task running on f's own pool, it runs other queued tasks
 * of the pool while it waits, so the task it waits for cannot be stuck in
 * the queue behind a worker that waits for it.
 */
void *pk_future_get(pk_future *f);

/**
 * @brief Release a future. NULL is a no-op.
 * @param f the future; if its task has not finished yet, waits for it first
 *        (the task keeps running either way).
 */
void pk_future_free(pk_future *f);

/**
 * @brief Apply @p fn to every item of @p in, in parallel; out[i] = fn(in[i]).
 * @param pool the pool whose workers do the work (the caller helps too).
 * @param in @p n items of @p in_size bytes each.
 * @param n number of items; 0 is allowed and does nothing.
 * @param in_size bytes per input item, at least 1.
 * @param out room for @p n items of @p out_size bytes each; results land in
 *        input order, whatever order the work finishes in.
 * @param out_size bytes per output item, at least 1.
 * @param fn called once per item.
 * @param ctx passed to every call of fn.
 * @param chunk items per work unit; 0 chooses automatically (about 32
 *        chunks per thread, so that one slow chunk does not hold up the end).
 * @return 0 when every item is done; or -1 with errno EINVAL (NULL pool,
 *         fn, in or out with n > 0, zero sizes, n * size overflows) or
 *         ENOMEM (before any item ran: a map either runs whole or not at
 *         all).
 *
 * May be called from a task of the same pool: the calling worker runs the
 * chunks itself and the helpers it queued finish at once.
 *
 * Work is handed out one chunk at a time from an atomic counter (dynamic
 * scheduling); the cost per chunk is one atomic add, so even tiny items run
 * at tens of millions per second.
 */
int pk_tpool_map(pk_tpool *pool, const void *in, size_t n, size_t in_size,
                 void *out, size_t out_size, pk_map_fn fn, void *ctx,
                 size_t chunk);

/**
 * @brief Stop a pool: run every task still queued, then join the workers.
 * @param pool the pool; NULL is a no-op. Must not be used afterwards.
 *
 * Futures of tasks submitted before the call stay valid and must still be
 * freed with pk_future_free().
 */
void pk_tpool_destroy(pk_tpool *pool);

/**
 * @brief Number of worker threads of a pool.
 * @param pool the pool.
 * @return its worker count, or 0 with errno EINVAL for NULL.
 */
size_t pk_tpool_size(const pk_tpool *pool);

#ifdef __cplusplus
}
#endif

#endif /* PK_TPOOL_H */
