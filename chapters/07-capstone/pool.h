/**
 * @file pool.h
 * @brief Chapter 07: your own thread pool with futures (cpool), the
 *        ThreadPoolExecutor the Python chapter uses.
 *
 * Python's `ThreadPoolExecutor(max_workers=n)` starts n threads;
 * `submit(fn, arg)` returns a Future; `future.result()` waits and returns
 * fn's value or raises fn's exception; `executor.map(fn, items)` gives the
 * results in input order; `shutdown(wait=True, cancel_futures=False)` lets
 * the queued work finish, `cancel_futures=True` drops it. This module is the
 * same thing in C:
 *
 * @code
 *     cpool *pool = cpool_create(2);
 *     cpool_future *f = cpool_submit(pool, work, arg);
 *     void *r;
 *     if (cpool_future_get(f, &r) != 0)       // waits for work(arg, &r)
 *         perror("work");                     // errno = what work returned
 *     cpool_future_free(f);
 *     cpool_destroy(pool);                    // drains the queue, joins
 * @endcode
 *
 * The design is the one libuv's `src/threadpool.c` and CPython's
 * `concurrent/futures/thread.py` share: one FIFO queue of tasks under one
 * mutex, worker threads that sleep on a condition variable while the queue
 * is empty, and a future per task holding its state (pending, running,
 * done, failed, cancelled) and its result. The lesson compares the choices.
 *
 * **A task** is `int fn(void *arg, void **result)`. It returns 0 on success
 * after storing its result in `*result` (which starts out NULL), or a
 * nonzero error code (an errno value such as EIO or ERANGE): the task
 * failed, and cpool_future_get() returns -1 with errno set to that code,
 * as Python's `result()` re-raises the task's exception.
 *
 * **Waiting inside the pool.** A task may submit to its own pool and wait
 * for that future, or call cpool_map() on it: a thread of the pool that
 * waits runs queued tasks of the pool itself meanwhile, so even a pool with
 * one worker cannot deadlock on its own queue.
 *
 * **Thread safety.** cpool_submit(), cpool_future_get(),
 * cpool_future_done() and cpool_map() may be called from any thread at the
 * same time, including from the pool's own tasks. cpool_shutdown() and
 * cpool_destroy() must be called by one thread that is not one of the
 * pool's workers (a thread cannot join itself). A future has one owner:
 * it gets and frees it, from one thread at a time.
 *
 * Conventions: 0 or a pointer on success; -1 or NULL with errno on failure;
 * NULL arguments give EINVAL, never a crash.
 */
#ifndef CAPSTONE_POOL_H
#define CAPSTONE_POOL_H

#include <stddef.h>

#include "pk/map.h" /* pk_map_fn */

/** Most worker threads a pool may have; more is EINVAL. */
#define CPOOL_MAX_WORKERS 4096

/** @brief A pool of worker threads (opaque). */
typedef struct cpool cpool;

/** @brief The pending result of one submitted task (opaque). */
typedef struct cpool_future cpool_future;

/**
 * @brief A task: runs on a worker thread.
 * @param arg what was given to cpool_submit().
 * @param result where to store the task's result (starts out NULL).
 * @return 0 on success; a nonzero error code (an errno value) on failure,
 *         which cpool_future_get() reports as errno.
 */
typedef int (*cpool_fn)(void *arg, void **result);

/** @brief What cpool_shutdown() does with tasks still in the queue. */
typedef enum cpool_how {
    CPOOL_DRAIN = 0, /**< run every queued task, then stop (Python's
                          `shutdown(wait=True)`) */
    CPOOL_CANCEL = 1 /**< cancel the tasks that have not started: their
                          futures fail with ECANCELED (Python's
                          `shutdown(cancel_futures=True)`); tasks already
                          running finish */
} cpool_how;

/**
 * @brief Start a pool.
 * @param nworkers worker threads, 1 to CPOOL_MAX_WORKERS.
 * @return the pool, or NULL with errno: EINVAL for 0 or more than
 *         CPOOL_MAX_WORKERS; ENOMEM or EAGAIN when memory or threads ran
 *         out (then no thread is left running and nothing is leaked).
 */
cpool *cpool_create(size_t nworkers);

