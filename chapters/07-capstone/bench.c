/* bench.c - chapter 07 benchmark: the Python chapter's 10^6-item job on
 * your code, beside the reference solution (where solutions/ exists),
 * libpk's pools and Python.
 *
 *   1. the item functions: the literal formula the compiler folds, and
 *      the item-dependent one the figures use;
 *   2. the map on every driver: yours, the reference's, libpk's, with the
 *      two-core ceiling measured in every round;
 *   3. the whole job (fill, map, reduce) on your pool with 2 and 4
 *      workers: the figures REPORT.md asks for;
 *   4. what one task costs in each thread pool (and GLib's GThreadPool
 *      when its headers are installed);
 *   5. the reduce against the map;
 *   6. Python, run by bench/capstone.py when python3 is on the PATH
 *      (PK_PYTHON=/path/to/python picks another interpreter;
 *      PK_BENCH_NO_PYTHON=1 skips it).
 *
 * PK_BENCH_QUICK=1 shrinks everything (CI); PK_BENCH_PROFILE=1 only runs
 * your sequential job 20 times, for a profiler (see the lesson).
 *
 * Every parallel result is checked item by item against the sequential one
 * after every timed run: a fast wrong answer is not a result. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capstone.h"
#include "pk/ppool.h"
#include "pk/report.h"
#include "pk/task.h"
#include "pk/timing.h"
#include "pk/tpool.h"
#include "pool.h"
#include "procmap.h"

#ifdef PK_HAVE_GLIB
#include <glib.h>
#endif

PK_REF_DECLARE(capstone_fill);
PK_REF_DECLARE(capstone_item_literal);
PK_REF_DECLARE(capstone_item_mixed);
PK_REF_DECLARE(capstone_run_seq);
PK_REF_DECLARE(capstone_run_pool);
PK_REF_DECLARE(capstone_run_procs);
PK_REF_DECLARE(capstone_run_omp);
PK_REF_DECLARE(capstone_reduce_seq);
PK_REF_DECLARE(capstone_reduce_pool);
PK_REF_DECLARE(cpool_create);
PK_REF_DECLARE(cpool_destroy);
PK_REF_DECLARE(cpool_submit);
PK_REF_DECLARE(cpool_future_get);
PK_REF_DECLARE(cpool_future_free);

#define CHAPTER "07-capstone"
#define FULL_N CAPSTONE_N   /* items in the job, as in the Python chapter */
#define QUICK_N 100000      /* PK_BENCH_QUICK=1 */
#define RUNS 7              /* timed rounds; tables show medians */
#define QUICK_RUNS 3
#define MAX_ROWS 16
#define TASKS 50000         /* empty tasks per bursts run */
#define BURST 64            /* tasks submitted before waiting for them */
#define TRIPS 5000          /* single-task round trips per run */
#define BATCH 100000        /* empty tasks submitted before any wait */
#define PROFILE_REPS 20     /* PK_BENCH_PROFILE=1: sequential jobs run */
#define CEILING_S 0.05      /* seconds of busy work per ceiling trial */
#define PY_N 50000          /* Python items: sequential and chunksize 1000 */
#define PY_N_SLOW 5000      /* Python items: chunksize 1, threads, mixed */
#define PY_RUNS 3           /* Python timed runs per variant */
#define PY_SCRIPT_REL "bench/capstone.py" /* next to this file */

static size_t N = FULL_N;
static size_t runs = RUNS;
static pk_report *report;

static void die(const char *what)
{
    fprintf(stderr, "bench %s: %s failed: %s\n", CHAPTER, what,
            strerror(errno));
    exit(1);
}

/* The benchmark's own copy of the mixed formula (pk_project_item), built
 * with this file's flags: every driver of section 2 maps it, so that they
 * all do the same work whatever your item function does. */
static uint64_t bench_item(capstone_item it)
{
    uint64_t sum = 0;
    uint32_t x = (uint32_t)it.x;
    for (uint32_t k = 0; k < CAPSTONE_INNER; k++) {
        uint64_t t = k ^ x;
        sum += t * t;
    }
    return it.x * it.y + sum;
}

/* The benchmark's own sequential job, the baseline of section 3: the same
 * fill, map and reduce as the exercises, written here. */
static int bench_fill(capstone_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        items[i] = (capstone_item){i, 2 * (uint64_t)i};
    return 0;
}

static int bench_seq(const capstone_item *in, size_t n, uint64_t *out,
                     capstone_fn fn)
{
    for (size_t i = 0; i < n; i++)
        out[i] = fn(in[i]);
    return 0;
}

static int bench_reduce(const uint64_t *res, size_t n, capstone_summary *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s->sum += res[i];
        s->hist[res[i] == 0 ? 0 : 64 - __builtin_clzll(res[i])]++;
    }
    s->count = n;
    return 0;
}

/* libpk's pools call a pk_map_fn. */
static void bench_map_one(const void *in, void *out, void *ctx)
{
    (void)ctx;
    *(uint64_t *)out = bench_item(*(const capstone_item *)in);
}

/* ==== rows: one variant each, run in interleaved rounds ================== */

typedef struct row row;
typedef int (*row_call)(row *r);

