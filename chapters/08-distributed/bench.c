/* bench.c - chapter 08 benchmark: the 10^6-item job on MPI, measured
 * against the sequential run and against libpk's thread and process pools
 * on the same job (pk_tpool_map and pk_ppool_map of job_item_project(), the
 * same item function chapter 07 maps); ping-pong latency and bandwidth by
 * message size; strong and weak scaling at 1, 2 and 4 ranks; the uneven job
 * split statically and handed out by a manager.
 *
 * This program is not an MPI program. It starts the chapter's MPI program
 * through mpirun.sh as a child (launch.h): distjob built from your files
 * (DIST_BENCH_DIR/distjob) and, where solutions/ exists, distjob built from
 * the reference (distjob-ref). The job runs are timed in server mode: each
 * configuration is started once and its ranks wait, blocked on a pipe, until
 * this program says go; every round times every variant once, then one
 * trial of the two-core ceiling, so that all figures of a table come from
 * the same rounds. Every MPI result is checked item by item against the
 * sequential run inside distjob; a variant with a wrong result is not shown.
 *
 * PK_BENCH_QUICK=1: 10^5 items, two rounds, a shorter ping-pong sweep. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "launch.h"
#include "pk/ppool.h"
#include "pk/report.h"
#include "pk/timing.h"
#include "pk/tpool.h"

#ifndef DIST_BENCH_DIR
#define DIST_BENCH_DIR "build/bench/08-distributed" /* chapter.mk sets it */
#endif

#define CHAPTER "08-distributed"
#define ROUNDS 5              /* interleaved rounds; medians over these */
#define QUICK_ROUNDS 2
#define CEILING_S 0.05        /* one busy run of a ceiling trial */
#define MAX_VARIANTS 32
#define SERVER_START_S 180.0  /* all servers start at once: be patient */
#define SERVER_RUN_S 120.0
#define SWEEP_RUNS "5"
#define SWEEP_MAX "4194304"   /* 4 MiB */
#define QUICK_SWEEP_MAX "65536"
#define SWEEP_TIMEOUT_S 300.0
#define WORKERS 2             /* threads, processes, ranks: two cores */

static pk_report *report;
static size_t n_job;          /* the job: 10^6 items (10^5 quick) */

static void die(const char *what)
{
    fprintf(stderr, "bench %s: %s failed: %s\n", CHAPTER, what, strerror(errno));
    exit(1);
}

static const char *yours_path(void)
{
    return DIST_BENCH_DIR "/distjob";
}

/* The reference MPI program, or NULL in the student handout. */
static const char *ref_path(void)
{
    static const char path[] = DIST_BENCH_DIR "/distjob-ref";
    return access(path, X_OK) == 0 ? path : NULL;
}

/* 1 when a run's output says the code is still a PK_TODO stub. */
static int is_todo(const char *out)
{
    return out != NULL && (strstr(out, "TODO ") != NULL ||
                           strstr(out, "errno ENOSYS") != NULL);
}

/* ---- ping-pong: latency and bandwidth ------------------------------------ */

#define MAX_SIZES 16
#define MAX_RUNS 16

typedef struct sweep {
    int ok;                    /* 1: measured */
    int todo;                  /* 1: not written yet */
    size_t nsizes;
    long bytes[MAX_SIZES];
    double t[MAX_SIZES][MAX_RUNS]; /* one-way seconds */
    size_t runs;
} sweep;

/* Run distjob sweep and parse its "pingpong BYTES t1 t2 ..." lines. */
static void run_sweep(const char *prog, const char *const opts[], sweep *s)
{
    const char *av[] = {prog, "sweep", pk_bench_quick() ? QUICK_SWEEP_MAX : SWEEP_MAX,
                        pk_bench_quick() ? "2" : SWEEP_RUNS, NULL};
    launch_run r;

    memset(s, 0, sizeof *s);
    if (launch_mpi(opts, 2, av, SWEEP_TIMEOUT_S, &r) != 0)
        die("launch_mpi (ping-pong sweep)");
    if (!launch_ok(&r)) {
        s->todo = is_todo(r.output);
        launch_run_free(&r);
        return;
    }
    for (const char *p = r.output; (p = strstr(p, "pingpong ")) != NULL; p++) {
        if (p != r.output && p[-1] != '\n')
            continue;
        if (s->nsizes == MAX_SIZES)
            break;
        char *end;
        long bytes = strtol(p + 9, &end, 10);
        size_t k = 0;
        while (*end == ' ' && k < MAX_RUNS) {
            char *next;
            double t = strtod(end, &next);
            if (next == end)
                break;
            s->t[s->nsizes][k++] = t;
            end = next;
        }
        if (k == 0)
            continue;
        s->bytes[s->nsizes++] = bytes;
        s->runs = k;
    }
    s->ok = s->nsizes > 0;
    launch_run_free(&r);
}

