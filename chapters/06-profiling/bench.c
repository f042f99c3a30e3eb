/* bench.c - chapter 06 benchmark: what each profiler costs, and whether the
 * sampler sees what perf sees, on the workload of tools/hotspots.c.
 *
 *   bench                 the tables (make bench CH=06-profiling)
 *   bench --compute N     only run the compute kernels N units (for perf)
 *
 * Every function here is PK_NO_INSTRUMENT: this file is compiled with
 * -finstrument-functions like the rest of the chapter, and the harness must
 * not show up in (or pay for) the profiles it measures. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pk/report.h"
#include "pk/timing.h"
#include "profiler.h"
#include "tools/hotspots.h"

#define NI PK_NO_INSTRUMENT

HOT_DECLARE(plain_);
HOT_DECLARE(instr_);

#define CALLS_N 2000000u       /* hot_leaf calls per timed run */
#define COMPUTE_UNITS 40u      /* about 50 ms of kernels per timed run */
#define ROUNDS 31              /* timed runs per variant (median of these) */
#define PROFILE_UNITS 1500u    /* about 2 s for the ours-against-perf run */
#define PERF_HZ 1000           /* both profilers sample at this rate */
#define ALLOC_N 200000u        /* allocation/free pairs per timed run */
#define NKERNELS 3

static const char *const kernels[NKERNELS] = {"hot_mix", "hot_scan", "hot_tail"};

/* ---- workloads as pk_bench callbacks ------------------------------------- */

NI static void run_plain_calls(void *ctx) { (void)ctx; pk_consume_u64(plain_hot_calls(CALLS_N)); }
NI static void run_instr_calls(void *ctx) { (void)ctx; pk_consume_u64(instr_hot_calls(CALLS_N)); }
NI static void run_compute(void *ctx) { (void)ctx; pk_consume_u64(plain_hot_compute(COMPUTE_UNITS)); }

NI static void run_malloc(void *ctx)
{
    (void)ctx;
    for (unsigned i = 0; i < ALLOC_N; i++) {
        void *p = malloc(16 + i % 256);
        pk_consume_u64((uint64_t)(uintptr_t)p);
        free(p);
    }
}

NI static void run_at_malloc(void *ctx)
{
    (void)ctx;
    for (unsigned i = 0; i < ALLOC_N; i++) {
        void *p = at_malloc(16 + i % 256);
        pk_consume_u64((uint64_t)(uintptr_t)p);
        at_free(p);
    }
}

NI static void die(const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

NI static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- 1. the instrumenting profiler ---------------------------------------- */

NI static void bench_instrumenting(pk_report *r)
{
    const char *name = "instrumenting: hot_calls (2e6 calls of hot_leaf)";
    pk_stats plain, stopped, running;

    if (pk_bench(run_plain_calls, NULL, 3, ROUNDS, &plain) != 0 ||
        pk_bench(run_instr_calls, NULL, 3, ROUNDS, &stopped) != 0)
        die("pk_bench");
    if (prof_reset() != 0 || prof_start() != 0)
        die("prof_start");
    if (pk_bench(run_instr_calls, NULL, 3, ROUNDS, &running) != 0)
        die("pk_bench");
    prof_stop();
    pk_report_add(r, name, "plain build (no hooks)", CALLS_N, &plain);
    pk_report_add(r, name, "-finstrument-functions, profiler off", CALLS_N, &stopped);
    pk_report_add(r, name, "-finstrument-functions, profiler on", CALLS_N, &running);

    double pairs = CALLS_N + 1.0; /* hot_leaf N times, hot_calls once */
    pk_report_note(r, "hooks alone (profiler off): %.1f ns per call/return pair",
                   (stopped.median - plain.median) / pairs * 1e9);
    pk_report_note(r, "profiler on: %.1f ns per call/return pair (target: at "
                   "most 100 ns; uftrace ~55 ns)",
                   (running.median - plain.median) / pairs * 1e9);

    prof_row rows[2];
    size_t n = 0;
    if (prof_report(PROF_SORT_NCALLS, rows, 2, &n) == 0 && n > 0)
        pk_report_note(r, "the profiler counted %llu calls of its top function "
                       "(expected %u x %d runs = %llu)",
                       (unsigned long long)rows[0].ncalls, CALLS_N, ROUNDS + 3,
                       (unsigned long long)CALLS_N * (ROUNDS + 3));
    prof_reset();
}

/* ---- 2. the sampling profiler ------------------------------------------------ */

NI static void bench_sampling(pk_report *r)
{
    const char *name = "sampling: hot_compute (40 units)";
    static const unsigned hz[] = {0, 100, 1000};
    enum { NV = 3 };
    double t[NV][ROUNDS], cpu[NV] = {0};
    size_t samples[NV] = {0};

    /* Interleaved rounds: each round times every variant once, so a burst
     * of load from the other engineers' jobs hits all three alike. */
    run_compute(NULL);
    for (int round = 0; round < ROUNDS; round++)
        for (int v = 0; v < NV; v++) {
            if (hz[v] != 0 && samp_start(hz[v]) != 0)
                die("samp_start");
            double c0 = cpu_seconds();
            uint64_t t0 = pk_now_ns();
            run_compute(NULL);
            t[v][round] = 1e-9 * (double)(pk_now_ns() - t0);
            cpu[v] += cpu_seconds() - c0;
            if (hz[v] != 0) {
                samp_stop();
                samples[v] += samp_count();
            }
        }
    pk_stats st[NV];
    for (int v = 0; v < NV; v++)
        if (pk_stats_from(t[v], ROUNDS, &st[v]) != 0)
            die("pk_stats_from");
    pk_report_add(r, name, "no sampler", COMPUTE_UNITS, &st[0]);
    pk_report_add(r, name, "sampler at 100 Hz", COMPUTE_UNITS, &st[1]);
    pk_report_add(r, name, "sampler at 1000 Hz", COMPUTE_UNITS, &st[2]);
    for (int v = 1; v < NV; v++)
        pk_report_note(r, "%u Hz: overhead %+.2f %% (target: at most %d %%); "
                       "%.0f samples per CPU second delivered",
                       hz[v], (st[v].median / st[0].median - 1) * 100,
                       hz[v] == 100 ? 2 : 5, (double)samples[v] / cpu[v]);
}

/* ---- 3. ours against perf ----------------------------------------------------- */

/* The samples as folded stacks and a flame graph, next to the CSV file:
 * build/bench/06-profiling.folded and 06-profiling-flame.svg. */
NI static void write_flame_graph(void)
{
    const char *csv = getenv("PK_BENCH_CSV");
    char dir[512] = ".", folded[600], svg[600];

    if (csv != NULL && strrchr(csv, '/') != NULL)
        snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(csv, '/') - csv), csv);
    snprintf(folded, sizeof folded, "%s/06-profiling.folded", dir);
    snprintf(svg, sizeof svg, "%s/06-profiling-flame.svg", dir);
    FILE *f = fopen(folded, "w+");
    FILE *out = fopen(svg, "w");
    if (f != NULL && out != NULL && samp_write_folded(f) == 0) {
        rewind(f);
        if (flame_svg(f, out, "hot_compute, sampled at 1000 Hz") == 0)
            printf("  flame graph: %s (folded stacks: %s)\n", svg, folded);
    }
    if (f != NULL)
        fclose(f);
    if (out != NULL)
        fclose(out);
}

