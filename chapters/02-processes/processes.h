/**
 * @file processes.h
 * @brief Chapter 02: fork, pipes, shared memory and a chunked process map.
 *
 * Python's `multiprocessing.Pool.map(f, items)` and
 * `ProcessPoolExecutor.map(f, items)` run `f` in other processes. To get `f`
 * and each item there, Python pickles them and sends the bytes through a
 * pipe, and the result comes back the same way; a local function cannot be
 * pickled at all ("Can't pickle local object"). In C, fork() makes the child
 * a copy of the parent: the function pointer, its ctx and the input array are
 * already there, at the same addresses. Only results have to travel back.
 *
 * The exercises build a process map in three steps:
 *
 * 1. proc_decode_status() and proc_run_each(): one child per task, its result
 *    back through a pipe, every child reaped, and for each task how it ended
 *    (exit status or signal).
 * 2. proc_claim_chunk() and proc_map(): a fixed number of workers pull chunks
 *    of items from an atomic counter in a MAP_SHARED mapping and write their
 *    results straight into a shared output array: no copy per item.
 * 3. proc_reap_workers(): crash handling. When a worker dies mid-chunk, the
 *    other workers are killed, everything is reaped, and the caller learns
 *    which item was running when the worker died.
 *
 * libpk's pk_ppool_map() (pk/ppool.h) is the finished relative of
 * proc_map(): the same design, without naming the failed item. The lesson
 * compares the two, and pk_tpool_map() (pk/tpool.h), the same map on
 * threads.
 *
 * All functions return 0 on success and -1 with errno on failure. NULL
 * pointers, zero item sizes and absurd counts give EINVAL, never a crash.
 * Every blocking wait retries when a signal interrupts it (EINTR), every
 * child is reaped and every file descriptor and mapping made is released,
 * on every path.
 *
 * After fork() only the calling thread exists in the child. Call these
 * functions from a single-threaded process, or make sure that fn takes no
 * lock another thread of the parent may hold at the moment of the fork
 * (see the lesson, "Threads are not copied").
 */
#ifndef PROCESSES_H
#define PROCESSES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pk/tpool.h" /* pk_map_fn */

/** Most children any function here starts at once; more is EINVAL. */
#define PROC_MAX_WORKERS 1024

/** proc_crash::item when no item can be named (no worker died in one). */
#define PROC_NO_ITEM SIZE_MAX

/* ---- exercise 1: one process per task ---------------------------------- */

/** @brief How a child process ended. */
typedef enum proc_end {
    PROC_NOT_RUN = 0, /**< never started (or not reaped yet) */
    PROC_EXITED,      /**< returned from main or called exit(): code = status */
    PROC_KILLED       /**< killed by a signal: code = the signal number */
} proc_end;

/** @brief What became of one child: the decoded waitpid() status. */
typedef struct proc_status {
    proc_end end;  /**< exited, killed, or never ran */
    int code;      /**< exit status (0..255) or signal number */
    int complete;  /**< 1 when the task's whole result came back */
} proc_status;

/**
 * @brief Decode a status from waitpid() into @p out.
 * @param wstatus the status waitpid() stored, of a child that terminated.
 * @param out filled with end and code; out->complete is set to 0 (the
 *        status says nothing about results).
 * @return 0, or -1 with errno EINVAL: @p out is NULL, or @p wstatus is not
 *         a termination (a stopped or continued child).
 *
 * Use the macros of sys/wait.h (WIFEXITED, WEXITSTATUS, WIFSIGNALED,
 * WTERMSIG); never pick the bits apart by hand.
 */
int proc_decode_status(int wstatus, proc_status *out);

/**
 * @brief Run fn on every item, each call in a child process of its own.
 *
 * Task i runs `fn(in + i * in_size, result, ctx)` in a new child, which
 * writes the @p out_size bytes of its result into a pipe and leaves with
 * _exit(0). The parent reads each result into `out + i * out_size` and reaps
 * the child. At most @p max_running children exist at any moment.
 *
 * @param in @p n items of @p in_size bytes; read by the children through
 *        fork's copy of memory, never sent. May be NULL only when n is 0.
 * @param n number of tasks; 0 does nothing, forks nothing and returns 0.
 * @param in_size bytes per input item, at least 1.
 * @param out room for @p n results of @p out_size bytes, in input order.
 *        The parent reads each result straight into its slot, so a task
 *        that failed may leave its slot partly written.
 * @param out_size bytes per result, at least 1 (any size: the parent reads
 *        while the child writes, so a result larger than the pipe's buffer
 *        does not deadlock).
 * @param fn the task. It runs in the child: whatever else it changes (ctx,
 *        globals) is lost with the child.
 * @param ctx passed to every call of fn (what a Python closure captures).
 * @param max_running children running at once, 1 to PROC_MAX_WORKERS.
 * @param status @p n entries, one per task: how its child ended and whether
 *        its result came back complete. May be NULL when the caller only
 *        wants the return value.
 * @return 0 when every task's child exited with status 0 and delivered its
 *         whole result. -1 with errno ECHILD when at least one task failed
 *         (the others still ran; @p status says which failed and how);
 *         EINVAL for bad arguments; EAGAIN, EMFILE or ENOMEM when no
 *         process, pipe or memory was available (every child already
 *         started is still reaped; tasks never started are PROC_NOT_RUN).
 *         In every case no child is left behind.
 */
int proc_run_each(const void *in, size_t n, size_t in_size, void *out,
                  size_t out_size, pk_map_fn fn, void *ctx,
                  size_t max_running, proc_status *status);

/* ---- exercise 2: a chunked map over a fixed set of workers -------------- */