struct row {
    const char *name;
    row_call call;          /* one run; 0 or -1 with errno */
    int live;               /* worked in the probe: timed */
    int rc, err;            /* the probe's outcome */
    /* what the calls need */
    const capstone_item *in;
    uint64_t *out;
    const uint64_t *want;   /* checked after every run when not NULL */
    size_t n, chunk, workers;
    capstone_fn fn;
    cpool *pool;            /* yours or the reference's */
    pk_tpool *pk;
    int (*seq)(const capstone_item *, size_t, uint64_t *, capstone_fn);
    int (*on_pool)(cpool *, const capstone_item *, size_t, uint64_t *,
                   capstone_fn, size_t);
    int (*on_procs)(size_t, const capstone_item *, size_t, uint64_t *,
                    capstone_fn, size_t);
    int (*fill)(capstone_item *, size_t);
    int (*reduce_seq)(const uint64_t *, size_t, capstone_summary *);
    int (*reduce_pool)(cpool *, const uint64_t *, size_t, capstone_summary *);
    double part_s[3];       /* whole jobs: fill, map, reduce of the last run */
    /* tasks */
    cpool_future *(*submit)(cpool *, cpool_fn, void *);
    int (*get)(cpool_future *, void **);
    void (*ffree)(cpool_future *);
#ifdef PK_HAVE_GLIB
    GThreadPool *glib;
#endif
};

static int call_seq_loop(row *r)
{
    for (size_t i = 0; i < r->n; i++)
        r->out[i] = r->fn(r->in[i]);
    return 0;
}

static int call_seq(row *r)
{
    errno = 0;
    int rc = r->seq(r->in, r->n, r->out, r->fn);
    if (rc == 0 && errno == ENOSYS)
        return -1; /* an item function still at PK_TODO */
    return rc;
}

static int call_pool(row *r)
{
    return r->on_pool(r->pool, r->in, r->n, r->out, r->fn, r->chunk);
}

static int call_procs(row *r)
{
    return r->on_procs(r->workers, r->in, r->n, r->out, r->fn, r->chunk);
}

static int call_pk_tpool(row *r)
{
    return pk_tpool_map(r->pk, r->in, r->n, sizeof *r->in, r->out,
                        sizeof *r->out, bench_map_one, NULL, r->chunk);
}

static int call_pk_ppool(row *r)
{
    return pk_ppool_map(r->workers, r->in, r->n, sizeof *r->in, r->out,
                        sizeof *r->out, bench_map_one, NULL, r->chunk);
}

/* The whole job: fill, map with the mixed formula, reduce; sequential when
 * r->pool is NULL. Each part is timed too. */
static int call_job(row *r)
{
    capstone_summary s;
    capstone_item *in = (capstone_item *)r->in;
    uint64_t t0 = pk_now_ns();
    int rc = r->fill(in, r->n);
    uint64_t t1 = pk_now_ns();
    errno = 0;
    if (rc == 0)
        rc = r->pool == NULL ? r->seq(in, r->n, r->out, r->fn)
                             : r->on_pool(r->pool, in, r->n, r->out, r->fn, 0);
    if (rc == 0 && errno == ENOSYS && r->pool == NULL)
        rc = -1; /* the item function is still at PK_TODO */
    uint64_t t2 = pk_now_ns();
    if (rc == 0)
        rc = r->pool == NULL ? r->reduce_seq(r->out, r->n, &s)
                             : r->reduce_pool(r->pool, r->out, r->n, &s);
    uint64_t t3 = pk_now_ns();
    r->part_s[0] = (double)(t1 - t0) * 1e-9;
    r->part_s[1] = (double)(t2 - t1) * 1e-9;
    r->part_s[2] = (double)(t3 - t2) * 1e-9;
    return rc;
}

static int call_reduce(row *r)
{
    capstone_summary s;
    return r->pool == NULL ? r->reduce_seq(r->want, r->n, &s)
                           : r->reduce_pool(r->pool, r->want, r->n, &s);
}

