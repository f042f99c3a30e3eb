/* pk_perf.c - performance tests (see pk_perf.h).
 *
 * Why per-round ratios: on a shared virtual machine the speed of a core
 * drifts by a factor of two within a minute (measured on the course's VM:
 * one benchmark's sequential baseline spread from 270 to 536 ms in a
 * single run). A ratio of two medians taken over that drift compares two
 * different machines; a ratio taken within one round, where both variants
 * and the ceiling ran within a fraction of a second of each other, compares
 * them on the same one. The median over rounds then drops the odd round.
 */
#include "pk_perf.h"
#include "pk_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pk/report.h"
#include "pk/timing.h"

#define CEILING_TRIAL_S 0.03 /* one busy run of the ceiling trial: two of
                                them per round, ~0.1 s with the forks */
#define CEILING_NPROCS 2     /* the two-core ceiling */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PERF_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PERF_SANITIZER 1
#endif
#endif
#ifndef PERF_SANITIZER
#define PERF_SANITIZER 0
#endif

/* Why speed is not measured here, or NULL when it is. */
static const char *disabled_reason(void)
{
    const char *perf = getenv("PK_PERF");
    const char *vg = getenv("PK_UNDER_VALGRIND");
    if (perf != NULL && strcmp(perf, "0") == 0)
        return "PK_PERF=0: correctness only, speed not measured";
    if (PERF_SANITIZER)
        return "built with a sanitizer, which slows code unevenly: speed not measured";
    if (vg != NULL && strcmp(vg, "1") == 0)
        return "under valgrind: speed not measured";
    return NULL;
}

int pk_perf_enabled(void)
{
    return disabled_reason() == NULL;
}

/* ---- measuring --------------------------------------------------------------- */

static double median(double *v, size_t n)
{
    pk_stats st;
    return pk_stats_from(v, n, &st) == 0 ? st.median : 0;
}

static double time_once(void (*fn)(void *), void *ctx)
{
    uint64_t t0 = pk_now_ns();
    fn(ctx);
    return (double)(pk_now_ns() - t0) * 1e-9;
}

/* After a ceiling trial the machine's other processes catch up on the CPU
 * the trial took: measured on the course machine under load, the first
 * call after a trial ran 1.4 to 2x slower than the next. A short pause
 * lets that happen before anything is timed. */
#define SETTLE_MS 20

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* One measurement: PK_PERF_ROUNDS rounds. 0, or -1 if a ceiling failed. */
static int rounds(void (*const fns[])(void *), void *const ctxs[], size_t k,
                  unsigned long long iters, pk_perf_result *out)
{
    double t[PK_PERF_ROUNDS][PK_PERF_MAX_VARIANTS];
    double ceil[PK_PERF_ROUNDS], ceil_sync[PK_PERF_ROUNDS];
    double col[PK_PERF_ROUNDS], ratio[PK_PERF_ROUNDS], eff[PK_PERF_ROUNDS],
        eff_sync[PK_PERF_ROUNDS];

    for (size_t r = 0; r < PK_PERF_ROUNDS; r++) {
        for (size_t j = 0; j < k; j++) {
            size_t i = (r + j) % k; /* rotate the order */
            t[r][i] = time_once(fns[i], ctxs ? ctxs[i] : NULL);
        }
        ceil[r] = pk_ceiling_trial(CEILING_NPROCS, iters);
        ceil_sync[r] = pk_ceiling_trial_sync(CEILING_NPROCS, iters);
        if (ceil[r] <= 0 || ceil_sync[r] <= 0)
            return -1;
        pause_ms(SETTLE_MS);
    }
    out->k = k;
    out->ceiling = median(ceil, PK_PERF_ROUNDS);
    out->ceiling_sync = median(ceil_sync, PK_PERF_ROUNDS);
    for (size_t i = 0; i < k; i++) {
        for (size_t r = 0; r < PK_PERF_ROUNDS; r++) {
            col[r] = t[r][i];
            /* This round's ratio: variant 0's time over variant i's, both
             * timed within the same fraction of a second. */
            ratio[r] = t[r][i] > 0 ? t[r][0] / t[r][i] : 0;
            eff[r] = ratio[r] / ceil[r];
            eff_sync[r] = ratio[r] / ceil_sync[r];
        }
        out->median_s[i] = median(col, PK_PERF_ROUNDS);
        out->ratio[i] = median(ratio, PK_PERF_ROUNDS);
        out->efficiency[i] = median(eff, PK_PERF_ROUNDS);
        out->efficiency_sync[i] = median(eff_sync, PK_PERF_ROUNDS);
    }
    return 0;
}

/* Both measurements: sync says whether the lockstep ceiling must also
 * reach PK_PERF_MIN_CEILING. */
