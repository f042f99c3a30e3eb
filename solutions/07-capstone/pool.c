/* pool.c - chapter 07 reference solution: a thread pool with futures.
 *
 * The design of libuv's threadpool.c and CPython's concurrent.futures: one
 * FIFO queue under one mutex (mu), workers asleep on a condition variable
 * (work_cv) while it is empty, a future per task with a state and a result,
 * and a second condition variable (done_cv) for threads waiting on futures.
 *
 * Locking rules (everything below relies on them):
 * - mu guards the queue, every future's state change, and the counters
 *   idle, waiters and stopping.
 * - A future's state is also atomic, so that a thread may read it without
 *   mu (the fast path of cpool_future_get() and cpool_future_done()); it is
 *   only ever written under mu, with result and err written before it.
 * - A worker that finishes a task broadcasts done_cv (under mu) when a
 *   thread waits on it; every waiter re-checks its own future in a while
 *   loop, because a broadcast means "some future finished", not "yours".
 * - Submitters signal work_cv only when a worker sleeps (idle > 0); a busy
 *   worker comes back to the queue by itself.
 *
 * What a task costs: a malloc for the future, two lock round trips (push;
 * pop and finish share one), and a futex wake-up only when a worker sleeps.
 * On a busy pool the workers never sleep and the wake-ups vanish; on an
 * idle one, waking a thread costs 5 to 50 us (a system call and a trip
 * through the scheduler). libpk's pk_tpool polls for a few microseconds
 * before it sleeps to save that; the lesson measures both.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define CHUNKS_PER_WORKER 32 /* cpool_map's automatic chunking */

/* The life of a future: PENDING (queued) -> RUNNING -> DONE or FAILED;
 * or PENDING -> CANCELLED by cpool_shutdown(CPOOL_CANCEL). */
enum { PENDING, RUNNING, DONE, FAILED, CANCELLED };

struct cpool_future {
    cpool_fn fn;
    void *arg;
    void *result;          /* fn's result, valid once state is DONE */
    int err;               /* fn's error code, valid once state is FAILED */
    atomic_int state;      /* written under mu; read with or without it */
    cpool_future *next;    /* queue link, under mu */
    cpool *pool;
};

struct cpool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* workers sleep here while the queue is empty */
    pthread_cond_t done_cv;  /* waiters sleep here until a future finishes */
    cpool_future *head;      /* the queue: oldest first */
    cpool_future *tail;
    size_t idle;             /* workers asleep on work_cv */
    size_t waiters;          /* threads asleep on done_cv */
    int stopping;            /* set once by cpool_shutdown() */
    int joined;              /* the workers have been joined */
    size_t nworkers;
    pthread_t *threads;
};

/* The pool whose worker this thread is, or NULL: a wait on a future of
 * that pool must help run its queue (see wait_finished()). */
static _Thread_local cpool *current_pool;

/* ---- small helpers ------------------------------------------------------ */

static int finished(const cpool_future *f)
{
    return atomic_load_explicit(&f->state, memory_order_acquire) >= DONE;
}

/* ---- the queue (caller holds mu) ----------------------------------------- */

static void push(cpool *pool, cpool_future *f)
{
    f->next = NULL;
    if (pool->tail != NULL)
        pool->tail->next = f;
    else
        pool->head = f;
    pool->tail = f;
}

static cpool_future *pop(cpool *pool)
{
    cpool_future *f = pool->head;
    if (f == NULL)
        return NULL;
    pool->head = f->next;
    if (pool->head == NULL)
        pool->tail = NULL;
    return f;
}

/* Finish f with a state and wake whoever waits. Caller holds mu. */
static void finish(cpool *pool, cpool_future *f, int state)
{
    atomic_store_explicit(&f->state, state, memory_order_release);
    if (pool->waiters > 0)
        pthread_cond_broadcast(&pool->done_cv);
}

/* Run a popped task. Called and returns with mu held; runs fn without it. */
static void run(cpool *pool, cpool_future *f)
{
    atomic_store_explicit(&f->state, RUNNING, memory_order_relaxed);
    pthread_mutex_unlock(&pool->mu);
    void *result = NULL;
    int err = f->fn(f->arg, &result);
    pthread_mutex_lock(&pool->mu);
    f->result = result;
    f->err = err;
    finish(pool, f, err == 0 ? DONE : FAILED);
}

