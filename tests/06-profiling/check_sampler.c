/* check_sampler.c - chapter 06, exercise 2 (core): the sampling profiler of
 * sampler.h, a SIGPROF timer and a frame-pointer walk (line_profiler's
 * per-line view, perf's samples). */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pk_perf.h"
#include "profiling_test.h"
#include "symbols.h"

#include "bench/hotspots.h"

HOT_DECLARE(plain_);

#define SAMPLE_HZ 1000
#define SPIN_CHUNK 20000

/* Spin until the sampler has `want` samples (or a deadline passes). The
 * loop's body is one line, HOT_LINE: almost every sample lands on it. */
enum { HOT_LINE = __LINE__ + 6 }; /* the multiply line, 6 lines down */
WORK void spin_hot(size_t want, uint64_t deadline_ns)
{
    uint64_t x = sink;
    while (samp_count() < want && pk_now_ns() < deadline_ns) {
        for (int i = 0; i < SPIN_CHUNK; i++)
            x = x * 6364136223846793005u + 1442695040888963407u;
        sink = x;
    }
}

WORK void spin_caller(size_t want, uint64_t deadline_ns)
{
    spin_hot(want, deadline_ns);
    sink = sink + 1;
}

/* Collect samples of spin_caller -> spin_hot. The number of samples does
 * not depend on the machine's speed (the spin waits for them); the
 * deadline only catches a sampler that never fires, and on a machine so
 * loaded that the spin gets little CPU, a quarter of the samples is still
 * plenty to tell 80 % from 99 %. Valgrind makes CPU time slow but the
 * timer still counts it, so fewer samples keep the test short. */
PK_NO_INSTRUMENT static size_t sample_spin(void)
{
    size_t want = under_valgrind() ? 60 : 200;
    uint64_t limit = under_valgrind() ? 60000000000u : 20000000000u;

    quiet();
    PK_EXPECT_INT("samp_start(1000)", samp_start(SAMPLE_HZ), 0);
    spin_caller(want, pk_now_ns() + limit);
    PK_EXPECT_INT("samp_stop()", samp_stop(), 0);
    size_t got = samp_count();
    ck_assert_msg(got >= want / 4,
                  "spinning for up to %llu s at %d Hz gave samp_count() = %zu, "
                  "expected at least %zu: is setitimer(ITIMER_PROF) armed and "
                  "the SIGPROF handler storing samples?",
                  (unsigned long long)(limit / 1000000000u), SAMPLE_HZ, got,
                  want / 4);
    return got;
}

START_TEST(test_samp_hot_function)
{
    samp_row rows[8];
    size_t n = 0;

    size_t total = sample_spin();
    PK_EXPECT_INT("samp_by_function(rows, 8, &n)", samp_by_function(rows, 8, &n), 0);
    ck_assert_msg(n >= 1 && strcmp(rows[0].func, "spin_hot") == 0,
                  "samp_by_function() put \"%s\" first, expected spin_hot, "
                  "the function that spins", n ? rows[0].func : "(nothing)");
    ck_assert_msg(rows[0].percent >= 80.0,
                  "spin_hot holds %.1f%% of %zu samples, expected at least "
                  "80%%: it spins nearly all the time (record the interrupted "
                  "pc from the ucontext, not the handler's own)",
                  rows[0].percent, total);
    samp_free();
}
END_TEST

START_TEST(test_samp_hot_line)
{
    samp_row rows[8];
    size_t n = 0;

    sample_spin();
    PK_EXPECT_INT("samp_by_line(rows, 8, &n)", samp_by_line(rows, 8, &n), 0);
    ck_assert_msg(n >= 1, "samp_by_line(rows, 8, &n) gave no rows after "
                  "sampling a spin");
    int dist = rows[0].line - HOT_LINE;
    ck_assert_msg(strcmp(sym_basename(rows[0].file), "check_sampler.c") == 0 &&
                  dist >= -3 && dist <= 3,
                  "samp_by_line() put %s:%d (%s) first, expected the hot line "
                  "check_sampler.c:%d (the multiply in spin_hot), give or take "
                  "3 lines of skid: resolve the leaf pc itself, not pc - 1",
                  sym_basename(rows[0].file), rows[0].line, rows[0].func,
                  HOT_LINE);
    samp_free();
}
END_TEST

