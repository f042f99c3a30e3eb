/* bench.c - chapter 01: your code beside the reference solution. CPU-bound
 * tasks on threads with and without a GIL, shared counters (and the racy
 * one), one producer and one consumer passing values through your ring and
 * your queue, what a thread and a process cost to start, and the two bugs
 * of the Python chapter's run_with_threading shown live.
 *
 * `make bench CH=01-threads` builds it against your files (chapters/, or
 * SUBMISSION=dir) and, where solutions/ exists, links the reference
 * solution beside them (PK_REF). The first row of each table is a baseline
 * this file provides; "yours" and "reference" are timed in the same
 * interleaved rounds (pk_bench_many), so that other work on the machine
 * hits them alike. A function of yours that is still a PK_TODO shows as
 * "not written yet", and the rest of the table runs. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pk/report.h"
#include "pk/task.h"
#include "pk/timing.h"
#include "threads.h"

PK_REF_DECLARE(thr_fan_out);
PK_REF_DECLARE(thr_interp_run);
PK_REF_DECLARE(thr_count);
PK_REF_DECLARE(thr_queue_create);
PK_REF_DECLARE(thr_queue_push);
PK_REF_DECLARE(thr_queue_pop);
PK_REF_DECLARE(thr_queue_close);
PK_REF_DECLARE(thr_queue_destroy);
PK_REF_DECLARE(thr_ring_init);
PK_REF_DECLARE(thr_ring_push);
PK_REF_DECLARE(thr_ring_pop);
PK_REF_DECLARE(thr_ring_destroy);

#define NTASKS 4                 /* CPU tasks, as in the Python measurement */
#define TASK_N 100000000ull      /* pk_cpu_task(n) per task: ~40 ms here */
#define TICK_N 200000ull         /* work per interpreter tick: ~0.07 ms */
#define SHORT_SWITCH_NS 50000ull /* a 0.05 ms switch interval, for contrast */

#define COUNT_THREADS 2          /* one per core */
#define COUNT_K 2000000ull       /* increments per thread */

#define PASS_VALUES 2000000ull   /* values one producer passes to one consumer */
#define PASS_CAPACITY 1024       /* slots of the ring and of the queue */

#define SPAWN_RUNS 201

/* Sizes and rounds; quick mode (PK_BENCH_QUICK=1) for CI. */
static uint64_t task_n = TASK_N, count_k = COUNT_K, pass_values = PASS_VALUES;
static size_t cpu_runs = 11, count_runs = 11, pass_runs = 11, spawn_runs = SPAWN_RUNS;

/* ==== running a table: yours, the reference, the provided rows =============== */

/* "1e8", "2e6", ... for a round number; the number itself otherwise. */
static const char *sci(uint64_t n, char *buf, size_t len)
{
    int e = 0;
    uint64_t m = n;
    while (m >= 10 && m % 10 == 0) {
        m /= 10;
        e++;
    }
    if (m < 10 && e > 2)
        snprintf(buf, len, "%llue%d", (unsigned long long)m, e);
    else
        snprintf(buf, len, "%llu", (unsigned long long)n);
    return buf;
}

/* One row of a table: a provided variant, yours, or the reference's. */
typedef struct variant {
    const char *name;
    void (*fn)(void *ctx);
    void *ctx;
    int absent;   /* the reference, in the student handout: no row */
    int todo;     /* yours, still a PK_TODO: "not written yet" */
    int broken;   /* failed its trial run with another error: a note */
    pk_stats st;
} variant;

/* Time the variants that exist in interleaved rounds, then print every
 * row in order. Returns 0, or -1 if timing failed. */
