/* check_pool.c - graded tests for chapter 07's thread pool (pool.h). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capstone_tests.h"
#include "pk_check.h"
#include "pool.h"

/* A result no task produces: shows that get left *result alone. */
#define UNTOUCHED ((void *)(uintptr_t)0x5eed)

/* ---- small helpers ------------------------------------------------------ */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait up to limit_ms for *flag to reach want; 1 if it did. */
static int wait_for(atomic_int *flag, int want, unsigned limit_ms)
{
    uint64_t end = now_ms() + limit_ms;
    while (atomic_load(flag) < want) {
        if (now_ms() > end)
            return 0;
        sleep_ms(1);
    }
    return 1;
}

static cpool *make_pool(size_t n)
{
    errno = 0;
    cpool *pool = cpool_create(n);
    ck_assert_msg(pool != NULL, "cpool_create(%zu) returned NULL (errno = "
                  "%s), expected a pool", n, pk_errno_name(errno));
    return pool;
}

static cpool_future *submit(cpool *pool, cpool_fn fn, void *arg)
{
    errno = 0;
    cpool_future *f = cpool_submit(pool, fn, arg);
    ck_assert_msg(f != NULL, "cpool_submit(pool, fn, arg) returned NULL "
                  "(errno = %s), expected a future", pk_errno_name(errno));
    return f;
}

/* ---- tasks --------------------------------------------------------------- */

/* result = arg squared. */
static int square_task(void *arg, void **result)
{
    uintptr_t x = (uintptr_t)arg;
    *result = (void *)(x * x);
    return 0;
}

/* Fails with the error code arg, after writing a result nobody may see. */
static int fail_task(void *arg, void **result)
{
    *result = (void *)(uintptr_t)0xbad;
    return (int)(uintptr_t)arg;
}

/* A gate tasks wait at until the test opens it. */
typedef struct gate {
    atomic_int started;  /* tasks that reached the gate */
    atomic_int open;     /* 1: go on */
    atomic_int finished; /* tasks that went through */
} gate;

/* Waits at the gate, then returns 42. */
static int gated_task(void *arg, void **result)
{
    gate *g = arg;
    atomic_fetch_add(&g->started, 1);
    while (!atomic_load(&g->open))
        sleep_ms(1);
    atomic_fetch_add(&g->finished, 1);
    *result = (void *)(uintptr_t)42;
    return 0;
}

/* ---- creating and submitting ----------------------------------------------- */

START_TEST(test_pool_submit_get)
{
    enum { N = 100 };
    cpool *pool = make_pool(2);
    PK_EXPECT_UINT("cpool_size(pool of 2)", cpool_size(pool), 2);
    cpool_future *f[N];
    for (uintptr_t i = 0; i < N; i++)
        f[i] = submit(pool, square_task, (void *)i);
    for (uintptr_t i = 0; i < N; i++) {
        void *r = UNTOUCHED;
        errno = 0;
        int rc = cpool_future_get(f[i], &r);
        ck_assert_msg(rc == 0 && (uintptr_t)r == i * i,
                      "cpool_future_get of the task square(%lu) returned %d "
                      "(errno = %s) with result %lu, expected 0 and %lu",
                      (unsigned long)i, rc, pk_errno_name(errno),
                      (unsigned long)(uintptr_t)r, (unsigned long)(i * i));
        r = UNTOUCHED;
        rc = cpool_future_get(f[i], &r);
        ck_assert_msg(rc == 0 && (uintptr_t)r == i * i,
                      "a second cpool_future_get on the same future gave %d "
                      "and %lu: the answer must not change",
                      rc, (unsigned long)(uintptr_t)r);
        PK_EXPECT_INT("cpool_future_get(f, NULL)",
                      cpool_future_get(f[i], NULL), 0);
        PK_EXPECT_INT("cpool_future_done(f) after get",
                      cpool_future_done(f[i]), 1);
    }
    for (size_t i = 0; i < N; i++)
        cpool_future_free(f[i]);
    cpool_destroy(pool);
}
END_TEST

