/* profiler.c - chapter 06 exercises: an instrumenting profiler, a sampling
 * profiler, an allocation tracker and a flame graph. Replace each PK_TODO
 * with real code; profiler.h says exactly what each function must do, and
 * `make grade CH=06-profiling` tells you how far you are.
 *
 * Every function here must be PK_NO_INSTRUMENT (NOINSTR below): the chapter
 * is compiled with -finstrument-functions, and a profiler that profiled
 * itself would recurse into its own hooks. Keep it on every function you
 * add. */
#include "profiler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

#include "pk/todo.h"

#define NOINSTR PK_NO_INSTRUMENT

/* ======================================================================== */
/* Exercise 1: the instrumenting profiler                                   */
/* ======================================================================== */

/* A plan that meets the tests and the 100 ns budget:
 *
 * - Per thread (a _Thread_local pointer to a calloc'd struct, kept on a
 *   global list under a mutex so the report can find it): a stack of frames
 *   {function, its counters, entry time, time spent in callees} and an
 *   open-addressing table function address -> counters {ncalls, primcalls,
 *   tot_ns, cum_ns, active}.
 * - Enter: push a frame, active++, read the clock last.
 * - Exit: read the clock first, pop; ncalls++, tot += elapsed - child;
 *   if --active == 0 (the outermost activation of a recursion) then
 *   cum += elapsed and primcalls++; add elapsed to the parent's child time.
 * - The report reads other threads' counters: make them _Atomic and use
 *   relaxed loads and stores (the owner is the only writer), or TSan will
 *   call it a race.
 * - A generation number bumped by prof_start() and prof_reset() lets each
 *   thread notice that its stack is stale (calls entered before the start
 *   must not be counted when they exit).
 * - Use clock_gettime(CLOCK_MONOTONIC) directly: it is a vDSO call, ~20 ns.
 */

NOINSTR void __cyg_profile_func_enter(void *fn, void *call_site)
{
    (void)fn, (void)call_site;
    /* TODO: this hook runs on every call of every instrumented function, so
     * it must not use PK_TODO (which sets errno) or print. When the
     * profiler runs: push (fn, entry time) on this thread's stack. */
}

NOINSTR void __cyg_profile_func_exit(void *fn, void *call_site)
{
    (void)fn, (void)call_site;
    /* TODO: when the profiler runs, pop this thread's frame and add to the
     * function's ncalls, tottime, cumtime (see the plan above). */
}

NOINSTR int prof_start(void)
{
    PK_TODO("set the running flag (EBUSY if it was set) and start a new "
            "generation");
    return -1;
}

NOINSTR int prof_stop(void)
{
    PK_TODO("clear the running flag (EINVAL if it was not set)");
    return -1;
}

NOINSTR int prof_reset(void)
{
    PK_TODO("EBUSY while running; else zero every thread's counters");
    return -1;
}

NOINSTR int prof_report(prof_sort key, prof_row *rows, size_t max, size_t *nrows)
{
    (void)key, (void)rows, (void)max, (void)nrows;
    PK_TODO("check the arguments, merge every thread's table by function, "
            "compute the per-call columns, qsort by key, copy the top max");
    return -1;
}

NOINSTR int prof_print(FILE *out, prof_sort key, size_t top)
{
    (void)out, (void)key, (void)top;
    PK_TODO("take the sorted rows, resolve their names with sym_resolve() "
            "and print them like pstats");
    return -1;
}

/* ======================================================================== */
/* Exercise 2: the sampling profiler                                        */
/* ======================================================================== */

/* A plan:
 *
 * - samp_start() allocates SAMP_MAX_SAMPLES slots of 1 + SAMP_MAX_DEPTH
 *   words, records this thread's stack bounds (pthread_getattr_np), installs
 *   the handler with sigaction(SIGPROF, SA_SIGINFO | SA_RESTART) and arms
 *   setitimer(ITIMER_PROF) at 1/hz seconds.
 * - The handler is async-signal-safe: save errno; claim a slot with
 *   atomic_fetch_add; store the interrupted pc (uc_mcontext.gregs[REG_RIP])
 *   and the return addresses found by walking the frame pointers from
 *   REG_RBP ([fp] = caller's fp, [fp + 8] = return address) while fp stays
 *   inside the recorded stack and keeps rising; store the depth last; put
 *   errno back. No malloc, no printf, no locks.
 * - samp_stop() disarms the timer, then sets SIGPROF to SIG_IGN (its default
 *   action would kill the process if one more signal were pending).
 * - The reports run later, outside the handler: resolve each distinct
 *   address once with sym_resolve() (the leaf pc as it is, return addresses
 *   minus one) and count.
 */

