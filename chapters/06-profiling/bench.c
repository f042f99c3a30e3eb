/* bench.c - chapter 06 benchmark: what each profiler costs, and whether the
 * sampler sees what perf sees, on the workload of bench/hotspots.c. Your
 * profilers (chapters/06-profiling, or SUBMISSION) are timed beside the
 * reference solution's where the course has it (solutions/), in the same
 * rounds; a function still at PK_TODO shows as "not written yet".
 *
 *   bench                 the tables (make bench CH=06-profiling)
 *   bench --compute N     only run the compute kernels N units (for perf)
 *
 * Every function here is PK_NO_INSTRUMENT: this file is compiled with
 * -finstrument-functions like the rest of the chapter, and the harness must
 * not show up in (or pay for) the profiles it measures. */
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pk/report.h"
#include "pk/timing.h"
#include "alloctrack.h"
#include "flame.h"
#include "instrument.h"
#include "sampler.h"
#include "bench/hotspots.h"

/* The workload, compiled three times (chapter.mk): plain_ without hooks,
 * instr_ calling your hooks, refinstr_ calling the reference's hooks
 * (absent in the student handout, hence weak). */
HOT_DECLARE(plain_);
HOT_DECLARE(instr_);
extern uint64_t refinstr_hot_calls(unsigned n) __attribute__((weak));

/* The reference solution, renamed pk_ref_NAME (NULL without solutions/). */
PK_REF_DECLARE(prof_start);
PK_REF_DECLARE(prof_stop);
PK_REF_DECLARE(prof_reset);
PK_REF_DECLARE(prof_report);
PK_REF_DECLARE(samp_start);
PK_REF_DECLARE(samp_stop);
PK_REF_DECLARE(samp_count);
PK_REF_DECLARE(samp_free);
PK_REF_DECLARE(samp_by_function);
PK_REF_DECLARE(samp_write_folded);
PK_REF_DECLARE(at_start);
PK_REF_DECLARE(at_stop);
PK_REF_DECLARE(at_malloc);
PK_REF_DECLARE(at_free);
PK_REF_DECLARE(flame_svg);

#define CALLS_N 2000000u       /* hot_leaf calls per timed run */
#define COMPUTE_UNITS 40u      /* about 50 ms of kernels per timed run */
#define MAX_ROUNDS 41          /* timed runs per variant (median of these) */
#define QUICK_ROUNDS 7         /* with PK_BENCH_QUICK=1 */
#define RAISES 10000           /* SIGPROFs sent by hand to time one sample */
#define PROFILE_UNITS 3000u    /* about 4 s for the ours-against-perf run */
#define QUICK_PROFILE_UNITS 600u
#define PERF_HZ 1000           /* both profilers sample at this rate */
#define ALLOC_N 200000u        /* allocation/free pairs per timed run */
#define NKERNELS 3
#define TARGET_NS 150          /* the performance tests' targets */
#define PK_STR2(x) #x
#define PK_STR(x) PK_STR2(x)
#define TARGET_PCT 5

static const char *const kernels[NKERNELS] = {"hot_mix", "hot_scan", "hot_tail"};
static int rounds = MAX_ROUNDS;
static unsigned profile_units = PROFILE_UNITS;

/* ---- the two implementations ---------------------------------------------- */

/* Yours or the reference's: the same functions behind pointers. */
typedef struct impl {
    const char *who;                      /* "yours" or "reference" */
    int (*prof_start)(void);
    int (*prof_stop)(void);
    int (*prof_reset)(void);
    int (*prof_report)(prof_sort, prof_row *, size_t, size_t *);
    uint64_t (*hot_calls)(unsigned);      /* the workload calling its hooks */
    int (*samp_start)(unsigned);
    int (*samp_stop)(void);
    size_t (*samp_count)(void);
    void (*samp_free)(void);
    int (*samp_by_function)(samp_row *, size_t, size_t *);
    int (*samp_write_folded)(FILE *);
    int (*at_start)(void);
    int (*at_stop)(void);
    void *(*at_malloc)(size_t);
    void (*at_free)(void *);
    int (*flame_svg)(FILE *, FILE *, const char *);
} impl;

static const impl yours = {
    "yours", prof_start, prof_stop, prof_reset, prof_report, instr_hot_calls,
    samp_start, samp_stop, samp_count, samp_free, samp_by_function,
    samp_write_folded, at_start, at_stop, at_malloc, at_free, flame_svg,
};
static impl reference; /* filled in by main() when the reference is linked */
static int have_reference;

