/* bench.c - chapter 02 benchmark: what a process costs, what a chunk costs,
 * and threads against processes on the same CPU-bound map. It measures YOUR
 * processes.c (chapters/02-processes, or SUBMISSION) and, where the course's
 * solutions/ folder exists, the reference solution beside it, in the same
 * interleaved rounds. A function still at PK_TODO shows "not written yet".
 *
 *   1. starting and reaping one worker: fork + waitpid, pthread_create +
 *      join, proc_run_each() of one task; then fork with a 256 MiB parent,
 *      in 4 KiB pages and in 2 MiB huge pages;
 *   2. fork per task (proc_run_each) against a pool (proc_map);
 *   3. the practice project's map, 10^6 items, chunk sizes 1 to 1000 and
 *      automatic: what chunking does in C;
 *   4. the same sweep with empty items: the map's own cost per item;
 *   5. threads against processes on the practice project's map, and on the
 *      Python chapter's four CPU tasks.
 *
 * Every table times its variants in interleaved rounds (the order rotates
 * from round to round), and the parallel ones measure the machine's
 * two-core ceiling in every round: a speedup is read against what two
 * independent busy processes got at that moment. The Python figures
 * printed beside ours were measured on the course's machine with Python
 * 3.11 (see the lesson, section 4). PK_BENCH_QUICK=1 runs a short version.
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
#define ROUNDS 5                    /* timed rounds per table */
#define QUICK_ROUNDS 3
#define MAX_VARIANTS 16
#define CEILING_TRIAL_S 0.05        /* one busy run of the ceiling trial */
#define PERF_WORKERS 2              /* workers of every parallel variant */
#define SPAWNS_PER_RUN 200          /* fork+wait pairs per timed run */
#define BIG_PARENT_BYTES ((size_t)256 << 20) /* "fork, big parent" */
#define FORKS_BIG_PARENT 20         /* forks per timed run with it */
#define PROJECT_N 1000000           /* the practice project's 10^6 items */
#define PROJECT_WORK 1000           /* sum(i * i for i in range(1000)) */
#define TASKS_N 2000                /* fork-per-task benchmark */
#define TASK_WORK 20000             /* pk_cpu_task size of one such task */
#define FOUR_TASKS 4                /* the Python chapter's four CPU tasks */
#define FOUR_TASK_WORK 50000000     /* about 30 ms each */
#define OVERHEAD_TARGET 0.25        /* the performance test's target */

/* The Python figures, for the notes (the lesson's section 4). */
#define PY_SEQ_S 24.2
#define PY_CHUNK1_S 70.2
#define PY_CHUNK1000_S 13.9
#define PY_THREADS_S 66.8

/* The reference solution, renamed pk_ref_* by make bench; NULL in the
 * student handout. */
PK_REF_DECLARE(proc_run_each);
PK_REF_DECLARE(proc_map);

typedef __typeof__(proc_run_each) run_each_impl;
typedef __typeof__(proc_map) map_impl;

static size_t g_rounds = ROUNDS;
static unsigned long long g_ceiling_iters;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes);
    if (p == NULL)
        die("malloc");
    return p;
}

/* The sequential baselines write into a MAP_SHARED array: fork() never
 * write-protects shared pages, so the baseline costs what it would in a
 * program that never forks, whatever the variants around it forked. (A
 * private array is write-protected by every fork, and the next write to
 * each of its pages faults: see the lesson, section 8.) */