START_TEST(test_pool_get_waits)
{
    cpool *pool = make_pool(1);
    gate g = {0};
    cpool_future *f = submit(pool, gated_task, &g);
    ck_assert_msg(wait_for(&g.started, 1, 5000), "a task submitted to a "
                  "pool of 1 worker did not start within 5 s: is a worker "
                  "woken when a task is queued?");
    sleep_ms(20);
    PK_EXPECT_INT("cpool_future_done(f) while its task runs",
                  cpool_future_done(f), 0);
    atomic_store(&g.open, 1);
    void *r = UNTOUCHED;
    int rc = cpool_future_get(f, &r);
    int went_through = atomic_load(&g.finished);
    ck_assert_msg(rc == 0 && (uintptr_t)r == 42 && went_through == 1,
                  "cpool_future_get returned %d with result %lu while the "
                  "task had%s finished; expected 0 and 42 after it finished: "
                  "get must wait until the task is done",
                  rc, (unsigned long)(uintptr_t)r,
                  went_through ? "" : " not");
    cpool_future_free(f);
    cpool_destroy(pool);
}
END_TEST

/* Many threads, each waiting on its own future, the futures finishing in
 * the reverse order of the waits. */
#define WAITERS 6
#define WAIT_STEP_MS 40

typedef struct waiter {
    cpool_future *f;
    uintptr_t want;
    int rc;
    uintptr_t got;
} waiter;

static int sleepy_task(void *arg, void **result)
{
    uintptr_t k = (uintptr_t)arg;
    sleep_ms((unsigned)((WAITERS - k) * WAIT_STEP_MS));
    *result = (void *)(1000 + k);
    return 0;
}

static void *wait_one(void *arg)
{
    waiter *w = arg;
    void *r = UNTOUCHED;
    w->rc = cpool_future_get(w->f, &r);
    w->got = (uintptr_t)r;
    return NULL;
}

START_TEST(test_pool_many_waiters)
{
    /* A wake-up for "some future finished" must reach the thread whose
     * future it was: with pthread_cond_signal instead of broadcast the
     * wrong waiter wakes, goes back to sleep, and the right one sleeps
     * forever (the test's time limit catches that); with `if` instead of
     * `while` around the wait a waiter returns before its task is done. */
    cpool *pool = make_pool(WAITERS);
    waiter w[WAITERS];
    pthread_t t[WAITERS];
    for (uintptr_t k = 0; k < WAITERS; k++)
        w[k] = (waiter){submit(pool, sleepy_task, (void *)k), 1000 + k, -2, 0};
    for (size_t k = 0; k < WAITERS; k++) {
        ck_assert_msg(pthread_create(&t[k], NULL, wait_one, &w[k]) == 0,
                      "pthread_create failed (a bug in the test)");
        sleep_ms(1);
    }
    for (size_t k = 0; k < WAITERS; k++)
        pthread_join(t[k], NULL);
    for (size_t k = 0; k < WAITERS; k++) {
        ck_assert_msg(w[k].rc == 0 && w[k].got == w[k].want,
                      "waiter %zu of %d (each waits on its own future, from "
                      "its own thread) got %d and result %lu, expected 0 and "
                      "%lu: a waiter returned before its own task finished",
                      k, WAITERS, w[k].rc, (unsigned long)w[k].got,
                      (unsigned long)w[k].want);
        cpool_future_free(w[k].f);
    }
    cpool_destroy(pool);
}
END_TEST

