/**
 * @file profiler.h
 * @brief Chapter 06: cProfile, line_profiler and memory_profiler, in C.
 *
 * Four small tools, one per exercise:
 *
 * 1. **An instrumenting profiler** (`prof_*`), Python's cProfile: every
 *    function entry and exit calls a hook, which keeps a call stack per
 *    thread and adds up ncalls, tottime and cumtime per function. The hooks
 *    are the ones gcc and clang insert with `-finstrument-functions`.
 * 2. **A sampling profiler** (`samp_*`), the statistical cousin that
 *    line_profiler's per-line report and perf are built on: a SIGPROF timer
 *    interrupts the program N times a second of CPU time and a signal
 *    handler records where it was (the program counter and the return
 *    addresses on the stack).
 * 3. **An allocation tracker** (`at_*`), memory_profiler and tracemalloc:
 *    counts, current and peak bytes, and the blocks still outstanding (the
 *    leaks) by call site.
 * 4. **A flame graph** (`flame_svg()`): the sampler's folded stacks drawn as
 *    one self-contained SVG file.
 *
 * Conventions: 0 or a pointer on success, -1 or NULL with errno on failure;
 * a call in the wrong state (stopping what was not started) is EINVAL,
 * starting what runs already is EBUSY. Every function of an implementation
 * of this header carries #PK_NO_INSTRUMENT, so the profiler never profiles
 * itself.
 */
#ifndef PROFILER_H
#define PROFILER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "symbols.h"

/* ======================================================================== */
/** @name Exercise 1: the instrumenting profiler (cProfile)                  */
/* ======================================================================== */
/** @{ */

/** Deepest call stack followed per thread; deeper calls are not counted. */
#define PROF_MAX_DEPTH 1024
/** Distinct functions counted per thread; more are counted as dropped. */
#define PROF_MAX_FUNCS 4096

/** @brief The column a report is sorted by, largest first. */
typedef enum prof_sort {
    PROF_SORT_NCALLS,       /**< number of calls */
    PROF_SORT_TOTTIME,      /**< time in the function itself */
    PROF_SORT_CUMTIME,      /**< time in the function and its callees */
    PROF_SORT_PERCALL_TOT,  /**< tottime / ncalls */
    PROF_SORT_PERCALL_CUM,  /**< cumtime / primitive calls */
    PROF_SORT_COUNT         /**< number of keys (not a key) */
} prof_sort;

/** @brief One function's line of the report, all threads merged. */
typedef struct prof_row {
    const void *fn;        /**< the function's address (as `&function`) */
    uint64_t ncalls;       /**< completed calls, recursive ones included */
    uint64_t primcalls;    /**< calls that were not already active on the
                                same thread: the outermost activations
                                (cProfile prints "ncalls/primcalls") */
    double tottime;        /**< seconds in the function, callees excluded */
    double cumtime;        /**< seconds from outermost entry to its exit,
                                callees included, counted once per
                                outermost activation */
    double percall_tot;    /**< tottime / ncalls (0 when ncalls is 0) */
    double percall_cum;    /**< cumtime / primcalls (0 when primcalls is 0) */
} prof_row;

/**
 * @brief Start counting: from now on the hooks record every call.
 * @return 0; -1 with errno EBUSY when already running.
 *
 * Counts add up over several start/stop periods until prof_reset(). Calls
 * that were in progress at the start are not counted (their entry was not
 * seen).
 */
int prof_start(void);

/**
 * @brief Stop counting; the counts stay for prof_report().
 * @return 0; -1 with errno EINVAL when not running.
 */
int prof_stop(void);

/**
 * @brief Forget every count.
 * @return 0; -1 with errno EBUSY while running (stop first). Other threads
 *         must not be inside profiled code while it runs.
 */
int prof_reset(void);

/**
 * @brief The report: one row per function, threads merged, sorted.
 * @param key the column to sort by, largest first (ties: lower address).
 * @param rows where the first @p max rows go (the top N); owned by the
 *        caller. May be NULL only when @p max is 0.
 * @param max the N of top N.
 * @param nrows set to the number of rows written (at most @p max); not NULL.
 * @return 0, or -1 with errno EINVAL (bad key, NULL nrows, NULL rows with
 *         max > 0) or ENOMEM. Works while running too (calls still in
 *         progress are not in it).
 */
int prof_report(prof_sort key, prof_row *rows, size_t max, size_t *nrows);

/**
 * @brief Print the report like pstats' `sort_stats(key).print_stats(top)`.
 * @param out the stream; not NULL.
 * @param key the sort column.
 * @param top at most this many rows.
 * @return 0, or -1 with errno (as prof_report(), EINVAL for NULL out).
 *
 * Columns: ncalls (as "n/prim" for recursive functions), tottime, percall,
 * cumtime, percall, then the source line and function from symbols.h.
 */
int prof_print(FILE *out, prof_sort key, size_t top);

/**
 * @brief Hook called by `-finstrument-functions` code on each entry.
 * @param fn the entered function's address.
 * @param call_site the address it was called from.
 *
 * Never call it yourself. It must not allocate on the common path, must not
 * change errno, and must cost as little as possible: it runs on every call
 * of the whole program, profiler stopped or not.
 */
void __cyg_profile_func_enter(void *fn, void *call_site) PK_NO_INSTRUMENT;