static int nothing_task(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static void *nothing_pk(void *arg)
{
    return arg;
}

/* r->n empty tasks, r->chunk at a time: submit them all, then wait. */
static int call_tasks(row *r)
{
    cpool_future **f = (cpool_future **)r->out;
    for (size_t i = 0; i < r->n; i += r->chunk) {
        size_t k = r->n - i < r->chunk ? r->n - i : r->chunk;
        for (size_t j = 0; j < k; j++) {
            f[j] = r->submit(r->pool, nothing_task, NULL);
            if (f[j] == NULL)
                return -1;
        }
        for (size_t j = 0; j < k; j++) {
            if (r->get(f[j], NULL) != 0)
                return -1;
            r->ffree(f[j]);
        }
    }
    return 0;
}

static int call_tasks_pk(row *r)
{
    pk_future **f = (pk_future **)r->out;
    for (size_t i = 0; i < r->n; i += r->chunk) {
        size_t k = r->n - i < r->chunk ? r->n - i : r->chunk;
        for (size_t j = 0; j < k; j++)
            if ((f[j] = pk_tpool_submit(r->pk, nothing_pk, NULL)) == NULL)
                return -1;
        for (size_t j = 0; j < k; j++)
            pk_future_free(f[j]);
    }
    return 0;
}

#ifdef PK_HAVE_GLIB
/* GThreadPool has no futures: a counter under a GMutex says when a burst
 * is done, which costs about what a future's completion does. */
typedef struct glib_wait {
    GMutex mu;
    GCond cv;
    size_t left;
} glib_wait;
static glib_wait gw;

static void glib_task(gpointer data, gpointer user)
{
    (void)data, (void)user;
    g_mutex_lock(&gw.mu);
    if (--gw.left == 0)
        g_cond_signal(&gw.cv);
    g_mutex_unlock(&gw.mu);
}

static int call_tasks_glib(row *r)
{
    for (size_t i = 0; i < r->n; i += r->chunk) {
        size_t k = r->n - i < r->chunk ? r->n - i : r->chunk;
        g_mutex_lock(&gw.mu);
        gw.left = k;
        g_mutex_unlock(&gw.mu);
        for (size_t j = 0; j < k; j++)
            g_thread_pool_push(r->glib, GINT_TO_POINTER(1), NULL);
        g_mutex_lock(&gw.mu);
        while (gw.left > 0)
            g_cond_wait(&gw.cv, &gw.mu);
        g_mutex_unlock(&gw.mu);
    }
    return 0;
}
#endif

static row rows[MAX_ROWS];
static size_t nrows;

static row *add_row(const char *name, row_call call)
{
    if (nrows == MAX_ROWS) {
        errno = ENOSPC;
        die("add_row");
    }
    row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    r->name = name;
    r->call = call;
    return r;
}

/* 1 if r's results are right (or not checked); else says where not. */
static int check_row(const row *r)
{
    size_t where = 0;
    if (r->want == NULL)
        return 1;
    while (where < r->n && r->out[where] == r->want[where])
        where++; /* not capstone_verify(): yours may not be written yet */
    if (where == r->n)
        return 1;
    pk_report_note(report, "\"%s\" gives a wrong result at item %zu: %llu, "
                   "the sequential loop says %llu; it is not timed", r->name,
                   where, (unsigned long long)r->out[where],
                   (unsigned long long)r->want[where]);
    return 0;
}

/* A row that cannot run: your code not written yet ("not written yet" in
 * the table), or the reference in the student handout (no row at all). */
static void missing_row(const char *name, int ref)
{
    if (ref)
        return;
    row *r = add_row(name, NULL);
    r->rc = -1;
    r->err = ENOSYS;
    r->n = N;
}

/* What a table measured. */
typedef struct table {
    pk_stats st[MAX_ROWS];
    double speedup[MAX_ROWS];    /* median of per-round t[base] / t[i] */
    double share[MAX_ROWS];      /* median of per-round speedup / ceiling */
    double ceiling, ceil_min, ceil_max;
} table;

static double median_of(double *v, size_t n)
{
    pk_stats st;
    if (pk_stats_from(v, n, &st) != 0)
        die("pk_stats_from");
    return st.median;
}

/* Probe every row (and warm it up), time the rows that work in interleaved
 * rounds (with a ceiling trial per round when ceil_iters > 0), add them to
 * the report (baseline: row 0), then empty the list. base[i] is the row
 * row i's speedup is paired with (itself: no speedup wanted). */
static void run_table(const char *bench, unsigned long long ceil_iters,
                      const size_t *base, table *out)
{
    double t[RUNS][MAX_ROWS], ceil[RUNS], col[RUNS];

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].call == NULL)
            continue;
        errno = 0;
        rows[i].rc = rows[i].call(&rows[i]);
        rows[i].err = errno;
        rows[i].live = rows[i].rc == 0 && check_row(&rows[i]);
        if (rows[i].rc == 0 && !rows[i].live)
            rows[i].err = EPROTO; /* wrong results: said above */
    }
    for (size_t round = 0; round < runs; round++) {
        for (size_t j = 0; j < nrows; j++) {
            size_t i = (round + j) % nrows; /* rotate the order */
            if (!rows[i].live)
                continue;
            uint64_t t0 = pk_now_ns();
            if (rows[i].call(&rows[i]) != 0)
                die(rows[i].name);
            t[round][i] = (double)(pk_now_ns() - t0) * 1e-9;
            if (!check_row(&rows[i])) {
                errno = EPROTO;
                die(rows[i].name); /* right once, wrong later: a race */
            }
        }
        ceil[round] = 0;
        if (ceil_iters > 0 &&
            (ceil[round] = pk_ceiling_trial(2, ceil_iters)) <= 0)
            die("pk_ceiling_trial");
    }
    if (ceil_iters > 0) {
        pk_stats cs;
        if (pk_stats_from(ceil, runs, &cs) != 0)
            die("pk_stats_from");
        out->ceiling = cs.median;
        out->ceil_min = cs.min;
        out->ceil_max = cs.max;
    }
    for (size_t i = 0; i < nrows; i++) {
        if (!rows[i].live)
            continue;
        for (size_t r = 0; r < runs; r++)
            col[r] = t[r][i];
        if (pk_stats_from(col, runs, &out->st[i]) != 0)
            die("pk_stats_from");
        size_t b = base != NULL ? base[i] : 0;
        if (!rows[b].live)
            continue;
        for (size_t r = 0; r < runs; r++)
            col[r] = t[r][b] / t[r][i];
        out->speedup[i] = median_of(col, runs);
        if (ceil_iters > 0) {
            for (size_t r = 0; r < runs; r++)
                col[r] = t[r][b] / t[r][i] / ceil[r];
            out->share[i] = median_of(col, runs);
        }
    }
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].live) {
            if (pk_report_add(report, bench, rows[i].name, rows[i].n,
                              &out->st[i]) != 0)
                die("pk_report_add");
        } else {
            pk_report_todo(report, bench, rows[i].name);
            if (rows[i].call != NULL && rows[i].err != ENOSYS &&
                rows[i].err != EPROTO)
                pk_report_note(report, "(%s failed: errno %s)", rows[i].name,
                               strerror(rows[i].err));
        }
    }
}

static void clear_rows(void)
{
    nrows = 0;
}

/* ==== the Python comparison ================================================ */

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

#define DEBIAN_PYTHON "/usr/bin/python3" /* the distribution's build */

/* The interpreter the last run_python() reported (sys.executable). */
static char py_executable[512];