static void report_sweep(const char *bench, const char *who, const sweep *s)
{
    char name[64];
    for (size_t i = 0; i < s->nsizes; i++) {
        pk_stats st;
        if (pk_stats_from(s->t[i], s->runs, &st) != 0)
            die("pk_stats_from");
        snprintf(name, sizeof name, "%ld B, %s", s->bytes[i], who);
        if (pk_report_add(report, bench, name, (size_t)s->bytes[i], &st) != 0)
            die("pk_report_add");
    }
}

/* The alpha + n * beta model from one sweep: alpha is the one-way time of
 * the smallest message, beta the time per byte of the largest. */
static void fit(const sweep *s, double *alpha, double *beta)
{
    pk_stats a, b;
    pk_stats_from(s->t[0], s->runs, &a);
    pk_stats_from(s->t[s->nsizes - 1], s->runs, &b);
    *alpha = a.median;
    *beta = (b.median - a.median) / (double)s->bytes[s->nsizes - 1];
}

static void note_sweep(const char *who, const sweep *s)
{
    for (size_t i = 0; i < s->nsizes; i++) {
        pk_stats st;
        pk_stats_from(s->t[i], s->runs, &st);
        pk_report_note(report, "%-9s %8ld B: %9.2f us one way, %9.1f MB/s",
                       who, s->bytes[i], st.median * 1e6,
                       (double)s->bytes[i] / st.median / 1e6);
    }
}

/* Returns the fit of the sweep used for the model (yours if it ran, else
 * the reference's), in *alpha, *beta; 0 if none ran. */
static int bench_pingpong(double *alpha, double *beta)
{
    const char *tcp[] = {"--mca", "btl", "self,tcp", "--mca",
                         "btl_tcp_if_include", "lo", NULL};
    struct { const char *bench, *const *opts; } kinds[] = {
        {"ping-pong, shared memory (vader): one-way time by message size", NULL},
        {"ping-pong, TCP over the loopback interface: one-way time by message size", tcp},
    };
    int have = 0;

    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        sweep mine, ref;
        run_sweep(yours_path(), kinds[k].opts, &mine);
        ref.ok = 0;
        if (ref_path() != NULL)
            run_sweep(ref_path(), kinds[k].opts, &ref);
        if (ref.ok)
            report_sweep(kinds[k].bench, "reference", &ref);
        if (mine.ok)
            report_sweep(kinds[k].bench, "yours", &mine);
        else if (mine.todo)
            pk_report_todo(report, kinds[k].bench, "yours (dist_pingpong)");
        else
            pk_report_note(report, "yours: the sweep failed (run distjob sweep "
                           "by hand to see why)");
        if (mine.ok)
            note_sweep("yours", &mine);
        if (ref.ok)
            note_sweep("reference", &ref);
        if (k == 0 && (mine.ok || ref.ok)) {
            fit(mine.ok ? &mine : &ref, alpha, beta);
            pk_report_note(report, "cost model of one message, alpha + n * beta "
                           "(%s): alpha = %.2f us, 1 / beta = %.0f MB/s",
                           mine.ok ? "yours" : "reference", *alpha * 1e6,
                           1e-6 / *beta);
            have = 1;
        }
    }
    return have;
}

/* ---- the job: variants timed in the same rounds ---------------------------- */

typedef enum vkind { V_SEQ, V_TPOOL, V_PPOOL, V_MPI } vkind;

typedef struct variant {
    const char *label;        /* row name */
    vkind kind;
    size_t n;                 /* items (for the CSV) */
    const job_item *in;       /* in-process variants */
    uint64_t *out;
    job_fn fn;
    launch_server *srv;       /* V_MPI */
    int np;
    int state;                /* 0 running, 1 not written yet, 2 failed,
                                 3 wrong results, 4 no reference here */
    char why[300];
    double t[ROUNDS];
    size_t nt;
} variant;

static variant vs[MAX_VARIANTS];
static size_t nvs;
static pk_tpool *pool;

static void map_one(const void *in, void *out, void *ctx)
{
    job_fn fn = *(job_fn *)ctx;
    *(uint64_t *)out = fn(*(const job_item *)in);
}

