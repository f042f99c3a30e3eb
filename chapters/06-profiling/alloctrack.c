/* alloctrack.c - chapter 06, exercise 3: the allocation tracker
 * (memory_profiler, tracemalloc). Replace each PK_TODO with real code;
 * alloctrack.h says exactly what each function must do, and
 * `make grade CH=06-profiling` tells you how far you are.
 *
 * Every function here must be PK_NO_INSTRUMENT (noinstr.h): the chapter is
 * compiled with -finstrument-functions, and the profiling code must not call
 * the hooks. Keep it on every function you add. */
#include "alloctrack.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "addrhash.h"
#include "pk/todo.h"

/* A plan: put a 16-byte header in front of every block (its size, its
 * site's index in a table of AT_MAX_SITES call sites, the at_start()
 * generation it was counted under); keep the totals and the per-site
 * blocks and bytes under one mutex. The site table uses open addressing;
 * addr_hash() (addrhash.h) gives the first slot to try. The call site is
 * __builtin_return_address(0) in a function marked noinline. */

PK_NO_INSTRUMENT int at_start(void)
{
    PK_TODO("EBUSY if tracking; else zero the totals and the sites, start "
            "a new generation");
    return -1;
}

PK_NO_INSTRUMENT int at_stop(void)
{
    PK_TODO("stop tracking (EINVAL if not tracking)");
    return -1;
}

__attribute__((noinline)) PK_NO_INSTRUMENT
void *at_malloc(size_t size)
{
    (void)size;
    PK_TODO("malloc size + header, fill the header, count it if tracking");
    return NULL;
}

__attribute__((noinline)) PK_NO_INSTRUMENT
void *at_calloc(size_t nmemb, size_t size)
{
    (void)nmemb, (void)size;
    PK_TODO("check nmemb * size for overflow (ENOMEM), then as at_malloc "
            "with zeroed memory");
    return NULL;
}

__attribute__((noinline)) PK_NO_INSTRUMENT
void *at_realloc(void *ptr, size_t size)
{
    (void)ptr, (void)size;
    PK_TODO("NULL ptr is at_malloc, size 0 is at_free; else realloc the "
            "header and count one free and one allocation");
    return NULL;
}

PK_NO_INSTRUMENT void at_free(void *ptr)
{
    (void)ptr;
    PK_TODO("step back to the header, uncount the block if it was counted "
            "under this at_start(), free the header");
}

PK_NO_INSTRUMENT int at_get_stats(at_stats *out)
{
    (void)out;
    PK_TODO("copy the totals under the lock");
    return -1;
}

PK_NO_INSTRUMENT int at_leaks(at_site *rows, size_t max, size_t *nrows)
{
    (void)rows, (void)max, (void)nrows;
    PK_TODO("collect the sites with blocks left, sort by bytes, resolve "
            "site - 1 with sym_resolve()");
    return -1;
}

PK_NO_INSTRUMENT int at_print(FILE *out)
{
    (void)out;
    PK_TODO("print the totals and at_leaks()' rows");
    return -1;
}