/* Run the script with python (NULL: PK_PYTHON, else python3 on the PATH),
 * only the variants in only (NULL: all); fill res with its RESULT lines.
 * Returns how many. */
static size_t run_python(const char *python, const char *only,
                         py_result *res, size_t max, int quick)
{
    char script[1024], cmd[1400], line[512];

    script_path(script, sizeof script);
    if (access(script, R_OK) != 0) {
        pk_report_note(report, "python: %s not found (run make bench from "
                       "the repository root); skipped", script);
        return 0;
    }
    if (python == NULL)
        python = getenv("PK_PYTHON");
    if (python == NULL || *python == '\0' || strchr(python, '\'') != NULL)
        python = "python3";
    snprintf(cmd, sizeof cmd, "'%s' '%s' --n %d --n-slow %d --runs %d "
             "--workers 2 --only '%s'", python, script,
             quick ? PY_N / 25 : PY_N, quick ? PY_N_SLOW / 10 : PY_N_SLOW,
             quick ? 1 : PY_RUNS, only != NULL ? only : "");
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        pk_report_note(report, "python: cannot run %s: %s", cmd,
                       strerror(errno));
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
            pk_report_note(report, "python %s, running bench/capstone.py",
                           line + 7);
            const char *open = strchr(line, '(');
            snprintf(py_executable, sizeof py_executable, "%s",
                     open != NULL ? open + 1 : "");
            py_executable[strcspn(py_executable, ")")] = '\0';
        } else if (strncmp(line, "BUG ", 4) == 0) {
            pk_report_note(report, "the Python chapter's local function on a "
                           "process pool: %s", line + 4);
        }
    }
    int status = pclose(p);
    if (status != 0)
        pk_report_note(report, "python: the script exited with status %d",
                       status);
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

/* A Python measurement at n items, scaled to 10^6: the executor's start-up
 * once, the per-item part times 10^6 / n. */
static pk_stats py_scaled(const py_result *x)
{
    double k = (double)FULL_N / (double)x->n;
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

/* ==== sections ============================================================= */

/* The figures REPORT.md asks for, gathered on the way; < 0: not measured. */
static struct {
    double ceiling, seq_ms, serial_ms, s2, s4, task_mine_us, task_pk_us;
    double py_seq, c_seq, py_best, c_best;
} rep = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};

/* PK_BENCH_PROFILE=1: only your sequential job, PROFILE_REPS times. */
static int profile_only(capstone_item *in, uint64_t *out)
{
    row r = {.in = in, .out = out, .n = N, .fn = capstone_item_mixed,
             .seq = capstone_run_seq, .fill = capstone_fill,
             .reduce_seq = capstone_reduce_seq};
    uint64_t t0 = pk_now_ns();
    for (int k = 0; k < PROFILE_REPS; k++) {
        errno = 0;
        if (call_job(&r) != 0) {
            printf("PK_BENCH_PROFILE=1: your sequential job is not written "
                   "yet (capstone_fill, capstone_run_seq, "
                   "capstone_item_mixed, capstone_reduce_seq): nothing to "
                   "profile\n");
            return 0;
        }
    }
    printf("PK_BENCH_PROFILE=1: your sequential job (fill, map, reduce of "
           "%zu items) %d times in %.2f s\n", N, PROFILE_REPS,
           (double)(pk_now_ns() - t0) * 1e-9);
    return 0;
}

/* 1. The literal formula against the item-dependent one. */
static void section_items(capstone_item *in, uint64_t *want, uint64_t *out)
{
    const char *b = "1. the item function, 10^6 items sequentially";
    row *r = add_row("the benchmark's copy of the mixed formula",
                     call_seq_loop);
    r->in = in;
    r->out = want;
    r->n = N;
    r->fn = bench_item;
    struct { const char *name; capstone_fn fn; int check; } v[] = {
        {"yours: capstone_item_mixed", capstone_item_mixed, 1},
        {"yours: capstone_item_literal (the Python formula)",
         capstone_item_literal, 0},
        {"reference: capstone_item_mixed", PK_REF(capstone_item_mixed), 1},
        {"reference: capstone_item_literal", PK_REF(capstone_item_literal),
         0},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (v[i].fn == NULL) {
            missing_row(v[i].name, 1);
            continue;
        }
        r = add_row(v[i].name, call_seq);
        r->in = in;
        r->out = out;
        r->n = N;
        r->fn = v[i].fn;
        r->seq = i < 2 ? capstone_run_seq : PK_REF(capstone_run_seq);
        r->want = v[i].check ? want : NULL;
    }
    /* The baseline fills want: run it first, alone, before the checks. */
    call_seq_loop(&rows[0]);
    table t;
    run_table(b, 0, NULL, &t);
    for (size_t i = 1; i < nrows; i++)
        if (rows[i].live)
            pk_report_note(report, "%-50s %6.2f ns per item (%.3f ns per "
                           "inner term)", rows[i].name,
                           t.st[i].median * 1e9 / (double)N,
                           t.st[i].median * 1e9 / (double)N / CAPSTONE_INNER);
    pk_report_note(report, "the literal formula's inner sum is the same for "
                   "every item: the compiler computed it once, so its time "
                   "is not work. AVX2 in this build: %s",
#ifdef __AVX2__
                   "on"
#else
                   "off"
#endif
    );
    clear_rows();
}

/* The drivers' signatures. */
typedef int (*pool_driver)(cpool *, const capstone_item *, size_t, uint64_t *,
                           capstone_fn, size_t);