START_TEST(test_pool_task_failure)
{
    cpool *pool = make_pool(2);
    cpool_future *f1 = submit(pool, fail_task, (void *)(uintptr_t)EIO);
    cpool_future *f2 = submit(pool, square_task, (void *)(uintptr_t)7);
    cpool_future *f3 = submit(pool, fail_task, (void *)(uintptr_t)ERANGE);

    void *r = UNTOUCHED;
    errno = 0;
    int rc = cpool_future_get(f1, &r);
    int e = errno;
    ck_assert_msg(rc == -1 && e == EIO,
                  "a task that returned EIO: cpool_future_get returned %d "
                  "with errno = %s, expected -1 with errno = EIO (the "
                  "task's own error code)", rc, pk_errno_name(e));
    ck_assert_msg(r == UNTOUCHED, "cpool_future_get of a failed task changed "
                  "*result: leave it untouched when the task failed");
    PK_EXPECT_INT("cpool_future_done(failed task's future)",
                  cpool_future_done(f1), 1);
    r = UNTOUCHED;
    rc = cpool_future_get(f2, &r);
    ck_assert_msg(rc == 0 && (uintptr_t)r == 49,
                  "a good task between two failing ones gave %d and %lu, "
                  "expected 0 and 49", rc, (unsigned long)(uintptr_t)r);
    PK_EXPECT_ERRNO("cpool_future_get(task that returned ERANGE)",
                    cpool_future_get(f3, NULL), ERANGE);
    PK_EXPECT_ERRNO("cpool_future_get(same failed future again)",
                    cpool_future_get(f1, NULL), EIO);
    cpool_future_free(f1);
    cpool_future_free(f2);
    cpool_future_free(f3);
    /* The pool still works: a failed task is not a broken worker. */
    cpool_future *f4 = submit(pool, square_task, (void *)(uintptr_t)9);
    rc = cpool_future_get(f4, &r);
    ck_assert_msg(rc == 0 && (uintptr_t)r == 81, "after failed tasks the pool "
                  "gave %d and %lu for square(9)", rc,
                  (unsigned long)(uintptr_t)r);
    cpool_future_free(f4);
    cpool_destroy(pool);
}
END_TEST

/* ---- map ----------------------------------------------------------------- */

/* 12-byte items in, 16-byte results out: a stride bug shows. */
typedef struct in12 { uint32_t i, twice, pad; } in12;
typedef struct out16 { uint64_t seven, sum; } out16;

/* Item 0 is slow (20 ms) when ctx says so: while the chunk that holds it
 * runs, the other workers finish later chunks, so the chunks finish out
 * of input order. */
static void slow_first(const void *in, void *out, void *ctx)
{
    const in12 *a = in;
    out16 *b = out;
    if (a->i == 0 && *(const int *)ctx)
        sleep_ms(20);
    b->seven = 7 * (uint64_t)a->i + 1;
    b->sum = (uint64_t)a->i + a->twice + a->pad;
}

START_TEST(test_pool_map_order)
{
    const size_t ns[] = {1, 999, 10007};
    const size_t chunks[] = {0, 1, 7, 333, 50000};
    cpool *pool = make_pool(3);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        size_t n = ns[a];
        in12 *in = malloc(n * sizeof *in);
        out16 *out = malloc((n + 1) * sizeof *out);
        ck_assert_msg(in != NULL && out != NULL, "out of memory (a bug in "
                      "the test)");
        for (size_t i = 0; i < n; i++)
            in[i] = (in12){(uint32_t)i, 2 * (uint32_t)i, 5};
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            memset(out, 0, (n + 1) * sizeof *out);
            out[n].seven = 0xfeed;
            int slow = n == 999; /* the other sizes run at full speed */
            int rc = cpool_map(pool, in, n, sizeof *in, out, sizeof *out,
                               slow_first, &slow, chunks[c]);
            ck_assert_msg(rc == 0, "cpool_map(n = %zu, chunk = %zu) returned "
                          "%d (errno = %s), expected 0", n, chunks[c], rc,
                          pk_errno_name(errno));
            for (size_t i = 0; i < n; i++)
                if (out[i].seven != 7 * (uint64_t)i + 1 ||
                    out[i].sum != 3 * (uint64_t)i + 5)
                    ck_abort_msg("cpool_map(n = %zu, chunk = %zu): slot %zu "
                                 "holds the result of item %llu: result i "
                                 "goes to out + i * out_size, whatever order "
                                 "the chunks finish in", n, chunks[c], i,
                                 (unsigned long long)(out[i].seven - 1) / 7);
            ck_assert_msg(out[n].seven == 0xfeed, "cpool_map(n = %zu, chunk "
                          "= %zu) wrote past the last result", n, chunks[c]);
        }
        free(out);
        free(in);
    }
    int fast = 0;
    PK_EXPECT_INT("cpool_map(pool, NULL, 0, ...)",
                  cpool_map(pool, NULL, 0, sizeof(in12), NULL, sizeof(out16),
                            slow_first, &fast, 0), 0);
    cpool_destroy(pool);
}
END_TEST

/* ---- shutdown ------------------------------------------------------------ */

typedef struct counted {
    atomic_int *ran;
    uintptr_t value;
    unsigned ms;
} counted;

