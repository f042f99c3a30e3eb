/* capstone.c - chapter 07 exercises: one job, four drivers. Replace each
 * PK_TODO with real code; capstone.h says exactly what each function must
 * do, and the lesson (README.md) says in which order to write them.
 * `make grade CH=07-capstone` tells you how far you are. */
#include "capstone.h"

#include <errno.h>
#include <stdint.h>

#include "pk/ppool.h"
#include "pk/todo.h"
#include "pk/tpool.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Automatic chunking for the OpenMP driver, the same rule as libpk's pools:
 * about 32 work units per thread, so one slow chunk cannot hold up the
 * end of the job by more than a 32nd of a thread's share. */
#define CHUNKS_PER_WORKER 32

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

int capstone_run_tpool(pk_tpool *pool, const capstone_item *in, size_t n,
                       uint64_t *out, capstone_fn fn, size_t chunk)
{
    (void)pool, (void)in, (void)n, (void)out, (void)fn, (void)chunk;
    (void)map_one;
    PK_TODO("EINVAL for a NULL pool or bad_args(); then return "
            "pk_tpool_map() with map_one and a map_ctx holding fn");
    return -1;
}

int capstone_run_ppool(size_t nprocs, const capstone_item *in, size_t n,
                       uint64_t *out, capstone_fn fn, size_t chunk)
{
    (void)nprocs, (void)in, (void)n, (void)out, (void)fn, (void)chunk;
    PK_TODO("EINVAL for nprocs > CAPSTONE_MAX_WORKERS or bad_args(); "
            "then return pk_ppool_map() with map_one and a map_ctx "
            "holding fn");
    return -1;
}

int capstone_run_omp(size_t nthreads, const capstone_item *in, size_t n,
                     uint64_t *out, capstone_fn fn, size_t chunk)
{
    (void)nthreads, (void)in, (void)n, (void)out, (void)fn, (void)chunk;
    PK_TODO("EINVAL for nthreads > CAPSTONE_MAX_WORKERS or bad_args(); "
            "pick the thread count (0: omp_get_max_threads()) and the chunk "
            "(0: n / (8 threads), rounded up); then #pragma omp parallel for num_threads(...) "
            "schedule(dynamic, chunk) over out[i] = fn(in[i])");
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
