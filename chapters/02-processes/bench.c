/* bench.c - chapter 02 benchmark: what a process costs, what a chunk costs,
 * and threads against processes on the same CPU-bound map.
 *
 *   1. spawn cost: fork+waitpid vs pthread_create+join (and fork with a big
 *      parent, and fork with a result through a pipe);
 *   2. fork per task (proc_run_each) vs a pool of workers (proc_map);
 *   3. the Python practice project's map, 10^6 items, chunk sizes 1, 10,
 *      100, 1000 and automatic, in microseconds per item;
 *   4. the same sweep with empty items: the map's own overhead per item;
 *   5. threads vs processes: pk_tpool_map, pk_ppool_map, proc_map, and the
 *      four-task case the Python chapter measured;
 *   6. the targets, measured with sequential and parallel runs
 *      interleaved, so that a change in the machine's load hits both alike.
 *
 * The Python figures printed beside ours were measured on this machine with
 * Python 3.11 (see DESIGN.md).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pk/ppool.h"
#include "pk/report.h"
#include "pk/task.h"
#include "pk/timing.h"
#include "pk/tpool.h"
#include "processes.h"

#define CHAPTER "02-processes"
#define SPAWNS_PER_RUN 200          /* fork+wait pairs per timed run */
#define BIG_PARENT_BYTES (256u << 20) /* touched memory for "fork, big parent" */
#define PROJECT_N 1000000           /* the practice project's 10^6 items */
#define PROJECT_WORK 1000           /* sum(i * i for i in range(1000)) */
#define TASKS_N 2000                /* fork-per-task benchmark */
#define TASK_WORK 20000             /* pk_cpu_task size of one such task */
#define FOUR_TASKS 4                /* the Python chapter's four CPU tasks */
#define FOUR_TASK_WORK 50000000     /* ~50 ms each */
#define WARMUP 1
#define RUNS 7
#define TARGET_RUNS 11              /* interleaved pairs for the target check */

/* The Python figures, for the notes. */
#define PY_SEQ_S 24.2
#define PY_CHUNK1_S 70.2
#define PY_CHUNK1000_S 13.9
#define PY_THREADS_S 66.8

static unsigned g_nprocs; /* workers for every parallel variant */

/* Report a measurement whose runs each did `per_run` operations, per op. */
static void add_per_op(pk_report *r, const char *bench, const char *variant,
                       size_t n, pk_stats st, double per_run)
{
    st.min /= per_run;
    st.median /= per_run;
    st.mean /= per_run;
    st.max /= per_run;
    st.stddev /= per_run;
    pk_report_add(r, bench, variant, n, &st);
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* ---- 1. spawn cost ------------------------------------------------------ */

static void fork_wait(void *ctx)
{
    (void)ctx;
    for (int k = 0; k < SPAWNS_PER_RUN; k++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0)
            _exit(0);
        if (waitpid(pid, NULL, 0) < 0)
            die("waitpid");
    }
}

static void *nothing(void *arg)
{
    return arg;
}

static void thread_join(void *ctx)
{
    (void)ctx;
    for (int k = 0; k < SPAWNS_PER_RUN; k++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0)
            die("pthread_create");
        pthread_join(t, NULL);
    }
}

static void one_u64(const void *in, void *out, void *ctx)
{
    (void)ctx;
    *(uint64_t *)out = *(const uint64_t *)in + 1;
}

static void run_each_one(void *ctx)
{
    (void)ctx;
    uint64_t in = 1, out;
    for (int k = 0; k < SPAWNS_PER_RUN; k++)
        if (proc_run_each(&in, 1, sizeof in, &out, sizeof out, one_u64, NULL,
                          1, NULL) != 0)
            die("proc_run_each");
}

static void bench_spawn(pk_report *r)
{
    const char *b = "start and reap one worker (per worker)";
    pk_stats st;

    pk_bench(fork_wait, NULL, WARMUP, RUNS, &st);
    add_per_op(r, b, "fork + waitpid", SPAWNS_PER_RUN, st, SPAWNS_PER_RUN);
    pk_bench(thread_join, NULL, WARMUP, RUNS, &st);
    add_per_op(r, b, "pthread_create + join", SPAWNS_PER_RUN, st,
               SPAWNS_PER_RUN);
    pk_bench(run_each_one, NULL, WARMUP, RUNS, &st);
    add_per_op(r, b, "fork + pipe + result (run_each)", SPAWNS_PER_RUN, st,
               SPAWNS_PER_RUN);

    /* fork() copies the page tables: a parent with more memory mapped
     * forks more slowly, even though no page is copied. */
    char *big = malloc(BIG_PARENT_BYTES);
    if (big == NULL)
        die("malloc");
    memset(big, 1, BIG_PARENT_BYTES);
    pk_bench(fork_wait, NULL, WARMUP, RUNS, &st);
    add_per_op(r, b, "fork + waitpid, 256 MiB parent", SPAWNS_PER_RUN, st,
               SPAWNS_PER_RUN);
    pk_report_note(r, "  -> %.3f us per 4 KiB page of the parent (page "
                   "tables are copied, pages are not)",
                   st.median / SPAWNS_PER_RUN * 1e6 /
                       (double)(BIG_PARENT_BYTES / 4096));
    pk_consume_u64((uint64_t)big[BIG_PARENT_BYTES - 1]);
    free(big);
}