static int run_table(pk_report *r, const char *bench, size_t n, variant *v,
                     size_t k, size_t warmup, size_t runs)
{
    void (*fns[16])(void *);
    void *ctxs[16];
    pk_stats st[16];
    size_t idx[16], m = 0;
    for (size_t i = 0; i < k && m < 16; i++)
        if (!v[i].absent && !v[i].todo && !v[i].broken) {
            fns[m] = v[i].fn;
            ctxs[m] = v[i].ctx;
            idx[m++] = i;
        }
    if (m > 0 && pk_bench_many(fns, ctxs, m, warmup, runs, st) != 0) {
        perror("pk_bench_many");
        return -1;
    }
    for (size_t j = 0; j < m; j++)
        v[idx[j]].st = st[j];
    for (size_t i = 0; i < k; i++) {
        if (v[i].absent)
            continue;
        if (v[i].todo)
            pk_report_todo(r, bench, v[i].name);
        else if (v[i].broken)
            pk_report_note(r, "%s: failed its trial run, not timed", v[i].name);
        else
            pk_report_add(r, bench, v[i].name, n, &v[i].st);
    }
    return 0;
}

/* Sort a trial's result into the variant's flags: 0 ok, ENOSYS todo. */
static void trial(variant *v, int rc, int err)
{
    if (rc == 0)
        return;
    if (err == ENOSYS)
        v->todo = 1;
    else
        v->broken = 1;
}

/* ==== CPU-bound tasks ========================================================= */

typedef int (*fan_out_fn)(thr_task_fn, const uint64_t *, uint64_t *, size_t);
typedef int (*interp_fn)(const thr_interp_config *, thr_tick_fn, void **, size_t);

typedef struct cpu_ctx {
    fan_out_fn fan_out;
    interp_fn interp;
    thr_gil_mode mode;
    uint64_t interval;
    uint64_t handoffs;   /* GIL hand-offs in the last run */
} cpu_ctx;

static uint64_t results[NTASKS];

static void cpu_sequential(void *ctx)
{
    (void)ctx;
    for (int i = 0; i < NTASKS; i++)
        results[i] = pk_cpu_task(task_n);
}

static void cpu_fan_out(void *ctx)
{
    cpu_ctx *c = ctx;
    const uint64_t in[NTASKS] = {task_n, task_n, task_n, task_n};
    if (c->fan_out(pk_cpu_task, in, results, NTASKS) != 0)
        perror("thr_fan_out");
}

/* The same tasks in independent processes, one each: what this machine
 * gives fully independent workers at this moment, in the same rounds as
 * the variants. */
static void cpu_processes(void *ctx)
{
    (void)ctx;
    pid_t pid[NTASKS];
    for (int p = 0; p < NTASKS; p++) {
        pid[p] = fork();
        if (pid[p] == 0) {
            pk_consume_u64(pk_cpu_task(task_n));
            _exit(0);
        }
    }
    for (int p = 0; p < NTASKS; p++)
        if (pid[p] > 0)
            waitpid(pid[p], NULL, 0);
}

/* A task for the toy interpreter: task_n / TICK_N ticks of
 * pk_cpu_task(TICK_N). The ticks count hand-offs: a tick by another task
 * than the one before. */
typedef struct tick_task {
    uint64_t left, sum;
    int id;
} tick_task;

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

static int cpu_interp_run(cpu_ctx *c)
{
    tick_task tasks[NTASKS];
    void *states[NTASKS];
    for (int i = 0; i < NTASKS; i++) {
        tasks[i] = (tick_task){task_n / TICK_N, 0, i};
        states[i] = &tasks[i];
    }
    atomic_store(&last_ticker, -1);
    atomic_store(&handoffs, 0);
    thr_interp_config cfg = {c->mode, c->interval, NULL, NULL};
    int rc = c->interp(&cfg, cpu_tick, states, NTASKS);
    c->handoffs = atomic_load(&handoffs);
    for (int i = 0; i < NTASKS; i++)
        pk_consume_u64(tasks[i].sum);
    return rc;
}

static void cpu_interp(void *ctx)
{
    if (cpu_interp_run(ctx) != 0)
        perror("thr_interp_run");
}

static uint64_t one(uint64_t n)
{
    return n;
}

static int one_tick(void *p)
{
    (void)p;
    return 0;
}

