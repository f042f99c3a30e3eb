/* capstone.c - chapter 07 exercises: one job, four drivers, and the
 * reduce. Replace each PK_TODO with real code; capstone.h says exactly what
 * each function must do, and the lesson (README.md) says in which order to
 * write them. `make grade CH=07-capstone` tells you how far you are. */
#include "capstone.h"

#include <errno.h>
#include <stdint.h>

#include "pk/todo.h"
#include "pool.h"
#include "procmap.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- the data ---- */

int capstone_fill(capstone_item *items, size_t n)
{
    (void)items, (void)n;
    PK_TODO("check the arguments, then items[i] = (i, 2*i) for i < n");
    return -1;
}

/* ---- the item functions ---- */

uint64_t capstone_item_literal(capstone_item item)
{
    (void)item;
    PK_TODO("return x*y plus the sum of k*k for k < CAPSTONE_INNER, in "
            "uint64_t, with the loop");
    return 0;
}

uint64_t capstone_item_mixed(capstone_item item)
{
    (void)item;
    PK_TODO("return x*y plus the sum of t*t for k < CAPSTONE_INNER, where "
            "t = k ^ (uint32_t)x widened to uint64_t");
    return 0;
}

/* ---- the drivers ---- */

/* The arguments every driver checks: what the map needs to be well defined.
 * Given: use it in all four drivers (each also checks its own worker count
 * or pool). */
static int bad_args(const capstone_item *in, size_t n, const uint64_t *out,
                    capstone_fn fn)
{
    return fn == NULL || n > CAPSTONE_MAX_ITEMS ||
           (n > 0 && (in == NULL || out == NULL));
}

int capstone_run_seq(const capstone_item *in, size_t n, uint64_t *out,
                     capstone_fn fn)
{
    (void)in, (void)n, (void)out, (void)fn;
    (void)bad_args;
    PK_TODO("if bad_args(): errno = EINVAL, return -1; otherwise out[i] = "
            "fn(in[i]) for every i < n, return 0");
    return -1;
}

/* What a Python closure would capture: the item function. ISO C does not
 * let a function pointer travel through a void *, so it rides in a struct,
 * and the struct's address is the map's ctx. */
typedef struct map_ctx {
    capstone_fn fn;
} map_ctx;

/* The pk_map_fn adapter both pools call: one item in, one result out. */
static void map_one(const void *in, void *out, void *ctx)
{
    (void)in, (void)out, (void)ctx;
    PK_TODO("*(uint64_t *)out = the ctx's fn applied to *(const "
            "capstone_item *)in");
}

int capstone_run_pool(cpool *pool, const capstone_item *in, size_t n,
                      uint64_t *out, capstone_fn fn, size_t chunk)
{
    (void)pool, (void)in, (void)n, (void)out, (void)fn, (void)chunk;
    (void)map_one;
    PK_TODO("EINVAL for a NULL pool or bad_args(); then cpool_map() with "
            "map_one and a map_ctx holding fn");
    return -1;
}

int capstone_run_procs(size_t nprocs, const capstone_item *in, size_t n,
                       uint64_t *out, capstone_fn fn, size_t chunk)
{
    (void)nprocs, (void)in, (void)n, (void)out, (void)fn, (void)chunk;
    PK_TODO("the same on cproc_map(); check the worker count too");
    return -1;
}

int capstone_run_omp(size_t nthreads, const capstone_item *in, size_t n,
                     uint64_t *out, capstone_fn fn, size_t chunk)
{
    (void)nthreads, (void)in, (void)n, (void)out, (void)fn, (void)chunk;
    PK_TODO("check the arguments; pick the thread count (0: OpenMP's "
            "default) and the chunk (0: CAPSTONE_CHUNKS_PER_WORKER chunks "
            "per thread); one pragma over the sequential loop");
    return -1;
}

/* ---- the verifier ---- */

int capstone_verify(const uint64_t *want, const uint64_t *got, size_t n,
                    size_t *first_mismatch)
{
    (void)want, (void)got, (void)n, (void)first_mismatch;
    PK_TODO("check the arguments; find the first i where want[i] != got[i] "
            "(n if none), store it, return 0 or 1");
    return -1;
}

/* ---- the reduce ---- */

unsigned capstone_bin(uint64_t r)
{
    (void)r;
    PK_TODO("the bit length of r: 0 for 0, 64 for 2^63 and above");
    return 0;
}

int capstone_reduce_seq(const uint64_t *res, size_t n, capstone_summary *out)
{
    (void)res, (void)n, (void)out;
    PK_TODO("check the arguments; count, sum and histogram of res[0..n)");
    return -1;
}

int capstone_reduce_pool(cpool *pool, const uint64_t *res, size_t n,
                         capstone_summary *out)
{
    (void)pool, (void)res, (void)n, (void)out;
    PK_TODO("one task per worker, each with a summary of its own and no "
            "lock in its loop; merge the partial summaries at the end");
    return -1;
}