/**
 * @brief Hook called by `-finstrument-functions` code on each exit.
 * @param fn the function being left.
 * @param call_site the address it was called from.
 */
void __cyg_profile_func_exit(void *fn, void *call_site) PK_NO_INSTRUMENT;

/** @} */

/* ======================================================================== */
/** @name Exercise 2: the sampling profiler (line_profiler, perf)            */
/* ======================================================================== */
/** @{ */

/** Highest sampling rate accepted, in samples per CPU second. */
#define SAMP_MAX_HZ 10000
/** Samples kept; later ones are counted as lost. */
#define SAMP_MAX_SAMPLES 16384
/** Deepest stack recorded per sample (leaf first). */
#define SAMP_MAX_DEPTH 48

/** @brief One row of a flat report (by function or by source line). */
typedef struct samp_row {
    char func[SYM_NAME_MAX];  /**< the function */
    char file[SYM_FILE_MAX];  /**< its source file ("??" when unknown) */
    int line;                 /**< source line; 0 in the by-function report */
    size_t samples;           /**< samples whose leaf (innermost frame) was
                                   here: "self" samples */
    double percent;           /**< 100 * samples / all samples */
} samp_row;

/**
 * @brief Start sampling: a SIGPROF every 1/@p hz seconds of CPU time used
 *        by the process, recorded by an async-signal-safe handler.
 * @param hz samples per CPU second, 1 .. #SAMP_MAX_HZ. The kernel may
 *        deliver fewer: CPU timers are checked on the scheduler tick.
 * @return 0; -1 with errno EINVAL (hz 0 or too high), EBUSY (already
 *         running), ENOMEM, or what sigaction()/setitimer() set.
 *
 * Forgets the previous run's samples. Uses ITIMER_PROF and the SIGPROF
 * handler, which gprof's -pg also uses: do not combine the two.
 */
int samp_start(unsigned hz);

/**
 * @brief Stop the timer. The samples stay for the reports.
 * @return 0; -1 with errno EINVAL when not running.
 */
int samp_stop(void);

/**
 * @brief Samples recorded so far (readable while running).
 * @return the count; samples that did not fit are not in it.
 */
size_t samp_count(void);

/**
 * @brief Samples that did not fit in the buffer (#SAMP_MAX_SAMPLES).
 * @return the count since the last samp_start().
 */
size_t samp_lost(void);

/**
 * @brief Flat profile by function: self samples per function, most first.
 * @param rows where the first @p max rows go; owned by the caller; NULL
 *        only with max 0.
 * @param max the N of top N.
 * @param nrows set to the rows written; not NULL.
 * @return 0, or -1 with errno EINVAL (NULL arguments, or still running) or
 *         ENOMEM.
 */
int samp_by_function(samp_row *rows, size_t max, size_t *nrows);

/**
 * @brief Flat profile by source line (line_profiler's view), most first.
 * @param rows as for samp_by_function().
 * @param max the N of top N.
 * @param nrows set to the rows written; not NULL.
 * @return as samp_by_function().
 */
int samp_by_line(samp_row *rows, size_t max, size_t *nrows);

/**
 * @brief Write the samples as folded stacks, the input of flame graphs.
 * @param out the stream; not NULL.
 * @return 0, or -1 with errno EINVAL (NULL, or still running), ENOMEM, EIO.
 *
 * One line per distinct stack: the function names from the outermost frame
 * to the leaf, joined by ';', a space, and the number of samples, e.g.
 * `main;run;spin 312`. The counts add up to samp_count().
 */
int samp_write_folded(FILE *out);

/**
 * @brief Stop if running and free the sample buffer.
 */
void samp_free(void);

/** @} */

/* ======================================================================== */
/** @name Exercise 3: the allocation tracker (memory_profiler, tracemalloc)  */
/* ======================================================================== */
/** @{ */

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
 *         freed are not listed. Names and lines come from symbols.h.
 */
int at_leaks(at_site *rows, size_t max, size_t *nrows);

/**
 * @brief Print the totals and the outstanding sites.
 * @param out the stream; not NULL.
 * @return 0, or -1 with errno EINVAL or ENOMEM.
 */
int at_print(FILE *out);

/** @} */

/* ======================================================================== */
/** @name Exercise 4: the flame graph                                       */
/* ======================================================================== */
/** @{ */

/** Width of the drawing in pixels. */
#define FLAME_WIDTH 1200
/** Height of one frame in pixels. */
#define FLAME_FRAME_HEIGHT 16

/**
 * @brief Draw folded stacks as a flame graph in one self-contained SVG.
 * @param folded lines `a;b;c count` (samp_write_folded()'s format); empty
 *        lines are skipped; not NULL.
 * @param svg where the SVG goes; not NULL.
 * @param title the heading (escaped for XML); NULL gives "Flame graph".
 * @return 0, or -1 with errno EINVAL (NULL stream, a line without a
 *         positive count at its end), ENOMEM or EIO.
 *
 * Roots at the bottom, callees above callers, each frame as wide as its
 * share of the samples, siblings in alphabetical order (a flame graph's x
 * axis is not time). Each frame is a `<g>` holding `<title>` (the tooltip:
 * name, samples, percent), a `<rect>` and, when wide enough, a `<text>`
 * label. No scripts, no external files: a browser opens it as it is.
 */
int flame_svg(FILE *folded, FILE *svg, const char *title);

/** @} */

#endif /* PROFILER_H */
