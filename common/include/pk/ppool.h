/**
 * @file pk/ppool.h
 * @brief A fork-based parallel map: the ProcessPoolExecutor of C.
 *
 * Python's ProcessPoolExecutor has to pickle the function and every item to
 * send them to its workers, and pickle every result back; a local function
 * cannot be pickled at all ("Can't pickle local object"). After fork() the
 * child is a copy of the parent: the function pointer, @p ctx and the input
 * array are simply there, at the same addresses. Only the results have to
 * come back, and they do through a shared mapping (mmap MAP_SHARED), with no
 * copying per item.
 *
 * Workers pull chunks of items from an atomic counter in the shared mapping
 * (dynamic scheduling), so a slow chunk does not hold up the others.
 */
#ifndef PK_PPOOL_H
#define PK_PPOOL_H

#include <stddef.h>

#include "pk/tpool.h" /* pk_map_fn */

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief out[i] = fn(in[i]) for every item, in @p nprocs child processes.
 * @param nprocs worker processes; 0 means pk_cpu_count(); more than @p n is
 *        reduced to @p n. At most 4096.
 * @param in @p n items of @p in_size bytes (read by the children through
 *        copy-on-write memory; never copied).
 * @param n number of items; 0 does nothing and forks nothing.
 * @param in_size bytes per input item, at least 1.
 * @param out room for @p n results of @p out_size bytes, in input order.
 * @param out_size bytes per result, at least 1.
 * @param fn runs in the children; whatever it changes besides its output
 *        slot (globals, ctx) is lost with the child, as with Python processes.
 * @param ctx passed to every call of fn.
 * @param chunk items per work unit; 0 chooses automatically.
 * @return 0, or -1 with errno: EINVAL bad arguments; ECHILD a worker died
 *         (killed by a signal or exited non-zero): the other workers are
 *         killed, every child is reaped (no zombies), @p out is left
 *         unspecified; ENOMEM or EAGAIN when memory or processes ran out.
 *
 * Call it from a single-threaded process or with care: after fork() only the
 * calling thread exists in the child, and a lock held by another thread at
 * that moment stays locked there forever (do not call malloc-heavy code in
 * fn if other threads of the parent allocate concurrently).
 */
int pk_ppool_map(size_t nprocs, const void *in, size_t n, size_t in_size,
                 void *out, size_t out_size, pk_map_fn fn, void *ctx,
                 size_t chunk);

#ifdef __cplusplus
}
#endif

#endif /* PK_PPOOL_H */