START_TEST(test_samp_folded_stacks)
{
    char *text = NULL;
    size_t len = 0;

    size_t total = sample_spin();
    FILE *out = open_memstream(&text, &len);
    ck_assert_msg(out != NULL, "open_memstream failed (a test problem)");
    errno = 0;
    int rc = samp_write_folded(out);
    int e = errno;
    fclose(out);
    ck_assert_msg(rc == 0, "samp_write_folded(out) returned %d (errno = %s), "
                  "expected 0", rc, pk_errno_name(e));

    size_t sum = 0;
    int caller_then_hot = 0, bad = 0;
    char first_bad[160] = "";
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *space = strrchr(line, ' ');
        char *end = NULL;
        unsigned long c = space ? strtoul(space + 1, &end, 10) : 0;
        if (space == NULL || c == 0 || *end != '\0' || strchr(line, ' ') != space) {
            if (!bad)
                snprintf(first_bad, sizeof first_bad, "%s", line);
            bad = 1;
        }
        sum += c;
        if (strstr(line, "spin_caller;spin_hot ") != NULL)
            caller_then_hot = 1;
    }
    free(text);
    ck_assert_msg(!bad, "samp_write_folded() wrote the line \"%s\"; expected "
                  "\"a;b;c count\": names joined by ';', one space, a positive "
                  "count", first_bad);
    ck_assert_msg(sum == total, "the folded counts add up to %zu, expected "
                  "samp_count() = %zu", sum, total);
    ck_assert_msg(caller_then_hot,
                  "samp_write_folded() wrote no line with \"spin_caller;"
                  "spin_hot\": stacks go from the outermost frame to the leaf, "
                  "and the walk follows the frame-pointer chain (saved frame "
                  "pointer, return address)");
    samp_free();
}
END_TEST

/* ======================================================================== */
/* Identities: every SIGPROF is a sample or a lost one                       */
/* ======================================================================== */

#define EXTRA_RAISES 500

WORK void raise_many(unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        raise(SIGPROF);
}

START_TEST(test_samp_counts_add_up)
{
    enum { ROWS = 64 };
    samp_row rows[ROWS];
    size_t n = 0;
    unsigned k = SAMP_MAX_SAMPLES + EXTRA_RAISES;
    char *text = NULL;
    size_t len = 0;

    quiet();
    /* 1 Hz: the timer adds at most a sample or two to the raised ones. */
    PK_EXPECT_INT("samp_start(1)", samp_start(1), 0);
    raise_many(k);
    PK_EXPECT_INT("samp_stop()", samp_stop(), 0);
    size_t count = samp_count(), lost = samp_lost();
    ck_assert_msg(count == SAMP_MAX_SAMPLES && count + lost >= k &&
                  count + lost <= k + 3,
                  "after %u raise(SIGPROF) with room for SAMP_MAX_SAMPLES = %d, "
                  "samp_count() = %zu and samp_lost() = %zu, expected %d and "
                  "%u (or a few more, from the timer): a sample that finds the "
                  "buffer full is lost, counted in samp_lost() and not in "
                  "samp_count()", k, SAMP_MAX_SAMPLES, count, lost,
                  SAMP_MAX_SAMPLES, k - SAMP_MAX_SAMPLES);
    PK_EXPECT_INT("samp_by_function(rows, 64, &n)",
                  samp_by_function(rows, ROWS, &n), 0);
    size_t sum = 0;
    double pct = 0;
    for (size_t i = 0; i < n; i++) {
        sum += rows[i].samples;
        pct += rows[i].percent;
    }
    ck_assert_msg(n < ROWS && sum == count && pct > 99.99 && pct < 100.01,
                  "samp_by_function() gave %zu rows with %zu samples and "
                  "%.2f%% in all, expected samp_count() = %zu samples and "
                  "100%%: each sample counts once, under its leaf (the "
                  "innermost frame: self samples, not the callers too), also "
                  "a leaf that has no name (\"??\" or an address)", n, sum,
                  pct, count);
    FILE *out = open_memstream(&text, &len);
    ck_assert_msg(out != NULL, "open_memstream failed (a test problem)");
    PK_EXPECT_INT("samp_write_folded(out)", samp_write_folded(out), 0);
    fclose(out);
    sum = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *space = strrchr(line, ' ');
        sum += space ? strtoul(space + 1, NULL, 10) : 0;
    }
    free(text);
    ck_assert_msg(sum == count, "the folded counts add up to %zu, expected "
                  "samp_count() = %zu", sum, count);
    samp_free();
}
END_TEST