static void *shared_out(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

/* ---- timing a table ------------------------------------------------------ */

/* One row of a table. fn records a failed call's errno in *err (ENOSYS:
 * still a PK_TODO); err is NULL for code that cannot fail. */
typedef struct variant {
    const char *name;
    void (*fn)(void *ctx);
    void *ctx;
    int *err;
    int parallel; /* 1: report its share of the two-core ceiling */
} variant;

static double seconds_of(const variant *v)
{
    uint64_t t0 = pk_now_ns();
    v->fn(v->ctx);
    return (double)(pk_now_ns() - t0) * 1e-9;
}

/* Time the variants in interleaved rounds, with a ceiling trial after each
 * round when `ceiling` is set, and add one row per variant (times divided
 * by per_run, for tables "per worker"). The first variant is the baseline:
 * always a sequential loop or the benchmark's own code. For a parallel
 * variant a note gives the median over rounds of its speedup divided by
 * that round's ceiling. Fills median[i] (0 for a row not timed) when
 * median is not NULL. */
static void run_table(pk_report *r, const char *bench, size_t n, variant *v,
                      size_t k, double per_run, int ceiling, double *median)
{
    double t[ROUNDS][MAX_VARIANTS], ceil[ROUNDS], col[ROUNDS];
    int live[MAX_VARIANTS];

    for (size_t i = 0; i < k; i++) { /* warm-up; finds the unwritten ones */
        if (v[i].err != NULL)
            *v[i].err = 0;
        v[i].fn(v[i].ctx);
        live[i] = v[i].err == NULL || *v[i].err == 0;
    }
    for (size_t rd = 0; rd < g_rounds; rd++) {
        for (size_t j = 0; j < k; j++) {
            size_t i = (rd + j) % k; /* rotate the order */
            if (live[i])
                t[rd][i] = seconds_of(&v[i]);
        }
        ceil[rd] = ceiling ? pk_ceiling_trial(PERF_WORKERS, g_ceiling_iters)
                           : 0;
    }
    for (size_t i = 0; i < k; i++) {
        if (median != NULL)
            median[i] = 0;
        if (!live[i]) {
            if (*v[i].err == ENOSYS)
                pk_report_todo(r, bench, v[i].name);
            else
                pk_report_note(r, "  %-32s failed: %s", v[i].name,
                               strerror(*v[i].err));
            continue;
        }
        if (v[i].err != NULL && *v[i].err != 0) {
            pk_report_note(r, "  %-32s failed while timed: %s", v[i].name,
                           strerror(*v[i].err));
            continue;
        }
        pk_stats st;
        for (size_t rd = 0; rd < g_rounds; rd++)
            col[rd] = t[rd][i] / per_run;
        pk_stats_from(col, g_rounds, &st);
        pk_report_add(r, bench, v[i].name, n, &st);
        if (median != NULL)
            median[i] = st.median;
        if (!ceiling || !v[i].parallel || !live[0])
            continue;
        for (size_t rd = 0; rd < g_rounds; rd++)
            col[rd] = t[rd][0] / t[rd][i] / ceil[rd];
        pk_stats es;
        pk_stats_from(col, g_rounds, &es);
        pk_report_note(r, "    -> %.0f%% of the two-core ceiling, round by "
                       "round", 100 * es.median);
    }
    if (ceiling) {
        pk_stats cs;
        pk_stats_from(ceil, g_rounds, &cs);
        pk_report_note(r, "two-core ceiling in these rounds: median %.2fx "
                       "(%.2fx to %.2fx)", cs.median, cs.min, cs.max);
    }
}

/* ---- the jobs ---------------------------------------------------------- */

/* One map to time: n items of fn from in to out. Which implementation runs
 * it depends on the job function it is passed to. */
typedef struct job {
    const void *in;
    void *out;
    size_t n, in_size, out_size, chunk;
    pk_map_fn fn;
    run_each_impl *run_each; /* yours or the reference */
    map_impl *map;           /* yours or the reference */
    pk_tpool *pool;
    int err;                 /* errno of the first failed call, or 0 */
} job;

static void note_error(job *j)
{
    if (j->err == 0)
        j->err = errno != 0 ? errno : EIO;
}

static void job_sequential(void *ctx)
{
    job *j = ctx;
    for (size_t i = 0; i < j->n; i++)
        j->fn((const char *)j->in + i * j->in_size,
              (char *)j->out + i * j->out_size, NULL);
}

static void job_run_each(void *ctx)
{
    job *j = ctx;
    errno = 0;
    if (j->run_each(j->in, j->n, j->in_size, j->out, j->out_size, j->fn,
                    NULL, PERF_WORKERS, NULL) != 0)
        note_error(j);
}

static void job_proc_map(void *ctx)
{
    job *j = ctx;
    errno = 0;
    if (j->map(PERF_WORKERS, j->in, j->n, j->in_size, j->out, j->out_size,
               j->fn, NULL, j->chunk, NULL) != 0)
        note_error(j);
}

static void job_ppool(void *ctx)
{
    job *j = ctx;
    if (pk_ppool_map(PERF_WORKERS, j->in, j->n, j->in_size, j->out,
                     j->out_size, j->fn, NULL, j->chunk) != 0)
        die("pk_ppool_map");
}

static void job_tpool(void *ctx)
{
    job *j = ctx;
    if (pk_tpool_map(j->pool, j->in, j->n, j->in_size, j->out, j->out_size,
                     j->fn, NULL, j->chunk) != 0)
        die("pk_tpool_map");
}

/* Add "yours" and, where the reference exists, "reference" rows of a map
 * job: jobs[0] and jobs[1] are filled from proto. Returns the rows added. */
static size_t add_both(variant *v, job *jobs, const job *proto,
                       void (*fn)(void *), const char *yours,
                       const char *reference)
{
    size_t k = 0;
    jobs[0] = *proto;
    jobs[0].run_each = proc_run_each;
    jobs[0].map = proc_map;
    v[k++] = (variant){yours, fn, &jobs[0], &jobs[0].err, 1};
    if (PK_REF(proc_map) != NULL) {
        jobs[1] = *proto;
        jobs[1].run_each = PK_REF(proc_run_each);
        jobs[1].map = PK_REF(proc_map);
        v[k++] = (variant){reference, fn, &jobs[1], &jobs[1].err, 1};
    }
    return k;
}

/* ---- 1. starting a worker ------------------------------------------------- */

static size_t g_spawns = SPAWNS_PER_RUN;

static void fork_wait_k(size_t k)
{
    for (size_t i = 0; i < k; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0)
            _exit(0);
        if (waitpid(pid, NULL, 0) < 0)
            die("waitpid");
    }
}