/* Sleeps ms, counts itself, returns value. */
static int counted_task(void *arg, void **result)
{
    counted *c = arg;
    if (c->ms > 0)
        sleep_ms(c->ms);
    atomic_fetch_add(c->ran, 1);
    *result = (void *)c->value;
    return 0;
}

START_TEST(test_pool_shutdown_drain)
{
    enum { N = 40 };
    atomic_int ran = 0;
    counted c[N];
    cpool_future *f[N];
    cpool *pool = make_pool(1);
    for (uintptr_t i = 0; i < N; i++) {
        c[i] = (counted){&ran, 100 + i, 2};
        f[i] = submit(pool, counted_task, &c[i]);
    }
    PK_EXPECT_INT("cpool_shutdown(pool, CPOOL_DRAIN)",
                  cpool_shutdown(pool, CPOOL_DRAIN), 0);
    int n = atomic_load(&ran);
    ck_assert_msg(n == N, "cpool_shutdown(CPOOL_DRAIN) returned after %d of "
                  "the %d queued tasks had run: draining runs every queued "
                  "task before the workers exit", n, N);
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(cpool_future_done(f[i]) == 1, "after a draining "
                      "shutdown future %zu is not finished", i);
        void *r = UNTOUCHED;
        int rc = cpool_future_get(f[i], &r);
        ck_assert_msg(rc == 0 && (uintptr_t)r == 100 + i, "after a draining "
                      "shutdown future %zu gave %d and %lu, expected 0 and "
                      "%lu", i, rc, (unsigned long)(uintptr_t)r,
                      (unsigned long)(100 + i));
        cpool_future_free(f[i]);
    }
    cpool_destroy(pool);
}
END_TEST

typedef struct opener {
    cpool_future **f;
    size_t n;
    gate *g;
} opener;

/* Opens the gate once every future in f is finished (cancelled), or after
 * 3 s if they never are (a pool that drains instead of cancelling). */
static void *open_when_cancelled(void *arg)
{
    opener *o = arg;
    uint64_t end = now_ms() + 3000;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < o->n; i++)
            done += cpool_future_done(o->f[i]) == 1;
        if (done == o->n || now_ms() > end)
            break;
        sleep_ms(1);
    }
    atomic_store(&o->g->open, 1);
    return NULL;
}