static variant *add_local(const char *label, vkind kind, const job_item *in,
                          size_t n, job_fn fn)
{
    variant *v = &vs[nvs++];
    memset(v, 0, sizeof *v);
    v->label = label;
    v->kind = kind;
    v->in = in;
    v->n = n;
    v->fn = fn;
    v->out = malloc(n * sizeof *v->out);
    if (v->out == NULL)
        die("malloc");
    return v;
}

/* An MPI variant: distjob (yours or the reference) with these arguments,
 * started in server mode. */
static variant *add_mpi(const char *label, int ref, int np, size_t n,
                        const char *cmd, const char *a1, const char *a2,
                        const char *a3, const char *a4)
{
    variant *v = &vs[nvs++];
    memset(v, 0, sizeof *v);
    v->label = label;
    v->kind = V_MPI;
    v->np = np;
    v->n = n;
    const char *prog = ref ? ref_path() : yours_path();
    if (prog == NULL) {
        v->state = 4;
        return v;
    }
    char nt[32];
    snprintf(nt, sizeof nt, "%zu", n);
    const char *av[] = {prog, cmd, nt, a1, a2, a3, a4, NULL};
    v->srv = launch_server_start(NULL, np, av, SERVER_START_S);
    if (v->srv == NULL) {
        const char *out = launch_server_last_output();
        v->state = is_todo(out) ? 1 : 2;
        snprintf(v->why, sizeof v->why, "%s", out);
    }
    return v;
}

static int call(variant *v)
{
    switch (v->kind) {
    case V_SEQ:
        job_map_seq(v->in, v->n, v->out, v->fn);
        return 0;
    case V_TPOOL:
        return pk_tpool_map(pool, v->in, v->n, sizeof *v->in, v->out,
                            sizeof *v->out, map_one, &v->fn, 0);
    case V_PPOOL:
        return pk_ppool_map(WORKERS, v->in, v->n, sizeof *v->in, v->out,
                            sizeof *v->out, map_one, &v->fn, 0);
    case V_MPI:
        return launch_server_run(v->srv, SERVER_RUN_S);
    }
    return -1;
}

/* rounds x (every live variant once, rotating the order) + a ceiling
 * trial; returns the median ceiling. */
static double measure(size_t first, size_t last, size_t rounds)
{
    double ceil[ROUNDS];
    unsigned long long iters = pk_ceiling_calibrate(CEILING_S);
    size_t k = last - first;

    for (size_t i = first; i < last; i++) /* warm-up: page faults, pools */
        if (vs[i].state == 0 && call(&vs[i]) != 0) {
            vs[i].state = 2;
            snprintf(vs[i].why, sizeof vs[i].why, "its first run failed: %s",
                     strerror(errno));
        }
    for (size_t r = 0; r < rounds; r++) {
        for (size_t j = 0; j < k; j++) {
            variant *v = &vs[first + (r + j) % k];
            if (v->state != 0)
                continue;
            uint64_t t0 = pk_now_ns();
            if (call(v) != 0) {
                v->state = 2;
                snprintf(v->why, sizeof v->why, "a timed run failed: %s",
                         strerror(errno));
                continue;
            }
            v->t[v->nt++] = (double)(pk_now_ns() - t0) * 1e-9;
        }
        ceil[r] = pk_ceiling_trial(WORKERS, iters);
        fprintf(stderr, "  round %zu of %zu: ceiling %.2fx\n", r + 1, rounds, ceil[r]);
    }
    pk_stats st;
    if (pk_stats_from(ceil, rounds, &st) != 0)
        die("pk_stats_from");
    return st.median;
}

/* Stop the servers; a variant whose results were wrong is marked so. Check
 * the in-process variants against want. */
static void finish(size_t first, size_t last, const uint64_t *want)
{
    for (size_t i = first; i < last; i++) {
        variant *v = &vs[i];
        if (v->kind == V_MPI && v->srv != NULL) {
            char summary[600];
            int rc = launch_server_stop(v->srv, summary, sizeof summary);
            v->srv = NULL;
            if (v->state == 2 && rc != 0 && is_todo(launch_server_last_output()))
                v->state = 1; /* it failed because it is still a PK_TODO */
            else if (v->state == 0 && (rc != 0 || strstr(summary, " bad=0") == NULL)) {
                v->state = 3;
                snprintf(v->why, sizeof v->why, "%.290s", summary);
            }
        } else if (v->kind != V_MPI && want != NULL && v->state == 0) {
            size_t bad = job_first_mismatch(want, v->out, v->n);
            if (bad < v->n) {
                v->state = 3;
                snprintf(v->why, sizeof v->why, "item %zu differs", bad);
            }
        }
    }
}