/* Shares of the three kernels in our sampler's flat profile. */
NI static int our_profile(double share[NKERNELS], size_t *total)
{
    samp_row rows[32];
    size_t n = 0;

    if (samp_start(PERF_HZ) != 0)
        return -1;
    pk_consume_u64(plain_hot_compute(PROFILE_UNITS));
    samp_stop();
    *total = samp_count();
    if (samp_by_function(rows, 32, &n) != 0)
        return -1;
    for (int k = 0; k < NKERNELS; k++) {
        share[k] = 0;
        for (size_t i = 0; i < n; i++)
            if (strncmp(rows[i].func, "plain_", 6) == 0 &&
                strcmp(rows[i].func + 6, kernels[k]) == 0)
                share[k] = rows[i].percent / 100;
    }
    write_flame_graph();
    samp_free();
    return 0;
}

/* The same run under `perf record -e cpu-clock`: this very program with
 * --compute, so the code is byte for byte the same. */
NI static int perf_profile(double share[NKERNELS], size_t *total)
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
             PROFILE_UNITS);
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

NI static void bench_against_perf(pk_report *r)
{
    double ours[NKERNELS], perf[NKERNELS];
    size_t n_ours = 0, n_perf = 0;

    printf("\nflat profile of hot_compute (%u units), ours against perf, both at %d Hz\n",
           PROFILE_UNITS, PERF_HZ);
    if (our_profile(ours, &n_ours) != 0) {
        printf("  our sampler failed: %s\n", strerror(errno));
        return;
    }
    if (perf_profile(perf, &n_perf) != 0) {
        printf("  perf record failed or is missing: only our profile is shown\n");
        for (int k = 0; k < NKERNELS; k++)
            printf("  %-10s ours %5.1f %% of %zu samples\n", kernels[k],
                   100 * ours[k], n_ours);
        return;
    }
    printf("  %-10s %9s %9s %9s %12s %s\n", "function", "ours", "perf", "diff",
           "2 sigma", "agree");
    int all = 1;
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
    printf("  samples: ours %zu, perf %zu; %s\n", n_ours, n_perf,
           all ? "every share agrees within 2 sigma" :
                 "some share differs by more than 2 sigma");
    (void)r;
}

/* ---- 4. the allocation tracker ------------------------------------------------- */

NI static void bench_alloc(pk_report *r)
{
    const char *name = "allocation tracker: malloc/free pairs";
    pk_stats plain, tracked;

    if (pk_bench(run_malloc, NULL, 2, ROUNDS, &plain) != 0)
        die("pk_bench");
    if (at_start() != 0)
        die("at_start");
    if (pk_bench(run_at_malloc, NULL, 2, ROUNDS, &tracked) != 0)
        die("pk_bench");
    at_stop();
    pk_report_add(r, name, "malloc + free", ALLOC_N, &plain);
    pk_report_add(r, name, "at_malloc + at_free, tracking", ALLOC_N, &tracked);
    pk_report_note(r, "tracking costs %.1f ns per pair (a header, a mutex, "
                   "a site lookup)",
                   (tracked.median - plain.median) / ALLOC_N * 1e9);
}

NI int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--compute") == 0) {
        pk_consume_u64(plain_hot_compute((unsigned)atoi(argv[2])));
        return 0;
    }
    pk_report *r = pk_report_open("06-profiling");
    if (r == NULL)
        die("pk_report_open");
    bench_instrumenting(r);
    bench_sampling(r);
    bench_alloc(r);
    bench_against_perf(r);
    pk_report_close(r);
    return 0;
}