START_TEST(test_pool_shutdown_cancel)
{
    enum { QUEUED = 20 };
    cpool *pool = make_pool(2);
    gate g = {0};
    cpool_future *b1 = submit(pool, gated_task, &g);
    cpool_future *b2 = submit(pool, gated_task, &g);
    ck_assert_msg(wait_for(&g.started, 2, 5000), "two tasks on a pool of 2 "
                  "workers did not both start within 5 s");
    atomic_int ran = 0;
    counted c[QUEUED];
    cpool_future *q[QUEUED];
    for (uintptr_t i = 0; i < QUEUED; i++) {
        c[i] = (counted){&ran, i, 0};
        q[i] = submit(pool, counted_task, &c[i]);
    }
    /* Both workers are held at the gate, so the 20 tasks are all queued
     * when shutdown starts; the gate opens once they are cancelled. */
    opener o = {q, QUEUED, &g};
    pthread_t t;
    ck_assert_msg(pthread_create(&t, NULL, open_when_cancelled, &o) == 0,
                  "pthread_create failed (a bug in the test)");
    int rc = cpool_shutdown(pool, CPOOL_CANCEL);
    pthread_join(t, NULL);
    ck_assert_msg(rc == 0, "cpool_shutdown(pool, CPOOL_CANCEL) returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    int n = atomic_load(&ran);
    ck_assert_msg(n == 0, "%d of the %d tasks still queued at "
                  "cpool_shutdown(CPOOL_CANCEL) ran anyway: cancel the queue "
                  "before the workers can take from it", n, QUEUED);
    for (size_t i = 0; i < QUEUED; i++) {
        void *r = UNTOUCHED;
        errno = 0;
        rc = cpool_future_get(q[i], &r);
        int e = errno;
        ck_assert_msg(rc == -1 && e == ECANCELED && r == UNTOUCHED,
                      "a cancelled task's future: cpool_future_get returned "
                      "%d with errno = %s, expected -1 with errno = "
                      "ECANCELED and the result untouched", rc,
                      pk_errno_name(e));
        cpool_future_free(q[i]);
    }
    void *r = UNTOUCHED;
    rc = cpool_future_get(b1, &r);
    ck_assert_msg(rc == 0 && (uintptr_t)r == 42, "a task that was running "
                  "at cpool_shutdown(CPOOL_CANCEL) must finish normally; its "
                  "future gave %d and %lu", rc, (unsigned long)(uintptr_t)r);
    cpool_future_free(b1);
    cpool_future_free(b2);
    cpool_destroy(pool);
}
END_TEST

static void twice_u32(const void *in, void *out, void *ctx)
{
    (void)ctx;
    *(uint32_t *)out = 2 * *(const uint32_t *)in;
}

START_TEST(test_pool_submit_after_shutdown)
{
    cpool *pool = make_pool(4);
    cpool_future *f = submit(pool, square_task, (void *)(uintptr_t)5);
    ck_assert_msg(cpool_future_get(f, NULL) == 0, "square(5) failed");
    /* Now all four workers are idle, asleep: shutdown must wake every one
     * of them (a signal wakes one, and joining the others hangs: the
     * test's time limit catches that). */
    sleep_ms(20);
    PK_EXPECT_INT("cpool_shutdown(pool of 4 idle workers, CPOOL_DRAIN)",
                  cpool_shutdown(pool, CPOOL_DRAIN), 0);
    errno = 0;
    cpool_future *g = cpool_submit(pool, square_task, (void *)(uintptr_t)1);
    int e = errno;
    ck_assert_msg(g == NULL && e == ESHUTDOWN, "cpool_submit after "
                  "cpool_shutdown returned %s with errno = %s, expected NULL "
                  "with errno = ESHUTDOWN", g ? "a future" : "NULL",
                  pk_errno_name(e));
    uint32_t in[4] = {1, 2, 3, 4}, out[4];
    PK_EXPECT_ERRNO("cpool_map after cpool_shutdown",
                    cpool_map(pool, in, 4, sizeof *in, out, sizeof *out,
                              twice_u32, NULL, 0), ESHUTDOWN);
    PK_EXPECT_INT("a second cpool_shutdown(pool, CPOOL_DRAIN)",
                  cpool_shutdown(pool, CPOOL_DRAIN), 0);
    PK_EXPECT_INT("cpool_shutdown(pool, CPOOL_CANCEL) after a drain",
                  cpool_shutdown(pool, CPOOL_CANCEL), 0);
    cpool_destroy(pool);
    /* Futures outlive their pool: the owner still gets and frees them. */
    void *r = UNTOUCHED;
    int rc = cpool_future_get(f, &r);
    ck_assert_msg(rc == 0 && (uintptr_t)r == 25, "a future read after "
                  "cpool_destroy gave %d and %lu, expected 0 and 25", rc,
                  (unsigned long)(uintptr_t)r);
    cpool_future_free(f);
}
END_TEST

/* ---- a task that waits inside its own pool ----------------------------- */

typedef struct nested {
    cpool *pool;
    int shutdown_rc, shutdown_errno;
} nested;

static int parent_task(void *arg, void **result)
{
    nested *ns = arg;
    cpool_future *child = cpool_submit(ns->pool, square_task,
                                       (void *)(uintptr_t)6);
    if (child == NULL)
        return errno;
    void *r = NULL;
    int rc = cpool_future_get(child, &r);
    cpool_future_free(child);
    if (rc != 0)
        return errno;
    /* A map from inside a task of the same pool. */
    uint32_t in[100], out[100];
    for (uint32_t i = 0; i < 100; i++)
        in[i] = i;
    if (cpool_map(ns->pool, in, 100, sizeof *in, out, sizeof *out, twice_u32,
                  NULL, 10) != 0)
        return errno;
    for (uint32_t i = 0; i < 100; i++)
        if (out[i] != 2 * i)
            return EPROTO;
    /* A worker cannot shut its own pool down: it would join itself. */
    errno = 0;
    ns->shutdown_rc = cpool_shutdown(ns->pool, CPOOL_DRAIN);
    ns->shutdown_errno = errno;
    *result = (void *)((uintptr_t)r + 1);
    return 0;
}

START_TEST(test_pool_nested_wait)
{
    /* One worker: the task that waits occupies it, so the task it waits
     * for can only run if the waiting thread runs it. */
    cpool *pool = make_pool(1);
    nested ns = {pool, 0, 0};
    cpool_future *f = submit(pool, parent_task, &ns);
    void *r = UNTOUCHED;
    errno = 0;
    int rc = cpool_future_get(f, &r);
    ck_assert_msg(rc == 0 && (uintptr_t)r == 37,
                  "a task on a 1-worker pool that submits square(6) to the "
                  "same pool, waits for it, then maps 100 items on the same "
                  "pool: got %d (errno = %s) and %lu, expected 0 and 37",
                  rc, pk_errno_name(errno), (unsigned long)(uintptr_t)r);
    ck_assert_msg(ns.shutdown_rc == -1 && ns.shutdown_errno == EDEADLK,
                  "cpool_shutdown called from the pool's own task returned "
                  "%d with errno = %s, expected -1 with errno = EDEADLK",
                  ns.shutdown_rc, pk_errno_name(ns.shutdown_errno));
    cpool_future_free(f);
    cpool_destroy(pool);
}
END_TEST

/* ---- stress -------------------------------------------------------------- */

#define STRESS_SUBMITTERS 4
#define STRESS_BATCH 1000

typedef struct submitter {
    cpool *pool;
    size_t tasks;
    uintptr_t base;
    atomic_int *ran;
    int bad;               /* first problem seen, 0 if none */
    uintptr_t bad_value;
} submitter;

static int triple_task(void *arg, void **result)
{
    uintptr_t x = (uintptr_t)arg;
    *result = (void *)(3 * x + 1);
    return 0;
}

static void *submit_many(void *arg)
{
    submitter *s = arg;
    cpool_future *f[STRESS_BATCH];
    for (size_t done = 0; done < s->tasks && !s->bad; done += STRESS_BATCH) {
        size_t k = s->tasks - done < STRESS_BATCH ? s->tasks - done
                                                  : STRESS_BATCH;
        size_t queued = 0;
        for (; queued < k; queued++) {
            f[queued] = cpool_submit(s->pool, triple_task,
                                     (void *)(s->base + done + queued));
            if (f[queued] == NULL) {
                s->bad = 1;
                break;
            }
        }
        for (size_t j = 0; j < queued; j++) {
            void *r = NULL;
            uintptr_t x = s->base + done + j;
            if (cpool_future_get(f[j], &r) != 0 || (uintptr_t)r != 3 * x + 1) {
                if (!s->bad) {
                    s->bad = 2;
                    s->bad_value = x;
                }
            } else {
                atomic_fetch_add(s->ran, 1);
            }
            cpool_future_free(f[j]);
        }
    }
    return NULL;
}

START_TEST(test_pool_stress)
{
    size_t per = capstone_under_valgrind() ? 2500 : 25000;
    cpool *pool = make_pool(3);
    atomic_int ran = 0;
    submitter s[STRESS_SUBMITTERS];
    pthread_t t[STRESS_SUBMITTERS];
    for (size_t k = 0; k < STRESS_SUBMITTERS; k++) {
        s[k] = (submitter){pool, per, (uintptr_t)k << 32, &ran, 0, 0};
        ck_assert_msg(pthread_create(&t[k], NULL, submit_many, &s[k]) == 0,
                      "pthread_create failed (a bug in the test)");
    }
    for (size_t k = 0; k < STRESS_SUBMITTERS; k++)
        pthread_join(t[k], NULL);
    for (size_t k = 0; k < STRESS_SUBMITTERS; k++) {
        ck_assert_msg(s[k].bad != 1, "submitter thread %zu: cpool_submit "
                      "returned NULL while 4 threads submitted at once", k);
        ck_assert_msg(s[k].bad != 2, "submitter thread %zu: the task for %lu "
                      "gave a wrong result or failed, with 4 threads "
                      "submitting at once", k, (unsigned long)s[k].bad_value);
    }
    int n = atomic_load(&ran);
    ck_assert_msg((size_t)n == STRESS_SUBMITTERS * per, "%d tasks of %zu "
                  "completed correctly", n, STRESS_SUBMITTERS * per);
    cpool_destroy(pool);
}
END_TEST

/* ---- leaks ---------------------------------------------------------------- */

/* Bytes malloc has handed out and not got back, in every arena. Under a
 * sanitizer or valgrind malloc is replaced and this stays 0, which is fine:
 * those tools report leaks themselves. */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks;
}