typedef int (*procs_driver)(size_t, const capstone_item *, size_t, uint64_t *,
                            capstone_fn, size_t);

/* 2. The map on every driver. */
static void section_map(capstone_item *in, const uint64_t *want,
                        uint64_t *out, unsigned long long ceil_iters,
                        size_t workers)
{
    char b[128];
    snprintf(b, sizeof b, "2. the map: 10^6 items, %zu workers (speedup and "
             "share of the ceiling paired per round)", workers);
    cpool *mine = cpool_create(workers);
    cpool *ref = PK_REF(cpool_create) ? PK_REF(cpool_create)(workers) : NULL;
    pk_tpool *pk = pk_tpool_create(workers);
    if (pk == NULL)
        die("pk_tpool_create");

    add_row("sequential loop (baseline)", call_seq_loop);
    struct { const char *name; int ref; pool_driver on_pool; cpool *pool;
             procs_driver on_procs; row_call call; size_t chunk; } v[] = {
        {"your pool (capstone_run_pool)", 0, capstone_run_pool, mine, NULL,
         call_pool, 0},
        {"your processes (capstone_run_procs)", 0, NULL, NULL,
         capstone_run_procs, call_procs, 0},
        {"your OpenMP (capstone_run_omp)", 0, NULL, NULL, capstone_run_omp,
         call_procs, 0},
        {"reference pool", 1, PK_REF(capstone_run_pool), ref, NULL,
         call_pool, 0},
        {"reference processes", 1, NULL, NULL, PK_REF(capstone_run_procs),
         call_procs, 0},
        {"reference OpenMP", 1, NULL, NULL, PK_REF(capstone_run_omp),
         call_procs, 0},
        {"libpk pk_tpool_map", 0, NULL, NULL, NULL, call_pk_tpool, 0},
        {"libpk pk_ppool_map", 0, NULL, NULL, NULL, call_pk_ppool, 0},
        {"libpk pk_tpool_map, chunk 1", 0, NULL, NULL, NULL, call_pk_tpool,
         1},
        {"libpk pk_ppool_map, chunk 1", 0, NULL, NULL, NULL, call_pk_ppool,
         1},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (v[i].ref && v[i].on_pool == NULL && v[i].on_procs == NULL) {
            missing_row(v[i].name, 1); /* the student handout */
            continue;
        }
        if (v[i].call == call_pool && v[i].pool == NULL) {
            missing_row(v[i].name, v[i].ref); /* cpool_create failed */
            continue;
        }
        row *r = add_row(v[i].name, v[i].call);
        r->on_pool = v[i].on_pool;
        r->pool = v[i].pool;
        r->on_procs = v[i].on_procs;
        r->pk = pk;
        r->chunk = v[i].chunk;
        r->workers = workers;
    }
    for (size_t i = 0; i < nrows; i++) {
        rows[i].in = in;
        rows[i].n = N;
        rows[i].out = i == 0 ? (uint64_t *)want : out;
        rows[i].want = i == 0 ? NULL : want;
        rows[i].fn = bench_item;
    }
    table t;
    run_table(b, ceil_iters, NULL, &t);
    pk_report_note(report, "ceiling (2 busy processes against 1, one trial "
                   "per round): median %.2fx, min %.2fx, max %.2fx",
                   t.ceiling, t.ceil_min, t.ceil_max);
    double best = 0;
    for (size_t i = 1; i < nrows; i++) {
        if (!rows[i].live)
            continue;
        pk_report_note(report, "%-36s %.2fx = %3.0f%% of the ceiling",
                       rows[i].name, t.speedup[i], 100 * t.share[i]);
        if (i <= 3 && (best == 0 || t.st[i].median < best))
            best = t.st[i].median; /* your fastest driver */
    }
    if (best > 0)
        rep.c_best = best * (double)FULL_N / (double)N;
    clear_rows();
    if (ref != NULL)
        PK_REF(cpool_destroy)(ref);
    cpool_destroy(mine);
    pk_tpool_destroy(pk);
}

/* 3. The whole job on a pool of 2 and of 4, yours and the reference's.
 * Every row's results are checked against the benchmark's (want). */
