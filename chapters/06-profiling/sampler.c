/* sampler.c - chapter 06, exercise 2: the sampling profiler (line_profiler,
 * perf). Replace each PK_TODO with real code; sampler.h says exactly what
 * each function must do, and `make grade CH=06-profiling` tells you how far
 * you are.
 *
 * Every function here must be PK_NO_INSTRUMENT (noinstr.h): the chapter is
 * compiled with -finstrument-functions, and the profiling code must not call
 * the hooks. Keep it on every function you add. */
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

#include "pk/todo.h"

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
 * - samp_stop() leaves nothing behind: it disarms the timer; blocks
 *   SIGPROF in this thread and takes a pending one off the queue with
 *   sigtimedwait() and a zero timeout (SIGPROF's default action would end
 *   the process); restores the action samp_start() saved; unblocks; and
 *   waits until no handler is running on another thread (a counter the
 *   handler increments on entry and decrements on exit).
 * - The reports run later, outside the handler: resolve each distinct
 *   address once with sym_resolve() (the leaf pc as it is, return addresses
 *   minus one) and count.
 */

PK_NO_INSTRUMENT int samp_start(unsigned hz)
{
    (void)hz;
    PK_TODO("check hz, allocate the buffer, install the SIGPROF handler, "
            "arm setitimer(ITIMER_PROF)");
    return -1;
}

PK_NO_INSTRUMENT int samp_stop(void)
{
    PK_TODO("disarm the timer, drop a pending SIGPROF, restore the old "
            "action, wait for running handlers (EINVAL if not running)");
    return -1;
}

PK_NO_INSTRUMENT size_t samp_count(void)
{
    return 0; /* TODO: the number of samples recorded */
}

PK_NO_INSTRUMENT size_t samp_lost(void)
{
    return 0; /* TODO: the number of samples that found the buffer full */
}

PK_NO_INSTRUMENT void samp_free(void)
{
    PK_TODO("stop if running, free the buffer");
}

PK_NO_INSTRUMENT int samp_by_function(samp_row *rows, size_t max, size_t *nrows)
{
    (void)rows, (void)max, (void)nrows;
    PK_TODO("resolve the leaf of every sample, count samples per function, "
            "sort, copy the top max");
    return -1;
}

PK_NO_INSTRUMENT int samp_by_line(samp_row *rows, size_t max, size_t *nrows)
{
    (void)rows, (void)max, (void)nrows;
    PK_TODO("as samp_by_function(), counting per file:line");
    return -1;
}

PK_NO_INSTRUMENT int samp_write_folded(FILE *out)
{
    (void)out;
    PK_TODO("for each sample write the names from the outermost frame to "
            "the leaf joined by ';'; merge equal stacks, print 'stack count'");
    return -1;
}