/* ======================================================================== */
/* What the profiled program sees                                            */
/* ======================================================================== */

#define KICKS 100 /* SIGPROFs at the reading thread, 1 ms apart */

static pthread_t reader;
static int pipe_fd[2];

PK_NO_INSTRUMENT static void *kicker(void *arg)
{
    const struct timespec ms = {0, 1000000};
    (void)arg;
    for (int i = 0; i < KICKS; i++) {
        nanosleep(&ms, NULL);
        pthread_kill(reader, SIGPROF);
    }
    ssize_t w = write(pipe_fd[1], "x", 1);
    (void)w;
    return NULL;
}

/* A thread blocked in read() gets a SIGPROF every millisecond for about
 * 100 ms, then the byte it waits for. Without SA_RESTART the first signal
 * makes read() fail with EINTR: a program that works without the profiler
 * fails with it. Measured on the course's machine under load (load
 * average 10 to 15 on 2 cores): the mutant without SA_RESTART
 * (samp-no-restart) failed 100 runs of 100; the reference solution failed
 * none of 100. */
START_TEST(test_samp_restarts_read)
{
    pthread_t th;
    char c = 0;

    quiet();
    ck_assert_msg(pipe(pipe_fd) == 0, "pipe() failed (a test problem)");
    PK_EXPECT_INT("samp_start(1000)", samp_start(SAMPLE_HZ), 0);
    reader = pthread_self();
    ck_assert_msg(pthread_create(&th, NULL, kicker, NULL) == 0,
                  "pthread_create failed (a test problem, not yours)");
    errno = 0;
    ssize_t got = read(pipe_fd[0], &c, 1);
    int e = errno;
    pthread_join(th, NULL);
    PK_EXPECT_INT("samp_stop()", samp_stop(), 0);
    size_t seen = samp_count() + samp_lost();
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    samp_free();
    ck_assert_msg(got == 1 && c == 'x',
                  "read() of a pipe, while SIGPROFs arrived, returned %zd "
                  "(errno = %s), expected 1: install the handler with "
                  "SA_RESTART, or every blocking read of the profiled program "
                  "fails with EINTR", got, pk_errno_name(e));
    ck_assert_msg(seen >= 1, "%d SIGPROFs reached the thread, but "
                  "samp_count() + samp_lost() = %zu, expected at least 1",
                  KICKS, seen);
}
END_TEST

static volatile sig_atomic_t own_prof_calls;

PK_NO_INSTRUMENT static void own_prof_handler(int sig)
{
    (void)sig;
    own_prof_calls = own_prof_calls + 1;
}

/* Open file descriptors of this process. */
PK_NO_INSTRUMENT static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* POSIX timers (timer_create) of this process. */
PK_NO_INSTRUMENT static int count_timers(void)
{
    FILE *f = fopen("/proc/self/timers", "r");
    char line[256];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strncmp(line, "ID:", 3) == 0;
    fclose(f);
    return n;
}