static void section_job(capstone_item *in, const uint64_t *want,
                        uint64_t *out, unsigned long long ceil_iters)
{
    const char *b = "3. the whole job (fill, map, reduce), 10^6 items: "
                    "REPORT.md's speedups";
    cpool *pools[4] = {cpool_create(2), cpool_create(4), NULL, NULL};
    if (PK_REF(cpool_create) != NULL) {
        pools[2] = PK_REF(cpool_create)(2);
        pools[3] = PK_REF(cpool_create)(4);
    }
    /* Row 0, the baseline, is the benchmark's own sequential job; every
     * other row's speedup is paired with its own sequential job. */
    row *r0 = add_row("the benchmark's sequential job (baseline)", call_job);
    r0->in = in;
    r0->n = N;
    r0->out = out;
    r0->want = want;
    r0->fn = bench_item;
    r0->fill = bench_fill;
    r0->seq = bench_seq;
    r0->reduce_seq = bench_reduce;
    struct { const char *name; int ref; int pool; } v[] = {
        {"yours, sequential", 0, -1},
        {"yours, on your pool of 2", 0, 0},
        {"yours, on your pool of 4", 0, 1},
        {"reference, sequential", 1, -1},
        {"reference, on its pool of 2", 1, 2},
        {"reference, on its pool of 4", 1, 3},
    };
    const size_t base[7] = {0, 1, 1, 1, 4, 4, 4};
    for (size_t i = 0; i < 6; i++) {
        int ref = v[i].ref;
        if ((ref && PK_REF(capstone_fill) == NULL) ||
            (v[i].pool >= 0 && pools[v[i].pool] == NULL)) {
            missing_row(v[i].name, ref);
            continue;
        }
        row *r = add_row(v[i].name, call_job);
        r->in = in;
        r->n = N;
        r->out = out;
        r->want = want;
        r->pool = v[i].pool >= 0 ? pools[v[i].pool] : NULL;
        r->fn = ref ? PK_REF(capstone_item_mixed) : capstone_item_mixed;
        r->fill = ref ? PK_REF(capstone_fill) : capstone_fill;
        r->seq = ref ? PK_REF(capstone_run_seq) : capstone_run_seq;
        r->on_pool = ref ? PK_REF(capstone_run_pool) : capstone_run_pool;
        r->reduce_seq = ref ? PK_REF(capstone_reduce_seq)
                            : capstone_reduce_seq;
        r->reduce_pool = ref ? PK_REF(capstone_reduce_pool)
                             : capstone_reduce_pool;
    }
    table t;
    run_table(b, ceil_iters, base, &t);
    pk_report_note(report, "ceiling in these rounds: median %.2fx (min %.2fx, "
                   "max %.2fx)", t.ceiling, t.ceil_min, t.ceil_max);
    for (size_t i = 1; i < nrows; i++) {
        if (!rows[i].live || base[i] == i || !rows[base[i]].live)
            continue;
        pk_report_note(report, "%-30s %.2fx over its sequential job = %3.0f%% "
                       "of the ceiling", rows[i].name, t.speedup[i],
                       100 * t.share[i]);
    }
    if (rows[1].live) {
        /* The parts of your sequential job, timed inside it: the fill is
         * the part that stays serial; the map is C's sequential time for
         * the comparison with Python. */
        double part[3][RUNS];
        for (size_t k = 0; k < runs; k++) {
            call_job(&rows[1]);
            for (int p = 0; p < 3; p++)
                part[p][k] = rows[1].part_s[p];
        }
        rep.seq_ms = t.st[1].median * 1e3;
        rep.serial_ms = median_of(part[0], runs) * 1e3;
        double map_s = median_of(part[1], runs);
        rep.c_seq = map_s * (double)FULL_N / (double)N;
        pk_report_note(report, "your sequential job, by part (medians of %zu "
                       "more runs): fill %.2f ms, map %.1f ms, reduce %.2f ms",
                       runs, rep.serial_ms, map_s * 1e3,
                       median_of(part[2], runs) * 1e3);
    }
    if (rows[1].live && rows[2].live && rows[3].live) {
        rep.ceiling = t.ceiling;
        rep.s2 = t.speedup[2];
        rep.s4 = t.speedup[3];
    }
    clear_rows();
    for (int k = 3; k >= 0; k--) {
        if (pools[k] == NULL)
            continue;
        if (k >= 2)
            PK_REF(cpool_destroy)(pools[k]);
        else
            cpool_destroy(pools[k]);
    }
}

/* 4. One task's cost in each thread pool. */
static void section_tasks(void)
{
    cpool *mine = cpool_create(2);
    cpool *ref = PK_REF(cpool_create) ? PK_REF(cpool_create)(2) : NULL;
    pk_tpool *pk = pk_tpool_create(2);
    void **slots = malloc(BATCH * sizeof *slots);
    if (pk == NULL || slots == NULL)
        die("pk_tpool_create");
#ifdef PK_HAVE_GLIB
    g_mutex_init(&gw.mu);
    g_cond_init(&gw.cv);
    GThreadPool *gp = g_thread_pool_new(glib_task, NULL, 2, TRUE, NULL);
    if (gp == NULL)
        die("g_thread_pool_new");
#endif
    struct { size_t n, chunk; const char *title; } shape[] = {
        {TASKS, BURST, "4a. empty tasks submitted one at a time in bursts "
                       "of 64, each burst waited for (2 workers)"},
        {TRIPS, 1, "4b. one empty task at a time: submit, wait, repeat "
                   "(2 workers)"},
        {BATCH, BATCH, "4c. 10^5 empty tasks submitted, then all waited for "
                       "(2 workers)"},
    };
    for (size_t s = 0; s < sizeof shape / sizeof shape[0]; s++) {
        size_t n = pk_bench_quick() ? shape[s].n / 10 : shape[s].n;
        row *r = add_row("libpk pk_tpool (baseline)", call_tasks_pk);
        r->pk = pk;
        if (mine != NULL) {
            r = add_row("your cpool", call_tasks);
            r->pool = mine;
            r->submit = cpool_submit;
            r->get = cpool_future_get;
            r->ffree = cpool_future_free;
        } else {
            missing_row("your cpool", 0);
        }
        if (ref != NULL) {
            r = add_row("reference cpool", call_tasks);
            r->pool = ref;
            r->submit = PK_REF(cpool_submit);
            r->get = PK_REF(cpool_future_get);
            r->ffree = PK_REF(cpool_future_free);
        } else {
            missing_row("reference cpool", 1);
        }
#ifdef PK_HAVE_GLIB
        if (shape[s].chunk > 1) {
            r = add_row("GLib GThreadPool", call_tasks_glib);
            r->glib = gp;
        }
#endif
        for (size_t i = 0; i < nrows; i++) {
            rows[i].n = n;
            rows[i].chunk = shape[s].chunk < n ? shape[s].chunk : n;
            rows[i].out = (uint64_t *)slots;
        }
        table t;
        run_table(shape[s].title, 0, NULL, &t);
        for (size_t i = 0; i < nrows; i++) {
            if (!rows[i].live)
                continue;
            double us = t.st[i].median / (double)n * 1e6;
            pk_report_note(report, "%-28s %7.3f us per task", rows[i].name,
                           us);
            if (s == 0 && i == 0)
                rep.task_pk_us = us;
            if (s == 0 && i == 1)
                rep.task_mine_us = us;
        }
        clear_rows();
    }
#ifndef PK_HAVE_GLIB
    pk_report_note(report, "(GLib's GThreadPool is timed too when "
                   "libglib2.0-dev is installed)");
#else
    g_thread_pool_free(gp, FALSE, TRUE);
#endif
    free(slots);
    if (ref != NULL)
        PK_REF(cpool_destroy)(ref);
    cpool_destroy(mine);
    pk_tpool_destroy(pk);
}