/**
 * @brief Claim the next chunk of items from a shared counter.
 * @param next the counter: index of the first item nobody has claimed. Many
 *        processes (or threads) may call this on the same counter at once;
 *        each item is handed out exactly once.
 * @param n number of items.
 * @param chunk items per claim, at least 1.
 * @param lo set to the first item of the chunk.
 * @param hi set to one past its last item (at most @p n).
 * @return 1 when a chunk [lo, hi) was claimed, 0 when every item is taken
 *         (lo and hi untouched), -1 with errno EINVAL for NULL pointers or
 *         chunk 0.
 *
 * One atomic_fetch_add per chunk: that, not a lock, is the whole cost of
 * dynamic scheduling. The counter may run past @p n (each late caller adds
 * chunk once); it must not wrap, which it cannot while n + (callers x chunk)
 * fits in a size_t.
 */
int proc_claim_chunk(atomic_size_t *next, size_t n, size_t chunk, size_t *lo,
                     size_t *hi);

/**
 * @brief What one worker is doing, as the parent can see it: one slot per
 *        worker in the shared mapping, on a cache line of its own.
 *
 * A worker stores the index of each item into its slot just before it calls
 * fn on it, and PROC_NO_ITEM when it has finished all its chunks. If the
 * worker dies, the slot names the item that killed it.
 */
typedef struct proc_progress {
    _Alignas(64) atomic_size_t item; /**< item being computed, or PROC_NO_ITEM */
} proc_progress;

/** @brief Which worker died first, how, and on which item. */
typedef struct proc_crash {
    size_t item;        /**< the item it was running, or PROC_NO_ITEM */
    pid_t pid;          /**< the worker's process id */
    proc_status status; /**< how it ended (exit status or signal) */
} proc_crash;

/**
 * @brief out[i] = fn(in[i]) for every item, in @p nprocs worker processes.
 *
 * The parent maps one MAP_SHARED | MAP_ANONYMOUS region holding the chunk
 * counter, a count of finished items, one proc_progress slot per worker and
 * the n output slots; forks the workers; each worker loops on
 * proc_claim_chunk(), writes results straight into the shared output, adds
 * each finished chunk to the count, then _exit(0)s. The parent waits for
 * them with proc_reap_workers(). Only when every worker exited 0 AND the
 * count reached n does it copy the results to @p out; then it unmaps.
 *
 * @param nprocs worker processes, 1 to PROC_MAX_WORKERS; more than @p n is
 *        reduced to @p n (no idle worker is forked).
 * @param in @p n items of @p in_size bytes (never copied: the children see
 *        the parent's memory through fork's copy-on-write). May be NULL only
 *        when n is 0, like @p out.
 * @param n number of items; 0 does nothing, forks nothing and returns 0.
 * @param in_size bytes per input item, at least 1.
 * @param out room for @p n results of @p out_size bytes, in input order;
 *        left unchanged when the call fails.
 * @param out_size bytes per result, at least 1.
 * @param fn runs in the workers; whatever it changes besides its output
 *        slot is lost with the worker.
 * @param ctx passed to every call of fn.
 * @param chunk items per claim; 0 chooses automatically: n / (32 x the
 *        workers), rounded up, so that a worker that falls behind costs
 *        at most a small chunk at the end.
 * @param crash when not NULL and a worker died: filled as
 *        proc_reap_workers() fills it. When every worker exited 0 but items
 *        are missing (fn called exit(0) in the middle of a chunk): the
 *        lowest item a worker left unfinished, that worker's pid, and
 *        status PROC_EXITED with code 0. Untouched on success.
 * @return 0; or -1 with errno: EINVAL bad arguments; ECHILD a worker died
 *         (killed by a signal, exited non-zero, or exited 0 without
 *         finishing its chunk; no child is left, the call does not hang);
 *         ENOMEM, EAGAIN or EMFILE when no worker at all could be started.
 *         If only some could, they share all the work through the counter
 *         and the call succeeds.
 */
int proc_map(size_t nprocs, const void *in, size_t n, size_t in_size,
             void *out, size_t out_size, pk_map_fn fn, void *ctx,
             size_t chunk, proc_crash *crash);

/* ---- exercise 3: crash handling ---------------------------------------- */

/**
 * @brief The parent's view of one worker, for proc_reap_workers().
 */
typedef struct proc_worker {
    pid_t pid;                      /**< the child's process id */
    int fd;                         /**< read end of a pipe whose only write
                                         end the child holds: it reads EOF
                                         the moment the child ends */
    const proc_progress *progress;  /**< the child's slot in shared memory;
                                         may be NULL (no item is known) */
} proc_worker;

/**
 * @brief Wait for every worker; if one dies, kill the rest and say why.
 *
 * Waits for the workers in the order they end (poll() on their fds, not
 * waitpid() in pid order, so a crash is seen at once even while another
 * worker is busy). A worker that ended with anything but exit status 0 is a
 * crash: every worker still running is sent SIGKILL, and all are reaped.
 *
 * @param w the workers; each fd is closed and each pid reaped, in every case.
 * @param nworkers how many, 1 to PROC_MAX_WORKERS.
 * @param crash when not NULL and a worker crashed: the crash on the lowest
 *        item among workers that died by themselves (workers this function
 *        killed are not blamed). item is PROC_NO_ITEM when that worker's
 *        progress is NULL or says PROC_NO_ITEM. Untouched on success.
 * @return 0 when every worker exited with status 0; -1 with errno ECHILD
 *         after a crash, EINVAL for bad arguments (nothing is waited for).
 */
int proc_reap_workers(proc_worker *w, size_t nworkers, proc_crash *crash);

#endif /* PROCESSES_H */