/* ---- measuring ------------------------------------------------------------------ */

PK_NO_INSTRUMENT static void die(const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* CPU time of this thread, which runs every workload and every signal
 * handler of these benchmarks. Not CLOCK_PROCESS_CPUTIME_ID: while an
 * ITIMER_PROF timer is armed, the kernel keeps the process's CPU time in a
 * group counter updated on the scheduler tick, and a run timed with it
 * looks up to a tick (4 ms) shorter than it was, the difference showing up
 * in the next run. Measured here: 2 % "faster" with the sampler on. */
PK_NO_INSTRUMENT static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The variants of a benchmark are timed in interleaved rounds (each round
 * runs every variant once), and each run is timed in CPU time of this
 * thread (user + system; see cpu_seconds()). Other programs may share the
 * machine's cores: a preempted run takes longer on the wall clock, but not
 * in CPU time, and interleaving spreads what load remains (cache
 * pollution, frequency changes) over all variants alike. The median of the
 * rounds goes into the report. */
typedef struct variant {
    const char *name;
    const impl *im;          /* whose profiler; NULL for none */
    void (*setup)(const impl *im);     /* before each run, not timed; may be NULL */
    void (*run)(const impl *im);       /* the timed work */
    void (*teardown)(const impl *im);  /* after each run, not timed; may be NULL */
    double t[MAX_ROUNDS];
    pk_stats st;
} variant;

PK_NO_INSTRUMENT static void measure(variant *v, int nv)
{
    for (int i = 0; i < nv; i++) /* warm-up: page faults, caches */
        v[i].run(v[i].im);
    for (int round = 0; round < rounds; round++)
        for (int j = 0; j < nv; j++) {
            /* Odd rounds go backwards, so that no variant always runs
             * right after the same other one. */
            int i = round % 2 ? nv - 1 - j : j;
            if (v[i].setup)
                v[i].setup(v[i].im);
            double c0 = cpu_seconds();
            v[i].run(v[i].im);
            v[i].t[round] = cpu_seconds() - c0;
            if (v[i].teardown)
                v[i].teardown(v[i].im);
        }
    for (int i = 0; i < nv; i++)
        if (pk_stats_from(v[i].t, (size_t)rounds, &v[i].st) != 0)
            die("pk_stats_from");
}

/* Whether a call that returned -1 is a function still at PK_TODO. */
PK_NO_INSTRUMENT static int todo(int rc)
{
    return rc != 0 && errno == ENOSYS;
}

/* "name (who)" in a buffer that lives as long as the report needs it. */
PK_NO_INSTRUMENT static const char *label(const char *name, const impl *im)
{
    static char buf[16][96];
    static int next;
    char *b = buf[next++ % 16];
    snprintf(b, sizeof buf[0], "%s (%s)", name, im->who);
    return b;
}

/* ---- 1. the instrumenting profiler ----------------------------------------------- */

PK_NO_INSTRUMENT static void run_plain_calls(const impl *im)
{
    (void)im;
    pk_consume_u64(plain_hot_calls(CALLS_N));
}

PK_NO_INSTRUMENT static void run_hooked_calls(const impl *im)
{
    pk_consume_u64(im->hot_calls(CALLS_N));
}

PK_NO_INSTRUMENT static void prof_on(const impl *im)
{
    if (im->prof_start() != 0)
        die("prof_start");
}

PK_NO_INSTRUMENT static void prof_off(const impl *im)
{
    im->prof_stop();
}

PK_NO_INSTRUMENT static void bench_instrumenting(pk_report *r)
{
    const char *name = "instrumenting profiler: hot_calls, 2e6 calls (CPU time)";
    const impl *ims[2] = {&yours, have_reference ? &reference : NULL};
    variant v[5];
    int nv = 0, written[2] = {0, 0};

    v[nv++] = (variant){.name = "plain build (no hooks)", .run = run_plain_calls};
    for (int k = 0; k < 2; k++) {
        const impl *im = ims[k];
        if (im == NULL)
            continue;
        errno = 0;
        written[k] = !todo(im->prof_reset());
        v[nv++] = (variant){.name = label("hooks, profiler off", im),
                            .im = im, .run = run_hooked_calls};
        if (written[k])
            v[nv++] = (variant){.name = label("profiler on", im), .im = im,
                                .setup = prof_on, .run = run_hooked_calls,
                                .teardown = prof_off};
    }
    measure(v, nv);

    double pairs = CALLS_N + 1.0; /* hot_leaf N times, hot_calls once */
    for (int i = 0; i < nv; i++) {
        pk_report_add(r, name, v[i].name, CALLS_N, &v[i].st);
        /* After the hooks-off row of a profiler that is still a PK_TODO. */
        if (v[i].im != NULL && v[i].setup == NULL && !written[v[i].im == &yours ? 0 : 1])
            pk_report_todo(r, name, label("profiler on", v[i].im));
    }
    for (int i = 1; i < nv; i++)
        pk_report_note(r, "%s: %+.1f ns per call/return pair over the plain "
                       "build%s", v[i].name,
                       (v[i].st.median - v[0].st.median) / pairs * 1e9,
                       v[i].setup ? " (the performance test's target: at "
                       "most " PK_STR(TARGET_NS) " ns)" : "");
    for (int k = 0; k < 2; k++) {
        prof_row rows[2];
        size_t n = 0;
        if (!written[k])
            continue;
        if (ims[k]->prof_report(PROF_SORT_NCALLS, rows, 2, &n) == 0 && n > 0)
            pk_report_note(r, "%s profiler counted %llu calls of its top "
                           "function (expected %u x %d runs = %llu)",
                           k == 0 ? "your" : "the reference's",
                           (unsigned long long)rows[0].ncalls, CALLS_N, rounds,
                           (unsigned long long)CALLS_N * (unsigned)rounds);
        ims[k]->prof_reset();
    }
}

/* ---- 2. the sampling profiler ---------------------------------------------------- */

static size_t sampled;        /* samples taken in the runs of one variant */
static double sampled_cpu;    /* and the CPU seconds they covered */
static double sample_t0;

PK_NO_INSTRUMENT static void run_compute(const impl *im)
{
    (void)im;
    pk_consume_u64(plain_hot_compute(COMPUTE_UNITS));
}

PK_NO_INSTRUMENT static void samp_on(const impl *im, unsigned hz)
{
    if (im->samp_start(hz) != 0)
        die("samp_start");
    sample_t0 = cpu_seconds();
}

PK_NO_INSTRUMENT static void samp_off(const impl *im)
{
    sampled_cpu += cpu_seconds() - sample_t0;
    im->samp_stop();
    sampled += im->samp_count();
}

PK_NO_INSTRUMENT static void samp_on_100(const impl *im) { samp_on(im, 100); }
PK_NO_INSTRUMENT static void samp_on_1000(const impl *im) { samp_on(im, 1000); }

/* One sample's cost, timed directly: raise(SIGPROF) by hand, which costs
 * the handler plus a kill() system call, an upper bound of what a
 * timer-driven sample costs. */
PK_NO_INSTRUMENT static double sample_cost(const impl *im)
{
    if (im->samp_start(SAMP_MAX_HZ) != 0)
        return 0;
    double c0 = cpu_seconds();
    for (int k = 0; k < RAISES; k++)
        raise(SIGPROF);
    double per_sample = (cpu_seconds() - c0) / RAISES;
    im->samp_stop();
    im->samp_free();
    return per_sample;
}

PK_NO_INSTRUMENT static void bench_sampling(pk_report *r)
{
    const char *name = "sampling profiler: hot_compute, 40 units (CPU time)";
    const impl *ims[2] = {&yours, have_reference ? &reference : NULL};
    variant v[5];
    size_t samples[5] = {0};
    double cpu[5] = {0};
    int nv = 0, written[2] = {0, 0};

    v[nv++] = (variant){.name = "no sampler", .run = run_compute};
    for (int k = 0; k < 2; k++) {
        const impl *im = ims[k];
        if (im == NULL)
            continue;
        errno = 0;
        int rc = im->samp_start(100);
        written[k] = !todo(rc);
        if (rc == 0)
            im->samp_stop();
        if (!written[k])
            continue;
        v[nv++] = (variant){.name = label("sampler at 100 Hz", im), .im = im,
                            .setup = samp_on_100, .run = run_compute,
                            .teardown = samp_off};
        v[nv++] = (variant){.name = label("sampler at 1000 Hz", im), .im = im,
                            .setup = samp_on_1000, .run = run_compute,
                            .teardown = samp_off};
    }

    /* One variant at a time for the sample counts, then all interleaved
     * for the timings. */
    for (int i = 1; i < nv; i++) {
        sampled = 0;
        sampled_cpu = 0;
        for (int k = 0; k < 5; k++) {
            v[i].setup(v[i].im);
            run_compute(NULL);
            v[i].teardown(v[i].im);
        }
        samples[i] = sampled;
        cpu[i] = sampled_cpu;
    }
    measure(v, nv);
    for (int i = 0; i < nv; i++)
        pk_report_add(r, name, v[i].name, COMPUTE_UNITS, &v[i].st);
    for (int k = 0; k < 2; k++)
        if (ims[k] != NULL && !written[k])
            pk_report_todo(r, name, label("sampler", ims[k]));

    double per_sample[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        if (written[k]) {
            per_sample[k] = sample_cost(ims[k]);
            pk_report_note(r, "%s: one sample (raise + handler) costs %.2f us "
                           "of CPU", ims[k]->who, per_sample[k] * 1e6);
        }
    for (int i = 1; i < nv; i++) {
        int k = v[i].im == &yours ? 0 : 1;
        double rate = cpu[i] > 0 ? (double)samples[i] / cpu[i] : 0;
        pk_report_note(r, "%s: measured overhead %+.2f %%, computed %.3f %% "
                       "(%.0f samples per CPU second delivered x %.2f us; "
                       "the performance test's target at 1000 Hz: at most "
                       "%d %%)", v[i].name,
                       (v[i].st.median / v[0].st.median - 1) * 100,
                       rate * per_sample[k] * 100, rate, per_sample[k] * 1e6,
                       TARGET_PCT);
    }
}

/* ---- 3. ours against perf ---------------------------------------------------------- */

/* The samples as folded stacks and a flame graph, next to the CSV file:
 * build/bench/06-profiling.folded and 06-profiling-flame.svg. The
 * sampler's folded stacks are drawn by flame_svg() of the same
 * implementation (yours, or the reference's when yours is not written). */
PK_NO_INSTRUMENT static void write_flame_graph(const impl *im)
{
    const char *csv = getenv("PK_BENCH_CSV");
    char dir[512] = ".", folded[600], svg[600];

    if (csv != NULL && strrchr(csv, '/') != NULL)
        snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(csv, '/') - csv), csv);
    snprintf(folded, sizeof folded, "%s/06-profiling.folded", dir);
    snprintf(svg, sizeof svg, "%s/06-profiling-flame.svg", dir);
    FILE *f = fopen(folded, "w+");
    FILE *out = fopen(svg, "w");
    if (f != NULL && out != NULL && im->samp_write_folded(f) == 0) {
        const impl *drawer = im;
        rewind(f);
        errno = 0;
        int rc = im->flame_svg(f, out, "hot_compute, sampled at 1000 Hz");
        if (todo(rc) && im == &yours && have_reference) {
            drawer = &reference; /* your flame_svg is not written yet */
            rewind(f);
            rewind(out);
            rc = drawer->flame_svg(f, out, "hot_compute, sampled at 1000 Hz");
        }
        if (rc == 0)
            printf("  flame graph: %s (folded stacks: %s; sampled by the %s "
                   "code, drawn by the %s)\n", svg, folded,
                   im == &yours ? "your" : "reference's",
                   drawer == &yours ? "yours" : "reference's");
        else
            printf("  folded stacks: %s; no flame graph (flame_svg: %s)\n",
                   folded, todo(rc) ? "not written yet" : strerror(errno));
    }
    if (f != NULL)
        fclose(f);
    if (out != NULL)
        fclose(out);
}