/* ---- 2. fork per task vs a pool ----------------------------------------- */

static void cpu_item(const void *in, void *out, void *ctx)
{
    (void)ctx;
    *(uint64_t *)out = pk_cpu_task(*(const uint64_t *)in);
}

typedef struct map_job {
    const void *in;
    void *out;
    size_t n, in_size, out_size, chunk;
    pk_map_fn fn;
    pk_tpool *pool;
} map_job;

static void job_sequential(void *ctx)
{
    map_job *j = ctx;
    for (size_t i = 0; i < j->n; i++)
        j->fn((const char *)j->in + i * j->in_size,
              (char *)j->out + i * j->out_size, NULL);
}

static void job_run_each(void *ctx)
{
    map_job *j = ctx;
    if (proc_run_each(j->in, j->n, j->in_size, j->out, j->out_size, j->fn,
                      NULL, g_nprocs, NULL) != 0)
        die("proc_run_each");
}

static void job_proc_map(void *ctx)
{
    map_job *j = ctx;
    if (proc_map(g_nprocs, j->in, j->n, j->in_size, j->out, j->out_size,
                 j->fn, NULL, j->chunk, NULL) != 0)
        die("proc_map");
}

static void job_ppool(void *ctx)
{
    map_job *j = ctx;
    if (pk_ppool_map(g_nprocs, j->in, j->n, j->in_size, j->out, j->out_size,
                     j->fn, NULL, j->chunk) != 0)
        die("pk_ppool_map");
}

static void job_tpool(void *ctx)
{
    map_job *j = ctx;
    if (pk_tpool_map(j->pool, j->in, j->n, j->in_size, j->out, j->out_size,
                     j->fn, NULL, j->chunk) != 0)
        die("pk_tpool_map");
}

static void note_ceiling(pk_report *r, double ceiling)
{
    pk_report_note(r, "%u workers; this machine's parallel ceiling: %.2fx "
                   "(two independent busy processes)", g_nprocs, ceiling);
}

static void bench_fork_per_task(pk_report *r, double ceiling)
{
    const char *b = "2000 tasks of pk_cpu_task(20000): fork per task vs pool";
    uint64_t *in = malloc(TASKS_N * sizeof *in);
    uint64_t *out = malloc(TASKS_N * sizeof *out);
    if (in == NULL || out == NULL)
        die("malloc");
    for (size_t i = 0; i < TASKS_N; i++)
        in[i] = TASK_WORK;
    map_job j = {in, out, TASKS_N, sizeof *in, sizeof *out, 0, cpu_item,
                 NULL};
    pk_stats st;

    pk_bench(job_sequential, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "sequential", TASKS_N, &st);
    pk_bench(job_run_each, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "fork per task (proc_run_each)", TASKS_N, &st);
    pk_bench(job_proc_map, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "pool, chunk auto (proc_map)", TASKS_N, &st);
    pk_bench(job_ppool, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "pool, chunk auto (pk_ppool_map)", TASKS_N, &st);
    note_ceiling(r, ceiling);
    free(in);
    free(out);
}

/* ---- 3. and 4. the chunk-size sweep --------------------------------------- */

/* The practice project's data: (i, 2i); its process_item: x*y + the sum. */
typedef struct pair {
    uint64_t x, y;
} pair;

static void process_item(const void *in, void *out, void *ctx)
{
    (void)ctx;
    const pair *p = in;
    *(uint64_t *)out = p->x * p->y + pk_cpu_task(PROJECT_WORK);
}

/* An item that costs nothing: what is left is the map's own overhead. */
static void empty_item(const void *in, void *out, void *ctx)
{
    (void)ctx;
    const pair *p = in;
    *(uint64_t *)out = p->x + p->y;
}

