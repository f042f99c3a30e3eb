/* tpool.c - a fixed-size thread pool with futures (after libuv's threadpool.c).
 *
 * Locking: submitters take no lock: they append to the queue with one atomic
 * exchange (see push()). Workers pop under one mutex (pool->mu), which also
 * guards the condition variables. A future's `done` flag is atomic so that
 * pk_future_get() on a finished task takes no lock at all.
 *
 * Why lock-free submission: with a mutex shared by the submitter and the
 * workers, 10^6 empty tasks went through at 8 M/s on a quiet course machine
 * but at 3.3 M/s whenever the hypervisor took CPU time away (a preempted
 * lock holder stalls everybody). With the exchange, 9 to 15 M/s in both
 * states, measured side by side.
 *
 * Waiting inside the pool: a task that waits for a future of its own pool
 * (pk_future_get, or pk_tpool_map's wait for its helpers) would deadlock if
 * the task it waits for sits in the queue behind it and every worker is
 * waiting the same way (a 1-thread pool always is). So a worker that waits
 * runs queued tasks itself until its future is done (help_until_done()).
 * It only ever runs tasks from the queue, which no other thread will run
 * once it has popped them, so helping cannot run a task twice.
 *
 * Completion handshake (no lost wake-up): a waiter increments pool->waiters
 * and re-checks `done` while holding mu, then sleeps on done_cv; a worker
 * stores `done` and then reads `waiters`. Both use sequentially consistent
 * atomics, so at least one of them sees the other's store: either the waiter
 * sees done, or the worker sees a waiter and broadcasts under mu.
 */
#include "pk/tpool.h"
#include "pk/timing.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 4096   /* more than this is a mistake, not a request */
#define SPIN_NS 20000      /* how long an idle worker or a waiter spins before
                              sleeping: a futex wake-up costs several us, and
                              work often arrives within a few */
#define CHUNKS_PER_THREAD 32 /* automatic chunking: work units per thread;
                               the tail imbalance is at most one chunk */
#define MAP_STACK_HELPERS 16 /* helper futures a map keeps on its stack
                                (more threads: one malloc) */

struct pk_future {
    void *(*fn)(void *);
    void *arg;
    void *result;
    atomic_int done;
    struct pk_future *_Atomic next; /* queue link, owned by the pool while queued */
    pk_tpool *pool;
};

struct pk_tpool {
    /* Submitters' end of the queue: one atomic exchange, no lock. Each
     * group below sits on a cache line of its own, so that what one side
     * writes does not evict what the other side only reads. */
    _Alignas(64) pk_future *_Atomic tail;
    _Alignas(64) atomic_size_t nqueued; /* tasks fully pushed and not yet popped */
    _Alignas(64) atomic_size_t idle;    /* workers asleep (or about to be) on work_cv */
    atomic_int waiters;     /* threads asleep (or about to be) on done_cv */
    atomic_int stop;        /* set under mu by pk_tpool_destroy */
    /* Workers' end, under mu. */
    _Alignas(64) pthread_mutex_t mu;
    pk_future *head;        /* the oldest node (possibly the stub) */
    pthread_cond_t work_cv; /* signalled when a task is queued or on stop */
    pthread_cond_t done_cv; /* broadcast when a task finishes and someone waits */
    size_t nthreads;
    pthread_t *threads;
    _Alignas(64) pk_future stub; /* keeps the queue non-empty; see pop() */
};

/* The queue is Dmitry Vyukov's intrusive multi-producer queue: a push is
 * one exchange on tail and one store to link the previous node, so
 * submitters never wait for each other or for a worker. Between the
 * exchange and the link the new node is unreachable; a worker that finds
 * nqueued > 0 but nothing to pop has met that moment and retries. Workers
 * pop one at a time under mu. */
static void push(pk_tpool *pool, pk_future *f)
{
    atomic_store_explicit(&f->next, NULL, memory_order_relaxed);
    pk_future *prev = atomic_exchange_explicit(&pool->tail, f,
                                               memory_order_acq_rel);
    atomic_store_explicit(&prev->next, f, memory_order_release);
}

