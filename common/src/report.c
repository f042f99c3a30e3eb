/* report.c - benchmark tables on stdout, rows in CSV, the parallel ceiling. */
#include "pk/report.h"
#include "pk/proc.h"
#include "pk/task.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME_MAX_LEN 128 /* longest benchmark name kept for grouping */

struct pk_report {
    FILE *csv;
    char benchmark[NAME_MAX_LEN]; /* current table */
    double baseline;              /* its first variant's median */
    double last_speedup;
};

/* Seconds with a unit a reader can take in at a glance. */
static void fmt_time(char *buf, size_t len, double s)
{
    if (s >= 1)
        snprintf(buf, len, "%.3f s", s);
    else if (s >= 1e-3)
        snprintf(buf, len, "%.3f ms", s * 1e3);
    else if (s >= 1e-6)
        snprintf(buf, len, "%.3f us", s * 1e6);
    else
        snprintf(buf, len, "%.1f ns", s * 1e9);
}

pk_report *pk_report_open(const char *chapter)
{
    if (chapter == NULL) {
        errno = EINVAL;
        return NULL;
    }
    pk_report *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;

    char path[512];
    const char *env = getenv("PK_BENCH_CSV");
    if (env != NULL && *env != '\0')
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s.csv", chapter);
    r->csv = fopen(path, "w");
    if (r->csv == NULL) {
        int e = errno;
        fprintf(stderr, "pk_report_open: cannot create %s: %s\n", path,
                strerror(e));
        free(r);
        errno = e;
        return NULL;
    }
    fprintf(r->csv, "benchmark,variant,n,median_s,min_s,max_s,speedup\n");
    printf("== %s benchmarks (csv: %s) ==\n", chapter, path);
    return r;
}

/* Start a new table when the benchmark's name changes. */
static void table_head(pk_report *r, const char *benchmark, size_t n, double baseline)
{
    snprintf(r->benchmark, sizeof r->benchmark, "%s", benchmark);
    r->baseline = baseline;
    printf("\n%s (n = %zu)\n", benchmark, n);
    printf("  %-34s %12s %12s %12s %9s\n", "variant", "median", "min",
           "max", "speedup");
}