/* Median time of one variant, in microseconds per item, as a note. */
static void note_per_item(pk_report *r, const pk_stats *st, size_t n,
                          const char *python)
{
    pk_report_note(r, "  -> %.4f us per item%s%s", st->median * 1e6 / (double)n,
                   python ? "   | Python: " : "", python ? python : "");
}

static void sweep(pk_report *r, const char *b, pk_map_fn fn, double ceiling,
                  int with_python)
{
    size_t n = PROJECT_N;
    pair *in = malloc(n * sizeof *in);
    uint64_t *out = malloc(n * sizeof *out);
    if (in == NULL || out == NULL)
        die("malloc");
    for (size_t i = 0; i < n; i++)
        in[i] = (pair){i, 2 * i};
    map_job j = {in, out, n, sizeof *in, sizeof *out, 0, fn, NULL};
    pk_stats st;
    char py[128];

    pk_bench(job_sequential, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "sequential", n, &st);
    snprintf(py, sizeof py, "%.1f s, %.1f us per item", PY_SEQ_S, PY_SEQ_S);
    note_per_item(r, &st, n, with_python ? py : NULL);

    const size_t chunks[] = {1, 10, 100, 1000, 0};
    const char *names[] = {"proc_map, chunk 1", "proc_map, chunk 10",
                           "proc_map, chunk 100", "proc_map, chunk 1000",
                           "proc_map, chunk auto"};
    for (size_t k = 0; k < 5; k++) {
        j.chunk = chunks[k];
        pk_bench(job_proc_map, &j, WARMUP, RUNS, &st);
        pk_report_add(r, b, names[k], n, &st);
        const char *note = NULL;
        if (with_python && chunks[k] == 1) {
            snprintf(py, sizeof py, "chunksize 1: %.1f s, %.2fx",
                     PY_CHUNK1_S, PY_SEQ_S / PY_CHUNK1_S);
            note = py;
        } else if (with_python && chunks[k] == 1000) {
            snprintf(py, sizeof py, "chunksize 1000: %.1f s, %.2fx",
                     PY_CHUNK1000_S, PY_SEQ_S / PY_CHUNK1000_S);
            note = py;
        }
        note_per_item(r, &st, n, note);
    }
    j.chunk = 0;
    pk_bench(job_ppool, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "pk_ppool_map, chunk auto", n, &st);
    note_per_item(r, &st, n, NULL);
    note_ceiling(r, ceiling);
    free(in);
    free(out);
}

/* ---- 5. threads vs processes ------------------------------------------------ */

static void bench_threads_vs_processes(pk_report *r, double ceiling)
{
    pk_tpool *pool = pk_tpool_create(g_nprocs > 1 ? g_nprocs - 1 : 1);
    if (pool == NULL)
        die("pk_tpool_create");
    pk_stats st;

    /* The practice project's map. */
    const char *b = "practice project map, 10^6 items: threads vs processes";
    size_t n = PROJECT_N;
    pair *in = malloc(n * sizeof *in);
    uint64_t *out = malloc(n * sizeof *out);
    if (in == NULL || out == NULL)
        die("malloc");
    for (size_t i = 0; i < n; i++)
        in[i] = (pair){i, 2 * i};
    map_job j = {in, out, n, sizeof *in, sizeof *out, 0, process_item, pool};
    pk_bench(job_sequential, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "sequential", n, &st);
    pk_bench(job_tpool, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "pk_tpool_map (threads)", n, &st);
    pk_report_note(r, "  Python ThreadPoolExecutor: %.1f s, %.2fx (the GIL)",
                   PY_THREADS_S, PY_SEQ_S / PY_THREADS_S);
    pk_bench(job_ppool, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "pk_ppool_map (processes)", n, &st);
    pk_bench(job_proc_map, &j, WARMUP, RUNS, &st);
    pk_report_add(r, b, "proc_map (processes)", n, &st);
    note_ceiling(r, ceiling);
    free(in);
    free(out);

    /* The Python chapter's four CPU tasks, one item each. */
    b = "four CPU tasks of pk_cpu_task(5e7): threads vs processes";
    uint64_t tin[FOUR_TASKS], tout[FOUR_TASKS];
    for (size_t i = 0; i < FOUR_TASKS; i++)
        tin[i] = FOUR_TASK_WORK;
    map_job t = {tin, tout, FOUR_TASKS, sizeof *tin, sizeof *tout, 1,
                 cpu_item, pool};
    pk_bench(job_sequential, &t, WARMUP, RUNS, &st);
    pk_report_add(r, b, "sequential", FOUR_TASKS, &st);
    pk_bench(job_tpool, &t, WARMUP, RUNS, &st);
    pk_report_add(r, b, "pk_tpool_map (threads)", FOUR_TASKS, &st);
    pk_report_note(r, "  Python, 2 threads: 1.06x");
    pk_bench(job_ppool, &t, WARMUP, RUNS, &st);
    pk_report_add(r, b, "pk_ppool_map (processes)", FOUR_TASKS, &st);
    pk_report_note(r, "  Python, process pool: 1.73x");
    pk_bench(job_run_each, &t, WARMUP, RUNS, &st);
    pk_report_add(r, b, "proc_run_each (fork per task)", FOUR_TASKS, &st);
    note_ceiling(r, ceiling);
    pk_tpool_destroy(pool);
}