/* One life of a pool through every path: tasks that succeed and fail, a
 * map, a cancelling shutdown with tasks queued, submits refused after it. */
static void pool_life(void)
{
    cpool *pool = cpool_create(1);
    if (pool == NULL)
        ck_abort_msg("cpool_create(1) returned NULL (errno = %s)",
                     pk_errno_name(errno));
    cpool_future *f[16];
    for (uintptr_t i = 0; i < 16; i++)
        f[i] = cpool_submit(pool, i % 3 ? square_task : fail_task,
                            (void *)(i % 3 ? i : (uintptr_t)EIO));
    for (size_t i = 0; i < 16; i++) {
        (void)cpool_future_get(f[i], NULL);
        cpool_future_free(f[i]);
    }
    uint32_t in[100], out[100];
    for (uint32_t i = 0; i < 100; i++)
        in[i] = i;
    (void)cpool_map(pool, in, 100, sizeof *in, out, sizeof *out, twice_u32,
                    NULL, 7);
    atomic_int ran = 0;
    counted c[8];
    for (size_t i = 0; i < 8; i++) {
        c[i] = (counted){&ran, i, i == 0 ? 5 : 0};
        f[i] = cpool_submit(pool, counted_task, &c[i]);
    }
    (void)cpool_shutdown(pool, CPOOL_CANCEL);
    for (size_t i = 0; i < 8; i++)
        cpool_future_free(f[i]);
    for (size_t i = 0; i < 10; i++)
        (void)cpool_submit(pool, square_task, NULL); /* refused: ESHUTDOWN */
    cpool_destroy(pool);
}