/* Shares of the three kernels in a sampler's flat profile. */
PK_NO_INSTRUMENT static int our_profile(const impl *im, double share[NKERNELS],
                                        size_t *total, int flame)
{
    samp_row rows[32];
    size_t n = 0;

    if (im->samp_start(PERF_HZ) != 0)
        return -1;
    pk_consume_u64(plain_hot_compute(profile_units));
    im->samp_stop();
    *total = im->samp_count();
    if (im->samp_by_function(rows, 32, &n) != 0)
        return -1;
    for (int k = 0; k < NKERNELS; k++) {
        share[k] = 0;
        for (size_t i = 0; i < n; i++)
            if (strncmp(rows[i].func, "plain_", 6) == 0 &&
                strcmp(rows[i].func + 6, kernels[k]) == 0)
                share[k] = rows[i].percent / 100;
    }
    if (flame)
        write_flame_graph(im);
    im->samp_free();
    return 0;
}

/* The same run under `perf record -e cpu-clock`: this very program with
 * --compute, so the code is byte for byte the same. */
PK_NO_INSTRUMENT static int perf_profile(double share[NKERNELS], size_t *total)
{
    char exe[1024], data[] = "/tmp/pk-perf-XXXXXX", cmd[3072];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    int fd = mkstemp(data);

    if (len <= 0 || fd < 0)
        return -1;
    exe[len] = '\0';
    close(fd);
    snprintf(cmd, sizeof cmd, "perf record -q -e cpu-clock -F %d -o %s -- "
             "'%s' --compute %u >/dev/null 2>&1", PERF_HZ, data, exe,
             profile_units);
    if (system(cmd) != 0) {
        unlink(data);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "perf report -i %s --stdio -n --no-children "
             "--sort symbol 2>/dev/null", data);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        unlink(data);
        return -1;
    }
    char line[512];
    size_t count[NKERNELS] = {0};
    *total = 0;
    /* Lines look like "    55.23%           549  [.] plain_hot_mix". */
    while (fgets(line, sizeof line, p) != NULL) {
        double pct;
        unsigned long n;
        char sym[256];
        if (line[0] == '#' || sscanf(line, " %lf%% %lu [%*[^]]] %255s", &pct, &n, sym) != 3)
            continue;
        *total += n;
        for (int k = 0; k < NKERNELS; k++)
            if (strncmp(sym, "plain_", 6) == 0 && strcmp(sym + 6, kernels[k]) == 0)
                count[k] = n;
    }
    pclose(p);
    unlink(data);
    if (*total == 0)
        return -1;
    for (int k = 0; k < NKERNELS; k++)
        share[k] = (double)count[k] / (double)*total;
    return 0;
}

