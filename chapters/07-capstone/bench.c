/* bench.c - chapter 07 benchmark: the Python chapter's 10^6-item job run
 * sequentially, on pk_tpool_map, on pk_ppool_map and with OpenMP; the
 * literal formula the compiler folds; the job's serial part (Amdahl); and
 * the Python version, run by chapters/07-capstone/bench/capstone.py when
 * python3 is on the PATH (PK_PYTHON=/path/to/python picks another
 * interpreter; PK_BENCH_NO_PYTHON=1 skips Python, e.g. when profiling the C
 * part with perf).
 *
 * Every parallel result is checked item by item against the sequential one
 * before its time is reported: a fast wrong answer is not a result. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capstone.h"
#include "pk/ppool.h"
#include "pk/report.h"
#include "pk/timing.h"
#include "pk/tpool.h"

#define CHAPTER "07-capstone"
#define N CAPSTONE_N      /* items in the job, as in the Python chapter */
#define WARMUP 1          /* untimed runs before each measurement */
#define RUNS 7            /* timed runs; the table shows their median */
#define CEILING_S 0.05    /* seconds of busy work per ceiling trial */
#define PY_N 50000        /* Python items: sequential and chunksize 1000 */
#define PY_N_SLOW 5000    /* Python items: chunksize 1, threads, mixed */
#define PY_RUNS 3         /* Python timed runs per variant */
#define PY_SCRIPT_REL "bench/capstone.py" /* next to this file */

/* ---- one measured job ---- */

typedef enum mode { SEQ, TPOOL, PPOOL, OMP } mode;

typedef struct job {
    mode mode;
    const capstone_item *in;
    size_t n;
    uint64_t *out;
    capstone_fn fn;
    pk_tpool *pool;  /* TPOOL */
    size_t workers;  /* PPOOL and OMP */
    size_t chunk;    /* 0 = automatic */
} job;

static void die(const char *what)
{
    fprintf(stderr, "bench %s: %s failed: %s\n", CHAPTER, what,
            strerror(errno));
    exit(1);
}

static void run_job(void *ctx)
{
    job *j = ctx;
    int rc = -1;

    switch (j->mode) {
    case SEQ:
        rc = capstone_run_seq(j->in, j->n, j->out, j->fn);
        break;
    case TPOOL:
        rc = capstone_run_tpool(j->pool, j->in, j->n, j->out, j->fn, j->chunk);
        break;
    case PPOOL:
        rc = capstone_run_ppool(j->workers, j->in, j->n, j->out, j->fn,
                                j->chunk);
        break;
    case OMP:
        rc = capstone_run_omp(j->workers, j->in, j->n, j->out, j->fn,
                              j->chunk);
        break;
    }
    if (rc != 0)
        die("a driver");
}

/* Time j, check its results against want (unless NULL), add a table row.
 * Returns the median in seconds. */
static double measure(pk_report *r, const char *bench, const char *variant,
                      job *j, const uint64_t *want)
{
    pk_stats st;

    memset(j->out, 0, j->n * sizeof *j->out);
    if (pk_bench(run_job, j, WARMUP, RUNS, &st) != 0)
        die("pk_bench");
    if (want != NULL) {
        size_t where;
        if (capstone_verify(want, j->out, j->n, &where) != 0) {
            fprintf(stderr, "bench %s: %s gives a wrong result at item %zu: "
                    "%llu, the sequential run says %llu\n", CHAPTER, variant,
                    where, (unsigned long long)j->out[where],
                    (unsigned long long)want[where]);
            exit(1);
        }
    }
    if (pk_report_add(r, bench, variant, j->n, &st) != 0)
        die("pk_report_add");
    return st.median;
}

/* ---- the serial parts: plain functions for pk_bench ---- */

typedef struct serial_ctx {
    capstone_item *items;
    const uint64_t *a, *b;
    size_t n;
} serial_ctx;

static void fill_all(void *ctx)
{
    serial_ctx *s = ctx;
    if (capstone_fill(s->items, s->n) != 0)
        die("capstone_fill");
}

static void verify_all(void *ctx)
{
    serial_ctx *s = ctx;
    if (capstone_verify(s->a, s->b, s->n, NULL) != 0)
        die("capstone_verify");
}

