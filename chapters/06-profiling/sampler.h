/**
 * @file sampler.h
 * @brief Chapter 06, exercise 2: a sampling profiler (line_profiler, perf).
 *
 * The statistical cousin of instrument.h that line_profiler's per-line
 * report and perf are built on: a SIGPROF timer interrupts the program N
 * times a second of CPU time and a signal handler records where it was
 * (the program counter and the return addresses on the stack). The
 * reports name functions and lines through symbols.h; samp_write_folded()
 * feeds flame.h.
 *
 * Conventions: 0 or a pointer on success, -1 or NULL with errno on failure;
 * a call in the wrong state (stopping what was not started) is EINVAL,
 * starting what runs already is EBUSY. Every function of an implementation
 * of this header carries #PK_NO_INSTRUMENT.
 *
 * What the profiled program sees: the handler is installed with
 * SA_RESTART, so a read(), write(), wait() or any other call that signal(7)
 * lists as restartable goes on after a sample instead of failing with
 * EINTR. Calls that Linux never restarts after a handler (nanosleep(),
 * poll(), select(), epoll_wait(), sem_timedwait() ...) can fail with EINTR
 * when a sample lands while they wait, as with any signal: a program that
 * uses them retries on EINTR. Samples count CPU time, so they seldom land
 * in a thread that waits, but with several threads they can. The handler
 * saves and restores errno.
 */
#ifndef SAMPLER_H
#define SAMPLER_H

#include <stddef.h>
#include <stdio.h>

#include "symbols.h"

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
 *
 * Leaves nothing behind: the timer is disarmed, a SIGPROF still pending
 * from it is discarded, the SIGPROF action that samp_start() found is back
 * (a handler of the program's own, or the default), no file descriptor or
 * timer stays open, and every handler that had started has finished, so
 * the reports never see a sample half written.
 */
int samp_stop(void);

/**
 * @brief Samples recorded so far (readable while running).
 * @return the count, at most #SAMP_MAX_SAMPLES; samples that did not fit
 *         are not in it. After samp_stop(), samp_count() + samp_lost() is
 *         the number of SIGPROFs the handler took while sampling ran, and
 *         the reports' samples add up to samp_count().
 */
size_t samp_count(void);

/**
 * @brief Samples that did not fit in the buffer (#SAMP_MAX_SAMPLES).
 * @return the count since the last samp_start().
 */
size_t samp_lost(void);

/**
 * @brief Flat profile by function: self samples per function, most first
 *        (ties: by name). All the rows together (when @p max leaves room
 *        for them) hold samp_count() samples: a leaf without a name counts
 *        under the name symbols.h gives it ("0x..." or "??").
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

#endif /* SAMPLER_H */
