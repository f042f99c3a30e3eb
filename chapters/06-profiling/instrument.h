/**
 * @file instrument.h
 * @brief Chapter 06, exercise 1: an instrumenting profiler (Python's cProfile).
 *
 * Every function entry and exit calls a hook, which keeps a call stack per
 * thread and adds up ncalls, tottime and cumtime per function. The hooks
 * are the ones gcc and clang insert with `-finstrument-functions`.
 *
 * Conventions: 0 or a pointer on success, -1 or NULL with errno on failure;
 * a call in the wrong state (stopping what was not started) is EINVAL,
 * starting what runs already is EBUSY. Every function of an implementation
 * of this header carries #PK_NO_INSTRUMENT, so the profiler never profiles
 * itself.
 *
 * Identities the report keeps exactly (the tests check them): ncalls counts
 * every completed call; tottime adds up, over the calls, each call's time
 * minus the time of the calls it made, so when one call of a function R is all that
 * ran while profiling, the tottimes of all the rows add up to R's cumtime
 * (to the nanosecond: the times are whole nanoseconds until the report);
 * cumtime is never below tottime, and ncalls never below primcalls.
 */
#ifndef INSTRUMENT_H
#define INSTRUMENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "noinstr.h"

/** Deepest call stack followed per thread; deeper calls are not counted
 *  (the outermost PROF_MAX_DEPTH activations are). */
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
 * @brief The calling thread's call stack as the hooks see it, innermost
 *        first: what Python's faulthandler prints from a signal handler.
 * @param fns where the function addresses go (as prof_row::fn); owned by
 *        the caller; may be NULL only when @p max is 0.
 * @param max room in @p fns.
 * @return the number of addresses written, at most @p max: 0 when the
 *         profiler is stopped or this thread entered nothing since
 *         prof_start(); -1 with errno EINVAL for NULL @p fns with max > 0.
 *
 * Async-signal-safe: a signal handler may call it after interrupting this
 * thread anywhere, even half-way through a hook. The hooks therefore write
 * a new frame completely before they store the new depth, and the depth is
 * what this function reads first ("store the depth last"); see the lesson
 * for the memory ordering this needs. Calls deeper than #PROF_MAX_DEPTH are
 * not on the stack it returns. The handler itself must be
 * #PK_NO_INSTRUMENT: hooks that ran inside a hook would corrupt its stack.
 */
int prof_backtrace(const void **fns, size_t max);

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

#endif /* INSTRUMENT_H */