static void bench_cpu(pk_report *r)
{
    char bench[96], num[32];
    snprintf(bench, sizeof bench, "4 CPU tasks, pk_cpu_task(%s) each",
             sci(task_n, num, sizeof num));
    cpu_ctx fan[2] = {{thr_fan_out, NULL, 0, 0, 0},
                      {PK_REF(thr_fan_out), NULL, 0, 0, 0}};
    cpu_ctx in[6];
    const thr_gil_mode modes[3] = {THR_GIL_FREE, THR_GIL_ON, THR_GIL_ON};
    const uint64_t intervals[3] = {0, THR_DEFAULT_SWITCH_NS, SHORT_SWITCH_NS};
    for (int m = 0; m < 3; m++) {
        in[2 * m] = (cpu_ctx){NULL, thr_interp_run, modes[m], intervals[m], 0};
        in[2 * m + 1] = (cpu_ctx){NULL, PK_REF(thr_interp_run), modes[m],
                                  intervals[m], 0};
    }
    variant v[] = {
        {"sequential (provided)", cpu_sequential, NULL, 0, 0, 0, {0}},
        {"1 process per task: the ceiling", cpu_processes, NULL, 0, 0, 0, {0}},
        {"thr_fan_out (yours)", cpu_fan_out, &fan[0], 0, 0, 0, {0}},
        {"thr_fan_out (reference)", cpu_fan_out, &fan[1], 0, 0, 0, {0}},
        {"free mode (yours)", cpu_interp, &in[0], 0, 0, 0, {0}},
        {"free mode (reference)", cpu_interp, &in[1], 0, 0, 0, {0}},
        {"GIL, 5 ms switch (yours)", cpu_interp, &in[2], 0, 0, 0, {0}},
        {"GIL, 5 ms switch (reference)", cpu_interp, &in[3], 0, 0, 0, {0}},
        {"GIL, 0.05 ms switch (yours)", cpu_interp, &in[4], 0, 0, 0, {0}},
        {"GIL, 0.05 ms switch (reference)", cpu_interp, &in[5], 0, 0, 0, {0}},
    };
    enum { K = sizeof v / sizeof v[0] };
    /* A trial call of each of your functions and the reference's. */
    for (int j = 0; j < 2; j++) {
        variant *f = &v[2 + j];
        if (fan[j].fan_out == NULL) {
            f->absent = 1;
            continue;
        }
        uint64_t x = 1, y = 0;
        errno = 0;
        int rc = fan[j].fan_out(one, &x, &y, 1);
        trial(f, rc, errno);
    }
    for (int i = 0; i < 6; i++) {
        variant *f = &v[4 + i];
        if (in[i].interp == NULL) {
            f->absent = 1;
            continue;
        }
        int calls = 0;
        void *states[1] = {&calls};
        thr_interp_config cfg = {in[i].mode, 0, NULL, NULL};
        errno = 0;
        int rc = in[i].interp(&cfg, one_tick, states, 1);
        trial(f, rc, errno);
    }

    double before = pk_parallel_ceiling(2, 0.2);
    if (run_table(r, bench, NTASKS, v, K, 1, cpu_runs) != 0)
        return;
    double after = pk_parallel_ceiling(2, 0.2);
    double seq = v[0].st.median, ceiling = seq / v[1].st.median;
    for (int i = 2; i < K; i++)
        if (!v[i].absent && !v[i].todo && !v[i].broken)
            pk_report_note(r, "%-34s %.2fx over sequential = %.0f%% of the "
                           "ceiling", v[i].name, seq / v[i].st.median,
                           100 * seq / v[i].st.median / ceiling);
    pk_report_note(r, "ceiling: %.2fx in these rounds (processes); "
                   "pk_parallel_ceiling() %.2fx before, %.2fx after; %u CPUs",
                   ceiling, before, after, pk_cpu_count());
    pk_report_note(r, "the interpreter runs each task as %llu ticks of "
                   "pk_cpu_task(%llu)", (unsigned long long)(task_n / TICK_N),
                   (unsigned long long)TICK_N);
    for (int j = 0; j < 2; j++) {
        cpu_ctx *g5 = &in[2 + j], *gs = &in[4 + j];
        variant *v5 = &v[6 + j], *vs = &v[8 + j];
        if (v5->absent || v5->todo || v5->broken || vs->todo || vs->broken)
            continue;
        pk_report_note(r, "GIL hand-offs per run (%s): %llu at 5 ms, %llu at "
                       "0.05 ms; %.1f us of extra time per extra hand-off",
                       j ? "reference" : "yours",
                       (unsigned long long)g5->handoffs,
                       (unsigned long long)gs->handoffs,
                       gs->handoffs > g5->handoffs
                           ? (vs->st.median - v5->st.median) * 1e6 /
                                 (double)(gs->handoffs - g5->handoffs)
                           : 0.0);
    }
}