static void tpool_start_stop(void *ctx)
{
    size_t workers = *(size_t *)ctx;
    pk_tpool *pool = pk_tpool_create(workers);
    if (pool == NULL)
        die("pk_tpool_create");
    pk_tpool_destroy(pool);
}

static double median_of(void (*fn)(void *), void *ctx)
{
    pk_stats st;
    if (pk_bench(fn, ctx, WARMUP, RUNS, &st) != 0)
        die("pk_bench");
    return st.median;
}

/* ---- the Python comparison ---- */

typedef struct py_result {
    char name[64];
    size_t n;
    double median, min, max, startup;
    unsigned long long checksum;
} py_result;

#define PY_MAX_RESULTS 8

/* 1 if an executable python3 is on the PATH. */
static int have_python3(void)
{
    const char *path = getenv("PATH");
    char dir[4096], file[4200];

    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len < sizeof dir) {
            memcpy(dir, path, len);
            dir[len] = '\0';
            snprintf(file, sizeof file, "%s/python3", dir);
            if (access(file, X_OK) == 0)
                return 1;
        }
        path = end ? end + 1 : NULL;
    }
    return 0;
}

/* The script's path: this source file's folder plus PY_SCRIPT_REL (make
 * bench compiles chapters/07-capstone/bench.c from the repository root). */
static void script_path(char *buf, size_t len)
{
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int dirlen = slash ? (int)(slash - file) : 1;
    snprintf(buf, len, "%.*s/%s", dirlen, slash ? file : ".", PY_SCRIPT_REL);
}

/* Run the script; fill res with its RESULT lines. Returns how many. */
static size_t run_python(pk_report *r, py_result *res, size_t max,
                         unsigned workers)
{
    char script[1024], cmd[1400], line[512];

    script_path(script, sizeof script);
    if (access(script, R_OK) != 0) {
        pk_report_note(r, "python: %s not found (run make bench from the "
                       "repository root); skipped", script);
        return 0;
    }
    const char *python = getenv("PK_PYTHON");
    if (python == NULL || *python == '\0' || strchr(python, '\'') != NULL)
        python = "python3";
    snprintf(cmd, sizeof cmd, "'%s' '%s' --n %d --n-slow %d --runs %d "
             "--workers %u", python, script, PY_N, PY_N_SLOW, PY_RUNS,
             workers);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        pk_report_note(r, "python: cannot run %s: %s", cmd, strerror(errno));
        return 0;
    }
    size_t got = 0;
    while (fgets(line, sizeof line, p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "RESULT ", 7) == 0 && got < max) {
            py_result *x = &res[got];
            if (sscanf(line + 7, "%63s %zu %lf %lf %lf %lf %llu", x->name,
                       &x->n, &x->median, &x->min, &x->max, &x->startup,
                       &x->checksum) == 7)
                got++;
        } else if (strncmp(line, "PYTHON ", 7) == 0) {
            pk_report_note(r, "python %s, running bench/capstone.py",
                           line + 7);
        } else if (strncmp(line, "BUG ", 4) == 0) {
            pk_report_note(r, "the seed's local function on a process pool: "
                           "%s", line + 4);
        }
    }
    int status = pclose(p);
    if (status != 0)
        pk_report_note(r, "python: the script exited with status %d", status);
    return got;
}

static const py_result *py_find(const py_result *res, size_t n,
                                const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(res[i].name, name) == 0)
            return &res[i];
    return NULL;
}

/* A Python measurement at n items, scaled to N: the executor's start-up
 * once, the per-item part times N / n. */
static pk_stats py_scaled(const py_result *x)
{
    double k = (double)N / (double)x->n;
    pk_stats st = {0};
    st.runs = PY_RUNS;
    st.median = x->startup + (x->median - x->startup) * k;
    st.min = x->startup + (x->min - x->startup) * k;
    st.max = x->startup + (x->max - x->startup) * k;
    st.mean = st.median;
    return st;
}

/* Sum of the first n results mod 2^64: what the script prints. */
static unsigned long long checksum(const uint64_t *v, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return (unsigned long long)s;
}

/* ---- main ---- */