/* ---- workers ---------------------------------------------------------- */

static void *worker(void *arg)
{
    cpool *pool = arg;

    current_pool = pool;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        cpool_future *f = pop(pool);
        if (f != NULL) {
            run(pool, f);
            continue;
        }
        if (pool->stopping)
            break; /* stopping and the queue is empty: drained */
        pool->idle++;
        /* while, not if: another thread may take the task this one was
         * woken for, and a wait may end without any signal at all. */
        while (pool->head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->work_cv, &pool->mu);
        pool->idle--;
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

/* ---- the pool ----------------------------------------------------------- */

/* Stop and join the first n workers, destroy the primitives, free. */
static void teardown(cpool *pool, size_t n)
{
    pthread_mutex_lock(&pool->mu);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    for (size_t i = 0; i < n; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->done_cv);
    pthread_cond_destroy(&pool->work_cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->threads);
    free(pool);
}

cpool *cpool_create(size_t nworkers)
{
    if (nworkers == 0 || nworkers > CPOOL_MAX_WORKERS) {
        errno = EINVAL;
        return NULL;
    }
    cpool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->threads = calloc(nworkers, sizeof *pool->threads);
    if (pool->threads == NULL)
        goto err_pool;
    if (pthread_mutex_init(&pool->mu, NULL) != 0)
        goto err_threads;
    if (pthread_cond_init(&pool->work_cv, NULL) != 0)
        goto err_mu;
    if (pthread_cond_init(&pool->done_cv, NULL) != 0)
        goto err_work_cv;
    pool->nworkers = nworkers;

    for (size_t i = 0; i < nworkers; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, worker, pool);
        if (rc != 0) {
            teardown(pool, i); /* none is left running, nothing leaks */
            errno = rc;
            return NULL;
        }
    }
    return pool;

err_work_cv:
    pthread_cond_destroy(&pool->work_cv);
err_mu:
    pthread_mutex_destroy(&pool->mu);
err_threads:
    free(pool->threads);
err_pool:
    free(pool);
    errno = ENOMEM;
    return NULL;
}

size_t cpool_size(const cpool *pool)
{
    if (pool == NULL) {
        errno = EINVAL;
        return 0;
    }
    return pool->nworkers;
}

cpool_future *cpool_submit(cpool *pool, cpool_fn fn, void *arg)
{
    if (pool == NULL || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    cpool_future *f = malloc(sizeof *f);
    if (f == NULL)
        return NULL;
    f->fn = fn;
    f->arg = arg;
    f->result = NULL;
    f->err = 0;
    atomic_init(&f->state, PENDING);
    f->pool = pool;

    pthread_mutex_lock(&pool->mu);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->mu);
        free(f); /* the error path frees what the call allocated */
        errno = ESHUTDOWN;
        return NULL;
    }
    push(pool, f);
    if (pool->idle > 0)
        pthread_cond_signal(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    return f;
}

/* Wait until f has finished. On a worker of f's pool, run queued tasks
 * meanwhile: the task f stands for may sit in the queue behind this very
 * thread, and with every worker waiting like this nobody else would run it.
 * Each task is popped under mu, so no task runs twice. */
static void wait_finished(cpool_future *f)
{
    if (finished(f))
        return; /* the fast path: no lock */

    cpool *pool = f->pool;
    pthread_mutex_lock(&pool->mu);
    while (!finished(f)) {
        cpool_future *g = current_pool == pool ? pop(pool) : NULL;
        if (g != NULL) {
            run(pool, g);
            continue;
        }
        pool->waiters++;
        pthread_cond_wait(&pool->done_cv, &pool->mu);
        pool->waiters--;
    }
    pthread_mutex_unlock(&pool->mu);
}

int cpool_future_get(cpool_future *f, void **result)
{
    if (f == NULL) {
        errno = EINVAL;
        return -1;
    }
    wait_finished(f);
    switch (atomic_load_explicit(&f->state, memory_order_acquire)) {
    case DONE:
        if (result != NULL)
            *result = f->result;
        return 0;
    case FAILED:
        errno = f->err;
        return -1;
    default: /* CANCELLED */
        errno = ECANCELED;
        return -1;
    }
}

int cpool_future_done(const cpool_future *f)
{
    if (f == NULL) {
        errno = EINVAL;
        return -1;
    }
    return finished(f);
}