#define LEAK_LIVES 100
#define LEAK_SLACK 4096 /* bytes of noise allowed over 100 lives */

START_TEST(test_pool_no_leak)
{
    pool_life(); /* the first life may set up malloc's arenas */
    size_t before = heap_in_use();
    for (int k = 0; k < LEAK_LIVES; k++)
        pool_life();
    size_t after = heap_in_use();
    ck_assert_msg(after <= before + LEAK_SLACK,
                  "%d lives of a pool (tasks that succeed and fail, a map, a "
                  "cancelling shutdown, 10 refused submits, destroy) left "
                  "%zu bytes allocated, about %zu per life: something is not "
                  "freed (a refused submit's future? a cancelled one? the "
                  "pool itself?)", LEAK_LIVES, after - before,
                  (after - before) / LEAK_LIVES);
}
END_TEST

/* ---- bad arguments --------------------------------------------------------- */

START_TEST(test_pool_bad_args)
{
    errno = 0;
    ck_assert_msg(cpool_create(0) == NULL && errno == EINVAL,
                  "cpool_create(0) must return NULL with errno = EINVAL "
                  "(errno = %s)", pk_errno_name(errno));
    errno = 0;
    ck_assert_msg(cpool_create(CPOOL_MAX_WORKERS + 1) == NULL &&
                  errno == EINVAL, "cpool_create(CPOOL_MAX_WORKERS + 1) must "
                  "return NULL with errno = EINVAL (errno = %s)",
                  pk_errno_name(errno));
    cpool *pool = make_pool(1);
    errno = 0;
    ck_assert_msg(cpool_submit(NULL, square_task, NULL) == NULL &&
                  errno == EINVAL, "cpool_submit(NULL, fn, arg) must return "
                  "NULL with errno = EINVAL (errno = %s)",
                  pk_errno_name(errno));
    errno = 0;
    ck_assert_msg(cpool_submit(pool, NULL, NULL) == NULL && errno == EINVAL,
                  "cpool_submit(pool, NULL, arg) must return NULL with errno "
                  "= EINVAL (errno = %s)", pk_errno_name(errno));
    PK_EXPECT_EINVAL(cpool_future_get(NULL, NULL), "cpool_future_get(NULL)");
    PK_EXPECT_EINVAL(cpool_future_done(NULL), "cpool_future_done(NULL)");
    errno = 0;
    ck_assert_msg(cpool_size(NULL) == 0 && errno == EINVAL,
                  "cpool_size(NULL) must return 0 with errno = EINVAL");
    uint32_t in[4] = {1, 2, 3, 4}, out[4];
    PK_EXPECT_EINVAL(cpool_map(NULL, in, 4, 4, out, 4, twice_u32, NULL, 0),
                     "cpool_map with pool NULL");
    PK_EXPECT_EINVAL(cpool_map(pool, in, 4, 4, out, 4, NULL, NULL, 0),
                     "cpool_map with fn NULL");
    PK_EXPECT_EINVAL(cpool_map(pool, NULL, 4, 4, out, 4, twice_u32, NULL, 0),
                     "cpool_map with in NULL and n = 4");
    PK_EXPECT_EINVAL(cpool_map(pool, in, 4, 4, NULL, 4, twice_u32, NULL, 0),
                     "cpool_map with out NULL and n = 4");
    PK_EXPECT_EINVAL(cpool_map(pool, in, 4, 0, out, 4, twice_u32, NULL, 0),
                     "cpool_map with in_size 0");
    PK_EXPECT_EINVAL(cpool_map(pool, in, 4, 4, out, 0, twice_u32, NULL, 0),
                     "cpool_map with out_size 0");
    PK_EXPECT_EINVAL(cpool_map(pool, in, SIZE_MAX / 2, 4, out, 4, twice_u32,
                               NULL, 0),
                     "cpool_map with n * in_size beyond SIZE_MAX");
    PK_EXPECT_EINVAL(cpool_shutdown(NULL, CPOOL_DRAIN),
                     "cpool_shutdown(NULL, CPOOL_DRAIN)");
    PK_EXPECT_EINVAL(cpool_shutdown(pool, (cpool_how)7),
                     "cpool_shutdown(pool, 7)");
    cpool_future_free(NULL); /* no-ops */
    cpool_destroy(NULL);
    cpool_destroy(pool);
}
END_TEST