/* One sampler's shares against perf's, each difference against two
 * standard errors. */
PK_NO_INSTRUMENT static void compare(const char *who, const double *ours,
                                     size_t n_ours, const double *perf,
                                     size_t n_perf)
{
    int all = 1;
    printf("  %-10s %9s %9s %9s %12s %s   (%s: %zu samples, perf: %zu)\n",
           "function", who, "perf", "diff", "2 sigma", "agree", who, n_ours,
           n_perf);
    for (int k = 0; k < NKERNELS; k++) {
        /* A share p estimated from N samples has a standard error of
         * sqrt(p(1-p)/N); the difference of two independent estimates has
         * the root of the summed variances. */
        double p = (ours[k] * (double)n_ours + perf[k] * (double)n_perf) /
                   (double)(n_ours + n_perf);
        double sigma = sqrt(p * (1 - p) * (1.0 / (double)n_ours + 1.0 / (double)n_perf));
        double diff = ours[k] - perf[k];
        int ok = fabs(diff) <= 2 * sigma;
        all &= ok;
        printf("  %-10s %8.1f%% %8.1f%% %+8.1f%% %11.1f%% %s\n", kernels[k],
               100 * ours[k], 100 * perf[k], 100 * diff, 200 * sigma,
               ok ? "yes" : "NO");
    }
    printf("  %s\n", all ? "every share agrees within 2 sigma" :
                           "some share differs by more than 2 sigma");
}