void cpool_future_free(cpool_future *f)
{
    if (f == NULL)
        return;
    wait_finished(f);
    free(f);
}

int cpool_shutdown(cpool *pool, cpool_how how)
{
    if (pool == NULL || (how != CPOOL_DRAIN && how != CPOOL_CANCEL)) {
        errno = EINVAL;
        return -1;
    }
    if (current_pool == pool) {
        errno = EDEADLK; /* a worker cannot join itself */
        return -1;
    }
    pthread_mutex_lock(&pool->mu);
    if (pool->joined) {
        pthread_mutex_unlock(&pool->mu);
        return 0;
    }
    pool->stopping = 1;
    if (how == CPOOL_CANCEL) {
        cpool_future *f;
        while ((f = pop(pool)) != NULL)
            finish(pool, f, CANCELLED);
    }
    /* Broadcast, not signal: every worker must wake up to exit. */
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);

    for (size_t i = 0; i < pool->nworkers; i++)
        pthread_join(pool->threads[i], NULL);

    /* Every future is finished now. Threads still inside a wait were all
     * woken by the broadcasts; let them leave mu before anyone destroys it. */
    pthread_mutex_lock(&pool->mu);
    pool->joined = 1;
    while (pool->waiters > 0) {
        pthread_mutex_unlock(&pool->mu);
        sched_yield();
        pthread_mutex_lock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

void cpool_destroy(cpool *pool)
{
    if (pool == NULL)
        return;
    cpool_shutdown(pool, CPOOL_DRAIN);
    pthread_cond_destroy(&pool->done_cv);
    pthread_cond_destroy(&pool->work_cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->threads);
    free(pool);
}

/* ---- map -------------------------------------------------------------- */

/* One chunk of a map: items [lo, hi). */
typedef struct map_chunk {
    const char *in;
    char *out;
    size_t lo, hi, in_size, out_size;
    pk_map_fn fn;
    void *ctx;
} map_chunk;

static int run_chunk(void *arg, void **result)
{
    const map_chunk *c = arg;

    (void)result;
    for (size_t i = c->lo; i < c->hi; i++)
        c->fn(c->in + i * c->in_size, c->out + i * c->out_size, c->ctx);
    return 0;
}

int cpool_map(cpool *pool, const void *in, size_t n, size_t in_size,
              void *out, size_t out_size, pk_map_fn fn, void *ctx,
              size_t chunk)
{
    if (pool == NULL || fn == NULL || in_size == 0 || out_size == 0 ||
        (n > 0 && (in == NULL || out == NULL)) || SIZE_MAX / in_size < n ||
        SIZE_MAX / out_size < n) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&pool->mu);
    int stopping = pool->stopping;
    pthread_mutex_unlock(&pool->mu);
    if (stopping) {
        errno = ESHUTDOWN;
        return -1;
    }
    if (n == 0)
        return 0;
    if (chunk == 0) {
        size_t units = pool->nworkers * CHUNKS_PER_WORKER;
        chunk = (n + units - 1) / units;
    }
    size_t nchunks = n / chunk + (n % chunk != 0);

    /* One task per chunk, each writing its own slots out[lo..hi): the
     * results land in input order whatever order the chunks finish in. */
    map_chunk *chunks = malloc(nchunks * sizeof *chunks);
    cpool_future **futs = malloc(nchunks * sizeof *futs);
    if (chunks == NULL || futs == NULL) {
        free(futs);
        free(chunks);
        errno = ENOMEM;
        return -1;
    }
    size_t submitted = 0;
    int err = 0;
    for (; submitted < nchunks; submitted++) {
        size_t lo = submitted * chunk;
        chunks[submitted] = (map_chunk){
            .in = in, .out = out, .lo = lo,
            .hi = n - lo < chunk ? n : lo + chunk,
            .in_size = in_size, .out_size = out_size, .fn = fn, .ctx = ctx,
        };
        futs[submitted] = cpool_submit(pool, run_chunk, &chunks[submitted]);
        if (futs[submitted] == NULL) {
            err = errno;
            break;
        }
    }
    /* Wait for every chunk that was queued, also after a failure: they
     * point into chunks[], which must outlive them. */
    for (size_t c = 0; c < submitted; c++) {
        if (cpool_future_get(futs[c], NULL) != 0 && err == 0)
            err = errno;
        cpool_future_free(futs[c]);
    }
    free(futs);
    free(chunks);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}