static void fork_wait(void *ctx)
{
    (void)ctx;
    fork_wait_k(g_spawns);
}

static void *nothing(void *arg)
{
    return arg;
}

static void thread_join(void *ctx)
{
    (void)ctx;
    for (size_t k = 0; k < g_spawns; k++) {
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
    job *j = ctx;
    uint64_t in = 1, out;
    for (size_t k = 0; k < g_spawns && j->err == 0; k++) {
        errno = 0;
        if (j->run_each(&in, 1, sizeof in, &out, sizeof out, one_u64, NULL,
                        1, NULL) != 0)
            note_error(j);
    }
}

/* A parent holding `bytes` of touched memory, in 4 KiB pages or in huge
 * pages. Both buffers exist during the whole table; MADV_DONTFORK keeps
 * the one not being measured out of the children, so each fork copies the
 * page tables of one buffer only. */
typedef struct big_parent {
    char *mem[2];      /* [0] 4 KiB pages, [1] huge pages */
    size_t bytes;
    int which;         /* the buffer this variant forks with */
} big_parent;

static void fork_big(void *ctx)
{
    big_parent *b = ctx;
    madvise(b->mem[!b->which], b->bytes, MADV_DONTFORK);
    madvise(b->mem[b->which], b->bytes, MADV_DOFORK);
    fork_wait_k(FORKS_BIG_PARENT);
}

/* "[always] madvise never" -> "always" */
static void thp_setting(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == NULL)
        return;
    char line[128];
    if (fgets(line, sizeof line, f) != NULL) {
        char *a = strchr(line, '['), *z = a ? strchr(a, ']') : NULL;
        if (a != NULL && z != NULL) {
            *z = '\0';
            snprintf(buf, len, "%s", a + 1);
        }
    }
    fclose(f);
}