NOINSTR int samp_start(unsigned hz)
{
    (void)hz;
    PK_TODO("check hz, allocate the buffer, install the SIGPROF handler, "
            "arm setitimer(ITIMER_PROF)");
    return -1;
}

NOINSTR int samp_stop(void)
{
    PK_TODO("disarm the timer and ignore SIGPROF (EINVAL if not running)");
    return -1;
}

NOINSTR size_t samp_count(void)
{
    return 0; /* TODO: the number of samples recorded */
}

NOINSTR size_t samp_lost(void)
{
    return 0; /* TODO: the number of samples that found the buffer full */
}

NOINSTR void samp_free(void)
{
    PK_TODO("stop if running, free the buffer");
}

NOINSTR int samp_by_function(samp_row *rows, size_t max, size_t *nrows)
{
    (void)rows, (void)max, (void)nrows;
    PK_TODO("resolve the leaf of every sample, count samples per function, "
            "sort, copy the top max");
    return -1;
}

NOINSTR int samp_by_line(samp_row *rows, size_t max, size_t *nrows)
{
    (void)rows, (void)max, (void)nrows;
    PK_TODO("as samp_by_function(), counting per file:line");
    return -1;
}

NOINSTR int samp_write_folded(FILE *out)
{
    (void)out;
    PK_TODO("for each sample write the names from the outermost frame to "
            "the leaf joined by ';'; merge equal stacks, print 'stack count'");
    return -1;
}

/* ======================================================================== */
/* Exercise 3: the allocation tracker                                       */
/* ======================================================================== */

/* A plan: put a 16-byte header in front of every block (its size, its
 * site's index in a table of AT_MAX_SITES call sites, the at_start()
 * generation it was counted under); keep the totals and the per-site
 * blocks and bytes under one mutex. The call site is
 * __builtin_return_address(0) in a function marked noinline. */

NOINSTR int at_start(void)
{
    PK_TODO("EBUSY if tracking; else zero the totals and the sites, start "
            "a new generation");
    return -1;
}

NOINSTR int at_stop(void)
{
    PK_TODO("stop tracking (EINVAL if not tracking)");
    return -1;
}

__attribute__((noinline)) NOINSTR void *at_malloc(size_t size)
{
    (void)size;
    PK_TODO("malloc size + header, fill the header, count it if tracking");
    return NULL;
}

__attribute__((noinline)) NOINSTR void *at_calloc(size_t nmemb, size_t size)
{
    (void)nmemb, (void)size;
    PK_TODO("check nmemb * size for overflow (ENOMEM), then as at_malloc "
            "with zeroed memory");
    return NULL;
}

__attribute__((noinline)) NOINSTR void *at_realloc(void *ptr, size_t size)
{
    (void)ptr, (void)size;
    PK_TODO("NULL ptr is at_malloc, size 0 is at_free; else realloc the "
            "header and count one free and one allocation");
    return NULL;
}

NOINSTR void at_free(void *ptr)
{
    (void)ptr;
    PK_TODO("step back to the header, uncount the block if it was counted "
            "under this at_start(), free the header");
}

NOINSTR int at_get_stats(at_stats *out)
{
    (void)out;
    PK_TODO("copy the totals under the lock");
    return -1;
}

NOINSTR int at_leaks(at_site *rows, size_t max, size_t *nrows)
{
    (void)rows, (void)max, (void)nrows;
    PK_TODO("collect the sites with blocks left, sort by bytes, resolve "
            "site - 1 with sym_resolve()");
    return -1;
}

NOINSTR int at_print(FILE *out)
{
    (void)out;
    PK_TODO("print the totals and at_leaks()' rows");
    return -1;
}

/* ======================================================================== */
/* Exercise 4: the flame graph                                              */
/* ======================================================================== */

/* A plan: read the lines with getline(); split "stack count" at the last
 * space; walk the stack's names down a tree (children sorted by name),
 * adding count to every node on the path. Then draw: a node at depth d is
 * a rectangle at y = top + (depth_max - 1 - d) * FLAME_FRAME_HEIGHT, as
 * wide as count * FLAME_WIDTH / total, its children side by side starting
 * at its own x. Escape & < > " ' in every name. */

NOINSTR int flame_svg(FILE *folded, FILE *svg, const char *title)
{
    (void)folded, (void)svg, (void)title;
    PK_TODO("parse the folded lines into a tree, then write the SVG");
    return -1;
}
