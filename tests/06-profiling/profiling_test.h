/* profiling_test.h - what chapter 06's test files share: the workload
 * attributes, small helpers, and each file's registration function.
 *
 * The test files are compiled with -finstrument-functions (chapter.mk): the
 * WORK functions are the workloads the instrumenting profiler sees; every
 * helper that must stay invisible to it carries PK_NO_INSTRUMENT. */
#ifndef PROFILING_TEST_H
#define PROFILING_TEST_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pk/timing.h"
#include "pk_check.h"
#include "pk_perf.h"

/* The rounds of one pk_perf_measure() (an odd number: a median). */
#define PK_PERF_ROUNDS_FOR_CPU PK_PERF_ROUNDS

#include "alloctrack.h"
#include "instrument.h"
#include "sampler.h"

/* A workload function: never inlined, cloned or merged, so that its address
 * is the one the hooks report. gcc's noipa says all that; clang has no
 * noipa and does not clone a noinline function. */
#if defined(__clang__)
#define WORK __attribute__((noinline))
#else
#define WORK __attribute__((noipa))
#endif

#define FN(f) ((const void *)(uintptr_t)(f)) /* function address as data */

/* Results go here so that nothing is optimised out; one per thread, as
 * several threads run the same workload at once. */
static _Thread_local volatile uint64_t sink;

/* Under valgrind everything runs about 50 times slower; the sizes that
 * depend on speed scale down (see each use). */
PK_NO_INSTRUMENT static inline int under_valgrind(void)
{
    const char *v = getenv("PK_UNDER_VALGRIND");
    return v != NULL && strcmp(v, "1") == 0;
}

/* Busy for ns nanoseconds of wall time; not instrumented, so its time is
 * the tottime of whichever workload calls it. */
PK_NO_INSTRUMENT static inline void spin_for_ns(uint64_t ns)
{
    uint64_t end = pk_now_ns() + ns, x = sink;
    while (pk_now_ns() < end)
        for (int i = 0; i < 100; i++)
            x = x * 6364136223846793005u + 1;
    sink = x;
}

/* A test that failed half-way (no-fork mode runs tests in one process)
 * may have left a profiler running: start each test from a quiet state. */
PK_NO_INSTRUMENT static inline void quiet(void)
{
    int saved = errno;
    prof_stop();
    samp_stop();
    at_stop();
    errno = saved;
}

/* CPU time of the calling thread, in seconds: user and system time this
 * thread used, not the time it waited for a core on a busy machine. The
 * performance tests measure a single thread's extra work with it. */
PK_NO_INSTRUMENT static inline double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-round CPU times of two variants timed by pk_perf_measure(): each
 * variant appends its own CPU time to its column, once per call, so the
 * last PK_PERF_ROUNDS entries of both columns are the rounds of the last
 * measurement, in order (the first call of each is the warm-up). */
#define CPU_RUNS_MAX 64
typedef struct cpu_runs {
    double t[2][CPU_RUNS_MAX];
    unsigned n[2];
} cpu_runs;

PK_NO_INSTRUMENT static inline void cpu_runs_add(cpu_runs *c, int variant, double s)
{
    if (c->n[variant] < CPU_RUNS_MAX)
        c->t[variant][c->n[variant]++] = s;
}

/* The median over the last PK_PERF_ROUNDS rounds of f(t0, t1); -1 when
 * fewer rounds were recorded. */
PK_NO_INSTRUMENT static inline double cpu_runs_median(const cpu_runs *c,
                                                      double (*f)(double, double))
{
    double v[PK_PERF_ROUNDS_FOR_CPU];
    unsigned n0 = c->n[0], n1 = c->n[1];
    if (n0 != n1 || n0 < PK_PERF_ROUNDS_FOR_CPU)
        return -1;
    for (unsigned r = 0; r < PK_PERF_ROUNDS_FOR_CPU; r++)
        v[r] = f(c->t[0][n0 - PK_PERF_ROUNDS_FOR_CPU + r],
                 c->t[1][n1 - PK_PERF_ROUNDS_FOR_CPU + r]);
    for (unsigned i = 1; i < PK_PERF_ROUNDS_FOR_CPU; i++) /* insertion sort */
        for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return v[PK_PERF_ROUNDS_FOR_CPU / 2];
}

/* PK_SHOW=1: print the CPU times of the last measurement's rounds. */
PK_NO_INSTRUMENT static inline void cpu_runs_show(const cpu_runs *c, const char *what)
{
    if (getenv("PK_SHOW") == NULL || c->n[0] < PK_PERF_ROUNDS_FOR_CPU ||
        c->n[1] < PK_PERF_ROUNDS_FOR_CPU)
        return;
    fprintf(stderr, "%s, CPU ms per round:", what);
    for (unsigned r = 0; r < PK_PERF_ROUNDS_FOR_CPU; r++)
        fprintf(stderr, " %.2f/%.2f",
                1e3 * c->t[0][c->n[0] - PK_PERF_ROUNDS_FOR_CPU + r],
                1e3 * c->t[1][c->n[1] - PK_PERF_ROUNDS_FOR_CPU + r]);
    fprintf(stderr, "\n");
}

/* Put back the action @p old of @p sig, first discarding a @p sig still
 * pending for this thread (a storm of signals may leave one behind, and
 * the default action of SIGUSR1 or SIGPROF ends the process). */
PK_NO_INSTRUMENT static inline void restore_signal(int sig,
                                                   const struct sigaction *old)
{
    sigset_t set, saved;
    const struct timespec no_wait = {0, 0};

    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &saved);
    while (sigtimedwait(&set, NULL, &no_wait) == sig)
        ;
    sigaction(sig, old, NULL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

/* The tests of each exercise, registered by check_profiler.c's pk_suite(). */
void add_instrument_tests(Suite *s);
void add_sampler_tests(Suite *s);
void add_alloctrack_tests(Suite *s);
void add_flame_tests(Suite *s);

#endif /* PROFILING_TEST_H */
