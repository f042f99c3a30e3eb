/* instrument.c - chapter 06, exercise 1: the instrumenting profiler
 * (cProfile). Replace each PK_TODO with real code; instrument.h says exactly
 * what each function must do, and `make grade CH=06-profiling` tells you how
 * far you are.
 *
 * Every function here must be PK_NO_INSTRUMENT (noinstr.h): the chapter is
 * compiled with -finstrument-functions, and a profiler that profiled itself
 * would recurse into its own hooks. Keep it on every function you add. */
#include "instrument.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addrhash.h"
#include "pk/todo.h"
#include "symbols.h"

/* A plan that meets the tests and the 150 ns budget:
 *
 * - Per thread (a _Thread_local pointer to a calloc'd struct, kept on a
 *   global list under a mutex so the report can find it): a stack of frames
 *   {function, its counters, entry time, time spent in callees} and an
 *   open-addressing table function address -> counters {ncalls, primcalls,
 *   tot_ns, cum_ns, active}; addr_hash() (addrhash.h) gives the first slot
 *   to try.
 * - Enter: fill in the frame at stack[depth], active++, read the clock
 *   last; then store depth + 1 ("store the depth last": prof_backtrace()
 *   may run in a signal handler between any two instructions of the hook;
 *   see the lesson on atomic_signal_fence). Past PROF_MAX_DEPTH, only
 *   count the depth.
 * - Exit: read the clock first, pop (store depth - 1); ncalls++,
 *   tot += elapsed - child; if --active == 0 (the outermost activation of a
 *   recursion) then cum += elapsed and primcalls++; add elapsed to the
 *   parent's child time.
 * - The report reads other threads' counters: make them _Atomic and use
 *   relaxed loads and stores (the owner is the only writer), or TSan will
 *   call it a race.
 * - A generation number bumped by prof_start() and prof_reset() lets each
 *   thread notice that its stack is stale (calls entered before the start
 *   must not be counted when they exit).
 * - Use clock_gettime(CLOCK_MONOTONIC) directly: it is a vDSO call, ~20 ns.
 */

PK_NO_INSTRUMENT void __cyg_profile_func_enter(void *fn, void *call_site)
{
    (void)fn, (void)call_site;
    /* TODO: this hook runs on every call of every instrumented function, so
     * it must not use PK_TODO (which sets errno) or print. When the
     * profiler runs: push (fn, entry time) on this thread's stack. */
}

PK_NO_INSTRUMENT void __cyg_profile_func_exit(void *fn, void *call_site)
{
    (void)fn, (void)call_site;
    /* TODO: when the profiler runs, pop this thread's frame and add to the
     * function's ncalls, tottime, cumtime (see the plan above). */
}

PK_NO_INSTRUMENT int prof_backtrace(const void **fns, size_t max)
{
    (void)fns, (void)max;
    PK_TODO("load this thread's depth, then copy the function of each "
            "frame below it, innermost first (async-signal-safe: no locks, "
            "no allocation)");
    return -1;
}

PK_NO_INSTRUMENT int prof_start(void)
{
    PK_TODO("set the running flag (EBUSY if it was set) and start a new "
            "generation");
    return -1;
}

PK_NO_INSTRUMENT int prof_stop(void)
{
    PK_TODO("clear the running flag (EINVAL if it was not set)");
    return -1;
}

PK_NO_INSTRUMENT int prof_reset(void)
{
    PK_TODO("EBUSY while running; else zero every thread's counters");
    return -1;
}

PK_NO_INSTRUMENT int prof_report(prof_sort key, prof_row *rows,
                                 size_t max, size_t *nrows)
{
    (void)key, (void)rows, (void)max, (void)nrows;
    PK_TODO("check the arguments, merge every thread's table by function, "
            "compute the per-call columns, qsort by key, copy the top max");
    return -1;
}

PK_NO_INSTRUMENT int prof_print(FILE *out, prof_sort key, size_t top)
{
    (void)out, (void)key, (void)top;
    PK_TODO("take the sorted rows, resolve their names with sym_resolve() "
            "and print them like pstats");
    return -1;
}
