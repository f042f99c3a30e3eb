/* alloctrack.c - chapter 06 reference solution, exercise 3: the allocation
 * tracker, memory_profiler and tracemalloc in C (alloctrack.h).
 *
 * Every function here is PK_NO_INSTRUMENT (noinstr.h): the chapter is
 * compiled with -finstrument-functions, and the profiling code must not
 * call the hooks. */
#include "alloctrack.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "addrhash.h"

/* Every block carries this header in front of what the caller sees. Its
 * size keeps the caller's pointer aligned like malloc's (16 bytes). */
typedef struct at_header {
    size_t size;
    uint32_t site;   /* index in at_sites, or AT_UNTRACKED */
    uint32_t gen;    /* the at_start() it was counted under */
} at_header;
_Static_assert(sizeof(at_header) % _Alignof(max_align_t) == 0,
               "the header must keep malloc's alignment");

#define AT_UNTRACKED UINT32_MAX

typedef struct at_site_count {
    const void *site;
    size_t blocks, bytes;
} at_site_count;

static pthread_mutex_t at_lock = PTHREAD_MUTEX_INITIALIZER; /* all below */
static bool at_running;
static uint32_t at_gen;
static at_stats at_totals;
static at_site_count at_sites[AT_MAX_SITES];

/* Count a new block; returns its site index. Caller holds at_lock. */
PK_NO_INSTRUMENT static uint32_t at_count_alloc(const void *site, size_t size)
{
    size_t i = addr_hash(site, AT_MAX_SITES - 1);
    for (size_t probes = 0; probes < AT_MAX_SITES; probes++) {
        if (at_sites[i].site == NULL)
            at_sites[i].site = site;
        if (at_sites[i].site == site) {
            at_sites[i].blocks++;
            at_sites[i].bytes += size;
            at_totals.allocs++;
            at_totals.current_blocks++;
            at_totals.current_bytes += size;
            if (at_totals.current_bytes > at_totals.peak_bytes)
                at_totals.peak_bytes = at_totals.current_bytes;
            return (uint32_t)i;
        }
        i = (i + 1) & (AT_MAX_SITES - 1);
    }
    return AT_UNTRACKED;
}

/* Count a free of a block, if it was counted under this at_start(). */
PK_NO_INSTRUMENT static void at_count_free(const at_header *h)
{
    if (h->site == AT_UNTRACKED || h->gen != at_gen || !at_running)
        return;
    at_sites[h->site].blocks--;
    at_sites[h->site].bytes -= h->size;
    at_totals.frees++;
    at_totals.current_blocks--;
    at_totals.current_bytes -= h->size;
}

PK_NO_INSTRUMENT static void *at_alloc_at(const void *site, size_t size,
                                          bool zero)
{
    if (size > SIZE_MAX - sizeof(at_header)) {
        errno = ENOMEM;
        return NULL;
    }
    at_header *h = zero ? calloc(1, sizeof *h + size) : malloc(sizeof *h + size);
    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    h->size = size;
    h->site = AT_UNTRACKED;
    pthread_mutex_lock(&at_lock);
    if (at_running) {
        h->gen = at_gen;
        h->site = at_count_alloc(site, size);
    }
    pthread_mutex_unlock(&at_lock);
    return h + 1;
}

/* noinline: __builtin_return_address(0) must be the caller's call site. */
__attribute__((noinline)) PK_NO_INSTRUMENT
void *at_malloc(size_t size)
{
    return at_alloc_at(__builtin_return_address(0), size, false);
}

__attribute__((noinline)) PK_NO_INSTRUMENT
void *at_calloc(size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return at_alloc_at(__builtin_return_address(0), nmemb * size, true);
}

__attribute__((noinline)) PK_NO_INSTRUMENT
void *at_realloc(void *ptr, size_t size)
{
    const void *site = __builtin_return_address(0);

    if (ptr == NULL)
        return at_alloc_at(site, size, false);
    if (size == 0) {
        at_free(ptr);
        return NULL;
    }
    if (size > SIZE_MAX - sizeof(at_header)) {
        errno = ENOMEM;
        return NULL;
    }
    at_header *old = (at_header *)ptr - 1;
    at_header saved = *old;
    at_header *h = realloc(old, sizeof *h + size);
    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&at_lock);
    at_count_free(&saved);
    h->size = size;
    h->site = AT_UNTRACKED;
    if (at_running) {
        h->gen = at_gen;
        h->site = at_count_alloc(site, size);
    }
    pthread_mutex_unlock(&at_lock);
    return h + 1;
}