/* ==== counters ================================================================= */

/* The counters the API does not offer, to compare with: a mutex counter
 * written here (the baseline), the racy one (a plain shared ++), per-thread
 * slots packed into one cache line (false sharing) or padded, and a local
 * variable stored once at the end. Each increment is a call the compiler
 * cannot inline, as thr_counter_inc() is. */
typedef struct unpadded {
    _Atomic uint64_t slot[COUNT_THREADS]; /* 8 bytes apart: one cache line */
} unpadded;

typedef struct padded_slot {
    _Alignas(THR_CACHE_LINE) _Atomic uint64_t value; /* a line to itself */
} padded_slot;

static pthread_mutex_t base_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t base_value;
static volatile uint64_t racy_value;
static unpadded packed;
static padded_slot padded[COUNT_THREADS];

__attribute__((noinline)) static void mutex_inc(void)
{
    pthread_mutex_lock(&base_mu);
    base_value++;
    pthread_mutex_unlock(&base_mu);
}

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

typedef enum { LOCAL_MUTEX, LOCAL_RACY, LOCAL_PACKED, LOCAL_PADDED, LOCAL_REGISTER } local_kind;

typedef struct local_arg {
    local_kind kind;
    unsigned tid;
    uint64_t result;
} local_arg;

static void *local_thread(void *p)
{
    local_arg *a = p;
    uint64_t v = 0;
    for (uint64_t i = 0; i < count_k; i++) {
        switch (a->kind) {
        case LOCAL_MUTEX: mutex_inc(); break;
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

static void count_local(void *ctx)
{
    local_kind kind = *(local_kind *)ctx;
    pthread_t t[COUNT_THREADS];
    local_arg a[COUNT_THREADS];
    base_value = 0;
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
        uint64_t lost = COUNT_THREADS * count_k - racy_value;
        racy_lost_min = lost < racy_lost_min ? lost : racy_lost_min;
        racy_lost_max = lost > racy_lost_max ? lost : racy_lost_max;
        racy_runs++;
    }
    pk_consume_u64(total);
}

typedef int (*count_fn)(thr_counter_kind, unsigned, uint64_t, uint64_t *);

typedef struct count_ctx {
    count_fn count;
    thr_counter_kind kind;
} count_ctx;

static void count_with(void *ctx)
{
    count_ctx *c = ctx;
    uint64_t total;
    if (c->count(c->kind, COUNT_THREADS, count_k, &total) != 0)
        perror("thr_count");
    else if (total != COUNT_THREADS * count_k)
        fprintf(stderr, "thr_count: wrong total %llu, expected %llu\n",
                (unsigned long long)total,
                (unsigned long long)(COUNT_THREADS * count_k));
}

static void bench_counters(pk_report *r)
{
    char bench[96], num[32];
    snprintf(bench, sizeof bench, "shared counter, 2 threads x %s increments",
             sci(count_k, num, sizeof num));
    static local_kind kinds[] = {LOCAL_MUTEX, LOCAL_RACY, LOCAL_PACKED,
                                       LOCAL_PADDED, LOCAL_REGISTER};
    count_ctx cc[6];
    const thr_counter_kind ck[3] = {THR_COUNTER_MUTEX, THR_COUNTER_ATOMIC,
                                    THR_COUNTER_PADDED};
    for (int i = 0; i < 3; i++) {
        cc[2 * i] = (count_ctx){thr_count, ck[i]};
        cc[2 * i + 1] = (count_ctx){PK_REF(thr_count), ck[i]};
    }
    variant v[] = {
        {"mutex, bare loop (provided)", count_local, &kinds[0], 0, 0, 0, {0}},
        {"mutex thr_count (yours)", count_with, &cc[0], 0, 0, 0, {0}},
        {"mutex thr_count (reference)", count_with, &cc[1], 0, 0, 0, {0}},
        {"atomic thr_count (yours)", count_with, &cc[2], 0, 0, 0, {0}},
        {"atomic thr_count (reference)", count_with, &cc[3], 0, 0, 0, {0}},
        {"padded thr_count (yours)", count_with, &cc[4], 0, 0, 0, {0}},
        {"padded thr_count (reference)", count_with, &cc[5], 0, 0, 0, {0}},
        {"padded slots, bare loop", count_local, &kinds[3], 0, 0, 0, {0}},
        {"packed slots (false sharing)", count_local, &kinds[2], 0, 0, 0, {0}},
        {"local variable, stored once", count_local, &kinds[4], 0, 0, 0, {0}},
        {"racy ++ (wrong answers)", count_local, &kinds[1], 0, 0, 0, {0}},
    };
    enum { K = sizeof v / sizeof v[0] };
    for (int i = 0; i < 6; i++) {
        variant *f = &v[1 + i];
        if (cc[i].count == NULL) {
            f->absent = 1;
            continue;
        }
        uint64_t total = 0;
        errno = 0;
        int rc = cc[i].count(cc[i].kind, 1, 1, &total);
        trial(f, rc, errno);
    }
    if (run_table(r, bench, COUNT_THREADS * count_k, v, K, 1, count_runs) != 0)
        return;
    double n = (double)(COUNT_THREADS * count_k);
    for (int i = 0; i < K; i++)
        if (!v[i].absent && !v[i].todo && !v[i].broken)
            pk_report_note(r, "%-34s %5.1f ns of wall time per increment",
                           v[i].name, v[i].st.median * 1e9 / n);
    pk_report_note(r, "racy ++ lost %llu to %llu of %llu updates (%.0f%% to "
                   "%.0f%%) over %llu runs", (unsigned long long)racy_lost_min,
                   (unsigned long long)racy_lost_max,
                   (unsigned long long)(COUNT_THREADS * count_k),
                   100.0 * (double)racy_lost_min / n,
                   100.0 * (double)racy_lost_max / n,
                   (unsigned long long)racy_runs);
}

/* ==== one producer, one consumer: ring and queue ================================= */

/* Rings of the same layout with other memory orders, provided here: the
 * baseline (seq_cst everywhere, what `_Atomic` operators without
 * _explicit give) and the wrong relaxed one, for its speed only. */
static int ring_init_provided(thr_ring *r, size_t capacity)
{
    r->slots = calloc(capacity, sizeof *r->slots);
    if (r->slots == NULL)
        return -1;
    r->mask = capacity - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

static void ring_destroy_provided(thr_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

static int ring_push_seq_cst(thr_ring *r, uint64_t v)
{
    size_t t = atomic_load(&r->tail), h = atomic_load(&r->head);
    if (t - h > r->mask)
        return -1;
    r->slots[t & r->mask] = v;
    atomic_store(&r->tail, t + 1);  /* seq_cst: an xchg on x86-64 */
    return 0;
}

static int ring_pop_seq_cst(thr_ring *r, uint64_t *v)
{
    size_t h = atomic_load(&r->head), t = atomic_load(&r->tail);
    if (h == t)
        return -1;
    *v = r->slots[h & r->mask];
    atomic_store(&r->head, h + 1);
    return 0;
}

static int ring_push_relaxed(thr_ring *r, uint64_t v)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (t - h > r->mask)
        return -1;
    r->slots[t & r->mask] = v;
    atomic_store_explicit(&r->tail, t + 1, memory_order_relaxed); /* WRONG */
    return 0;
}

static int ring_pop_relaxed(thr_ring *r, uint64_t *v)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed); /* WRONG */
    if (h == t)
        return -1;
    *v = r->slots[h & r->mask];
    atomic_store_explicit(&r->head, h + 1, memory_order_relaxed); /* WRONG */
    return 0;
}

typedef struct ring_ops {
    int (*init)(thr_ring *, size_t);
    int (*push)(thr_ring *, uint64_t);
    int (*pop)(thr_ring *, uint64_t *);
    void (*destroy)(thr_ring *);
} ring_ops;

typedef struct queue_ops {
    thr_queue *(*create)(size_t);
    int (*push)(thr_queue *, void *);
    int (*pop)(thr_queue *, void **);
    void (*close)(thr_queue *);
    void (*destroy)(thr_queue *);
} queue_ops;

typedef struct pass_ctx {
    const ring_ops *ring;    /* one of the two is set */
    const queue_ops *queue;
    thr_ring r;
    thr_queue *q;
    uint64_t sum;            /* what the consumer received */
    int wrong;               /* the sum was not the values' sum */
} pass_ctx;

/* Spin a little, then let the other thread have the core. */
static void backoff(unsigned *spins)
{
    if (++*spins > 64) {
        sched_yield();
        *spins = 0;
    }
}

static void *ring_producer(void *p)
{
    pass_ctx *c = p;
    unsigned spins = 0;
    for (uint64_t i = 1; i <= pass_values; i++)
        while (c->ring->push(&c->r, i) != 0)
            backoff(&spins);
    return NULL;
}

static void *queue_producer(void *p)
{
    pass_ctx *c = p;
    for (uint64_t i = 1; i <= pass_values; i++)
        if (c->queue->push(c->q, (void *)(uintptr_t)i) != 0)
            break;
    return NULL;
}

static void pass_values_once(void *ctx)
{
    pass_ctx *c = ctx;
    pthread_t t;
    uint64_t sum = 0;
    if (c->ring != NULL) {
        if (c->ring->init(&c->r, PASS_CAPACITY) != 0)
            return;
        pthread_create(&t, NULL, ring_producer, c);
        unsigned spins = 0;
        for (uint64_t i = 0; i < pass_values; i++) {
            uint64_t v;
            while (c->ring->pop(&c->r, &v) != 0)
                backoff(&spins);
            sum += v;
        }
        pthread_join(t, NULL);
        c->ring->destroy(&c->r);
    } else {
        if ((c->q = c->queue->create(PASS_CAPACITY)) == NULL)
            return;
        pthread_create(&t, NULL, queue_producer, c);
        for (uint64_t i = 0; i < pass_values; i++) {
            void *v;
            if (c->queue->pop(c->q, &v) != 0)
                break;
            sum += (uintptr_t)v;
        }
        pthread_join(t, NULL);
        c->queue->destroy(c->q);
    }
    c->wrong |= sum != pass_values * (pass_values + 1) / 2;
}

static void bench_pass(pk_report *r)
{
    char bench[96], num[32];
    snprintf(bench, sizeof bench, "1 producer, 1 consumer, %s values",
             sci(pass_values, num, sizeof num));
    static const ring_ops seq_cst = {ring_init_provided, ring_push_seq_cst,
                                     ring_pop_seq_cst, ring_destroy_provided};
    static const ring_ops relaxed = {ring_init_provided, ring_push_relaxed,
                                     ring_pop_relaxed, ring_destroy_provided};
    const ring_ops yours = {thr_ring_init, thr_ring_push, thr_ring_pop,
                            thr_ring_destroy};
    const ring_ops ref = {PK_REF(thr_ring_init), PK_REF(thr_ring_push),
                          PK_REF(thr_ring_pop), PK_REF(thr_ring_destroy)};
    const queue_ops qyours = {thr_queue_create, thr_queue_push, thr_queue_pop,
                              thr_queue_close, thr_queue_destroy};
    const queue_ops qref = {PK_REF(thr_queue_create), PK_REF(thr_queue_push),
                            PK_REF(thr_queue_pop), PK_REF(thr_queue_close),
                            PK_REF(thr_queue_destroy)};
    static pass_ctx c[6];
    memset(c, 0, sizeof c);
    c[0].ring = &seq_cst;
    c[1].ring = &yours;
    c[2].ring = &ref;
    c[3].ring = &relaxed;
    c[4].queue = &qyours;
    c[5].queue = &qref;
    variant v[] = {
        {"ring, seq_cst (provided)", pass_values_once, &c[0], 0, 0, 0, {0}},
        {"thr_ring, acq/rel (yours)", pass_values_once, &c[1], 0, 0, 0, {0}},
        {"thr_ring, acq/rel (reference)", pass_values_once, &c[2], 0, 0, 0, {0}},
        {"ring, relaxed (WRONG, provided)", pass_values_once, &c[3], 0, 0, 0, {0}},
        {"thr_queue, mutex+condvar (yours)", pass_values_once, &c[4], 0, 0, 0, {0}},
        {"thr_queue (reference)", pass_values_once, &c[5], 0, 0, 0, {0}},
    };
    enum { K = sizeof v / sizeof v[0] };
    /* Trials: init, one push and one pop, on one thread. */
    for (int i = 1; i <= 2; i++) {
        if (c[i].ring->init == NULL || c[i].ring->push == NULL) {
            v[i].absent = 1;
            continue;
        }
        thr_ring t;
        uint64_t x;
        errno = 0;
        int rc = c[i].ring->init(&t, 2);
        if (rc == 0 && (rc = c[i].ring->push(&t, 7)) == 0)
            rc = c[i].ring->pop(&t, &x);
        int e = errno;
        if (rc == 0 || e != ENOSYS)
            c[i].ring->destroy(&t);
        trial(&v[i], rc, e);
    }
    for (int i = 4; i <= 5; i++) {
        if (c[i].queue->create == NULL) {
            v[i].absent = 1;
            continue;
        }
        errno = 0;
        thr_queue *q = c[i].queue->create(2);
        int rc = q == NULL ? -1 : 0, e = errno;
        void *x;
        if (q != NULL && (rc = c[i].queue->push(q, &x)) == 0)
            rc = c[i].queue->pop(q, &x);
        e = rc ? errno : e;
        if (q != NULL)
            c[i].queue->destroy(q);
        trial(&v[i], rc, e);
    }
    if (run_table(r, bench, pass_values, v, K, 1, pass_runs) != 0)
        return;
    for (int i = 0; i < K; i++)
        if (!v[i].absent && !v[i].todo && !v[i].broken)
            pk_report_note(r, "%-34s %5.1f ns per value%s", v[i].name,
                           v[i].st.median * 1e9 / (double)pass_values,
                           c[i].wrong ? " (WRONG SUM: values lost or changed)" : "");
}

/* ==== what starting a worker costs ============================================ */

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

/* ==== main ====================================================================== */

int main(void)
{
    if (pk_bench_quick()) {
        task_n = TASK_N / 10;
        count_k = COUNT_K / 10;
        pass_values = PASS_VALUES / 10;
        cpu_runs = count_runs = pass_runs = 3;
        spawn_runs = 21;
    }
    pk_report *r = pk_report_open("01-threads");
    if (r == NULL)
        return 1;
    if (PK_REF(thr_fan_out) == NULL)
        pk_report_note(r, "(no solutions/ here: your code's rows only)");

    bench_cpu(r);
    bench_counters(r);
    bench_pass(r);

    const char *b = "start and join one empty worker";
    void (*const spawn_fns[])(void *) = {spawn_thread, spawn_process};
    pk_stats st[2];
    if (pk_bench_many(spawn_fns, NULL, 2, 10, spawn_runs, st) == 0) {
        pk_report_add(r, b, "pthread_create + pthread_join", 1, &st[0]);
        pk_report_add(r, b, "fork + waitpid", 1, &st[1]);
    }

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