/* 5. The reduce against the map, on the same pool. The reduces read the
 * right results (want); their rows have nothing to check. */
static void section_reduce(capstone_item *in, const uint64_t *want,
                           uint64_t *out)
{
    const char *b = "5. the reduce (sum and histogram) against the map, "
                    "10^6 items, 2 workers";
    cpool *mine = cpool_create(2);
    cpool *ref = PK_REF(cpool_create) ? PK_REF(cpool_create)(2) : NULL;
    pk_tpool *pk = pk_tpool_create(2);
    if (pk == NULL)
        die("pk_tpool_create");
    row *r = add_row("libpk pk_tpool_map (baseline)", call_pk_tpool);
    r->pk = pk;
    r->in = in;
    r->n = N;
    r->out = out;
    r->want = want;
    struct { const char *name; row_call call; int ref; cpool *pool; } v[] = {
        {"your map (capstone_run_pool)", call_pool, 0, mine},
        {"your capstone_reduce_pool", call_reduce, 0, mine},
        {"your capstone_reduce_seq", call_reduce, 0, NULL},
        {"reference map", call_pool, 1, ref},
        {"reference capstone_reduce_pool", call_reduce, 1, ref},
    };
    size_t at[5]; /* each variant's row, or MAX_ROWS if it has none */
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int is_seq = v[i].call == call_reduce && v[i].pool == NULL && !v[i].ref;
        at[i] = MAX_ROWS;
        if (v[i].ref && ref == NULL)
            continue; /* the student handout: no reference */
        at[i] = nrows;
        if (v[i].pool == NULL && !is_seq) {
            missing_row(v[i].name, 0); /* your pool is not written yet */
            continue;
        }
        r = add_row(v[i].name, v[i].call);
        r->in = in;
        r->n = N;
        r->fn = bench_item;
        r->pool = v[i].pool;
        r->on_pool = v[i].ref ? PK_REF(capstone_run_pool) : capstone_run_pool;
        r->reduce_seq = capstone_reduce_seq;
        r->reduce_pool = v[i].ref ? PK_REF(capstone_reduce_pool)
                                  : capstone_reduce_pool;
        r->want = want;
        /* the reduces read want; their rows have nothing else to check */
        r->out = v[i].call == call_pool ? out : (uint64_t *)want;
    }
    table t;
    run_table(b, 0, NULL, &t);
#define LIVE(k) (at[k] < nrows && rows[at[k]].live)
    if (LIVE(0) && LIVE(1))
        pk_report_note(report, "your reduce adds %.1f%% to your map (target "
                       "at most 5%%)",
                       100 * t.st[at[1]].median / t.st[at[0]].median);
    if (LIVE(3) && LIVE(4))
        pk_report_note(report, "the reference's adds %.1f%%",
                       100 * t.st[at[4]].median / t.st[at[3]].median);
#undef LIVE
    clear_rows();
    if (ref != NULL)
        PK_REF(cpool_destroy)(ref);
    cpool_destroy(mine);
    pk_tpool_destroy(pk);
}