static double median_of(const variant *v)
{
    pk_stats st;
    return v->nt > 0 && pk_stats_from(v->t, v->nt, &st) == 0 ? st.median : 0;
}

/* Add v's row to a table (or say why there is none). */
static void row(const char *bench, const variant *v)
{
    pk_stats st;
    switch (v->state) {
    case 0:
        if (pk_stats_from(v->t, v->nt, &st) != 0)
            die("pk_stats_from");
        if (pk_report_add(report, bench, v->label, v->n, &st) != 0)
            die("pk_report_add");
        break;
    case 1:
        pk_report_todo(report, bench, v->label);
        break;
    case 2:
        pk_report_note(report, "%s: failed, not timed: %.200s", v->label, v->why);
        break;
    case 3:
        pk_report_note(report, "%s: WRONG results, not timed: %.200s", v->label,
                       v->why);
        break;
    default:
        break; /* no reference in the student handout: no row */
    }
}

static variant *find(size_t first, size_t last, const char *label)
{
    for (size_t i = first; i < last; i++)
        if (strcmp(vs[i].label, label) == 0)
            return &vs[i];
    return NULL;
}

/* "name: 1.85x over sequential, 93% of the ceiling" for the rows given. */
static void note_speedups(const char *const labels[], size_t first, size_t last,
                          const variant *base, double ceiling)
{
    double t0 = median_of(base);
    for (size_t i = 0; labels[i] != NULL; i++) {
        const variant *v = find(first, last, labels[i]);
        double t = v != NULL && v->state == 0 ? median_of(v) : 0;
        if (t > 0 && t0 > 0)
            pk_report_note(report, "%-40s %5.2fx over sequential = %3.0f%% of "
                           "the ceiling", labels[i], t0 / t, 100 * t0 / t / ceiling);
    }
}