/* The oldest linked task, or NULL. Caller holds mu. A node is handed out
 * only once its successor is linked, so no submitter writes to it after. */
static pk_future *pop(pk_tpool *pool)
{
    pk_future *head = pool->head;
    pk_future *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &pool->stub) {
        if (next == NULL)
            return NULL;
        pool->head = head = next;
        next = atomic_load_explicit(&head->next, memory_order_acquire);
    }
    if (next != NULL) {
        pool->head = next;
        return head;
    }
    if (head != atomic_load_explicit(&pool->tail, memory_order_acquire))
        return NULL; /* a push behind head is half done */
    push(pool, &pool->stub); /* head is the last node: put the stub behind it */
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next != NULL) {
        pool->head = next;
        return head;
    }
    return NULL;
}

/* The pool whose worker this thread is, or NULL: lets pk_future_get() know
 * that it is called from inside a task of that pool. */
static _Thread_local pk_tpool *current_pool;

/* Run one popped task and publish its result. Called without mu held. */
static void run_task(pk_tpool *pool, pk_future *f)
{
    f->result = f->fn(f->arg);
    atomic_store(&f->done, 1);
    if (atomic_load(&pool->waiters) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->done_cv);
        pthread_mutex_unlock(&pool->mu);
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin until pred(p) holds or SPIN_NS pass; returns pred's last value. The
 * clock is read only every 64 polls. */
static int spin_until(int (*pred)(void *), void *p)
{
    uint64_t deadline = pk_now_ns() + SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (pred(p))
            return 1;
        cpu_relax();
        if (i % 64 == 0 && pk_now_ns() > deadline)
            return pred(p);
    }
}

static int has_work(void *p)
{
    pk_tpool *pool = p;
    return atomic_load_explicit(&pool->nqueued, memory_order_relaxed) > 0;
}

static int is_done(void *p)
{
    return atomic_load(&((pk_future *)p)->done);
}

static void *worker(void *arg)
{
    pk_tpool *pool = arg;

    current_pool = pool;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        pk_future *f = pop(pool);
        if (f == NULL) {
            if (atomic_load(&pool->nqueued) > 0) {
                /* A submitter is between its exchange and its link: a few
                 * instructions, unless it was preempted. Let it run. */
                pthread_mutex_unlock(&pool->mu);
                sched_yield();
                pthread_mutex_lock(&pool->mu);
                continue;
            }
            if (atomic_load(&pool->stop))
                break; /* stop requested and the queue is drained */
            /* Before sleeping, spin a little outside the lock: on a busy
             * pool the next task is usually only microseconds away. */
            pthread_mutex_unlock(&pool->mu);
            spin_until(has_work, pool);
            pthread_mutex_lock(&pool->mu);
            if (atomic_load(&pool->nqueued) > 0 || atomic_load(&pool->stop))
                continue;
            /* Sleep. The submitter adds to nqueued, then reads idle; this
             * worker adds to idle, then reads nqueued (all sequentially
             * consistent): at least one sees the other, so either the task
             * is seen here or the submitter signals, and it can signal only
             * once this thread waits, since it needs mu to do so. */
            atomic_fetch_add(&pool->idle, 1);
            if (atomic_load(&pool->nqueued) == 0 && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->work_cv, &pool->mu);
            atomic_fetch_sub(&pool->idle, 1);
            continue;
        }
        atomic_fetch_sub(&pool->nqueued, 1);
        pthread_mutex_unlock(&pool->mu);
        run_task(pool, f);
        pthread_mutex_lock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

pk_tpool *pk_tpool_create(size_t nthreads)
{
    if (nthreads == 0)
        nthreads = pk_cpu_count();
    if (nthreads > MAX_THREADS) {
        errno = EINVAL;
        return NULL;
    }
    /* aligned_alloc: the struct's cache-line alignment is part of its
     * speed, and calloc only promises 16 bytes. */
    pk_tpool *pool = aligned_alloc(_Alignof(pk_tpool), sizeof *pool);
    if (pool == NULL)
        return NULL;
    memset(pool, 0, sizeof *pool);
    atomic_init(&pool->stub.next, NULL);
    pool->head = &pool->stub;
    atomic_init(&pool->tail, &pool->stub);
    pool->threads = calloc(nthreads, sizeof *pool->threads);
    if (pool->threads == NULL)
        goto err_free;
    if (pthread_mutex_init(&pool->mu, NULL) != 0)
        goto err_free;
    if (pthread_cond_init(&pool->work_cv, NULL) != 0)
        goto err_mutex;
    if (pthread_cond_init(&pool->done_cv, NULL) != 0)
        goto err_work_cv;

    for (size_t i = 0; i < nthreads; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, worker, pool);
        if (rc != 0) {
            /* Stop and join the ones already running: none is left behind. */
            pool->nthreads = i;
            pk_tpool_destroy(pool);
            errno = rc;
            return NULL;
        }
    }
    pool->nthreads = nthreads;
    return pool;

err_work_cv:
    pthread_cond_destroy(&pool->work_cv);
err_mutex:
    pthread_mutex_destroy(&pool->mu);
err_free:
    free(pool->threads);
    free(pool);
    errno = ENOMEM;
    return NULL;
}