int pk_report_add(pk_report *r, const char *benchmark, const char *variant,
                  size_t n, const pk_stats *st)
{
    if (r == NULL || benchmark == NULL || variant == NULL || st == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (strncmp(r->benchmark, benchmark, sizeof r->benchmark) != 0)
        table_head(r, benchmark, n, st->median);
    else if (r->baseline == 0) /* the baseline was not written yet */
        r->baseline = st->median;
    double speedup = st->median > 0 ? r->baseline / st->median : 0;
    r->last_speedup = speedup;

    char med[32], mn[32], mx[32];
    fmt_time(med, sizeof med, st->median);
    fmt_time(mn, sizeof mn, st->min);
    fmt_time(mx, sizeof mx, st->max);
    printf("  %-34s %12s %12s %12s %8.2fx\n", variant, med, mn, mx, speedup);
    fflush(stdout);

    /* Names are ours, but quote them anyway in case one holds a comma. */
    if (fprintf(r->csv, "\"%s\",\"%s\",%zu,%.9g,%.9g,%.9g,%.4f\n", benchmark,
                variant, n, st->median, st->min, st->max, speedup) < 0) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int pk_report_todo(pk_report *r, const char *benchmark, const char *variant)
{
    if (r == NULL || benchmark == NULL || variant == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (strncmp(r->benchmark, benchmark, sizeof r->benchmark) != 0)
        table_head(r, benchmark, 0, 0);
    r->last_speedup = 0;
    printf("  %-34s %12s\n", variant, "not written yet (still a PK_TODO)");
    fflush(stdout);
    return 0;
}

int pk_bench_quick(void)
{
    const char *q = getenv("PK_BENCH_QUICK");
    return q != NULL && strcmp(q, "1") == 0;
}

double pk_report_last_speedup(const pk_report *r)
{
    return r != NULL ? r->last_speedup : 0;
}

void pk_report_note(pk_report *r, const char *fmt, ...)
{
    va_list ap;

    (void)r;
    printf("  ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void pk_report_close(pk_report *r)
{
    if (r == NULL)
        return;
    fclose(r->csv);
    printf("\n");
    fflush(stdout);
    free(r);
}

/* ---- the two-process ceiling ---------------------------------------- */

#define CEILING_TASK_N 10000 /* pk_cpu_task size per iteration, fits in L1 */

/* The course's own CPU task, repeated: the same kind of work the parallel
 * benchmarks spread over cores, touching no memory, so several copies of it
 * at once measure what the cores (and their shared power budget) give. */
static uint64_t busy(uint64_t iters)
{
    uint64_t x = 0;
    for (uint64_t i = 0; i < iters; i++)
        x += pk_cpu_task(CEILING_TASK_N + (i & 1));
    return x;
}

/* Run busy(iters) in nprocs children at once; wall time in seconds. */
static double run_children(unsigned nprocs, uint64_t iters)
{
    pid_t pids[256];
    uint64_t t0 = pk_now_ns();
    unsigned started = 0;

    fflush(NULL);
    for (; started < nprocs; started++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            pk_consume_u64(busy(iters));
            _exit(0);
        }
        pids[started] = pid;
    }
    int ok = started == nprocs;
    for (unsigned i = 0; i < started; i++) {
        int status;
        if (pk_waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            ok = 0;
    }
    double t = (double)(pk_now_ns() - t0) * 1e-9;
    if (!ok) {
        errno = ECHILD;
        return -1;
    }
    return t;
}

unsigned long long pk_ceiling_calibrate(double seconds)
{
    if (!(seconds > 0)) {
        errno = EINVAL;
        return 0;
    }
    uint64_t iters = 16;
    for (;;) {
        uint64_t t0 = pk_now_ns();
        pk_consume_u64(busy(iters));
        double t = (double)(pk_now_ns() - t0) * 1e-9;
        if (t > seconds / 4 || iters > (1ull << 40)) {
            double scaled = (double)iters * seconds / (t > 0 ? t : 1e-9);
            return scaled < 1 ? 1 : (unsigned long long)scaled;
        }
        iters *= 2;
    }
}

double pk_ceiling_trial(unsigned nprocs, unsigned long long iters)
{
    if (nprocs == 0)
        nprocs = pk_cpu_count();
    if (nprocs > 256 || iters == 0) {
        errno = EINVAL;
        return 0;
    }
    double one = run_children(1, iters);
    double many = one < 0 ? -1 : run_children(nprocs, iters);
    if (one < 0 || many <= 0)
        return 0; /* errno from run_children */
    return nprocs * one / many;
}

/* ---- the lockstep ceiling: threads that wait for each other ---------- */

#define SYNC_STEP_S 0.0005 /* work between two barriers */

typedef struct lockstep {
    atomic_uint arrived;   /* threads at the barrier in this step */
    atomic_uint sense;     /* flips when the last one arrives */
    unsigned nthreads;
    atomic_int gate; /* 0 wait, 1 go, -1 a thread failed to start: leave */
    unsigned long long steps, per_step;
} lockstep;

#define SPINS_BEFORE_YIELD 20000

/* A sense-reversing barrier that spins, as OpenMP's barriers do (libgomp
 * spins for a while before it sleeps): a thread that slept on a futex at
 * every step would measure the kernel's and the hypervisor's wake-up
 * latency, not the cores. On the course's virtual machine, where an idle
 * vCPU halts, pthread_barrier_wait() every 0.5 ms made two threads no
 * faster than one (a lockstep ceiling of 1.00x on an idle machine). After
 * a while it yields, so that on a machine with fewer free cores than
 * threads the waiter gives its core to the thread it waits for. */
static void lockstep_barrier(lockstep *ls, unsigned *local_sense)
{
    unsigned mine = !*local_sense;
    *local_sense = mine;
    if (atomic_fetch_add(&ls->arrived, 1) + 1 == ls->nthreads) {
        atomic_store(&ls->arrived, 0);
        atomic_store(&ls->sense, mine);
        return;
    }
    unsigned spins = 0;
    while (atomic_load_explicit(&ls->sense, memory_order_acquire) != mine) {
        if (++spins == SPINS_BEFORE_YIELD) {
            sched_yield();
            spins = 0;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

static void *lockstep_worker(void *arg)
{
    lockstep *ls = arg;
    int g;
    while ((g = atomic_load(&ls->gate)) == 0)
        sched_yield();
    if (g < 0)
        return NULL;
    uint64_t x = 0;
    unsigned sense = 0;
    for (unsigned long long s = 0; s < ls->steps; s++) {
        x += busy(ls->per_step);
        lockstep_barrier(ls, &sense);
    }
    pk_consume_u64(x);
    return NULL;
}

/* Time nthreads threads (the caller among them) running the steps. Every
 * thread is started before any touches the barrier, so a failed start
 * leaves nobody waiting at it. */
static double run_lockstep(unsigned nthreads, lockstep *ls)
{
    pthread_t tids[256];
    unsigned started = 0;
    int rc = 0;
    ls->nthreads = nthreads;
    atomic_init(&ls->arrived, 0);
    atomic_init(&ls->sense, 0);
    atomic_init(&ls->gate, 0);
    for (; started + 1 < nthreads; started++) {
        rc = pthread_create(&tids[started], NULL, lockstep_worker, ls);
        if (rc != 0)
            break;
    }
    uint64_t t0 = pk_now_ns();
    atomic_store(&ls->gate, rc == 0 ? 1 : -1);
    if (rc == 0)
        lockstep_worker(ls);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    double t = (double)(pk_now_ns() - t0) * 1e-9;
    if (rc != 0) {
        errno = EAGAIN;
        return -1;
    }
    return t;
}

double pk_ceiling_trial_sync(unsigned nthreads, unsigned long long iters)
{
    if (nthreads == 0)
        nthreads = pk_cpu_count();
    if (nthreads > 256 || iters == 0) {
        errno = EINVAL;
        return 0;
    }
    /* Steps of about SYNC_STEP_S: the calibration measured iters for
     * about CEILING-trial seconds, so scale by a quick timing. */
    uint64_t t0 = pk_now_ns();
    pk_consume_u64(busy(iters / 16 + 1));
    double t16 = (double)(pk_now_ns() - t0) * 1e-9 * 16;
    unsigned long long steps = t16 > SYNC_STEP_S ? (unsigned long long)(t16 / SYNC_STEP_S) : 1;
    lockstep ls = {.steps = steps, .per_step = iters / steps + 1};
    double one = run_lockstep(1, &ls);
    double many = one < 0 ? -1 : run_lockstep(nthreads, &ls);
    if (one < 0 || many <= 0)
        return 0;
    return nthreads * one / many;
}

double pk_parallel_ceiling(unsigned nprocs, double seconds)
{
    if (nprocs == 0)
        nprocs = pk_cpu_count();
    if (nprocs > 256 || seconds <= 0) {
        errno = EINVAL;
        return 0;
    }
    unsigned long long iters = pk_ceiling_calibrate(seconds);
    double ratios[3];
    for (int k = 0; k < 3; k++) {
        ratios[k] = pk_ceiling_trial(nprocs, iters);
        if (ratios[k] == 0)
            return 0;
    }
    pk_stats st;
    if (pk_stats_from(ratios, 3, &st) != 0)
        return 0;
    return st.median;
}