PK_NO_INSTRUMENT static void bench_against_perf(void)
{
    const impl *ims[2] = {&yours, have_reference ? &reference : NULL};
    double share[2][NKERNELS], perf[NKERNELS];
    size_t n[2] = {0, 0}, n_perf = 0;
    int ok[2] = {0, 0}, flame_done = 0;

    printf("\nflat profile of hot_compute (%u units), the samplers against "
           "perf, all at %d Hz\n", profile_units, PERF_HZ);
    for (int k = 0; k < 2; k++) {
        if (ims[k] == NULL)
            continue;
        errno = 0;
        if (our_profile(ims[k], share[k], &n[k], !flame_done) == 0) {
            ok[k] = 1;
            flame_done = 1;
        } else if (errno == ENOSYS) {
            printf("  the sampler (%s): not written yet\n", ims[k]->who);
        } else {
            printf("  the sampler (%s) failed: %s\n", ims[k]->who, strerror(errno));
        }
    }
    if (perf_profile(perf, &n_perf) != 0) {
        printf("  perf record failed or is missing: only the samplers' "
               "profiles are shown\n");
        for (int k = 0; k < 2; k++)
            for (int j = 0; ok[k] && j < NKERNELS; j++)
                printf("  %-10s %s %5.1f %% of %zu samples\n", kernels[j],
                       ims[k]->who, 100 * share[k][j], n[k]);
        return;
    }
    for (int k = 0; k < 2; k++)
        if (ok[k])
            compare(ims[k]->who, share[k], n[k], perf, n_perf);
    if (!ok[0] && !ok[1])
        for (int j = 0; j < NKERNELS; j++)
            printf("  %-10s perf %5.1f %% of %zu samples\n", kernels[j],
                   100 * perf[j], n_perf);
}