void capstone_add_pool_tests(Suite *s)
{
    pk_test_add(s, test_pool_submit_get, 2,
                "queue a future per task; a worker pops it, runs fn(arg, "
                "&result) and records the result in the future");
    pk_test_add_timeout(s, test_pool_get_waits, 2, 10,
                        "get waits while the future is not finished: a "
                        "condition variable in a while loop, not a peek");
    pk_test_add_timeout(s, test_pool_many_waiters, 2, 5,
                        "several threads wait on different futures: wake "
                        "them all (broadcast) and let each re-check its own "
                        "future in a while loop");
    pk_test_add(s, test_pool_task_failure, 2,
                "a task's nonzero return is its error: store it in the "
                "future; get returns -1 with errno set to it");
    pk_test_add_timeout(s, test_pool_map_order, 2, 20,
                        "each chunk task writes out[lo..hi) itself: result "
                        "i goes to slot i, not to the next free slot");
    pk_test_add_timeout(s, test_pool_shutdown_drain, 2, 5,
                        "CPOOL_DRAIN: workers exit only when the queue is "
                        "empty and the pool is stopping");
    pk_test_add_timeout(s, test_pool_shutdown_cancel, 2, 10,
                        "CPOOL_CANCEL: under the lock, take every queued "
                        "task off the queue and finish its future as "
                        "cancelled (ECANCELED)");
    pk_test_add_timeout(s, test_pool_submit_after_shutdown, 2, 5,
                        "shutdown wakes every worker (broadcast); after it, "
                        "refuse submits and maps with ESHUTDOWN; a second "
                        "shutdown does nothing; futures outlive the pool");
    pk_test_add_timeout(s, test_pool_nested_wait, 2, 5,
                        "a get called on one of the pool's own workers must "
                        "run queued tasks while it waits, or nobody will");
    pk_test_add_timeout(s, test_pool_stress, 3, 60,
                        "every queue operation and every state change under "
                        "the one mutex; no lost task, no lost wake-up");
    pk_test_add_timeout(s, test_pool_no_leak, 1, 20,
                        "free what a failing call allocated before it "
                        "returns; free every future and the pool");
    pk_test_add(s, test_pool_bad_args, 1,
                "check every pointer (and the worker count) first: EINVAL, "
                "never a crash");
}
