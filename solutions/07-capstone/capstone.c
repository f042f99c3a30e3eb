/* capstone.c - chapter 07 reference solution: one job, four drivers. */
#include "capstone.h"

#include <errno.h>
#include <stdint.h>

#include "pk/ppool.h"
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
    if ((items == NULL && n > 0) || n > CAPSTONE_MAX_ITEMS) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].x = i;
        items[i].y = 2 * (uint64_t)i;
    }
    return 0;
}

/* ---- the item functions ---- */

uint64_t capstone_item_literal(capstone_item item)
{
    uint64_t sum = 0;

    /* The same for every item: gcc and clang both replace this loop by the
     * constant 332833500 (see the lesson for the assembly). */
    for (uint64_t k = 0; k < CAPSTONE_INNER; k++)
        sum += k * k;
    return item.x * item.y + sum;
}

uint64_t capstone_item_mixed(capstone_item item)
{
    uint64_t sum = 0;
    uint32_t x = (uint32_t)item.x; /* t = (k XOR x) mod 2^32 */

    /* XOR is not a polynomial in k, so no closed form exists: the compiler
     * has to run the loop (it vectorises it: with AVX2 four 32x32->64-bit
     * multiplies per instruction). (k + x)^2 would not do: both compilers
     * sum that polynomial in closed form too. */
    for (uint32_t k = 0; k < CAPSTONE_INNER; k++) {
        uint64_t t = k ^ x;
        sum += t * t;
    }
    return item.x * item.y + sum;
}

/* ---- the drivers ---- */

/* The arguments every driver checks: what the map needs to be well defined. */
static int bad_args(const capstone_item *in, size_t n, const uint64_t *out,
                    capstone_fn fn)
{
    return fn == NULL || n > CAPSTONE_MAX_ITEMS ||
           (n > 0 && (in == NULL || out == NULL));
}

int capstone_run_seq(const capstone_item *in, size_t n, uint64_t *out,
                     capstone_fn fn)
{
    if (bad_args(in, n, out, fn)) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = fn(in[i]);
    return 0;
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
    const map_ctx *c = ctx;

    *(uint64_t *)out = c->fn(*(const capstone_item *)in);
}

int capstone_run_tpool(pk_tpool *pool, const capstone_item *in, size_t n,
                       uint64_t *out, capstone_fn fn, size_t chunk)
{
    if (pool == NULL || bad_args(in, n, out, fn)) {
        errno = EINVAL;
        return -1;
    }
    map_ctx ctx = {fn};
    return pk_tpool_map(pool, in, n, sizeof *in, out, sizeof *out, map_one,
                        &ctx, chunk);
}

int capstone_run_ppool(size_t nprocs, const capstone_item *in, size_t n,
                       uint64_t *out, capstone_fn fn, size_t chunk)
{
    if (nprocs > CAPSTONE_MAX_WORKERS || bad_args(in, n, out, fn)) {
        errno = EINVAL;
        return -1;
    }
    /* ctx lives on this stack frame; the children see their own copy of it
     * at the same address, which is why nothing has to be pickled. */
    map_ctx ctx = {fn};
    return pk_ppool_map(nprocs, in, n, sizeof *in, out, sizeof *out, map_one,
                        &ctx, chunk);
}

int capstone_run_omp(size_t nthreads, const capstone_item *in, size_t n,
                     uint64_t *out, capstone_fn fn, size_t chunk)
{
    if (nthreads > CAPSTONE_MAX_WORKERS || bad_args(in, n, out, fn)) {
        errno = EINVAL;
        return -1;
    }
    if (n == 0)
        return 0;
    int threads = 1;
#ifdef _OPENMP
    threads = nthreads > 0 ? (int)nthreads : omp_get_max_threads();
#endif
    if (chunk == 0) {
        size_t units = (size_t)threads * CHUNKS_PER_WORKER;
        chunk = (n + units - 1) / units;
    }
    /* OpenMP wants a signed loop variable in old versions and an int chunk;
     * both fit: n <= 2^31 and chunk is capped at n. */
    int step = (int)(chunk < n ? chunk : n);
    long long count = (long long)n;

#pragma omp parallel for num_threads(threads) schedule(dynamic, step)
    for (long long i = 0; i < count; i++)
        out[i] = fn(in[i]);
    (void)threads, (void)step; /* unused when built without OpenMP */
    return 0;
}

/* ---- the verifier ---- */

int capstone_verify(const uint64_t *want, const uint64_t *got, size_t n,
                    size_t *first_mismatch)
{
    if (n > 0 && (want == NULL || got == NULL)) {
        errno = EINVAL;
        return -1;
    }
    size_t i = 0;
    while (i < n && want[i] == got[i])
        i++;
    if (first_mismatch != NULL)
        *first_mismatch = i;
    return i < n;
}
