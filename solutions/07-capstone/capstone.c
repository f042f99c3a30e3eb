/* capstone.c - chapter 07 reference solution: one job, four drivers, and
 * the reduce. */
#include "capstone.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "procmap.h"

#ifdef _OPENMP
#include <omp.h>
#endif

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
     * constant 332833500 at -O2 (see the lesson for the assembly). */
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
     * multiplies per instruction). (k + x)^2 would not do: clang sums that
     * polynomial in closed form (see the lesson). */
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

int capstone_run_pool(cpool *pool, const capstone_item *in, size_t n,
                      uint64_t *out, capstone_fn fn, size_t chunk)
{
    if (pool == NULL || bad_args(in, n, out, fn)) {
        errno = EINVAL;
        return -1;
    }
    map_ctx ctx = {fn};
    return cpool_map(pool, in, n, sizeof *in, out, sizeof *out, map_one,
                     &ctx, chunk);
}

int capstone_run_procs(size_t nprocs, const capstone_item *in, size_t n,
                       uint64_t *out, capstone_fn fn, size_t chunk)
{
    if (nprocs == 0 || nprocs > CAPSTONE_MAX_WORKERS ||
        bad_args(in, n, out, fn)) {
        errno = EINVAL;
        return -1;
    }
    /* ctx lives on this stack frame; the children see their own copy of it
     * at the same address, which is why nothing has to be pickled. */
    map_ctx ctx = {fn};
    return cproc_map(nprocs, in, n, sizeof *in, out, sizeof *out, map_one,
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
        size_t units = (size_t)threads * CAPSTONE_CHUNKS_PER_WORKER;
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

/* ---- the reduce ---- */

unsigned capstone_bin(uint64_t r)
{
    /* __builtin_clzll(0) is undefined: 0 has its own bin. */
    return r == 0 ? 0 : 64 - (unsigned)__builtin_clzll(r);
}

/* Add res[lo..hi) into s. The loop every reduce runs, on one thread. */
static void reduce_range(const uint64_t *res, size_t lo, size_t hi,
                         capstone_summary *s)
{
    for (size_t i = lo; i < hi; i++) {
        s->sum += res[i];
        s->hist[capstone_bin(res[i])]++;
    }
    s->count += hi - lo;
}

int capstone_reduce_seq(const uint64_t *res, size_t n, capstone_summary *out)
{
    if (out == NULL || n > CAPSTONE_MAX_ITEMS || (n > 0 && res == NULL)) {
        errno = EINVAL;
        return -1;
    }
    memset(out, 0, sizeof *out);
    reduce_range(res, 0, n, out);
    return 0;
}

/* One worker's share of the reduce: its own summary, on its own stack
 * while it counts, copied out once at the end. */
typedef struct reduce_part {
    const uint64_t *res;
    size_t lo, hi;
    capstone_summary sum;
} reduce_part;

static int reduce_task(void *arg, void **result)
{
    reduce_part *p = arg;
    capstone_summary local = {0};

    (void)result;
    reduce_range(p->res, p->lo, p->hi, &local);
    p->sum = local;
    return 0;
}

int capstone_reduce_pool(cpool *pool, const uint64_t *res, size_t n,
                         capstone_summary *out)
{
    if (pool == NULL || out == NULL || n > CAPSTONE_MAX_ITEMS ||
        (n > 0 && res == NULL)) {
        errno = EINVAL;
        return -1;
    }
    /* One equal share per worker: every item costs the same, so static
     * shares balance, and the merge costs CAPSTONE_BINS adds per worker. */
    size_t parts = cpool_size(pool);
    reduce_part *part = calloc(parts, sizeof *part);
    cpool_future **fut = calloc(parts, sizeof *fut);
    if (part == NULL || fut == NULL) {
        free(fut);
        free(part);
        errno = ENOMEM;
        return -1;
    }
    size_t submitted = 0;
    int err = 0;
    for (; submitted < parts; submitted++) {
        /* n <= 2^31 and parts <= 4096: the products fit in size_t. */
        part[submitted].res = res;
        part[submitted].lo = n * submitted / parts;
        part[submitted].hi = n * (submitted + 1) / parts;
        fut[submitted] = cpool_submit(pool, reduce_task, &part[submitted]);
        if (fut[submitted] == NULL) {
            err = errno;
            break;
        }
    }
    capstone_summary total = {0};
    for (size_t w = 0; w < submitted; w++) {
        if (cpool_future_get(fut[w], NULL) != 0 && err == 0)
            err = errno;
        cpool_future_free(fut[w]);
        total.count += part[w].sum.count;
        total.sum += part[w].sum.sum;
        for (size_t b = 0; b < CAPSTONE_BINS; b++)
            total.hist[b] += part[w].sum.hist[b];
    }
    free(fut);
    free(part);
    if (err != 0) {
        errno = err;
        return -1;
    }
    *out = total;
    return 0;
}
