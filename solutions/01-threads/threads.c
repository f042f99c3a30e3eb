/* threads.c - chapter 01 reference solution: fan-out, counters, a bounded
 * blocking queue and a GIL simulation, on POSIX threads. */
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pk/timing.h"

/* ==== Exercise 1: fan-out ================================================ */

/* Everything thread i needs, in memory that lives until it is joined. The
 * thread gets a pointer to its own fan_arg, never &i: the loop's i changes
 * while the thread is starting (C's twin of the Python lambda's late `n`). */
typedef struct fan_arg {
    thr_task_fn task;
    uint64_t in;
    uint64_t *out; /* this thread's result slot: results land in input order */
} fan_arg;

static void *fan_thread(void *p)
{
    fan_arg *a = p;

    *a->out = a->task(a->in);
    return NULL;
}

int thr_fan_out_with(thr_task_fn task, const uint64_t *in, uint64_t *out,
                     size_t n, thr_create_fn create)
{
    if (task == NULL || in == NULL || out == NULL || n == 0 ||
        n > THR_MAX_THREADS) {
        errno = EINVAL;
        return -1;
    }
    if (create == NULL)
        create = pthread_create;

    pthread_t *tid = malloc(n * sizeof *tid);
    fan_arg *args = malloc(n * sizeof *args);
    if (tid == NULL || args == NULL) {
        free(tid);
        free(args);
        errno = ENOMEM;
        return -1;
    }

    size_t started = 0;
    int err = 0;
    for (; started < n; started++) {
        args[started] = (fan_arg){task, in[started], &out[started]};
        err = create(&tid[started], NULL, fan_thread, &args[started]);
        if (err != 0)
            break;
    }
    /* Join what was started, success or not: returning with a thread still
     * running would leave it writing into out[] and args[] after free(). */
    for (size_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);

    free(tid);
    free(args);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

int thr_fan_out(thr_task_fn task, const uint64_t *in, uint64_t *out, size_t n)
{
    return thr_fan_out_with(task, in, out, n, NULL);
}

/* ==== Exercise 2: counters =============================================== */

/* One thread's slot, alone on its cache line. Without the alignment eight
 * slots share a 64-byte line, and every increment by one core invalidates
 * the line in the other's cache (false sharing): correct, but as slow as a
 * contended atomic. */
typedef struct thr_slot {
    _Alignas(THR_CACHE_LINE) _Atomic uint64_t value;
} thr_slot;

_Static_assert(sizeof(thr_slot) == THR_CACHE_LINE, "one slot per cache line");

struct thr_counter {
    thr_counter_kind kind;
    unsigned nthreads;
    pthread_mutex_t mu;       /* MUTEX: guards value */
    uint64_t value;           /* MUTEX */
    _Atomic uint64_t atomic;  /* ATOMIC */
    thr_slot *slots;          /* PADDED: nthreads slots */
};

thr_counter *thr_counter_create(thr_counter_kind kind, unsigned nthreads)
{
    if ((kind != THR_COUNTER_MUTEX && kind != THR_COUNTER_ATOMIC &&
         kind != THR_COUNTER_PADDED) ||
        nthreads == 0 || nthreads > THR_MAX_THREADS) {
        errno = EINVAL;
        return NULL;
    }
    thr_counter *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->kind = kind;
    c->nthreads = nthreads;
    atomic_init(&c->atomic, 0);
    int err = pthread_mutex_init(&c->mu, NULL);
    if (err != 0) {
        free(c);
        errno = err;
        return NULL;
    }
    if (kind == THR_COUNTER_PADDED) {
        /* aligned_alloc: malloc only promises 16-byte alignment, which would
         * let two slots straddle one line. */
        c->slots = aligned_alloc(THR_CACHE_LINE, nthreads * sizeof *c->slots);
        if (c->slots == NULL) {
            pthread_mutex_destroy(&c->mu);
            free(c);
            errno = ENOMEM;
            return NULL;
        }
        for (unsigned i = 0; i < nthreads; i++)
            atomic_init(&c->slots[i].value, 0);
    }
    return c;
}

int thr_counter_inc(thr_counter *c, unsigned tid)
{
    if (c == NULL || tid >= c->nthreads) {
        errno = EINVAL;
        return -1;
    }
    switch (c->kind) {
    case THR_COUNTER_MUTEX:
        pthread_mutex_lock(&c->mu);
        c->value++;
        pthread_mutex_unlock(&c->mu);
        break;
    case THR_COUNTER_ATOMIC:
        /* One locked read-modify-write; relaxed is enough, nothing else is
         * published through the counter. */
        atomic_fetch_add_explicit(&c->atomic, 1, memory_order_relaxed);
        break;
    case THR_COUNTER_PADDED: {
        /* Only thread tid writes this slot, so a plain load and store (no
         * locked instruction) cannot lose an update. They are atomic so that
         * thr_counter_total() may read the slot while we write it. */
        _Atomic uint64_t *v = &c->slots[tid].value;
        atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        break;
    }
    }
    return 0;
}

uint64_t thr_counter_total(thr_counter *c)
{
    if (c == NULL)
        return 0;
    uint64_t sum = 0;
    switch (c->kind) {
    case THR_COUNTER_MUTEX:
        pthread_mutex_lock(&c->mu);
        sum = c->value;
        pthread_mutex_unlock(&c->mu);
        break;
    case THR_COUNTER_ATOMIC:
        sum = atomic_load(&c->atomic);
        break;
    case THR_COUNTER_PADDED:
        for (unsigned i = 0; i < c->nthreads; i++)
            sum += atomic_load_explicit(&c->slots[i].value, memory_order_relaxed);
        break;
    }
    return sum;
}

void thr_counter_destroy(thr_counter *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->slots);
    free(c);
}