/**
 * @brief Queue fn(arg, &result) to run on a worker; returns at once.
 * @param pool the pool.
 * @param fn the task.
 * @param arg passed to fn; the caller keeps what it points to alive until
 *        the task has run (until cpool_future_get() returns).
 * @return a future the caller owns and must give to cpool_future_free(),
 *         or NULL with errno: EINVAL (NULL pool or fn), ESHUTDOWN (the pool
 *         is shutting down or shut down: nothing was queued), ENOMEM.
 */
cpool_future *cpool_submit(cpool *pool, cpool_fn fn, void *arg);

/**
 * @brief Wait until the task has finished and give its outcome.
 * @param f a future from cpool_submit().
 * @param result where to store the task's result (may be NULL when the
 *        caller does not need it); untouched when the call fails.
 * @return 0 when the task succeeded; -1 with errno: the task's own error
 *         code when it failed, ECANCELED when cpool_shutdown(CPOOL_CANCEL)
 *         removed it before it started, EINVAL when @p f is NULL.
 *
 * May be called more than once (the answer does not change), and from a
 * task of the same pool (the caller then runs queued tasks while it waits).
 */
int cpool_future_get(cpool_future *f, void **result);

/**
 * @brief Whether the task has finished (done, failed or cancelled),
 *        without waiting: Python's `future.done()`.
 * @param f the future.
 * @return 1 finished, 0 not yet (queued or running), -1 with errno EINVAL
 *         for NULL.
 */
int cpool_future_done(const cpool_future *f);

/**
 * @brief Release a future. NULL is a no-op.
 * @param f the future; if its task has not finished yet, waits for it first
 *        (the task must not run with its future freed under it).
 */
void cpool_future_free(cpool_future *f);

/**
 * @brief out[i] = fn(in[i]) for every item, on the pool's workers;
 *        Python's `executor.map(fn, items)`.
 * @param pool the pool.
 * @param in @p n items of @p in_size bytes each.
 * @param n number of items; 0 does nothing (in and out may then be NULL).
 * @param in_size bytes per input item, at least 1.
 * @param out room for @p n results of @p out_size bytes each: result i lands
 *        in slot i, whatever order the work finishes in.
 * @param out_size bytes per result, at least 1.
 * @param fn called once per item, from several threads at once.
 * @param ctx passed to every call of fn (what a closure would capture).
 * @param chunk items per task; 0 chooses automatically (about 32 chunks per
 *        worker, so that a slow chunk cannot hold up the end for long).
 *        Any value works, whether or not it divides @p n.
 * @return 0 when every item is done; -1 with errno: EINVAL (NULL pool or
 *         fn; NULL in or out with n > 0; a zero size; n * size overflows),
 *         ESHUTDOWN (the pool is shut down), ENOMEM. When it fails, no task
 *         of this map is left running.
 *
 * May be called from a task of the same pool.
 */
int cpool_map(cpool *pool, const void *in, size_t n, size_t in_size,
              void *out, size_t out_size, pk_map_fn fn, void *ctx,
              size_t chunk);

/**
 * @brief Stop the pool: refuse new tasks, drain or cancel the queue, join
 *        every worker. Python's `executor.shutdown()`.
 * @param pool the pool.
 * @param how CPOOL_DRAIN or CPOOL_CANCEL.
 * @return 0 once every worker has exited (every future of the pool is then
 *         finished, and cpool_future_get() returns at once); -1 with errno
 *         EINVAL (NULL pool, another @p how) or EDEADLK (called from one of
 *         the pool's own tasks). A second call returns 0 and does nothing.
 *
 * Futures stay valid after it (and after cpool_destroy()): their owners
 * still get and free them.
 */
int cpool_shutdown(cpool *pool, cpool_how how);

/**
 * @brief Shut the pool down with CPOOL_DRAIN if that was not done yet, and
 *        free it. NULL is a no-op. The pool must not be used afterwards.
 * @param pool the pool.
 */
void cpool_destroy(cpool *pool);

/**
 * @brief The pool's worker count.
 * @param pool the pool.
 * @return the number of workers, or 0 with errno EINVAL for NULL.
 */
size_t cpool_size(const cpool *pool);

#endif /* CAPSTONE_POOL_H */