/* ---- 6. the targets, interleaved ---------------------------------------------- */

static double seconds_of(void (*fn)(void *), void *ctx)
{
    uint64_t t0 = pk_now_ns();
    fn(ctx);
    return (double)(pk_now_ns() - t0) * 1e-9;
}

/* Time baseline and variant alternately, TARGET_RUNS times each, after one
 * warm-up of each. On a machine shared with other work the load drifts;
 * back-to-back pairs see the same load, separate series may not. */
static void interleaved(void (*base)(void *), void (*var)(void *), void *ctx,
                        pk_stats *sb, pk_stats *sv)
{
    double tb[TARGET_RUNS], tv[TARGET_RUNS];

    base(ctx);
    var(ctx);
    for (size_t k = 0; k < TARGET_RUNS; k++) {
        tb[k] = seconds_of(base, ctx);
        tv[k] = seconds_of(var, ctx);
    }
    pk_stats_from(tb, TARGET_RUNS, sb);
    pk_stats_from(tv, TARGET_RUNS, sv);
}

static void bench_targets(pk_report *r, double *speedup, double *ceiling,
                          double *overhead_us)
{
    size_t n = PROJECT_N;
    pair *in = malloc(n * sizeof *in);
    uint64_t *out = malloc(n * sizeof *out);
    if (in == NULL || out == NULL)
        die("malloc");
    for (size_t i = 0; i < n; i++)
        in[i] = (pair){i, 2 * i};
    map_job j = {in, out, n, sizeof *in, sizeof *out, 0, process_item, NULL};
    pk_stats sb, sv;

    *ceiling = pk_parallel_ceiling(g_nprocs, 0.2);
    const char *b = "target: practice project, proc_map chunk auto, "
                    "interleaved runs";
    interleaved(job_sequential, job_proc_map, &j, &sb, &sv);
    pk_report_add(r, b, "sequential", n, &sb);
    pk_report_add(r, b, "proc_map, chunk auto", n, &sv);
    *speedup = pk_report_last_speedup(r);
    note_per_item(r, &sv, n, NULL);
    pk_report_note(r, "parallel ceiling measured just before: %.2fx; "
                   "efficiency %.0f%%", *ceiling,
                   *ceiling > 0 ? 100 * *speedup / *ceiling : 0);

    b = "target: empty items, proc_map chunk auto, interleaved runs";
    j.fn = empty_item;
    interleaved(job_sequential, job_proc_map, &j, &sb, &sv);
    pk_report_add(r, b, "sequential", n, &sb);
    pk_report_add(r, b, "proc_map, chunk auto", n, &sv);
    note_per_item(r, &sv, n, NULL);
    *overhead_us = sv.median * 1e6 / (double)n;
    free(in);
    free(out);
}

int main(void)
{
    pk_report *r = pk_report_open(CHAPTER);
    if (r == NULL)
        die("pk_report_open");
    g_nprocs = pk_cpu_count();
    double ceiling = pk_parallel_ceiling(g_nprocs, 0.2);
    pk_report_note(r, "%u CPUs; parallel ceiling %.2fx", g_nprocs, ceiling);

    bench_spawn(r);
    bench_fork_per_task(r, ceiling);

    sweep(r, "practice project: x*y + sum(i*i for i < 1000), chunk sweep",
          process_item, ceiling, 1);
    sweep(r, "empty items (map overhead only), chunk sweep", empty_item,
          ceiling, 0);
    bench_threads_vs_processes(r, ceiling);

    double t_speedup, t_ceiling, t_overhead;
    bench_targets(r, &t_speedup, &t_ceiling, &t_overhead);
    pk_report_note(r, "targets: map overhead <= 0.05 us per item: %.4f us "
                   "(%s); speedup >= 1.9x over sequential: %.2fx (%s) with "
                   "a ceiling of %.2fx", t_overhead,
                   t_overhead <= 0.05 ? "met" : "NOT met", t_speedup,
                   t_speedup >= 1.9 ? "met" : "NOT met", t_ceiling);
    pk_report_close(r);
    return 0;
}
