/**
 * @file procmap.h
 * @brief Chapter 07: a chunked process map (cproc_map), the
 *        ProcessPoolExecutor.map of the job.
 *
 * The same design as chapter 02's proc_map() (start from your own if you
 * like: this chapter keeps its own copy so that it grades alone) and as
 * libpk's pk_ppool_map():
 *
 * 1. one MAP_SHARED | MAP_ANONYMOUS mapping holds a chunk counter, one
 *    status slot per worker and the n result slots;
 * 2. @p nprocs children are forked; each claims chunks of items from the
 *    counter with one atomic add, writes fn's results straight into the
 *    shared slots, marks its slot finished and calls _exit(0);
 * 3. the parent waits for every child. Success means every child exited
 *    with status 0 *after* marking its slot finished; then the results are
 *    copied to @p out.
 *
 * Nothing is pickled: after fork() the child is a copy of the parent, so fn,
 * ctx and the input array are already there, at the same addresses.
 *
 * A worker that dies (a signal, a nonzero exit status, or an exit(0) from
 * inside fn before its work was done) makes the whole map fail with ECHILD,
 * as Python's BrokenProcessPool: the other workers are killed, every child
 * is reaped (no zombie, no hang), and @p out is left untouched.
 *
 * Call it from a process whose other threads do not hold locks that fn
 * needs: after fork() only the calling thread exists in the child.
 */
#ifndef CAPSTONE_PROCMAP_H
#define CAPSTONE_PROCMAP_H

#include <stddef.h>

#include "pk/map.h" /* pk_map_fn */

/** Most worker processes one map may fork; more is EINVAL. */
#define CPROC_MAX_WORKERS 4096

/**
 * @brief out[i] = fn(in[i]) for every item, in @p nprocs worker processes.
 * @param nprocs worker processes, 1 to CPROC_MAX_WORKERS; more than @p n is
 *        reduced to @p n (no idle worker is forked).
 * @param in @p n items of @p in_size bytes (never copied: the children read
 *        the parent's memory through copy-on-write).
 * @param n number of items; 0 does nothing, forks nothing and returns 0
 *        (in and out may then be NULL).
 * @param in_size bytes per input item, at least 1.
 * @param out room for @p n results of @p out_size bytes, in input order;
 *        untouched when the call fails.
 * @param out_size bytes per result, at least 1.
 * @param fn runs in the workers; whatever it changes besides its output
 *        slot (globals, ctx) is lost with the worker.
 * @param ctx passed to every call of fn.
 * @param chunk items per claim; 0 chooses automatically (about 32 chunks
 *        per worker).
 * @return 0; or -1 with errno: EINVAL bad arguments (NULL fn, in or out
 *         with n > 0, zero sizes, a bad worker count, n * size overflows);
 *         ECHILD a worker died or exited before its work was done (see the
 *         file comment); ENOMEM, EAGAIN or EMFILE when no worker at all
 *         could be started (if only some could, they share the work and
 *         the call succeeds).
 */
int cproc_map(size_t nprocs, const void *in, size_t n, size_t in_size,
              void *out, size_t out_size, pk_map_fn fn, void *ctx,
              size_t chunk);

#endif /* CAPSTONE_PROCMAP_H */