int main(void)
{
    int quick = pk_bench_quick();
    size_t rounds = quick ? QUICK_ROUNDS : ROUNDS;
    n_job = quick ? JOB_N / 10 : JOB_N;

    report = pk_report_open(CHAPTER);
    if (report == NULL)
        die("pk_report_open");
    printf("MPI programs: yours %s, reference %s\n", yours_path(),
           ref_path() != NULL ? ref_path() : "(none: no solutions/ here)");

    /* 1. Ping-pong */
    double alpha = 0, beta = 0;
    int have_model = bench_pingpong(&alpha, &beta);

    /* 2. The job: every variant of the scaling and comparison tables,
     * measured in the same rounds. */
    job_item *in = malloc(n_job * sizeof *in);
    uint64_t *want = malloc(n_job * sizeof *want);
    if (in == NULL || want == NULL)
        die("malloc");
    job_fill(in, n_job, 0);
    job_map_seq(in, n_job, want, job_item_project);
    pool = pk_tpool_create(WORKERS);
    if (pool == NULL)
        die("pk_tpool_create");

    fprintf(stderr, "bench %s: starting the MPI programs ...\n", CHAPTER);
    size_t first = nvs;
    variant *seq = add_local("sequential (one process)", V_SEQ, in, n_job,
                             job_item_project);
    add_local("pk_tpool_map, 2 threads", V_TPOOL, in, n_job, job_item_project);
    add_local("pk_ppool_map, 2 processes", V_PPOOL, in, n_job, job_item_project);
    const char *labels_strong[] = {
        "MPI static, 1 rank (yours)", "MPI static, 1 rank (reference)",
        "MPI static, 2 ranks (yours)", "MPI static, 2 ranks (reference)",
        "MPI static, 4 ranks (yours)", "MPI static, 4 ranks (reference)"};
    int nps[] = {1, 1, 2, 2, 4, 4};
    for (size_t i = 0; i < 6; i++)
        add_mpi(labels_strong[i], (int)(i % 2), nps[i], n_job, "static",
                NULL, NULL, NULL, NULL);
    add_mpi("MPI hybrid, 1 rank x 2 threads (yours)", 0, 1, n_job, "static",
            "--threads", "2", NULL, NULL);
    add_mpi("MPI hybrid, 1 rank x 2 threads (reference)", 1, 1, n_job, "static",
            "--threads", "2", NULL, NULL);
    add_mpi("MPI dynamic, manager + 2 workers (yours)", 0, 3, n_job, "dynamic",
            NULL, NULL, NULL, NULL);
    add_mpi("MPI dynamic, manager + 2 workers (reference)", 1, 3, n_job,
            "dynamic", NULL, NULL, NULL, NULL);
    add_mpi("MPI weak, 2 ranks (yours)", 0, 2, n_job, "static", "--weak",
            NULL, NULL, NULL);
    add_mpi("MPI weak, 2 ranks (reference)", 1, 2, n_job, "static", "--weak",
            NULL, NULL, NULL);
    add_mpi("MPI weak, 4 ranks (yours)", 0, 4, n_job, "static", "--weak",
            NULL, NULL, NULL);
    add_mpi("MPI weak, 4 ranks (reference)", 1, 4, n_job, "static", "--weak",
            NULL, NULL, NULL);
    size_t last = nvs;
    fprintf(stderr, "bench %s: timing the job (%zu rounds) ...\n", CHAPTER, rounds);
    double ceiling = measure(first, last, rounds);
    finish(first, last, want);

    const char *strong = "strong scaling: the job, 10^6 items, on 1, 2 and 4 ranks";
    const char *weak = "weak scaling: 10^6 items per rank";
    const char *cmp = "the job on two cores: MPI beside chapter 07's thread and process pools";
    if (quick) {
        strong = "strong scaling: the job, 10^5 items (quick), on 1, 2 and 4 ranks";
        weak = "weak scaling: 10^5 items per rank (quick)";
        cmp = "the job (10^5 items, quick) on two cores: MPI beside the thread and process pools";
    }
    row(strong, seq);
    for (size_t i = 0; i < 6; i++)
        row(strong, find(first, last, labels_strong[i]));
    pk_report_note(report, "ceiling (two busy processes against one), median "
                   "of the rounds: %.2fx", ceiling);
    for (int ref = 0; ref < 2; ref++) {
        const variant *one = find(first, last, labels_strong[ref]);
        double t1 = one != NULL && one->state == 0 ? median_of(one) : 0;
        for (size_t i = 2 + (size_t)ref; i < 6 && t1 > 0; i += 2) {
            const variant *v = find(first, last, labels_strong[i]);
            double tp = v->state == 0 ? median_of(v) : 0;
            if (tp > 0)
                pk_report_note(report, "%-36s efficiency T1 / (p Tp) = %3.0f%%",
                               labels_strong[i], 100 * t1 / (nps[i] * tp));
        }
    }

    row(weak, seq);
    const char *labels_weak[] = {"MPI static, 1 rank (yours)",
        "MPI static, 1 rank (reference)", "MPI weak, 2 ranks (yours)",
        "MPI weak, 2 ranks (reference)", "MPI weak, 4 ranks (yours)",
        "MPI weak, 4 ranks (reference)"};
    for (size_t i = 0; i < 6; i++)
        row(weak, find(first, last, labels_weak[i]));
    for (int ref = 0; ref < 2; ref++) {
        const variant *one = find(first, last, labels_weak[ref]);
        double t1 = one != NULL && one->state == 0 ? median_of(one) : 0;
        for (size_t i = 2 + (size_t)ref; i < 6 && t1 > 0; i += 2) {
            const variant *v = find(first, last, labels_weak[i]);
            double tp = v->state == 0 ? median_of(v) : 0;
            if (tp > 0)
                pk_report_note(report, "%-36s weak efficiency T1 / Tp = %3.0f%%",
                               labels_weak[i], 100 * t1 / tp);
        }
    }

    const char *labels_cmp[] = {"pk_tpool_map, 2 threads", "pk_ppool_map, 2 processes",
        "MPI static, 2 ranks (yours)", "MPI static, 2 ranks (reference)",
        "MPI hybrid, 1 rank x 2 threads (yours)",
        "MPI hybrid, 1 rank x 2 threads (reference)",
        "MPI dynamic, manager + 2 workers (yours)",
        "MPI dynamic, manager + 2 workers (reference)", NULL};
    row(cmp, seq);
    for (size_t i = 0; labels_cmp[i] != NULL; i++)
        row(cmp, find(first, last, labels_cmp[i]));
    note_speedups(labels_cmp, first, last, seq, ceiling);

    /* The model against the measurement: what the scatter and the gather of
     * the 2-rank run should cost, from the ping-pong's alpha and beta. */
    const variant *two = find(first, last, "MPI static, 2 ranks (reference)");
    if (two == NULL || two->state != 0)
        two = find(first, last, "MPI static, 2 ranks (yours)");
    if (have_model && two != NULL && two->state == 0) {
        double half = (double)n_job / 2;
        double comm = 2 * alpha + half * (sizeof(job_item) + sizeof(uint64_t)) * beta;
        double tseq = median_of(seq), t2 = median_of(two);
        pk_report_note(report, "model for 2 ranks: Tseq / 2 + scatter + gather "
                       "= %.1f + %.1f ms = %.1f ms (the items and results of "
                       "rank 1: %.1f MB); measured %.1f ms", tseq / 2 * 1e3,
                       comm * 1e3, (tseq / 2 + comm) * 1e3,
                       half * 24 / 1e6, t2 * 1e3);
        pk_report_note(report, "compute per item: %.3f us; moving one item "
                       "and its result: %.4f us (%.1f%% of its compute)",
                       tseq / (double)n_job * 1e6, 24 * beta * 1e6,
                       100 * 24 * beta / (tseq / (double)n_job));
    }

    /* 3. The uneven job: a static split against the manager. */
    size_t n_uneven = n_job / 4;
    job_item *uin = malloc(n_uneven * sizeof *uin);
    uint64_t *uwant = malloc(n_uneven * sizeof *uwant);
    if (uin == NULL || uwant == NULL)
        die("malloc");
    job_fill_uneven(uin, n_uneven);
    job_map_seq(uin, n_uneven, uwant, job_item_uneven);
    size_t ufirst = nvs;
    variant *useq = add_local("sequential (one process)", V_SEQ, uin, n_uneven,
                              job_item_uneven);
    add_local("pk_tpool_map, 2 threads (dynamic chunks)", V_TPOOL, uin,
              n_uneven, job_item_uneven);
    const char *labels_uneven[] = {
        "MPI static, 2 ranks (yours)", "MPI static, 2 ranks (reference)",
        "MPI dynamic, manager + 2 workers (yours)",
        "MPI dynamic, manager + 2 workers (reference)",
        "MPI dynamic, chunks of 100 (reference)",
        "MPI dynamic, chunks of 10 (reference)"};
    add_mpi(labels_uneven[0], 0, 2, n_uneven, "static", "--uneven", NULL, NULL, NULL);
    add_mpi(labels_uneven[1], 1, 2, n_uneven, "static", "--uneven", NULL, NULL, NULL);
    add_mpi(labels_uneven[2], 0, 3, n_uneven, "dynamic", "--uneven", NULL, NULL, NULL);
    add_mpi(labels_uneven[3], 1, 3, n_uneven, "dynamic", "--uneven", NULL, NULL, NULL);
    add_mpi(labels_uneven[4], 1, 3, n_uneven, "dynamic", "--uneven", "--chunk",
            "100", NULL);
    add_mpi(labels_uneven[5], 1, 3, n_uneven, "dynamic", "--uneven", "--chunk",
            "10", NULL);
    size_t ulast = nvs;
    fprintf(stderr, "bench %s: timing the uneven job (%zu rounds) ...\n",
            CHAPTER, rounds);
    double uceiling = measure(ufirst, ulast, rounds);
    finish(ufirst, ulast, uwant);
    const char *uneven = quick ?
        "uneven items (2.5x10^4, quick; items n/4 to n/2 cost 8x): static split against a manager" :
        "uneven items (2.5x10^5; items n/4 to n/2 cost 8x): static split against a manager";
    row(uneven, useq);
    row(uneven, &vs[ufirst + 1]);
    for (size_t i = 0; i < 6; i++)
        row(uneven, find(ufirst, ulast, labels_uneven[i]));
    pk_report_note(report, "ceiling in these rounds: %.2fx; a static split "
                   "into halves gives rank 0 2.25 of the 2.75 units of work: "
                   "1.22x at best", uceiling);
    const char *labels_un[] = {"pk_tpool_map, 2 threads (dynamic chunks)",
        labels_uneven[0], labels_uneven[1], labels_uneven[2], labels_uneven[3],
        labels_uneven[4], labels_uneven[5], NULL};
    note_speedups(labels_un, ufirst, ulast, useq, uceiling);

    for (size_t i = 0; i < nvs; i++)
        free(vs[i].out);
    pk_tpool_destroy(pool);
    free(in);
    free(want);
    free(uin);
    free(uwant);
    pk_report_close(report);
    return 0;
}