/* 6. Python, measured now, in this run. */
static void section_python(const uint64_t *want, const uint64_t *lit)
{
    const char *skip = getenv("PK_BENCH_NO_PYTHON");
    if (skip != NULL && *skip == '1') {
        pk_report_note(report, "PK_BENCH_NO_PYTHON=1: the Python comparison "
                       "is skipped");
        return;
    }
    if (!have_python3() && getenv("PK_PYTHON") == NULL) {
        pk_report_note(report, "python3 is not on the PATH: the Python "
                       "comparison is skipped");
        return;
    }
    const char *b = "6. Python, seconds per 10^6 items (measured at n items, "
                    "scaled)";
    py_result py[PY_MAX_RESULTS];
    size_t npy = run_python(NULL, NULL, py, PY_MAX_RESULTS, pk_bench_quick());
    struct { const char *name, *label; } v[] = {
        {"seq", "python sequential"},
        {"processes-chunk1000", "python processes, chunksize 1000"},
        {"processes-chunk1", "python processes, chunksize 1"},
        {"threads", "python threads"},
        {"seq-mixed", "python sequential, mixed formula"},
    };
    char name[128];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        const py_result *x = py_find(py, npy, v[i].name);
        if (x == NULL)
            continue;
        pk_stats st = py_scaled(x);
        snprintf(name, sizeof name, "%s (n %zu)", v[i].label, x->n);
        pk_report_add(report, b, name, FULL_N, &st);
        if (i == 0)
            rep.py_seq = st.median;
        if (i < 4 && i > 0 && (rep.py_best < 0 || st.median < rep.py_best))
            rep.py_best = st.median;
        /* Python's results must be C's results. */
        int mixed = strcmp(v[i].name, "seq-mixed") == 0;
        if (x->n <= N) {
            unsigned long long c = checksum(mixed ? want : lit, x->n);
            if (c != x->checksum)
                pk_report_note(report, "MISMATCH: %s checksum %llu, C says "
                               "%llu", v[i].name, x->checksum, c);
        }
    }
    /* Interpreters differ by 2 to 3x (pyenv builds without profile-guided
     * optimisation unless asked): time the distribution's too. */
    char *real = realpath(DEBIAN_PYTHON, NULL);
    if (npy > 0 && !pk_bench_quick() && real != NULL &&
        access(DEBIAN_PYTHON, X_OK) == 0 &&
        strcmp(py_executable, DEBIAN_PYTHON) != 0 &&
        strcmp(py_executable, real) != 0) {
        py_result deb[1];
        if (run_python(DEBIAN_PYTHON, "seq", deb, 1, 0) == 1) {
            pk_stats st = py_scaled(&deb[0]);
            snprintf(name, sizeof name, "%s sequential (n %zu)",
                     DEBIAN_PYTHON, deb[0].n);
            pk_report_add(report, b, name, FULL_N, &st);
            if (rep.c_seq > 0)
                pk_report_note(report, "C sequential is %.0fx faster than "
                               "%s, %.0fx faster than python3 on the PATH",
                               st.median / rep.c_seq, DEBIAN_PYTHON,
                               rep.py_seq / rep.c_seq);
        }
    }
    free(real);
    if (npy > 0) {
        pk_report_note(report, "python rows: measured at n items, scaled to "
                       "10^6 as startup + (time - startup) x 10^6/n; their "
                       "results matched C's (checksums) unless a MISMATCH "
                       "line says otherwise");
    }
}

/* The fields of REPORT.md this run measured, ready to copy. */
static void print_report_fields(void)
{
    pk_report_note(report, "%s", "");
    pk_report_note(report, "REPORT.md fields from this run (your code; the "
                   "fields not listed here are yours to compute):");
    pk_report_note(report, "- cpus: %u", pk_cpu_count());
#define FIELD(name, value, fmt)                                             \
    do {                                                                    \
        if ((value) >= 0)                                                   \
            pk_report_note(report, "- " name ": " fmt, (value));           \
        else                                                                \
            pk_report_note(report, "- " name ": (not measured: your code "  \
                           "is not written yet, or Python was skipped)");   \
    } while (0)
    FIELD("ceiling, 2 processes", rep.ceiling, "%.2f");
    FIELD("sequential job, ms", rep.seq_ms, "%.1f");
    FIELD("serial part, ms", rep.serial_ms, "%.2f");
    FIELD("measured speedup, 2 workers", rep.s2, "%.2f");
    FIELD("measured speedup, 4 workers", rep.s4, "%.2f");
    FIELD("empty task, my pool, us", rep.task_mine_us, "%.3f");
    FIELD("empty task, pk_tpool, us", rep.task_pk_us, "%.3f");
    FIELD("Python sequential, s per 10^6 items", rep.py_seq, "%.1f");
    FIELD("C sequential, s per 10^6 items", rep.c_seq, "%.4f");
    FIELD("Python best, s per 10^6 items", rep.py_best, "%.1f");
    FIELD("C best, s per 10^6 items", rep.c_best, "%.4f");
#undef FIELD
    if (N != FULL_N)
        pk_report_note(report, "(PK_BENCH_QUICK=1: %zu items, %zu rounds: "
                       "run without it for the report)", N, runs);
}

int main(void)
{
    if (pk_bench_quick()) {
        N = QUICK_N;
        runs = QUICK_RUNS;
    }
    /* The arrays live in 2 MiB pages (pk_ppool_alloc): every fork of a
     * process map copies the page tables of all of them, and huge pages
     * make those tables 512 times smaller. */
    capstone_item *in = pk_ppool_alloc(N * sizeof *in);
    uint64_t *want = pk_ppool_alloc(N * sizeof *want);
    uint64_t *out = pk_ppool_alloc(N * sizeof *out);
    uint64_t *lit = pk_ppool_alloc(N * sizeof *lit);
    if (in == NULL || want == NULL || out == NULL || lit == NULL)
        die("pk_ppool_alloc");
    for (size_t i = 0; i < N; i++) {
        in[i] = (capstone_item){i, 2 * (uint64_t)i};
        lit[i] = i * 2 * (uint64_t)i + CAPSTONE_INNER_SUM;
    }

    const char *prof = getenv("PK_BENCH_PROFILE");
    if (prof != NULL && *prof == '1')
        return profile_only(in, out);

    report = pk_report_open(CHAPTER);
    if (report == NULL)
        die("pk_report_open");
    unsigned long long ceil_iters = pk_ceiling_calibrate(CEILING_S);
    size_t workers = pk_cpu_count();

    section_items(in, want, out);
    section_map(in, want, out, ceil_iters, workers);
    section_job(in, want, out, ceil_iters);
    for (size_t i = 0; i < N; i++) /* section 3 refilled in: same data */
        in[i] = (capstone_item){i, 2 * (uint64_t)i};
    section_tasks();
    section_reduce(in, want, out);
    section_python(want, lit);
    print_report_fields();

    pk_report_close(report);
    pk_ppool_free(lit, N * sizeof *lit);
    pk_ppool_free(out, N * sizeof *out);
    pk_ppool_free(want, N * sizeof *want);
    pk_ppool_free(in, N * sizeof *in);
    return 0;
}