static void future_init(pk_future *f, pk_tpool *pool, void *(*fn)(void *),
                        void *arg)
{
    f->fn = fn;
    f->arg = arg;
    f->result = NULL;
    atomic_init(&f->done, 0);
    f->pool = pool;
}

/* Queue an initialised future and wake an idle worker if there is one. */
static void enqueue(pk_tpool *pool, pk_future *f)
{
    push(pool, f);
    atomic_fetch_add(&pool->nqueued, 1);
    /* Busy workers come back to the queue by themselves: wake only an idle
     * one (see the worker for why this cannot miss one). */
    if (atomic_load(&pool->idle) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_signal(&pool->work_cv);
        pthread_mutex_unlock(&pool->mu);
    }
}

pk_future *pk_tpool_submit(pk_tpool *pool, void *(*fn)(void *), void *arg)
{
    if (pool == NULL || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (atomic_load_explicit(&pool->stop, memory_order_relaxed)) {
        errno = EINVAL;
        return NULL;
    }
    pk_future *f = malloc(sizeof *f);
    if (f == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    future_init(f, pool, fn, arg);
    enqueue(pool, f);
    return f;
}

/* Called on a worker of f's pool: run queued tasks until f is done. When
 * the queue is empty f is running on another thread (it was popped), so
 * sleeping on done_cv until it finishes is safe. */
static void help_until_done(pk_tpool *pool, pk_future *f)
{
    while (!atomic_load(&f->done)) {
        pthread_mutex_lock(&pool->mu);
        pk_future *g = pop(pool);
        if (g != NULL) {
            atomic_fetch_sub(&pool->nqueued, 1);
            pthread_mutex_unlock(&pool->mu);
            run_task(pool, g);
            continue;
        }
        if (atomic_load(&pool->nqueued) > 0) {
            /* A push is half done (see worker()): let the submitter run. */
            pthread_mutex_unlock(&pool->mu);
            sched_yield();
            continue;
        }
        atomic_fetch_add(&pool->waiters, 1);
        if (!atomic_load(&f->done))
            pthread_cond_wait(&pool->done_cv, &pool->mu);
        atomic_fetch_sub(&pool->waiters, 1);
        pthread_mutex_unlock(&pool->mu);
    }
}

/* Wait for f (not NULL). */
static void wait_done(pk_future *f)
{
    if (atomic_load(&f->done) || spin_until(is_done, f))
        return;

    pk_tpool *pool = f->pool;
    if (current_pool == pool) {
        help_until_done(pool, f);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->waiters, 1);
    while (!atomic_load(&f->done))
        pthread_cond_wait(&pool->done_cv, &pool->mu);
    atomic_fetch_sub(&pool->waiters, 1);
    pthread_mutex_unlock(&pool->mu);
}

void *pk_future_get(pk_future *f)
{
    if (f == NULL) {
        errno = EINVAL;
        return NULL;
    }
    wait_done(f);
    return f->result;
}

void pk_future_free(pk_future *f)
{
    if (f == NULL)
        return;
    (void)pk_future_get(f);
    free(f);
}

void pk_tpool_destroy(pk_tpool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);

    for (size_t i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);

    pthread_cond_destroy(&pool->done_cv);
    pthread_cond_destroy(&pool->work_cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->threads);
    free(pool);
}

size_t pk_tpool_size(const pk_tpool *pool)
{
    if (pool == NULL) {
        errno = EINVAL;
        return 0;
    }
    return pool->nthreads;
}

/* ---- map ------------------------------------------------------------- */

typedef struct map_job {
    const char *in;
    char *out;
    size_t n, in_size, out_size, chunk;
    pk_map_fn fn;
    void *ctx;
    atomic_size_t next; /* first item of the next unclaimed chunk */
} map_job;

/* Claim chunks until none is left. Run by the caller and by helpers. */
static void *map_runner(void *arg)
{
    map_job *job = arg;

    for (;;) {
        size_t lo = atomic_fetch_add_explicit(&job->next, job->chunk,
                                              memory_order_relaxed);
        if (lo >= job->n)
            break;
        size_t hi = job->n - lo < job->chunk ? job->n : lo + job->chunk;
        for (size_t i = lo; i < hi; i++)
            job->fn(job->in + i * job->in_size, job->out + i * job->out_size,
                    job->ctx);
    }
    return NULL;
}

int pk_tpool_map(pk_tpool *pool, const void *in, size_t n, size_t in_size,
                 void *out, size_t out_size, pk_map_fn fn, void *ctx,
                 size_t chunk)
{
    if (pool == NULL || fn == NULL || in_size == 0 || out_size == 0 ||
        (n > 0 && (in == NULL || out == NULL))) {
        errno = EINVAL;
        return -1;
    }
    if (n == 0)
        return 0;
    if (SIZE_MAX / in_size < n || SIZE_MAX / out_size < n) {
        errno = EINVAL;
        return -1;
    }

    size_t workers = pool->nthreads + 1; /* the caller works too */
    if (chunk == 0) {
        size_t units = workers * CHUNKS_PER_THREAD;
        chunk = (n + units - 1) / units;
    }
    size_t nchunks = n / chunk + (n % chunk != 0);

    map_job job = {
        .in = in, .out = out, .n = n, .in_size = in_size,
        .out_size = out_size, .chunk = chunk, .fn = fn, .ctx = ctx,
    };
    atomic_init(&job.next, 0);

    /* One helper task per worker thread, but never more than there are
     * chunks beyond the caller's first. Their futures are allocated before
     * any work starts, so that running out of memory fails the whole map
     * cleanly with ENOMEM instead of leaving it half done. */
    size_t nhelpers = nchunks - 1 < pool->nthreads ? nchunks - 1 : pool->nthreads;
    pk_future stack_futs[MAP_STACK_HELPERS];
    pk_future *futs = stack_futs;
    if (nhelpers > MAP_STACK_HELPERS) {
        futs = malloc(nhelpers * sizeof *futs);
        if (futs == NULL) {
            errno = ENOMEM;
            return -1;
        }
    }
    for (size_t i = 0; i < nhelpers; i++) {
        future_init(&futs[i], pool, map_runner, &job);
        enqueue(pool, &futs[i]);
    }
    map_runner(&job);
    /* The job lives on this stack: wait for every helper, also those that
     * found no chunk left. On a worker of this pool the wait runs queued
     * helpers itself (see help_until_done()). */
    for (size_t i = 0; i < nhelpers; i++)
        wait_done(&futs[i]);
    if (futs != stack_futs)
        free(futs);
    return 0;
}