/* samp_start(), spin until a few samples came, samp_stop(). */
PK_NO_INSTRUMENT static void sample_a_little(void)
{
    PK_EXPECT_INT("samp_start(1000)", samp_start(SAMPLE_HZ), 0);
    spin_hot(10, pk_now_ns() + 20000000000u);
    PK_EXPECT_INT("samp_stop()", samp_stop(), 0);
}

START_TEST(test_samp_stop_releases)
{
    struct sigaction dfl, own, now;
    struct itimerval it;
    samp_row rows[4];
    size_t n;

    quiet();
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPROF, &dfl, NULL);
    int fds = count_fds(), timers = count_timers();

    /* 1. Started with the default action: stopped, the default is back. */
    sample_a_little();
    getitimer(ITIMER_PROF, &it);
    ck_assert_msg(it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0 &&
                  it.it_interval.tv_sec == 0 && it.it_interval.tv_usec == 0,
                  "after samp_stop(), getitimer(ITIMER_PROF) gives %ld.%06ld s "
                  "left and an interval of %ld.%06ld s, expected 0: disarm "
                  "the timer with setitimer() and a zero itimerval",
                  (long)it.it_value.tv_sec, (long)it.it_value.tv_usec,
                  (long)it.it_interval.tv_sec, (long)it.it_interval.tv_usec);
    sigaction(SIGPROF, NULL, &now);
    ck_assert_msg(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL,
                  "after samp_stop(), SIGPROF's action is %s, expected the "
                  "default (SIG_DFL) that samp_start() found: save the old "
                  "action in samp_start() and put it back",
                  (now.sa_flags & SA_SIGINFO) ? "a handler" :
                  now.sa_handler == SIG_IGN ? "SIG_IGN" : "a handler");

    /* 2. Started with the program's own handler: it is back, and works. */
    memset(&own, 0, sizeof own);
    own.sa_handler = own_prof_handler;
    sigemptyset(&own.sa_mask);
    sigaction(SIGPROF, &own, NULL);
    sample_a_little();
    size_t count = samp_count();
    sigaction(SIGPROF, NULL, &now);
    own_prof_calls = 0;
    if (!(now.sa_flags & SA_SIGINFO) && now.sa_handler == own_prof_handler)
        raise(SIGPROF);
    ck_assert_msg(own_prof_calls == 1 && samp_count() == count,
                  "the program had its own SIGPROF handler before samp_start(); "
                  "after samp_stop() a raise(SIGPROF) reached it %d times, "
                  "expected 1, and samp_count() went from %zu to %zu: restore "
                  "the action samp_start() replaced", (int)own_prof_calls,
                  count, samp_count());

    /* 3. Nothing left open: no descriptor, no POSIX timer. */
    PK_EXPECT_INT("samp_by_function(rows, 4, &n)", samp_by_function(rows, 4, &n), 0);
    samp_free();
    int fds_after = count_fds(), timers_after = count_timers();
    restore_signal(SIGPROF, &dfl);
    ck_assert_msg(fds_after == fds && timers_after == timers,
                  "before sampling the process had %d file descriptors and %d "
                  "POSIX timers, after samp_stop(), a report and samp_free() "
                  "%d and %d, expected the same: close and delete what "
                  "samp_start() opened", fds, timers, fds_after, timers_after);
}
END_TEST

