/**
 * @file alloctrack.h
 * @brief Chapter 06, exercise 3: an allocation tracker (memory_profiler,
 *        tracemalloc).
 *
 * Allocators that count: allocations, frees, current and peak bytes, and
 * the blocks still outstanding (the leaks) by call site, named through
 * symbols.h.
 *
 * Conventions: 0 or a pointer on success, -1 or NULL with errno on failure;
 * a call in the wrong state (stopping what was not started) is EINVAL,
 * starting what runs already is EBUSY. Every function of an implementation
 * of this header carries #PK_NO_INSTRUMENT.
 */
#ifndef ALLOCTRACK_H
#define ALLOCTRACK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "symbols.h"

/** Distinct call sites counted; allocations from more sites are untracked. */
#define AT_MAX_SITES 1024

/** @brief Totals since at_start(). */
typedef struct at_stats {
    uint64_t allocs;        /**< tracked allocations (at_realloc counts one) */
    uint64_t frees;         /**< frees of tracked blocks (at_realloc of a
                                 tracked block counts one) */
    size_t current_bytes;   /**< bytes in tracked blocks not yet freed */
    size_t peak_bytes;      /**< the highest current_bytes has been */
    size_t current_blocks;  /**< tracked blocks not yet freed */
} at_stats;

/** @brief Blocks still outstanding from one call site. */
typedef struct at_site {
    const void *site;          /**< return address in the caller */
    char func[SYM_NAME_MAX];   /**< calling function */
    char file[SYM_FILE_MAX];   /**< its file */
    int line;                  /**< the line of the call */
    size_t blocks;             /**< blocks not freed */
    size_t bytes;              /**< their bytes */
} at_site;

/**
 * @brief Start tracking: zero the totals and the sites.
 * @return 0; -1 with errno EBUSY when already tracking.
 */
int at_start(void);

/**
 * @brief Stop tracking; the totals stay for at_get_stats() and at_leaks().
 * @return 0; -1 with errno EINVAL when not tracking.
 */
int at_stop(void);

/**
 * @brief malloc() that the tracker sees.
 * @param size bytes; 0 gives a unique pointer, like glibc's malloc(0).
 * @return the block (aligned like malloc's), or NULL with errno ENOMEM.
 *         Free it with at_free() only.
 *
 * While tracking, the call site (the caller's return address) and the size
 * are recorded. Thread-safe.
 */
void *at_malloc(size_t size);

/**
 * @brief calloc() that the tracker sees.
 * @param nmemb number of elements.
 * @param size bytes each.
 * @return zeroed block, or NULL with errno ENOMEM (also when nmemb * size
 *         overflows).
 */
void *at_calloc(size_t nmemb, size_t size);

/**
 * @brief realloc() that the tracker sees.
 * @param ptr a block from at_malloc()/at_calloc()/at_realloc(), or NULL
 *        (then it is at_malloc(size)).
 * @param size the new size; 0 frees @p ptr and returns NULL.
 * @return the block, or NULL with errno ENOMEM (then @p ptr is untouched).
 *
 * A tracked block counts as freed and a new one allocated at this site.
 */
void *at_realloc(void *ptr, size_t size);

/**
 * @brief free() for blocks from the at_ allocators.
 * @param ptr the block; NULL is a no-op. Blocks allocated while not tracking
 *        (or before the last at_start()) are freed but not counted.
 */
void at_free(void *ptr);

/**
 * @brief Read the totals.
 * @param out filled; not NULL.
 * @return 0, or -1 with errno EINVAL.
 */
int at_get_stats(at_stats *out);

/**
 * @brief Outstanding blocks by call site, most bytes first: the leaks.
 * @param rows where the first @p max sites go; NULL only with max 0.
 * @param max the N of top N.
 * @param nrows set to the rows written; not NULL.
 * @return 0, or -1 with errno EINVAL or ENOMEM. Sites whose blocks were all
 *         freed are not listed; all the sites together hold current_blocks
 *         and current_bytes of at_get_stats(). Names and lines come from
 *         symbols.h (the line of the call: the return address minus one).
 */
int at_leaks(at_site *rows, size_t max, size_t *nrows);

/**
 * @brief Print the totals and the outstanding sites.
 * @param out the stream; not NULL.
 * @return 0, or -1 with errno EINVAL or ENOMEM.
 */
int at_print(FILE *out);

#endif /* ALLOCTRACK_H */