/* ---- 4. the allocation tracker ------------------------------------------------------- */

PK_NO_INSTRUMENT static void run_malloc(const impl *im)
{
    (void)im;
    for (unsigned i = 0; i < ALLOC_N; i++) {
        void *p = malloc(16 + i % 256);
        pk_consume_u64((uint64_t)(uintptr_t)p);
        free(p);
    }
}

PK_NO_INSTRUMENT static void run_at_malloc(const impl *im)
{
    for (unsigned i = 0; i < ALLOC_N; i++) {
        void *p = im->at_malloc(16 + i % 256);
        pk_consume_u64((uint64_t)(uintptr_t)p);
        im->at_free(p);
    }
}

PK_NO_INSTRUMENT static void at_on(const impl *im)
{
    if (im->at_start() != 0)
        die("at_start");
}

PK_NO_INSTRUMENT static void at_off(const impl *im) { im->at_stop(); }

PK_NO_INSTRUMENT static void bench_alloc(pk_report *r)
{
    const char *name = "allocation tracker: 2e5 malloc/free pairs (CPU time)";
    const impl *ims[2] = {&yours, have_reference ? &reference : NULL};
    variant v[3];
    int nv = 0, written[2] = {0, 0};

    v[nv++] = (variant){.name = "malloc + free", .run = run_malloc};
    for (int k = 0; k < 2; k++) {
        if (ims[k] == NULL)
            continue;
        errno = 0;
        int rc = ims[k]->at_start();
        written[k] = !todo(rc);
        if (rc == 0)
            ims[k]->at_stop();
        if (written[k])
            v[nv++] = (variant){.name = label("at_malloc + at_free", ims[k]),
                                .im = ims[k], .setup = at_on, .run = run_at_malloc,
                                .teardown = at_off};
    }
    measure(v, nv);
    for (int i = 0; i < nv; i++)
        pk_report_add(r, name, v[i].name, ALLOC_N, &v[i].st);
    for (int k = 0; k < 2; k++)
        if (ims[k] != NULL && !written[k])
            pk_report_todo(r, name, label("at_malloc + at_free", ims[k]));
    for (int i = 1; i < nv; i++)
        pk_report_note(r, "%s: %+.1f ns per pair (a header, a mutex, a site "
                       "lookup)", v[i].name,
                       (v[i].st.median - v[0].st.median) / ALLOC_N * 1e9);
}

PK_NO_INSTRUMENT int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--compute") == 0) {
        pk_consume_u64(plain_hot_compute((unsigned)atoi(argv[2])));
        return 0;
    }
    if (pk_bench_quick()) {
        rounds = QUICK_ROUNDS;
        profile_units = QUICK_PROFILE_UNITS;
    }
    /* The reference: every function renamed pk_ref_*, and the workload
     * whose hook calls go to the reference's hooks. */
    if (PK_REF(prof_start) != NULL && refinstr_hot_calls != NULL) {
        reference = (impl){
            "reference", PK_REF(prof_start), PK_REF(prof_stop),
            PK_REF(prof_reset), PK_REF(prof_report), refinstr_hot_calls,
            PK_REF(samp_start), PK_REF(samp_stop), PK_REF(samp_count),
            PK_REF(samp_free), PK_REF(samp_by_function),
            PK_REF(samp_write_folded), PK_REF(at_start), PK_REF(at_stop),
            PK_REF(at_malloc), PK_REF(at_free), PK_REF(flame_svg),
        };
        have_reference = 1;
    }
    pk_report *r = pk_report_open("06-profiling");
    if (r == NULL)
        die("pk_report_open");
    bench_instrumenting(r);
    bench_sampling(r);
    bench_alloc(r);
    bench_against_perf();
    pk_report_close(r);
    return 0;
}