START_TEST(test_samp_bad_args)
{
    size_t n;
    samp_row row;

    quiet();
    PK_EXPECT_ERRNO("samp_stop() before samp_start()", samp_stop(), EINVAL);
    PK_EXPECT_EINVAL(samp_start(0), "samp_start(0)");
    PK_EXPECT_EINVAL(samp_start(SAMP_MAX_HZ + 1), "samp_start(SAMP_MAX_HZ + 1)");
    PK_EXPECT_INT("samp_start(100)", samp_start(100), 0);
    PK_EXPECT_ERRNO("a second samp_start(100)", samp_start(100), EBUSY);
    PK_EXPECT_ERRNO("samp_by_function(&row, 1, &n) while the timer runs (the "
                    "handler is still writing)",
                    samp_by_function(&row, 1, &n), EINVAL);
    PK_EXPECT_INT("samp_stop()", samp_stop(), 0);
    PK_EXPECT_EINVAL(samp_by_line(NULL, 1, &n), "samp_by_line(NULL, 1, &n)");
    PK_EXPECT_EINVAL(samp_write_folded(NULL), "samp_write_folded(NULL)");
    samp_free();
}
END_TEST

/* ======================================================================== */
/* Performance: what sampling at 1 kHz costs the program                     */
/* ======================================================================== */

#define PERF_HZ 1000
#define PERF_RUN_S 0.15         /* each sampled run, about */
#define PERF_MIN_UNITS 40       /* hot_compute units: ~50 ms */
#define PERF_MAX_UNITS 120      /* ~150 ms */
#define PERF_TARGET 0.05        /* at most 5 % slower */

static unsigned perf_units;

static size_t perf_samples;     /* samples of the timed runs */
static unsigned perf_runs;      /* and their number */
static cpu_runs perf_cpu;

PK_NO_INSTRUMENT static void run_unsampled(void *ctx)
{
    (void)ctx;
    double c0 = thread_cpu_s();
    sink = plain_hot_compute(perf_units);
    cpu_runs_add(&perf_cpu, 0, thread_cpu_s() - c0);
}

PK_NO_INSTRUMENT static void run_sampled(void *ctx)
{
    (void)ctx;
    double c0 = thread_cpu_s();
    samp_start(PERF_HZ);
    sink = plain_hot_compute(perf_units);
    samp_stop();
    cpu_runs_add(&perf_cpu, 1, thread_cpu_s() - c0);
    perf_samples += samp_count();
    perf_runs++;
}

/* One round's cost of sampling: its sampled time over its unsampled. */
PK_NO_INSTRUMENT static double extra(double unsampled, double sampled)
{
    return unsampled > 0 ? sampled / unsampled - 1 : 1;
}

/* The same compute kernels (bench/hotspots.c, built without
 * -finstrument-functions) with and without the sampler, in the same
 * interleaved rounds: the median over the rounds of t_with / t_without - 1
 * is what the sampler costs the program, samples, handler, start and stop
 * included. Each run is timed in CPU time of the thread: the handler runs
 * on this thread, so its work is in that time, and the time the thread
 * waited for a core behind other programs is not (the wall clock's figure
 * is in the message too). The kernel delivers ITIMER_PROF signals on its
 * tick (250 Hz on the course's machine), so "1 kHz" is what the kernel
 * gives. The run length is sized from one sampled run, so that a handler
 * that takes milliseconds does not make the test run for minutes. */