PK_NO_INSTRUMENT void at_free(void *ptr)
{
    if (ptr == NULL)
        return;
    at_header *h = (at_header *)ptr - 1;
    pthread_mutex_lock(&at_lock);
    at_count_free(h);
    pthread_mutex_unlock(&at_lock);
    free(h);
}

PK_NO_INSTRUMENT int at_start(void)
{
    pthread_mutex_lock(&at_lock);
    if (at_running) {
        pthread_mutex_unlock(&at_lock);
        errno = EBUSY;
        return -1;
    }
    at_running = true;
    at_gen++;
    memset(&at_totals, 0, sizeof at_totals);
    memset(at_sites, 0, sizeof at_sites);
    pthread_mutex_unlock(&at_lock);
    return 0;
}

PK_NO_INSTRUMENT int at_stop(void)
{
    pthread_mutex_lock(&at_lock);
    bool was = at_running;
    at_running = false;
    pthread_mutex_unlock(&at_lock);
    if (!was) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

PK_NO_INSTRUMENT int at_get_stats(at_stats *out)
{
    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&at_lock);
    *out = at_totals;
    pthread_mutex_unlock(&at_lock);
    return 0;
}

PK_NO_INSTRUMENT static int cmp_sites(const void *a, const void *b)
{
    const at_site *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return (uintptr_t)x->site < (uintptr_t)y->site ? -1 : 1;
}

PK_NO_INSTRUMENT int at_leaks(at_site *rows, size_t max, size_t *nrows)
{
    if (nrows == NULL || (rows == NULL && max > 0)) {
        errno = EINVAL;
        return -1;
    }
    at_site *all = calloc(AT_MAX_SITES, sizeof *all);
    const void **addrs = calloc(AT_MAX_SITES, sizeof *addrs);
    sym_info *syms = calloc(AT_MAX_SITES, sizeof *syms);
    if (all == NULL || addrs == NULL || syms == NULL) {
        free(all), free(addrs), free(syms);
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    pthread_mutex_lock(&at_lock);
    for (size_t i = 0; i < AT_MAX_SITES; i++)
        if (at_sites[i].site != NULL && at_sites[i].blocks > 0)
            all[n++] = (at_site){.site = at_sites[i].site,
                                 .blocks = at_sites[i].blocks,
                                 .bytes = at_sites[i].bytes};
    pthread_mutex_unlock(&at_lock);
    qsort(all, n, sizeof *all, cmp_sites);
    *nrows = n < max ? n : max;
    /* Resolve the call instruction: the return address minus one. */
    for (size_t i = 0; i < *nrows; i++)
        addrs[i] = (const char *)all[i].site - 1;
    if (sym_resolve(addrs, *nrows, syms) == 0)
        for (size_t i = 0; i < *nrows; i++) {
            snprintf(all[i].func, sizeof all[i].func, "%s", syms[i].func);
            snprintf(all[i].file, sizeof all[i].file, "%s", syms[i].file);
            all[i].line = syms[i].line;
        }
    if (*nrows > 0)
        memcpy(rows, all, *nrows * sizeof *rows);
    free(all), free(addrs), free(syms);
    return 0;
}

PK_NO_INSTRUMENT int at_print(FILE *out)
{
    enum { TOP = 20 };
    at_stats st;
    at_site rows[TOP];
    size_t n;

    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (at_get_stats(&st) != 0 || at_leaks(rows, TOP, &n) != 0)
        return -1;
    fprintf(out, "allocations %llu, frees %llu, current %zu bytes in %zu "
            "blocks, peak %zu bytes\n", (unsigned long long)st.allocs,
            (unsigned long long)st.frees, st.current_bytes, st.current_blocks,
            st.peak_bytes);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %10zu bytes in %6zu blocks  %s:%d (%s)\n", rows[i].bytes,
                rows[i].blocks, sym_basename(rows[i].file), rows[i].line,
                rows[i].func);
    return 0;
}
