/* bench.c - chapter 01: CPU-bound tasks on threads with and without a GIL,
 * shared counters (and the racy one), and the two bugs of the Python
 * chapter's run_with_threading shown live.
 *
 * Built by `make bench CH=01-threads` with the reference solution. The
 * variants of each benchmark are timed in interleaved rounds
 * (pk_bench_many), so that other work on the machine hits all of them
 * alike. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk/report.h"
#include "pk/task.h"
#include "pk/timing.h"
#include "threads.h"

#define NTASKS 4                /* CPU tasks, as in the Python measurement */
#define TASK_N 200000000ull     /* pk_cpu_task(n) per task: ~70 ms here */
#define TICK_N 200000ull        /* work per interpreter tick: ~0.07 ms */
#define TICKS (TASK_N / TICK_N) /* ticks per task */
#define SHORT_SWITCH_NS 50000ull /* a 0.05 ms switch interval, for contrast */
#define CPU_WARMUP 1
#define CPU_RUNS 21

#define COUNT_THREADS 2         /* one per core */
#define COUNT_K 2000000ull      /* increments per thread */
#define COUNT_WARMUP 1
#define COUNT_RUNS 11

/* ==== CPU-bound tasks ====================================================== */

static uint64_t results[NTASKS];

static void cpu_sequential(void *ctx)
{
    (void)ctx;
    for (int i = 0; i < NTASKS; i++)
        results[i] = pk_cpu_task(TASK_N);
}

static void cpu_fan_out(void *ctx)
{
    (void)ctx;
    static const uint64_t in[NTASKS] = {TASK_N, TASK_N, TASK_N, TASK_N};
    if (thr_fan_out(pk_cpu_task, in, results, NTASKS) != 0)
        perror("thr_fan_out");
}

/* The same tasks in independent processes, one each: what this machine
 * gives fully independent workers at this moment, measured in the same
 * rounds as the variants (pk_parallel_ceiling() measures it once, before
 * or after). One process per task, like one thread per task, so the kernel
 * balances both the same way when a core is taken by other work. */
static void cpu_processes(void *ctx)
{
    (void)ctx;
    pid_t pid[NTASKS];
    for (int p = 0; p < NTASKS; p++) {
        pid[p] = fork();
        if (pid[p] == 0) {
            pk_consume_u64(pk_cpu_task(TASK_N));
            _exit(0);
        }
    }
    for (int p = 0; p < NTASKS; p++)
        if (pid[p] > 0)
            waitpid(pid[p], NULL, 0);
}

/* A task for the toy interpreter: TICKS ticks of pk_cpu_task(TICK_N). */
typedef struct tick_task {
    uint64_t left, sum;
    int id;
} tick_task;

/* Hand-offs seen by the ticks: a tick by another task than the last one. */
static atomic_int last_ticker = -1;
static _Atomic uint64_t handoffs;

static int cpu_tick(void *p)
{
    tick_task *t = p;
    if (atomic_exchange_explicit(&last_ticker, t->id, memory_order_relaxed) != t->id)
        atomic_fetch_add_explicit(&handoffs, 1, memory_order_relaxed);
    t->sum += pk_cpu_task(TICK_N);
    return --t->left > 0;
}

/* Hand-offs per run of each GIL variant (the last run's count). */
static uint64_t handoffs_5ms, handoffs_short;

static void cpu_interp(thr_gil_mode mode, uint64_t interval)
{
    tick_task tasks[NTASKS];
    void *states[NTASKS];
    for (int i = 0; i < NTASKS; i++) {
        tasks[i] = (tick_task){TICKS, 0, i};
        states[i] = &tasks[i];
    }
    atomic_store(&last_ticker, -1);
    atomic_store(&handoffs, 0);
    thr_interp_config cfg = {mode, interval, NULL, NULL};
    if (thr_interp_run(&cfg, cpu_tick, states, NTASKS) != 0)
        perror("thr_interp_run");
    for (int i = 0; i < NTASKS; i++)
        pk_consume_u64(tasks[i].sum);
}

static void cpu_gil(void *ctx)
{
    (void)ctx;
    cpu_interp(THR_GIL_ON, THR_DEFAULT_SWITCH_NS);
    handoffs_5ms = atomic_load(&handoffs);
}