int main(void)
{
    unsigned cpus = pk_cpu_count();
    size_t workers = cpus;
    /* The arrays live in 2 MiB pages (pk_ppool_alloc): every fork of the
     * process pool copies the page tables of all of them, and huge pages
     * make those tables 512 times smaller. Section 3 measures the
     * difference against malloc's 4 KiB pages. */
    capstone_item *in = pk_ppool_alloc(N * sizeof *in);
    uint64_t *want = pk_ppool_alloc(N * sizeof *want);
    uint64_t *out = pk_ppool_alloc(N * sizeof *out);
    uint64_t *lit = pk_ppool_alloc(N * sizeof *lit);
    if (in == NULL || want == NULL || out == NULL || lit == NULL)
        die("pk_ppool_alloc");
    if (capstone_fill(in, N) != 0)
        die("capstone_fill");

    pk_report *r = pk_report_open(CHAPTER);
    if (r == NULL)
        die("pk_report_open");

    /* 1. The literal formula against the item-dependent one. */
    const char *b1 = "inner sum: literal vs item-dependent (sequential)";
    job j = {SEQ, in, N, want, capstone_item_mixed, NULL, 0, 0};
    double t_mixed = measure(r, b1, "mixed (used for the figures)", &j,
                             NULL);
    j.out = lit;
    j.fn = capstone_item_literal;
    double t_lit = measure(r, b1, "literal (the Python formula)", &j, NULL);
    pk_report_note(r, "literal: %.2f ns per item for %d multiply-adds: the "
                   "inner loop is gone (computed at compile time)",
                   t_lit * 1e9 / N, CAPSTONE_INNER);
    pk_report_note(r, "mixed: %.1f ns per item, %.3f ns per inner term "
                   "(AVX2 %s)", t_mixed * 1e9 / N,
                   t_mixed * 1e9 / N / CAPSTONE_INNER,
#ifdef __AVX2__
                   "on"
#else
                   "off"
#endif
    );

    /* 2. The job four ways, and with other chunk sizes. The variants run
     * in rounds (one run of each per round), with a short ceiling trial in
     * every round: on a shared machine the load changes from second to
     * second, and interleaving spreads that change over all variants alike
     * instead of punishing whichever ran during a busy spell. */
    pk_tpool *pool = pk_tpool_create(workers);
    if (pool == NULL)
        die("pk_tpool_create");

    char b2[128];
    snprintf(b2, sizeof b2, "the job: 10^6 items, mixed formula, %zu "
             "workers", workers);
    char name[128];
    struct { mode m; size_t chunk; const char *label; } var[] = {
        {SEQ, 0, "sequential"},
        {TPOOL, 0, "thread pool (pk_tpool_map)"},
        {PPOOL, 0, "process pool (pk_ppool_map)"},
        {OMP, 0, "OpenMP (parallel for)"},
        {TPOOL, 1, "thread pool, chunk 1"},
        {PPOOL, 1, "process pool, chunk 1"},
        {PPOOL, 1000, "process pool, chunk 1000"},
    };
    enum { NVAR = sizeof var / sizeof var[0] };
    double samples[NVAR][RUNS], ceil_samples[RUNS];
    for (size_t round = 0; round < WARMUP + RUNS; round++) {
        for (size_t v = 0; v < NVAR; v++) {
            j = (job){var[v].m, in, N, out, capstone_item_mixed, pool,
                      workers, var[v].chunk};
            memset(out, 0, N * sizeof *out);
            uint64_t t0 = pk_now_ns();
            run_job(&j);
            double t = (double)(pk_now_ns() - t0) * 1e-9;
            size_t where;
            if (capstone_verify(want, out, N, &where) != 0) {
                fprintf(stderr, "bench %s: %s gives a wrong result at item "
                        "%zu\n", CHAPTER, var[v].label, where);
                exit(1);
            }
            if (round >= WARMUP)
                samples[v][round - WARMUP] = t;
        }
        if (round >= WARMUP) {
            ceil_samples[round - WARMUP] = pk_parallel_ceiling(cpus,
                                                               CEILING_S);
            if (ceil_samples[round - WARMUP] <= 0)
                die("pk_parallel_ceiling");
        }
    }
    double t_var[NVAR], best = 0;
    for (size_t v = 0; v < NVAR; v++) {
        pk_stats st;
        if (pk_stats_from(samples[v], RUNS, &st) != 0)
            die("pk_stats_from");
        snprintf(name, sizeof name, "%s", var[v].label);
        if (pk_report_add(r, b2, name, N, &st) != 0)
            die("pk_report_add");
        t_var[v] = st.median;
        if (v > 0 && (best == 0 || st.median < best))
            best = st.median;
    }
    double t_seq = t_var[0];
    pk_stats cst;
    if (pk_stats_from(ceil_samples, RUNS, &cst) != 0)
        die("pk_stats_from");
    double ceiling = cst.median;
    pk_report_note(r, "ceiling (%u busy processes at once, one trial per "
                   "round): median %.2fx, min %.2fx, max %.2fx", cpus,
                   cst.median, cst.min, cst.max);
    for (size_t v = 1; v <= 3; v++)
        pk_report_note(r, "%-28s %.2fx = %3.0f%% of the ceiling",
                       var[v].label, t_seq / t_var[v],
                       100 * t_seq / t_var[v] / ceiling);
    pk_report_note(r, "runs interleaved: %d rounds of every variant (the "
                   "first untimed); every result checked item by item "
                   "against the sequential run", WARMUP + RUNS);

    /* 3. Amdahl: the parts of the whole program that stay serial. */
    serial_ctx sc = {in, want, out, N};
    double t_fill = median_of(fill_all, &sc);
    double t_verify = median_of(verify_all, &sc);
    double t_tstart = median_of(tpool_start_stop, &workers);
    job tiny = {PPOOL, in, cpus, out, capstone_item_literal, NULL, workers, 0};
    double t_fork = median_of(run_job, &tiny);
    /* The pools' whole overhead at this size: the same 10^6 items with the
     * folded item function, which does almost no work. */
    job empty = {SEQ, in, N, out, capstone_item_literal, pool, workers, 0};
    double t_empty_seq = median_of(run_job, &empty);
    empty.mode = TPOOL;
    double t_empty_tpool = median_of(run_job, &empty);
    empty.mode = PPOOL;
    double t_empty_ppool = median_of(run_job, &empty);
    /* The same with the job's arrays in malloc's 4 KiB pages: only
     * while this measurement runs, so that the others fork without them. */
    capstone_item *in4k = malloc(N * sizeof *in4k);
    uint64_t *out4k = malloc(N * sizeof *out4k);
    uint64_t *want4k = malloc(N * sizeof *want4k);
    uint64_t *lit4k = malloc(N * sizeof *lit4k);
    if (in4k == NULL || out4k == NULL || want4k == NULL || lit4k == NULL)
        die("malloc");
    memcpy(in4k, in, N * sizeof *in);
    memcpy(want4k, want, N * sizeof *want);
    memcpy(lit4k, lit, N * sizeof *lit);
    memset(out4k, 0, N * sizeof *out4k);
    job empty4k = {PPOOL, in4k, N, out4k, capstone_item_literal, pool,
                   workers, 0};
    double t_empty_ppool4k = median_of(run_job, &empty4k);
    free(lit4k);
    free(want4k);
    free(out4k);
    free(in4k);
    double serial = t_fill + t_verify;
    double total = serial + t_seq;
    double f = serial / total;
    double p = (double)cpus;
    pk_report_note(r, "%s", "");
    pk_report_note(r, "Amdahl, whole program = fill + map + verify:");
    pk_report_note(r, "  serial: fill %.2f ms + verify %.2f ms = %.2f ms of "
                   "%.1f ms sequential: f = %.2f%%", t_fill * 1e3,
                   t_verify * 1e3, serial * 1e3, total * 1e3, 100 * f);
    pk_report_note(r, "  fixed costs per map: thread pool start+stop %.0f us,"
                   " fork+reap of %u workers %.0f us", t_tstart * 1e6, cpus,
                   t_fork * 1e6);
    pk_report_note(r, "  10^6 items of (almost) no work: sequential %.1f ms, "
                   "thread pool %.1f ms, process pool %.1f ms", t_empty_seq *
                   1e3, t_empty_tpool * 1e3, t_empty_ppool * 1e3);
    pk_report_note(r, "  the same process pool map with the arrays in "
                   "malloc's 4 KiB pages instead of 2 MiB ones: %.1f ms",
                   t_empty_ppool4k * 1e3);
    pk_report_note(r, "  so a pool can reach at most: thread pool %.2fx, "
                   "process pool %.2fx (overhead + sequential / 2)",
                   t_seq / (t_empty_tpool + t_seq / 2),
                   t_seq / (t_empty_ppool + t_seq / 2));
    pk_report_note(r, "  Amdahl bound for p = %u: %.2fx; for p = ceiling "
                   "%.2f: %.2fx", cpus, 1 / (f + (1 - f) / p), ceiling,
                   1 / (f + (1 - f) / ceiling));
    double best_whole = total / (serial + best);
    pk_report_note(r, "  measured whole program with the best driver: %.2fx",
                   best_whole);
    if (cpus > 1) {
        double s = t_seq / best;
        double kf = (1 / s - 1 / p) / (1 - 1 / p);
        pk_report_note(r, "  Karp-Flatt serial fraction of the best map "
                       "(%.2fx on %u): %.2f%%", s, cpus, 100 * kf);
    }

    /* 4. Python, measured now, in this run. */
    py_result py[PY_MAX_RESULTS];
    size_t npy = 0;
    const char *skip = getenv("PK_BENCH_NO_PYTHON");
    if (skip != NULL && *skip == '1') {
        pk_report_note(r, "%s", "");
        pk_report_note(r, "PK_BENCH_NO_PYTHON=1: the Python comparison is "
                       "skipped");
    } else if (have_python3() || getenv("PK_PYTHON") != NULL) {
        const char *b3 = "C vs Python (seconds per 10^6 items)";
        npy = run_python(r, py, PY_MAX_RESULTS, cpus);
        const py_result *seq = py_find(py, npy, "seq");
        if (seq != NULL) {
            struct { const char *name, *label; } rows[] = {
                {"seq", "py sequential"},
                {"processes-chunk1000", "py processes, chunk 1000"},
                {"processes-chunk1", "py processes, chunk 1"},
                {"threads", "py threads"},
                {"seq-mixed", "py sequential, mixed"},
            };
            double py_best = 0;
            for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
                const py_result *x = py_find(py, npy, rows[i].name);
                if (x == NULL)
                    continue;
                pk_stats st = py_scaled(x);
                snprintf(name, sizeof name, "%s (n %zu)", rows[i].label,
                         x->n);
                pk_report_add(r, b3, name, N, &st);
                if (strcmp(rows[i].name, "seq-mixed") != 0 &&
                    (py_best == 0 || st.median < py_best))
                    py_best = st.median;
                /* Python's results must be C's results. */
                int mixed = strcmp(rows[i].name, "seq-mixed") == 0;
                unsigned long long c = checksum(mixed ? want : lit, x->n);
                if (c != x->checksum)
                    pk_report_note(r, "MISMATCH: %s checksum %llu, C says "
                                   "%llu", rows[i].name, x->checksum, c);
            }
            pk_stats cs = {RUNS, t_seq, t_seq, t_seq, t_seq, 0};
            pk_report_add(r, b3, "C sequential", N, &cs);
            pk_stats cb = {RUNS, best, best, best, best, 0};
            pk_report_add(r, b3, "C best parallel", N, &cb);
            double py_seq = py_scaled(seq).median;
            pk_report_note(r, "python rows: measured at n items, scaled to "
                           "10^6 as startup + (time - startup) x 10^6/n; "
                           "their results matched C's (checksums)");
            pk_report_note(r, "C rows: medians from the table above "
                           "(min/max there)");
            pk_report_note(r, "C sequential vs python sequential: %.0fx "
                           "(target >= 70x)", py_seq / t_seq);
            pk_report_note(r, "best C vs best python: %.0fx (target >= 140x)",
                           py_best / best);
        }
    } else {
        pk_report_note(r, "%s", "");
        pk_report_note(r, "python3 is not on the PATH: the Python comparison "
                       "is skipped");
    }

    pk_tpool_destroy(pool);
    pk_report_close(r);
    pk_ppool_free(lit, N * sizeof *lit);
    pk_ppool_free(out, N * sizeof *out);
    pk_ppool_free(want, N * sizeof *want);
    pk_ppool_free(in, N * sizeof *in);
    return 0;
}
