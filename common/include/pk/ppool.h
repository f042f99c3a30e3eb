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
 *
 * The shared mapping is kept for the next call, as a pool keeps its
 * workers: up to 64 MiB of it stays allocated between maps, and
 * pk_ppool_release() gives it back.
 */
#ifndef PK_PPOOL_H
#define PK_PPOOL_H

#include <stddef.h>

#include "pk/map.h" /* pk_map_fn */

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
 * @return 0 once every item's result is written to @p out; or -1 with
 *         errno: EINVAL bad arguments; ECHILD a worker died (killed by a
 *         signal, exited non-zero, or exited before its items were done,
 *         even with status 0: fn calling exit(0)); the death is noticed as
 *         it happens, whatever the other workers are doing, they are killed
 *         at once, every child is reaped (no zombies), and @p out is left
 *         untouched; ENOMEM or EAGAIN when memory or processes ran out.
 *
 * Call it from a single-threaded process or with care: after fork() only the
 * calling thread exists in the child, and a lock held by another thread at
 * that moment stays locked there forever (do not call malloc-heavy code in
 * fn if other threads of the parent allocate concurrently).
 */
int pk_ppool_map(size_t nprocs, const void *in, size_t n, size_t in_size,
                 void *out, size_t out_size, pk_map_fn fn, void *ctx,
                 size_t chunk);

/**
 * @brief Unmap the shared result buffer that pk_ppool_map() keeps between
 *        calls (at most 64 MiB: maps with more results use a mapping of
 *        their own and free it). The next map allocates a new one.
 *
 * Safe to call at any time and from any thread; if a map is using the
 * buffer, it waits for that map to return.
 */
void pk_ppool_release(void);

/**
 * @brief Memory for the big arrays of a process map: zeroed, aligned to
 *        2 MiB and backed by transparent huge pages where the kernel allows.
 * @param bytes at least 1.
 * @return the memory, or NULL with errno: EINVAL for 0, ENOMEM when it
 *         cannot be mapped.
 *
 * fork() copies the parent's page tables: one entry per 4 KiB page, so
 * 2,560 entries for every 10 MB the parent holds, before a worker runs a
 * single item. With 2 MiB pages the same memory needs 512 times fewer
 * entries, and a map's fork and the page faults after it get cheaper
 * (on the course machine a map of 10^6 int64 pairs went from about 8 ms to
 * 4 ms). Arrays from malloc work too, only slower to fork. Free with
 * pk_ppool_free().
 */
void *pk_ppool_alloc(size_t bytes);

/**
 * @brief Free memory from pk_ppool_alloc().
 * @param p the pointer it returned; NULL is a no-op.
 * @param bytes the size that was asked for.
 */
void pk_ppool_free(void *p, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* PK_PPOOL_H */