static void cpu_gil_short(void *ctx)
{
    (void)ctx;
    cpu_interp(THR_GIL_ON, SHORT_SWITCH_NS);
    handoffs_short = atomic_load(&handoffs);
}

static void cpu_free(void *ctx)
{
    (void)ctx;
    cpu_interp(THR_GIL_FREE, 0);
}

/* ==== counters ================================================================ */

/* The counters the API does not offer, to compare with: the racy one (a
 * plain shared ++), per-thread slots packed into one cache line (false
 * sharing), and a local variable stored once at the end. Each increment is
 * a call that the compiler cannot inline, as thr_counter_inc() is. */
typedef struct unpadded {
    _Atomic uint64_t slot[COUNT_THREADS]; /* 8 bytes apart: one cache line */
} unpadded;

typedef struct padded_slot {
    _Alignas(THR_CACHE_LINE) _Atomic uint64_t value; /* a line to itself */
} padded_slot;

static volatile uint64_t racy_value;
static unpadded packed;
static padded_slot padded[COUNT_THREADS];

__attribute__((noinline)) static void racy_inc(void)
{
    racy_value++; /* load, add, store: another core's store in between is lost */
}

__attribute__((noinline)) static void packed_inc(unsigned tid)
{
    _Atomic uint64_t *v = &packed.slot[tid];
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* The same code on padded slots: the only difference is the layout. */
__attribute__((noinline)) static void padded_inc(unsigned tid)
{
    _Atomic uint64_t *v = &padded[tid].value;
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

__attribute__((noinline)) static uint64_t local_inc(uint64_t v)
{
    return v + 1;
}

typedef enum { LOCAL_RACY, LOCAL_PACKED, LOCAL_PADDED, LOCAL_REGISTER } local_kind;

typedef struct local_arg {
    local_kind kind;
    unsigned tid;
    uint64_t result;
} local_arg;

static void *local_thread(void *p)
{
    local_arg *a = p;
    uint64_t v = 0;
    for (uint64_t i = 0; i < COUNT_K; i++) {
        switch (a->kind) {
        case LOCAL_RACY: racy_inc(); break;
        case LOCAL_PACKED: packed_inc(a->tid); break;
        case LOCAL_PADDED: padded_inc(a->tid); break;
        case LOCAL_REGISTER: v = local_inc(v); break;
        }
    }
    a->result = v;
    return NULL;
}

static uint64_t racy_lost_min = UINT64_MAX, racy_lost_max, racy_runs;

static void count_local(local_kind kind)
{
    pthread_t t[COUNT_THREADS];
    local_arg a[COUNT_THREADS];
    racy_value = 0;
    memset(&packed, 0, sizeof packed);
    memset(padded, 0, sizeof padded);
    for (unsigned i = 0; i < COUNT_THREADS; i++) {
        a[i] = (local_arg){kind, i, 0};
        pthread_create(&t[i], NULL, local_thread, &a[i]);
    }
    uint64_t total = 0;
    for (unsigned i = 0; i < COUNT_THREADS; i++) {
        pthread_join(t[i], NULL);
        total += a[i].result;
    }
    if (kind == LOCAL_RACY) {
        uint64_t lost = COUNT_THREADS * COUNT_K - racy_value;
        racy_lost_min = lost < racy_lost_min ? lost : racy_lost_min;
        racy_lost_max = lost > racy_lost_max ? lost : racy_lost_max;
        racy_runs++;
    }
    pk_consume_u64(total);
}

static void count_with(thr_counter_kind kind)
{
    uint64_t total;
    if (thr_count(kind, COUNT_THREADS, COUNT_K, &total) != 0)
        perror("thr_count");
    else if (total != COUNT_THREADS * COUNT_K)
        fprintf(stderr, "thr_count: wrong total %llu\n",
                (unsigned long long)total);
}

static void c_mutex(void *ctx) { (void)ctx; count_with(THR_COUNTER_MUTEX); }
static void c_atomic(void *ctx) { (void)ctx; count_with(THR_COUNTER_ATOMIC); }
static void c_padded(void *ctx) { (void)ctx; count_with(THR_COUNTER_PADDED); }
static void c_packed(void *ctx) { (void)ctx; count_local(LOCAL_PACKED); }
static void c_padded_local(void *ctx) { (void)ctx; count_local(LOCAL_PADDED); }
static void c_local(void *ctx) { (void)ctx; count_local(LOCAL_REGISTER); }
static void c_racy(void *ctx) { (void)ctx; count_local(LOCAL_RACY); }

/* ==== the two bugs of run_with_threading ======================================= */

#define DEMO_THREADS 8

/* Bug 1: every thread gets &i, the address of the loop's counter. */
static void *read_late(void *p)
{
    return (void *)(uintptr_t)*(volatile size_t *)p;
}

static int demo_late_binding(void)
{
    pthread_t t[DEMO_THREADS];
    size_t i;
    int wrong = 0;
    for (i = 0; i < DEMO_THREADS; i++)
        pthread_create(&t[i], NULL, read_late, &i); /* the bug */
    for (size_t j = 0; j < DEMO_THREADS; j++) {
        void *seen;
        pthread_join(t[j], &seen);
        wrong += (size_t)(uintptr_t)seen != j;
    }
    return wrong;
}

/* Bug 2: results appended in finishing order. Task j works less the larger
 * j is, so the last-started thread tends to finish first. */
static pthread_mutex_t append_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t appended[DEMO_THREADS], nappended;

static void *append_result(void *p)
{
    size_t j = (size_t)(uintptr_t)p;
    pk_consume_u64(pk_cpu_task((DEMO_THREADS - j) * 2000000ull));
    pthread_mutex_lock(&append_mu);
    appended[nappended++] = j; /* results.append(...) */
    pthread_mutex_unlock(&append_mu);
    return NULL;
}

static void demo_completion_order(char *buf, size_t len)
{
    pthread_t t[DEMO_THREADS];
    nappended = 0;
    for (size_t j = 0; j < DEMO_THREADS; j++)
        pthread_create(&t[j], NULL, append_result, (void *)(uintptr_t)j);
    for (size_t j = 0; j < DEMO_THREADS; j++)
        pthread_join(t[j], NULL);
    size_t off = 0;
    for (size_t j = 0; j < nappended && off < len; j++)
        off += (size_t)snprintf(buf + off, len - off, "%zu ", appended[j]);
}

/* ==== what starting a worker costs ============================================ */

#define SPAWN_RUNS 201

static void *empty_thread(void *p)
{
    return p;
}

static void spawn_thread(void *ctx)
{
    (void)ctx;
    pthread_t t;
    if (pthread_create(&t, NULL, empty_thread, NULL) == 0)
        pthread_join(t, NULL);
}

static void spawn_process(void *ctx)
{
    (void)ctx;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* ==== main ====================================================================== */

int main(void)
{
    pk_report *r = pk_report_open("01-threads");
    if (r == NULL)
        return 1;

    /* On a shared machine the ceiling moves while the benchmark runs, so it
     * is measured three times: by libpk before and after, and as a variant
     * in the same interleaved rounds as the others. Efficiency is read
     * against the last, which saw the same conditions. */
    double ceiling_before = pk_parallel_ceiling(2, 0.2);

    /* CPU-bound tasks. */
    const char *b1 = "4 CPU tasks, pk_cpu_task(2e8) each";
    void (*const cpu_fns[])(void *) = {cpu_sequential, cpu_processes,
                                       cpu_fan_out, cpu_free, cpu_gil,
                                       cpu_gil_short};
    const char *cpu_names[] = {"sequential",
                               "1 process per task (the ceiling)",
                               "thr_fan_out, 1 thread per task",
                               "interpreter, free mode",
                               "interpreter, GIL (5 ms switch)",
                               "interpreter, GIL (0.05 ms switch)"};
    enum { NCPU = sizeof cpu_fns / sizeof cpu_fns[0] };
    pk_stats st[8];
    if (pk_bench_many(cpu_fns, NULL, NCPU, CPU_WARMUP, CPU_RUNS, st) != 0) {
        perror("pk_bench_many");
        return 1;
    }
    double ceiling_after = pk_parallel_ceiling(2, 0.2);
    double ceiling = st[0].median / st[1].median; /* same rounds as the rest */
    for (int i = 0; i < NCPU; i++) {
        pk_report_add(r, b1, cpu_names[i], NTASKS, &st[i]);
        if (i > 1)
            pk_report_note(r, "  %s: %.2fx = %.0f%% of the ceiling",
                           cpu_names[i], pk_report_last_speedup(r),
                           100 * pk_report_last_speedup(r) / ceiling);
    }
    pk_report_note(r, "ceiling: %.2fx in these rounds (processes); "
                   "pk_parallel_ceiling() %.2fx before, %.2fx after; %u CPUs",
                   ceiling, ceiling_before, ceiling_after, pk_cpu_count());
    pk_report_note(r, "the interpreter runs each task as %llu ticks of "
                   "pk_cpu_task(%llu)", (unsigned long long)TICKS,
                   (unsigned long long)TICK_N);
    pk_report_note(r, "GIL hand-offs per run: %llu at 5 ms, %llu at 0.05 ms; "
                   "the extra time per extra hand-off: %.1f us",
                   (unsigned long long)handoffs_5ms,
                   (unsigned long long)handoffs_short,
                   handoffs_short > handoffs_5ms
                       ? (st[5].median - st[4].median) * 1e6 /
                             (double)(handoffs_short - handoffs_5ms)
                       : 0.0);

    /* Counters. */
    const char *b2 = "shared counter, 2 threads x 2e6 increments";
    void (*const cnt_fns[])(void *) = {c_mutex, c_atomic, c_padded,
                                       c_padded_local, c_packed, c_local,
                                       c_racy};
    const char *cnt_names[] = {"mutex (thr_count)", "atomic (thr_count)",
                               "padded slots (thr_count)",
                               "padded slots, bare loop",
                               "packed slots, bare loop (false sharing)",
                               "local variable, stored once",
                               "racy ++ (wrong)"};
    enum { NCNT = sizeof cnt_fns / sizeof cnt_fns[0] };
    if (pk_bench_many(cnt_fns, NULL, NCNT, COUNT_WARMUP, COUNT_RUNS, st) != 0) {
        perror("pk_bench_many");
        return 1;
    }
    for (int i = 0; i < NCNT; i++)
        pk_report_add(r, b2, cnt_names[i], COUNT_THREADS * COUNT_K, &st[i]);
    pk_report_note(r, "per increment: mutex %.1f ns, atomic %.1f ns, padded "
                   "%.1f ns (bare %.1f ns), packed %.1f ns",
                   st[0].median * 1e9 / (COUNT_THREADS * COUNT_K),
                   st[1].median * 1e9 / (COUNT_THREADS * COUNT_K),
                   st[2].median * 1e9 / (COUNT_THREADS * COUNT_K),
                   st[3].median * 1e9 / (COUNT_THREADS * COUNT_K),
                   st[4].median * 1e9 / (COUNT_THREADS * COUNT_K));
    pk_report_note(r, "racy ++ lost %llu to %llu of %llu updates "
                   "(%.0f%% to %.0f%%) over %llu runs",
                   (unsigned long long)racy_lost_min,
                   (unsigned long long)racy_lost_max,
                   (unsigned long long)(COUNT_THREADS * COUNT_K),
                   100.0 * (double)racy_lost_min / (COUNT_THREADS * COUNT_K),
                   100.0 * (double)racy_lost_max / (COUNT_THREADS * COUNT_K),
                   (unsigned long long)racy_runs);

    /* What one worker costs to start and finish. */
    const char *b3 = "start and join one empty worker";
    void (*const spawn_fns[])(void *) = {spawn_thread, spawn_process};
    if (pk_bench_many(spawn_fns, NULL, 2, 10, SPAWN_RUNS, st) == 0) {
        pk_report_add(r, b3, "pthread_create + pthread_join", 1, &st[0]);
        pk_report_add(r, b3, "fork + waitpid", 1, &st[1]);
    }

    /* The bugs of run_with_threading, live. */
    int wrong = 0;
    for (int k = 0; k < 10; k++)
        wrong += demo_late_binding();
    pk_report_note(r, "bug 1, &i passed to pthread_create: %d of %d threads "
                   "read the wrong index (10 rounds of %d)", wrong,
                   10 * DEMO_THREADS, DEMO_THREADS);
    char order[128] = "";
    demo_completion_order(order, sizeof order);
    pk_report_note(r, "bug 2, results appended as threads finish: input "
                   "order 0..7 came back as %s", order);

    pk_report_close(r);
    return 0;
}