START_TEST(test_samp_perf_overhead)
{
    samp_row rows[16];
    size_t n = 0;
    unsigned units = under_valgrind() ? 1 : 10;

    /* Correctness first: the sampler sees the kernels. */
    quiet();
    PK_EXPECT_INT("samp_start(1000)", samp_start(PERF_HZ), 0);
    uint64_t end = pk_now_ns() + 20000000000u;
    while (samp_count() < 30 && pk_now_ns() < end)
        sink = plain_hot_compute(units);
    PK_EXPECT_INT("samp_stop()", samp_stop(), 0);
    size_t total = samp_count(), in_kernels = 0;
    PK_EXPECT_INT("samp_by_function(rows, 16, &n)", samp_by_function(rows, 16, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strncmp(rows[i].func, "plain_hot_", 10) == 0)
            in_kernels += rows[i].samples;
    ck_assert_msg(total >= 10 && in_kernels >= 0.9 * (double)total,
                  "sampling plain_hot_compute gave %zu samples, %zu of them in "
                  "its functions (plain_hot_*), expected at least 10 and 90%%",
                  total, in_kernels);
    samp_free();

    /* Size the runs: about PERF_RUN_S sampled, by the wall clock. */
    perf_units = PERF_MIN_UNITS;
    if (pk_perf_enabled()) {
        run_sampled(NULL);
        uint64_t t0 = pk_now_ns();
        run_sampled(NULL);
        double per_unit = 1e-9 * (double)(pk_now_ns() - t0) / perf_units;
        double want = PERF_RUN_S / (per_unit > 0 ? per_unit : 1e-3);
        perf_units = want > PERF_MAX_UNITS ? PERF_MAX_UNITS :
                     want < PERF_MIN_UNITS ? PERF_MIN_UNITS : (unsigned)want;
    }

    void (*fns[])(void *) = {run_unsampled, run_sampled};
    PK_PERF_LOOP {
        pk_perf_result r;
        perf_samples = 0;
        perf_runs = 0;
        memset(&perf_cpu, 0, sizeof perf_cpu);
        if (pk_perf_measure(fns, NULL, 2, &r) != 0)
            continue;
        cpu_runs_show(&perf_cpu, "plain_hot_compute, without/with the sampler");
        double cpu = cpu_runs_median(&perf_cpu, extra);
        double wall = r.ratio[1] > 0 ? 1 / r.ratio[1] - 1 : 1;
        pk_perf_award(cpu, PERF_TARGET, PK_PERF_LOWER,
                      "sampler at %d Hz: %+.1f%% of CPU time over the run "
                      "without it, %+.1f%% by the wall clock (hot_compute(%u): "
                      "%.1f ms against %.1f ms, %.0f samples a run); target "
                      "%.0f%%", PERF_HZ, 100 * cpu, 100 * wall, perf_units,
                      1e3 * r.median_s[1], 1e3 * r.median_s[0],
                      perf_runs ? (double)perf_samples / perf_runs : 0.0,
                      100 * PERF_TARGET);
    }
    samp_free();
}
END_TEST

void add_sampler_tests(Suite *s)
{
    pk_test_add_timeout(s, test_samp_hot_function, 4, 30,
                        "sigaction(SIGPROF) with SA_SIGINFO, setitimer("
                        "ITIMER_PROF); the handler stores the ucontext's pc "
                        "into a preallocated slot");
    pk_test_add_timeout(s, test_samp_hot_line, 3, 30,
                        "resolve the leaf pc with sym_resolve() and count "
                        "samples per file:line");
    pk_test_add_timeout(s, test_samp_folded_stacks, 3, 30,
                        "walk the frame pointers from the ucontext's rbp: "
                        "[fp] is the caller's fp, [fp+8] the return address");
    pk_test_add_timeout(s, test_samp_counts_add_up, 3, 15,
                        "claim slots with atomic_fetch_add; past "
                        "SAMP_MAX_SAMPLES count a lost sample instead; the "
                        "reports count every recorded sample once");
    pk_test_add_timeout(s, test_samp_restarts_read, 3, 10,
                        "sa_flags = SA_SIGINFO | SA_RESTART");
    pk_test_add_timeout(s, test_samp_stop_releases, 3, 30,
                        "samp_start saves the old action (sigaction's third "
                        "argument); samp_stop disarms the timer, drops a "
                        "pending SIGPROF and restores that action");
    pk_test_add_timeout(s, test_samp_bad_args, 1, 5,
                        "check hz before arming anything; refuse reports "
                        "while the timer runs");
    pk_test_add_perf(s, test_samp_perf_overhead, 12, PK_PERF_TIMEOUT,
                     "the handler only stores addresses into a preallocated "
                     "buffer; names and lines are resolved after samp_stop(), "
                     "never in the handler");
}