/* This process's anonymous memory in huge pages, in MiB. */
static long anon_huge_mib(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    long kb = -1;
    if (f == NULL)
        return -1;
    char line[256];
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static void bench_spawn(pk_report *r, size_t big_bytes)
{
    const char *b = "start and reap one worker (per worker)";
    job jobs[2] = {{0}};
    variant v[MAX_VARIANTS];
    size_t k = 0;
    v[k++] = (variant){"fork + waitpid", fork_wait, NULL, NULL, 0};
    v[k++] = (variant){"pthread_create + join", thread_join, NULL, NULL, 0};
    k += add_both(v + k, jobs, &jobs[0], run_each_one,
                  "proc_run_each, 1 task (yours)",
                  "proc_run_each, 1 task (reference)");
    run_table(r, b, g_spawns, v, k, (double)g_spawns, 0, NULL);

    /* fork() copies the page tables: a parent with more memory mapped
     * forks more slowly, though no page is copied. With 2 MiB pages there
     * are 512 times fewer entries to copy. */
    big_parent bp = {{NULL, NULL}, big_bytes, 0};
    bp.mem[0] = mmap(NULL, big_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bp.mem[0] == MAP_FAILED)
        die("mmap");
    madvise(bp.mem[0], big_bytes, MADV_NOHUGEPAGE);
    bp.mem[1] = pk_ppool_alloc(big_bytes);
    if (bp.mem[1] == NULL)
        die("pk_ppool_alloc");
    memset(bp.mem[0], 1, big_bytes);
    memset(bp.mem[1], 1, big_bytes);
    big_parent small = bp, huge = bp;
    small.which = 0;
    huge.which = 1;
    char name[2][64];
    snprintf(name[0], sizeof name[0], "fork + waitpid, %zu MiB parent",
             big_bytes >> 20);
    snprintf(name[1], sizeof name[1], "  same, in 2 MiB huge pages");
    variant bv[2] = {{name[0], fork_big, &small, NULL, 0},
                     {name[1], fork_big, &huge, NULL, 0}};
    double med[2];
    for (size_t i = 0; i < 2; i++) { /* not interleaved: one table row each */
        pk_stats st;
        pk_bench(bv[i].fn, bv[i].ctx, 1, g_rounds, &st);
        st.median /= FORKS_BIG_PARENT;
        st.min /= FORKS_BIG_PARENT;
        st.max /= FORKS_BIG_PARENT;
        st.mean /= FORKS_BIG_PARENT;
        st.stddev /= FORKS_BIG_PARENT;
        med[i] = st.median;
        pk_report_add(r, b, bv[i].name, FORKS_BIG_PARENT, &st);
    }
    char thp[32];
    thp_setting(thp, sizeof thp);
    pk_report_note(r, "  -> %.3f us per 4 KiB page of the parent (page tables "
                   "are copied, pages are not); huge pages: %.1fx faster "
                   "(transparent huge pages: %s; %ld MiB of this process "
                   "in huge pages)", med[0] * 1e6 / (double)(big_bytes / 4096),
                   med[1] > 0 ? med[0] / med[1] : 0, thp, anon_huge_mib());
    munmap(bp.mem[0], big_bytes);
    pk_ppool_free(bp.mem[1], big_bytes);
}

/* ---- 2. fork per task against a pool -------------------------------------- */

static void cpu_item(const void *in, void *out, void *ctx)
{
    (void)ctx;
    *(uint64_t *)out = pk_cpu_task(*(const uint64_t *)in);
}

static void bench_fork_per_task(pk_report *r, size_t ntasks)
{
    char b[96];
    snprintf(b, sizeof b, "%zu tasks of pk_cpu_task(20000): fork per task "
             "vs pool", ntasks);
    uint64_t *in = xmalloc(ntasks * sizeof *in);
    uint64_t *out = xmalloc(ntasks * sizeof *out);
    for (size_t i = 0; i < ntasks; i++)
        in[i] = TASK_WORK;
    job proto = {in, out, ntasks, sizeof *in, sizeof *out, 0, cpu_item,
                 NULL, NULL, NULL, 0};
    job seq = proto;
    seq.out = shared_out(ntasks * sizeof *out);
    job jobs[4];
    variant v[MAX_VARIANTS];
    size_t k = 0;
    v[k++] = (variant){"sequential", job_sequential, &seq, NULL, 0};
    k += add_both(v + k, jobs, &proto, job_run_each,
                  "fork per task (yours)", "fork per task (reference)");
    k += add_both(v + k, jobs + 2, &proto, job_proc_map,
                  "pool, proc_map (yours)", "pool, proc_map (reference)");
    v[k++] = (variant){"pool, pk_ppool_map", job_ppool, &proto, NULL, 1};
    run_table(r, b, ntasks, v, k, 1, 1, NULL);
    munmap(seq.out, ntasks * sizeof *out);
    free(in);
    free(out);
}

/* ---- 3. and 4. the chunk-size sweep ---------------------------------------- */

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

static pair *project_data(size_t n)
{
    pair *in = xmalloc(n * sizeof *in);
    for (size_t i = 0; i < n; i++)
        in[i] = (pair){i, 2 * i};
    return in;
}

#define SWEEP_CHUNKS 6
#define WHOLE_MAP SIZE_MAX /* in sweep_chunk: one chunk of all n items */
static const size_t sweep_chunk[SWEEP_CHUNKS] = {1, 10, 100, 1000, 0,
                                                 WHOLE_MAP};

/* The sweep's rows: sequential, then proc_map at each chunk size (yours,
 * then the reference's) up to one chunk of all n items (static scheduling
 * at its worst: one worker does everything), then pk_ppool_map; with real work (the practice
 * project's items) the ceiling is measured too. Returns the sequential loop's
 * median time per item; *yours_auto and *ref_auto get the automatic
 * chunk's (0 when it did not run). */
static double sweep(pk_report *r, const char *b, pk_map_fn fn, size_t n,
                    int real_work, double *yours_auto, double *ref_auto)
{
    pair *in = project_data(n);
    uint64_t *out = xmalloc(n * sizeof *out);
    job proto = {in, out, n, sizeof *in, sizeof *out, 0, fn, NULL, NULL,
                 NULL, 0};
    job seq = proto;
    seq.out = shared_out(n * sizeof *out);
    job jobs[2 * SWEEP_CHUNKS];
    variant v[MAX_VARIANTS];
    char names[2 * SWEEP_CHUNKS][48];
    size_t k = 0, auto_at[2] = {0, 0};

    v[k++] = (variant){"sequential", job_sequential, &seq, NULL, 0};
    for (int who = 0; who < 2; who++) {
        if (who == 1 && PK_REF(proc_map) == NULL)
            break;
        const char *whose = who == 0 ? "yours" : "reference";
        for (size_t c = 0; c < SWEEP_CHUNKS; c++) {
            job *j = &jobs[who * SWEEP_CHUNKS + c];
            char *name = names[who * SWEEP_CHUNKS + c];
            *j = proto;
            j->chunk = sweep_chunk[c] == WHOLE_MAP ? n : sweep_chunk[c];
            j->map = who == 0 ? proc_map : PK_REF(proc_map);
            if (sweep_chunk[c] == 0) {
                snprintf(name, sizeof names[0], "chunk auto (%s)", whose);
                auto_at[who] = k;
            } else if (sweep_chunk[c] == WHOLE_MAP) {
                snprintf(name, sizeof names[0], "one chunk of n (%s)", whose);
            } else {
                snprintf(name, sizeof names[0], "chunk %zu (%s)",
                         sweep_chunk[c], whose);
            }
            v[k++] = (variant){name, job_proc_map, j, &j->err, real_work};
        }
    }
    v[k++] = (variant){"pk_ppool_map, chunk auto", job_ppool, &proto, NULL,
                       real_work};

    double median[MAX_VARIANTS];
    run_table(r, b, n, v, k, 1, real_work, median);
    if (real_work)
        pk_report_note(r, "Python 3.11, same machine: sequential %.1f s "
                       "(%.1f us per item); chunksize 1: %.1f s, %.2fx; "
                       "chunksize 1000: %.1f s, %.2fx", PY_SEQ_S, PY_SEQ_S,
                       PY_CHUNK1_S, PY_SEQ_S / PY_CHUNK1_S, PY_CHUNK1000_S,
                       PY_SEQ_S / PY_CHUNK1000_S);
    *yours_auto = median[auto_at[0]] / (double)n;
    *ref_auto = auto_at[1] ? median[auto_at[1]] / (double)n : 0;
    munmap(seq.out, n * sizeof *out);
    free(in);
    free(out);
    return median[0] / (double)n;
}

/* ---- 5. threads against processes ------------------------------------------- */

static void bench_threads_vs_processes(pk_report *r, size_t n)
{
    pk_tpool *pool = pk_tpool_create(PERF_WORKERS - 1);
    if (pool == NULL)
        die("pk_tpool_create");
    job jobs[2];
    variant v[MAX_VARIANTS];
    size_t k = 0;

    /* The practice project's map. */
    pair *in = project_data(n);
    uint64_t *out = xmalloc(n * sizeof *out);
    job proto = {in, out, n, sizeof *in, sizeof *out, 0, process_item, NULL,
                 NULL, pool, 0};
    job seq = proto;
    seq.out = shared_out(n * sizeof *out);
    v[k++] = (variant){"sequential", job_sequential, &seq, NULL, 0};
    v[k++] = (variant){"pk_tpool_map (threads)", job_tpool, &proto, NULL, 1};
    v[k++] = (variant){"pk_ppool_map (processes)", job_ppool, &proto, NULL, 1};
    k += add_both(v + k, jobs, &proto, job_proc_map, "proc_map (yours)",
                  "proc_map (reference)");
    run_table(r, "practice project map: threads vs processes", n, v, k, 1, 1,
              NULL);
    pk_report_note(r, "Python ThreadPoolExecutor: %.1f s, %.2fx (the GIL)",
                   PY_THREADS_S, PY_SEQ_S / PY_THREADS_S);
    munmap(seq.out, n * sizeof *out);
    free(in);
    free(out);

    /* The Python chapter's four CPU tasks, one item each. */
    uint64_t tin[FOUR_TASKS], tout[FOUR_TASKS];
    for (size_t i = 0; i < FOUR_TASKS; i++)
        tin[i] = FOUR_TASK_WORK;
    job t = {tin, tout, FOUR_TASKS, sizeof *tin, sizeof *tout, 1, cpu_item,
             NULL, NULL, pool, 0};
    k = 0;
    v[k++] = (variant){"sequential", job_sequential, &t, NULL, 0};
    v[k++] = (variant){"pk_tpool_map (threads)", job_tpool, &t, NULL, 1};
    v[k++] = (variant){"pk_ppool_map (processes)", job_ppool, &t, NULL, 1};
    k += add_both(v + k, jobs, &t, job_run_each, "proc_run_each (yours)",
                  "proc_run_each (reference)");
    run_table(r, "four CPU tasks of pk_cpu_task(5e7): threads vs processes",
              FOUR_TASKS, v, k, 1, 1, NULL);
    pk_report_note(r, "Python: 2 threads 1.06x, process pool 1.73x");
    pk_tpool_destroy(pool);
}

/* The performance test's figure: what the map adds per empty item, as a
 * share of one practice-project item. */
static void note_overhead(pk_report *r, const char *who, double map_item,
                          double seq_empty_item, double practice_item)
{
    if (map_item <= 0 || practice_item <= 0)
        return;
    double add = map_item - seq_empty_item;
    pk_report_note(r, "%s: proc_map adds %.4f us per empty item, %.0f%% of "
                   "one practice-project item (%.3f us); the performance "
                   "test's target: at most %.0f%%", who, add * 1e6,
                   100 * add / practice_item, practice_item * 1e6,
                   100 * OVERHEAD_TARGET);
}

int main(void)
{
    int quick = pk_bench_quick();
    size_t n = quick ? PROJECT_N / 10 : PROJECT_N;
    if (quick) {
        g_rounds = QUICK_ROUNDS;
        g_spawns = SPAWNS_PER_RUN / 4;
    }
    pk_report *r = pk_report_open(CHAPTER);
    if (r == NULL)
        die("pk_report_open");
    g_ceiling_iters = pk_ceiling_calibrate(CEILING_TRIAL_S);
    pk_report_note(r, "%u CPUs; %d workers in every parallel variant; "
                   "%zu interleaved rounds per table; yours: the "
                   "processes.c being built%s", pk_cpu_count(), PERF_WORKERS,
                   g_rounds, PK_REF(proc_map) != NULL
                                 ? "; reference: solutions/02-processes"
                                 : "");

    bench_spawn(r, quick ? BIG_PARENT_BYTES / 8 : BIG_PARENT_BYTES);
    bench_fork_per_task(r, quick ? TASKS_N / 4 : TASKS_N);

    double yours_p, ref_p, yours_e, ref_e; /* seconds per item, chunk auto */
    double practice = sweep(r, "practice project: x*y + sum(i*i for i < "
                            "1000), chunk sweep", process_item, n, 1,
                            &yours_p, &ref_p);
    double seq_empty = sweep(r, "empty items (the map's own cost), chunk "
                             "sweep", empty_item, n, 0, &yours_e, &ref_e);
    note_overhead(r, "yours", yours_e, seq_empty, practice);
    note_overhead(r, "reference", ref_e, seq_empty, practice);
    (void)yours_p, (void)ref_p;

    bench_threads_vs_processes(r, n);
    pk_report_close(r);
    return 0;
}