typedef struct count_arg {
    thr_counter *c;
    unsigned tid;
    uint64_t times;
} count_arg;

static void *count_thread(void *p)
{
    count_arg *a = p;

    for (uint64_t i = 0; i < a->times; i++)
        thr_counter_inc(a->c, a->tid);
    return NULL;
}

int thr_count(thr_counter_kind kind, unsigned nthreads, uint64_t per_thread,
              uint64_t *total)
{
    if (total == NULL) {
        errno = EINVAL;
        return -1;
    }
    thr_counter *c = thr_counter_create(kind, nthreads); /* checks the rest */
    if (c == NULL)
        return -1;
    if (per_thread > UINT64_MAX / nthreads) {
        thr_counter_destroy(c);
        errno = EOVERFLOW;
        return -1;
    }
    pthread_t *tid = malloc(nthreads * sizeof *tid);
    count_arg *args = malloc(nthreads * sizeof *args);
    int err = 0;
    unsigned started = 0;
    if (tid == NULL || args == NULL)
        err = ENOMEM;
    for (; err == 0 && started < nthreads; started++) {
        args[started] = (count_arg){c, started, per_thread};
        err = pthread_create(&tid[started], NULL, count_thread, &args[started]);
        if (err != 0)
            break;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    if (err == 0)
        *total = thr_counter_total(c);
    free(tid);
    free(args);
    thr_counter_destroy(c);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ==== Exercise 3: a bounded blocking queue ================================ */

/* A ring buffer under one mutex. Producers sleep on not_full, consumers on
 * not_empty. Every wait sits in a while loop that re-checks its condition:
 * a wake-up only says "look again" (another consumer may have taken the
 * item first, and POSIX allows spurious wake-ups). */
struct thr_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_full;  /* signalled after a pop, broadcast on close */
    pthread_cond_t not_empty; /* signalled after a push, broadcast on close */
    void **items;
    size_t capacity, head, count;
    int closed;
};

thr_queue *thr_queue_create(size_t capacity)
{
    if (capacity == 0 || capacity > THR_QUEUE_MAX_CAPACITY) {
        errno = EINVAL;
        return NULL;
    }
    thr_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->items = malloc(capacity * sizeof *q->items);
    if (q->items == NULL)
        goto err_items;
    int e;
    if ((e = pthread_mutex_init(&q->mu, NULL)) != 0)
        goto err_mu;
    if ((e = pthread_cond_init(&q->not_full, NULL)) != 0)
        goto err_full;
    if ((e = pthread_cond_init(&q->not_empty, NULL)) != 0)
        goto err_empty;
    q->capacity = capacity;
    return q;

err_empty:
    pthread_cond_destroy(&q->not_full);
err_full:
    pthread_mutex_destroy(&q->mu);
err_mu:
    free(q->items);
    errno = e;
    free(q);
    return NULL;
err_items:
    free(q);
    errno = ENOMEM;
    return NULL;
}

int thr_queue_push(thr_queue *q, void *item)
{
    if (q == NULL) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&q->mu);
    while (q->count == q->capacity && !q->closed)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        errno = EPIPE;
        return -1;
    }
    q->items[(q->head + q->count) % q->capacity] = item;
    q->count++;
    /* One item, one consumer: signal, not broadcast. Signalling while
     * holding the mutex means no consumer can miss it between its check and
     * its wait (the lost wake-up). */
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int thr_queue_pop(thr_queue *q, void **item)
{
    if (q == NULL || item == NULL) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    if (q->count == 0) { /* closed and drained */
        pthread_mutex_unlock(&q->mu);
        errno = EPIPE;
        return -1;
    }
    *item = q->items[q->head];
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void thr_queue_close(thr_queue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    /* Everyone must see the change, so broadcast to both sides. */
    pthread_cond_broadcast(&q->not_full);
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

void thr_queue_destroy(thr_queue *q)
{
    if (q == NULL)
        return;
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->mu);
    free(q->items);
    free(q);
}

/* ==== Exercise 4: a GIL simulation ======================================== */

/* The GIL is a ticket lock: a thread that wants it takes the next ticket and
 * waits until now_serving reaches it. Tickets make it fair (first come,
 * first served), which CPython's GIL only approximates: a thread that hands
 * the GIL on takes a fresh ticket, behind everyone already waiting.
 *
 * Cost: every hand-off broadcasts to all waiters, and all but one go back to
 * sleep. With a handful of threads and a 5 ms interval that is negligible. */
typedef struct gil {
    pthread_mutex_t mu;
    pthread_cond_t turn;   /* broadcast whenever now_serving moves */
    uint64_t next_ticket;  /* the ticket the next arrival takes */
    uint64_t now_serving;  /* the ticket of the holder */
} gil;

typedef struct interp {
    thr_gil_mode mode;
    uint64_t interval;
    uint64_t (*clock)(void *);
    void *clock_ctx;
    thr_tick_fn tick;
    gil gil;
} interp;

typedef struct interp_arg {
    interp *in;
    void *state;
} interp_arg;

/* Wait for our ticket to come up; called with g->mu held. */
static void gil_wait_turn(gil *g, uint64_t ticket)
{
    while (g->now_serving != ticket)
        pthread_cond_wait(&g->turn, &g->mu);
}

static void gil_acquire(gil *g)
{
    pthread_mutex_lock(&g->mu);
    gil_wait_turn(g, g->next_ticket++);
    pthread_mutex_unlock(&g->mu);
}

static void gil_release(gil *g)
{
    pthread_mutex_lock(&g->mu);
    g->now_serving++;
    pthread_cond_broadcast(&g->turn);
    pthread_mutex_unlock(&g->mu);
}

/* If another thread waits, pass the GIL on and queue up again behind it.
 * Returns 1 if the GIL changed hands (we now hold it again), 0 if nobody
 * was waiting (we kept it). */
static int gil_offer(gil *g)
{
    int switched = 0;

    pthread_mutex_lock(&g->mu);
    if (g->next_ticket - g->now_serving > 1) { /* someone holds a later ticket */
        uint64_t mine = g->next_ticket++;
        g->now_serving++;
        pthread_cond_broadcast(&g->turn);
        gil_wait_turn(g, mine);
        switched = 1;
    }
    pthread_mutex_unlock(&g->mu);
    return switched;
}

static uint64_t interp_clock(const interp *in)
{
    return in->clock ? in->clock(in->clock_ctx) : pk_now_ns();
}

static void *interp_thread(void *p)
{
    interp_arg *a = p;
    interp *in = a->in;

    if (in->mode == THR_GIL_FREE) {
        while (in->tick(a->state))
            ;
        return NULL;
    }

    gil_acquire(&in->gil);
    uint64_t since = interp_clock(in);
    while (in->tick(a->state)) {
        /* CPython checks its "eval breaker" between bytecodes; we check
         * between ticks. The clock is read first: the lock only when due. */
        if (interp_clock(in) - since >= in->interval && gil_offer(&in->gil))
            since = interp_clock(in);
    }
    gil_release(&in->gil);
    return NULL;
}

int thr_interp_run(const thr_interp_config *cfg, thr_tick_fn tick,
                   void **states, size_t ntasks)
{
    static const thr_interp_config defaults = {THR_GIL_ON, 0, NULL, NULL};

    if (cfg == NULL)
        cfg = &defaults;
    if (tick == NULL || states == NULL || ntasks == 0 ||
        ntasks > THR_MAX_THREADS ||
        (cfg->mode != THR_GIL_ON && cfg->mode != THR_GIL_FREE)) {
        errno = EINVAL;
        return -1;
    }

    interp in = {
        .mode = cfg->mode,
        .interval = cfg->switch_interval_ns ? cfg->switch_interval_ns
                                            : THR_DEFAULT_SWITCH_NS,
        .clock = cfg->clock_ns,
        .clock_ctx = cfg->clock_ctx,
        .tick = tick,
    };
    int err = pthread_mutex_init(&in.gil.mu, NULL);
    if (err != 0) {
        errno = err;
        return -1;
    }
    if ((err = pthread_cond_init(&in.gil.turn, NULL)) != 0) {
        pthread_mutex_destroy(&in.gil.mu);
        errno = err;
        return -1;
    }

    pthread_t *tid = malloc(ntasks * sizeof *tid);
    interp_arg *args = malloc(ntasks * sizeof *args);
    size_t started = 0;
    if (tid == NULL || args == NULL)
        err = ENOMEM;
    for (; err == 0 && started < ntasks; started++) {
        args[started] = (interp_arg){&in, states[started]};
        err = pthread_create(&tid[started], NULL, interp_thread, &args[started]);
        if (err != 0)
            break;
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);

    free(tid);
    free(args);
    pthread_cond_destroy(&in.gil.turn);
    pthread_mutex_destroy(&in.gil.mu);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}