static int measure(void (*const fns[])(void *), void *const ctxs[], size_t k,
                   pk_perf_result *out, int sync)
{
    static unsigned long long iters; /* calibrated once per process */

    if (fns == NULL || out == NULL || k == 0 || k > PK_PERF_MAX_VARIANTS) {
        pk_check_record(0, PK_NOTE_IS_PERF, "pk_perf_measure: bad arguments "
                        "(a bug in the test)");
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (iters == 0)
        iters = pk_ceiling_calibrate(CEILING_TRIAL_S);
    for (size_t i = 0; i < k; i++) /* warm-up: caches, page faults, pools */
        fns[i](ctxs ? ctxs[i] : NULL);

    for (int attempt = 0; attempt <= PK_PERF_BUSY_RETRIES; attempt++) {
        if (attempt > 0) /* a burst of load elsewhere may pass meanwhile */
            pause_ms(PK_PERF_BUSY_PAUSE_MS << (attempt - 1));
        if (rounds(fns, ctxs, k, iters, out) != 0) {
            pk_check_record(0, PK_NOTE_IS_PERF, "could not measure the machine's "
                            "ceiling (fork or thread creation failed?)");
            return -1;
        }
        if (out->ceiling >= PK_PERF_MIN_CEILING &&
            (!sync || out->ceiling_sync >= PK_PERF_MIN_CEILING))
            return 0;
    }
    if (sync)
        pk_check_record(0, PK_NOTE_IS_BUSY,
                        "machine too busy to measure speed (ceiling %.2fx, %.2fx "
                        "for threads in lockstep; under %.1fx in %d tries): these "
                        "points are not awarded; run make grade again on a quiet "
                        "machine", out->ceiling, out->ceiling_sync,
                        PK_PERF_MIN_CEILING, PK_PERF_BUSY_RETRIES + 1);
    else
        pk_check_record(0, PK_NOTE_IS_BUSY,
                        "machine too busy to measure speed (ceiling %.2fx, under "
                        "%.1fx in %d tries): these points are not awarded; run "
                        "make grade again on a quiet machine", out->ceiling,
                        PK_PERF_MIN_CEILING, PK_PERF_BUSY_RETRIES + 1);
    return 1;
}

int pk_perf_measure(void (*const fns[])(void *), void *const ctxs[], size_t k,
                    pk_perf_result *out)
{
    return measure(fns, ctxs, k, out, 0);
}

int pk_perf_measure_sync(void (*const fns[])(void *), void *const ctxs[], size_t k,
                         pk_perf_result *out)
{
    return measure(fns, ctxs, k, out, 1);
}

/* ---- scoring ---------------------------------------------------------------- */

static double best;     /* best score of this test's attempts, -1 = none */
static int attempts;    /* loop bodies run so far */
static int begun;       /* pk_perf_begin() was called */
static int hopeless;    /* the last attempt was beyond PK_PERF_HOPELESS */

double pk_perf_award(double value, double target, pk_perf_dir dir,
                     const char *fmt, ...)
{
    double score;
    if (dir == PK_PERF_HIGHER)
        score = value >= target ? 1 : value <= target / 2 ? 0
              : (value - target / 2) / (target / 2);
    else
        score = value <= target ? 1 : value >= 2 * target ? 0
              : (2 * target - value) / target;
    hopeless = dir == PK_PERF_HIGHER ? value <= target / PK_PERF_HOPELESS
                                     : value >= target * PK_PERF_HOPELESS;

    if (score > best) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        best = score;
        pk_check_record(score, PK_NOTE_IS_PERF, "%s", msg);
    }
    return score;
}

void pk_perf_begin(void)
{
    best = -1;
    attempts = 0;
    hopeless = 0;
    begun = 1;
}

/* After the loop: in `make test` (Check's own runner) act on the result;
 * under the grader the recorded score travels as evidence. `make test`
 * runs the reference solution, whose targets are set so that it earns full
 * points in at least 19 runs of 20 on a quiet machine (make perf-series
 * checks that); one near miss in a test run is that twentieth run, not a
 * regression, so it is reported and tolerated: the run fails below
 * PK_PERF_TEST_PASS of the points. */
#define PK_PERF_TEST_PASS 0.9
static void finish(void)
{
    pk_note note;
    char msg[1024];
    double score = pk_check_recorded(&note, msg, sizeof msg);
    const char *name = tcase_name();

    begun = 0;
    if (pk_check_graded_run())
        return;
    if (note == PK_NOTE_IS_BUSY || note == PK_NOTE_IS_NOPERF) {
        printf("PK-SKIP %s: %s\n", name, msg);
        fflush(stdout);
        return;
    }
    printf("PK-PERF %s: %s\n", name, msg);
    if (score >= PK_PERF_TEST_PASS && score < 1.0)
        printf("PK-PERF %s: a near miss, %.0f%% of the points (tolerated "
               "down to %.0f%%; make perf-series checks the target over 20 "
               "runs)\n", name, 100 * score, 100 * PK_PERF_TEST_PASS);
    fflush(stdout);
    ck_assert_msg(score >= PK_PERF_TEST_PASS, "%s: %.0f%% of the points (%s)",
                  name, 100 * (score < 0 ? 0 : score), msg);
}

int pk_perf_again(void)
{
    pk_note note = PK_NOTE_IS_OK;
    double score = pk_check_recorded(&note, NULL, 0);

    if (!begun)
        return 0;
    if (attempts == 0) {
        const char *why = disabled_reason();
        if (why != NULL) {
            pk_check_record(0, PK_NOTE_IS_NOPERF, "%s", why);
            finish();
            return 0;
        }
    }
    if (attempts > 0 && (note == PK_NOTE_IS_BUSY || score >= 1.0 || score < 0 ||
                         hopeless || attempts == PK_PERF_ATTEMPTS)) {
        finish();
        return 0;
    }
    attempts++;
    return 1;
}
