/* check_libpk.c - tests for libpk: timing, thread pool, process pool, report. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pk/ppool.h"
#include "pk/report.h"
#include "pk/task.h"
#include "pk/timing.h"
#include "pk/tpool.h"
#include "pk_check.h"

/* Under valgrind (PK_UNDER_VALGRIND=1, set by `make valgrind`) everything
 * runs 20-50 times slower and threads take turns: the stress tests shrink
 * their counts by this factor there, and keep full size everywhere else. */
static size_t scaled(size_t n)
{
    const char *v = getenv("PK_UNDER_VALGRIND");
    return (v != NULL && *v == '1') ? (n / 20 > 0 ? n / 20 : 1) : n;
}

/* Built with a sanitizer: everything is slower, and a dying child prints a
 * report before it dies. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

/* 1 when timing bounds must be loose: under a sanitizer or valgrind. */
static int slow_tools(void)
{
    const char *v = getenv("PK_UNDER_VALGRIND");
    return UNDER_SANITIZER || (v != NULL && *v == '1');
}

/* Tests that fork check that no child is left behind with this: after every
 * child was reaped, waitpid reports ECHILD. (Check's no-fork mode runs the
 * tests in the test program itself, which has no other children.) */
static void assert_no_children(void)
{
    errno = 0;
    pid_t p = waitpid(-1, NULL, WNOHANG);
    ck_assert_msg(p == -1 && errno == ECHILD,
                  "a child process was left behind (waitpid gave %d, errno %d)",
                  (int)p, errno);
}

/* ---- timing ------------------------------------------------------------ */

START_TEST(test_timing_now_monotonic)
{
    uint64_t prev = pk_now_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t t = pk_now_ns();
        ck_assert_uint_ge(t, prev);
        prev = t;
    }
    uint64_t t0 = pk_now_ns();
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    double dt = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(dt >= 0.020 && dt < 5, "a 20 ms sleep read as %g s", dt);
}
END_TEST

/* Spins until this thread has used ms of CPU time (CLOCK_THREAD_CPUTIME_ID),
 * giving up after 10 s of wall time. */
static void *spin_cpu_ms(void *arg)
{
    long ms = (long)(intptr_t)arg;
    struct timespec t;
    uint64_t deadline = pk_now_ns() + 10000000000ull;
    do {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while ((uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000 <
                 (uint64_t)ms && pk_now_ns() < deadline);
    return NULL;
}

START_TEST(test_timing_cpu_ns)
{
    /* Sleeping costs (almost) no CPU time. */
    uint64_t c0 = pk_cpu_ns();
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    double slept = (double)(pk_cpu_ns() - c0) * 1e-9;
    ck_assert_msg(slept < 0.025, "pk_cpu_ns() advanced %g s over a 50 ms "
                  "sleep: it reads the wall clock, not CPU time", slept);
    /* Another thread's spinning counts: it is the process's CPU time. */
    pthread_t th;
    c0 = pk_cpu_ns();
    ck_assert_int_eq(pthread_create(&th, NULL, spin_cpu_ms, (void *)(intptr_t)30), 0);
    pthread_join(th, NULL);
    double spun = (double)(pk_cpu_ns() - c0) * 1e-9;
    ck_assert_msg(spun >= 0.030 && spun < 5, "a thread that used 30 ms of "
                  "CPU time moved pk_cpu_ns() by %g s, expected at least "
                  "0.030: it must count every thread of the process", spun);
}
END_TEST

START_TEST(test_timing_stats_values)
{
    const double s[] = {4, 1, 3, 2, 100};
    pk_stats st;
    ck_assert_int_eq(pk_stats_from(s, 5, &st), 0);
    ck_assert_uint_eq(st.runs, 5);
    ck_assert_double_eq(st.min, 1);
    ck_assert_double_eq(st.max, 100);
    ck_assert_double_eq(st.median, 3);
    ck_assert_double_eq_tol(st.mean, 22, 1e-12);
    /* sample stddev of {1,2,3,4,100}: sqrt(sum((x-22)^2)/4) */
    ck_assert_double_eq_tol(st.stddev, sqrt((441 + 400 + 361 + 324 + 6084) / 4.0), 1e-9);
    const double e[] = {1, 2, 3, 10};
    ck_assert_int_eq(pk_stats_from(e, 4, &st), 0);
    ck_assert_double_eq(st.median, 2.5);
    ck_assert_int_eq(pk_stats_from(e, 1, &st), 0);
    ck_assert_double_eq(st.stddev, 0);
    ck_assert_double_eq(st.median, 1);
}
END_TEST

START_TEST(test_timing_stats_einval)
{
    pk_stats st;
    double s = 1;
    errno = 0;
    ck_assert_int_eq(pk_stats_from(NULL, 1, &st), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_stats_from(&s, 0, &st), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_stats_from(&s, 1, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void bump(void *ctx)
{
    (*(int *)ctx)++;
}

START_TEST(test_timing_bench_counts)
{
    int calls = 0;
    pk_stats st;
    ck_assert_int_eq(pk_bench(bump, &calls, 2, 9, &st), 0);
    ck_assert_int_eq(calls, 11);
    ck_assert_uint_eq(st.runs, 9);
    ck_assert(st.min >= 0 && st.min <= st.median && st.median <= st.max);
    errno = 0;
    ck_assert_int_eq(pk_bench(NULL, NULL, 0, 1, &st), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_bench(bump, &calls, 0, 0, &st), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_bench(bump, &calls, 0, 1, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_timing_cpu_count)
{
    unsigned n = pk_cpu_count();
    ck_assert_uint_ge(n, 1);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_msg(online < 1 || n <= (unsigned)online,
                  "pk_cpu_count %u exceeds the online CPUs %ld", n, online);
}
END_TEST

START_TEST(test_task_project_item)
{
    /* t = k: the inner sum is sum of k*k for k < 1000. */
    ck_assert_msg(pk_project_item(0, 0) == 332833500u,
                  "pk_project_item(0, 0) = %llu, expected 332833500",
                  (unsigned long long)pk_project_item(0, 0));
    /* Against the formula computed here, for a few items. */
    for (uint64_t i = 1; i < 5000; i += 997) {
        uint64_t want = i * (2 * i);
        for (uint32_t k = 0; k < PK_PROJECT_INNER; k++) {
            uint64_t t = k ^ (uint32_t)i;
            want += t * t;
        }
        ck_assert_msg(pk_project_item(i, 2 * i) == want,
                      "pk_project_item(%llu, %llu) wrong", (unsigned long long)i,
                      (unsigned long long)(2 * i));
    }
}
END_TEST

START_TEST(test_task_values)
{
    ck_assert_uint_eq(pk_cpu_task(0), 0);
    ck_assert_uint_eq(pk_cpu_task(3), 5);
    ck_assert_uint_eq(pk_cpu_task(1000000), 333332833333500000ull);
}
END_TEST

/* ---- thread pool --------------------------------------------------------- */

/* out = in * in + ctx's offset: ctx is what a closure would capture. */
static void square_plus(const void *in, void *out, void *ctx)
{
    int64_t x = *(const int64_t *)in;
    *(int64_t *)out = x * x + *(const int64_t *)ctx;
}


static void *square_ptr(void *arg)
{
    intptr_t x = (intptr_t)arg;
    return (void *)(x * x);
}

START_TEST(test_tpool_submit_get)
{
    pk_tpool *pool = pk_tpool_create(4);
    ck_assert_ptr_nonnull(pool);
    ck_assert_uint_eq(pk_tpool_size(pool), 4);
    pk_future *f[100];
    for (intptr_t i = 0; i < 100; i++) {
        f[i] = pk_tpool_submit(pool, square_ptr, (void *)i);
        ck_assert_ptr_nonnull(f[i]);
    }
    for (intptr_t i = 0; i < 100; i++) {
        ck_assert_int_eq((intptr_t)pk_future_get(f[i]), i * i);
        /* get twice returns the same value */
        ck_assert_int_eq((intptr_t)pk_future_get(f[i]), i * i);
        pk_future_free(f[i]);
    }
    pk_tpool_destroy(pool);
}
END_TEST

START_TEST(test_tpool_default_size)
{
    pk_tpool *pool = pk_tpool_create(0);
    ck_assert_ptr_nonnull(pool);
    ck_assert_uint_eq(pk_tpool_size(pool), pk_cpu_count());
    pk_tpool_destroy(pool);
}
END_TEST

START_TEST(test_tpool_einval)
{
    errno = 0;
    ck_assert_ptr_null(pk_tpool_create((size_t)1 << 40));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(pk_tpool_submit(NULL, square_ptr, NULL));
    ck_assert_int_eq(errno, EINVAL);
    pk_tpool *pool = pk_tpool_create(1);
    errno = 0;
    ck_assert_ptr_null(pk_tpool_submit(pool, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(pk_future_get(NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_uint_eq(pk_tpool_size(NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    int x = 0, y = 0;
    errno = 0;
    ck_assert_int_eq(pk_tpool_map(NULL, &x, 1, 4, &y, 4, square_plus, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_tpool_map(pool, &x, 1, 4, &y, 4, NULL, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_tpool_map(pool, NULL, 1, 4, &y, 4, square_plus, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_tpool_map(pool, &x, 1, 4, NULL, 4, square_plus, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_tpool_map(pool, &x, 1, 0, &y, 4, square_plus, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_tpool_map(pool, &x, 1, 4, &y, 0, square_plus, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    pk_future_free(NULL);
    pk_tpool_destroy(NULL);
    pk_tpool_destroy(pool);
}
END_TEST

static void check_map(pk_tpool *pool, size_t n, size_t chunk)
{
    int64_t *in = calloc(n ? n : 1, sizeof *in);
    int64_t *out = calloc(n ? n : 1, sizeof *out);
    int64_t off = 7;
    for (size_t i = 0; i < n; i++) {
        in[i] = (int64_t)i - 500;
        out[i] = -1;
    }
    ck_assert_int_eq(pk_tpool_map(pool, in, n, sizeof *in, out, sizeof *out,
                                  square_plus, &off, chunk), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(out[i] == in[i] * in[i] + 7,
                      "n=%zu chunk=%zu: out[%zu] = %lld, expected %lld", n,
                      chunk, i, (long long)out[i],
                      (long long)(in[i] * in[i] + 7));
    free(in);
    free(out);
}

START_TEST(test_tpool_map_order)
{
    pk_tpool *pool = pk_tpool_create(3);
    const size_t ns[] = {0, 1, 2, 7, 1000, scaled(100003)};
    const size_t chunks[] = {0, 1, 3, 64, 1000000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof chunks / sizeof chunks[0]; j++)
            check_map(pool, ns[i], chunks[j]);
    pk_tpool_destroy(pool);
}
END_TEST

/* Items of unusual sizes: 3-byte inputs, 12-byte outputs. */
typedef struct { unsigned char b[3]; } in3;
typedef struct { uint32_t a, b, c; } out12;

static void widen(const void *in, void *out, void *ctx)
{
    (void)ctx;
    const in3 *x = in;
    out12 *y = out;
    y->a = x->b[0];
    y->b = x->b[1];
    y->c = x->b[2];
}

START_TEST(test_tpool_map_odd_sizes)
{
    pk_tpool *pool = pk_tpool_create(2);
    enum { N = 9999 };
    in3 *in = malloc(N * sizeof *in);
    out12 *out = calloc(N, sizeof *out);
    for (size_t i = 0; i < N; i++)
        in[i] = (in3){{(unsigned char)i, (unsigned char)(i >> 8), 3}};
    ck_assert_int_eq(pk_tpool_map(pool, in, N, sizeof *in, out, sizeof *out,
                                  widen, NULL, 17), 0);
    for (size_t i = 0; i < N; i++)
        ck_assert(out[i].a == (unsigned char)i && out[i].b == (unsigned char)(i >> 8) &&
                  out[i].c == 3);
    free(in);
    free(out);
    pk_tpool_destroy(pool);
}
END_TEST

static void *nothing(void *arg)
{
    return arg;
}

START_TEST(test_tpool_many_futures)
{
    const intptr_t N = (intptr_t)scaled(100000);
    pk_tpool *pool = pk_tpool_create(2);
    pk_future **f = malloc((size_t)N * sizeof *f);
    for (intptr_t i = 0; i < N; i++) {
        f[i] = pk_tpool_submit(pool, nothing, (void *)(i + 1));
        ck_assert_ptr_nonnull(f[i]);
    }
    for (intptr_t i = 0; i < N; i++) {
        ck_assert_int_eq((intptr_t)pk_future_get(f[i]), i + 1);
        pk_future_free(f[i]);
    }
    free(f);
    pk_tpool_destroy(pool);
}
END_TEST

START_TEST(test_tpool_create_destroy_cycles)
{
    for (int i = 0; i < (int)scaled(1000); i++) {
        pk_tpool *pool = pk_tpool_create(2);
        ck_assert_ptr_nonnull(pool);
        if (i % 2) {
            pk_future *f = pk_tpool_submit(pool, nothing, &i);
            ck_assert_ptr_eq(pk_future_get(f), &i);
            pk_future_free(f);
        }
        pk_tpool_destroy(pool);
    }
}
END_TEST

static void *slow_increment(void *arg)
{
    struct timespec ts = {0, 100000}; /* 0.1 ms */
    nanosleep(&ts, NULL);
    atomic_fetch_add((atomic_int *)arg, 1);
    return NULL;
}

START_TEST(test_tpool_destroy_runs_queue)
{
    atomic_int done = 0;
    enum { N = 500 };
    pk_future *f[N];
    pk_tpool *pool = pk_tpool_create(2);
    for (int i = 0; i < N; i++)
        f[i] = pk_tpool_submit(pool, slow_increment, &done);
    /* Most of the 500 are still queued now; destroy must run them all. */
    pk_tpool_destroy(pool);
    ck_assert_int_eq(atomic_load(&done), N);
    for (int i = 0; i < N; i++)
        pk_future_free(f[i]);
}
END_TEST

typedef struct submitter_arg {
    pk_tpool *pool;
    intptr_t base;
    int ok;
} submitter_arg;

static void *submitter(void *p)
{
    submitter_arg *a = p;
    enum { M = 5000 };
    pk_future **f = malloc(M * sizeof *f);
    a->ok = 1;
    for (intptr_t i = 0; i < M; i++)
        f[i] = pk_tpool_submit(a->pool, square_ptr, (void *)(a->base + i));
    for (intptr_t i = 0; i < M; i++) {
        if (f[i] == NULL ||
            (intptr_t)pk_future_get(f[i]) != (a->base + i) * (a->base + i))
            a->ok = 0;
        pk_future_free(f[i]);
    }
    free(f);
    return NULL;
}

START_TEST(test_tpool_concurrent_submitters)
{
    pk_tpool *pool = pk_tpool_create(3);
    pthread_t th[4];
    submitter_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (submitter_arg){pool, i * 10000, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, submitter, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].ok, "submitter %d got a wrong or missing result", i);
    }
    pk_tpool_destroy(pool);
}
END_TEST

/* ---- waiting inside the pool ----------------------------------------------- */

typedef struct nested_map {
    pk_tpool *pool;
    size_t n;
    int rc;
    int64_t bad; /* first wrong result + 1, or 0 */
} nested_map;

/* A task that maps over its own pool and checks the results. */
static void *map_inside(void *arg)
{
    nested_map *m = arg;
    int64_t *in = malloc(m->n * sizeof *in), *out = malloc(m->n * sizeof *out);
    int64_t off = 1;
    for (size_t i = 0; i < m->n; i++)
        in[i] = (int64_t)i;
    m->rc = pk_tpool_map(m->pool, in, m->n, sizeof *in, out, sizeof *out,
                         square_plus, &off, 7);
    for (size_t i = 0; m->rc == 0 && i < m->n && !m->bad; i++)
        if (out[i] != (int64_t)(i * i) + 1)
            m->bad = (int64_t)i + 1;
    free(in);
    free(out);
    return m;
}

/* A map called from a task on the same pool must finish: on a 1-thread pool
 * the map's helpers are queued behind the task that waits for them. (With
 * the old pool this test hung until its timeout.) */
START_TEST(test_tpool_map_from_task)
{
    for (size_t threads = 1; threads <= 2; threads++) {
        pk_tpool *pool = pk_tpool_create(threads);
        ck_assert_ptr_nonnull(pool);
        nested_map m[2] = {{pool, 1000, -1, 0}, {pool, 5000, -1, 0}};
        pk_future *f[2];
        for (int i = 0; i < 2; i++)
            f[i] = pk_tpool_submit(pool, map_inside, &m[i]);
        for (int i = 0; i < 2; i++) {
            ck_assert_ptr_eq(pk_future_get(f[i]), &m[i]);
            ck_assert_msg(m[i].rc == 0, "%zu-thread pool: pk_tpool_map inside a "
                          "task returned %d", threads, m[i].rc);
            ck_assert_msg(m[i].bad == 0, "%zu-thread pool: out[%lld] wrong",
                          threads, (long long)m[i].bad - 1);
            pk_future_free(f[i]);
        }
        pk_tpool_destroy(pool);
    }
}
END_TEST

typedef struct chain {
    pk_tpool *pool;
    int depth;
} chain;

/* Submits the next link to the same pool and waits for it: depth levels of
 * tasks each waiting for the one it queued. */
static void *wait_inside(void *arg)
{
    chain *c = arg;
    if (c->depth == 0)
        return (void *)(intptr_t)1;
    chain next = {c->pool, c->depth - 1};
    pk_future *f = pk_tpool_submit(c->pool, wait_inside, &next);
    if (f == NULL)
        return NULL;
    intptr_t r = (intptr_t)pk_future_get(f);
    pk_future_free(f);
    return (void *)(r + 1);
}

START_TEST(test_tpool_wait_from_task)
{
    pk_tpool *pool = pk_tpool_create(1);
    ck_assert_ptr_nonnull(pool);
    chain c = {pool, 50};
    pk_future *f = pk_tpool_submit(pool, wait_inside, &c);
    ck_assert_ptr_nonnull(f);
    intptr_t r = (intptr_t)pk_future_get(f);
    ck_assert_msg(r == 51, "50 nested waits on a 1-thread pool: got %ld, "
                  "expected 51", (long)r);
    pk_future_free(f);
    pk_tpool_destroy(pool);
}
END_TEST

static atomic_size_t items_run;

static void count_item(const void *in, void *out, void *ctx)
{
    (void)in;
    (void)out;
    (void)ctx;
    atomic_fetch_add(&items_run, 1);
}

/* The process's address space now, in bytes (VmSize), or 0. */
static rlim_t address_space_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    rlim_t kb = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmSize:", 7) == 0)
            kb = (rlim_t)atol(line + 7);
    if (f != NULL)
        fclose(f);
    return kb * 1024;
}

/* In a child: make every further malloc fail (RLIMIT_AS at the current
 * address space, then what the heap has left handed out), and see how the
 * pool reports it. Exit status: 0 all as documented, else the step that
 * went wrong. (RLIMIT_DATA would be the natural limit, but some kernels
 * are booted to ignore it.) */
static int enomem_child(void)
{
    pk_tpool *pool = pk_tpool_create(20); /* > 16 helpers: the map mallocs */
    if (pool == NULL)
        return 10;
    struct rlimit old, lim;
    if (getrlimit(RLIMIT_AS, &old) != 0)
        return 11;
    lim = (struct rlimit){address_space_now(), old.rlim_max};
    if (lim.rlim_cur == 0 || setrlimit(RLIMIT_AS, &lim) != 0)
        return 11;
    /* Take what the heap has left, big blocks first, then smaller ones, so
     * that no free block of any size remains. */
    void *held = NULL; /* a chain of blocks through their first word */
    for (size_t size = 4096; size >= sizeof(void *);
         size -= size > 1024 ? size / 2 : 8) { /* every malloc size class */
        for (size_t i = 0; i < ((size_t)1 << 24); i++) {
            void **b = malloc(size);
            if (b == NULL)
                break;
            *b = held;
            held = b;
        }
    }
    int result = 0;
    int64_t in[1000], out[1000];
    errno = 0;
    int rc = pk_tpool_map(pool, in, 1000, sizeof *in, out, sizeof *out,
                          count_item, NULL, 1);
    if (rc != -1 || errno != ENOMEM)
        result = 12; /* must fail, and say why */
    else if (atomic_load(&items_run) != 0)
        result = 13; /* ... before any item ran */
    errno = 0;
    if (result == 0 && (pk_tpool_submit(pool, square_ptr, NULL) != NULL || errno != ENOMEM))
        result = 14;
    while (held != NULL) {
        void *next = *(void **)held;
        free(held);
        held = next;
    }
    setrlimit(RLIMIT_AS, &old);
    if (result == 0 && pk_tpool_map(pool, in, 1000, sizeof *in, out, sizeof *out,
                                    count_item, NULL, 1) != 0)
        result = 15; /* and work again once memory is back */
    pk_tpool_destroy(pool);
    return result;
}

START_TEST(test_tpool_map_enomem)
{
    if (slow_tools()) {
        /* Sanitizers and valgrind bring allocators of their own, which
         * abort or ignore RLIMIT_DATA instead of returning NULL. */
        fprintf(stderr, "test_tpool_map_enomem: skipped under a sanitizer or valgrind\n");
        return;
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(enomem_child());
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "the child died by signal %d", WTERMSIG(st));
    static const char *what[] = {
        [10] = "could not create the pool", [11] = "setrlimit failed",
        [12] = "pk_tpool_map without memory should return -1 with ENOMEM",
        [13] = "pk_tpool_map ran items although it then failed with ENOMEM",
        [14] = "pk_tpool_submit without memory should return NULL with ENOMEM",
        [15] = "pk_tpool_map failed after memory came back",
    };
    int code = WEXITSTATUS(st);
    ck_assert_msg(code == 0, "%s (child exit %d)",
                  code >= 10 && code <= 15 ? what[code] : "unexpected", code);
}
END_TEST

/* ---- process pool ---------------------------------------------------------- */

static void check_pmap(size_t nprocs, size_t n, size_t chunk)
{
    int64_t *in = calloc(n ? n : 1, sizeof *in);
    int64_t *out = calloc(n ? n : 1, sizeof *out);
    int64_t off = -3;
    for (size_t i = 0; i < n; i++) {
        in[i] = (int64_t)(i * 7919 % 100003);
        out[i] = -1;
    }
    ck_assert_msg(pk_ppool_map(nprocs, in, n, sizeof *in, out, sizeof *out,
                               square_plus, &off, chunk) == 0,
                  "pk_ppool_map(nprocs=%zu, n=%zu, chunk=%zu) failed: %s",
                  nprocs, n, chunk, strerror(errno));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(out[i] == in[i] * in[i] - 3,
                      "nprocs=%zu n=%zu chunk=%zu: out[%zu] wrong", nprocs, n,
                      chunk, i);
    free(in);
    free(out);
}

START_TEST(test_ppool_map_order)
{
    const size_t ns[] = {0, 1, 7, 1000, 99991};
    const size_t chunks[] = {0, 1, 3, 1000, 1 << 20};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof chunks / sizeof chunks[0]; j++)
            check_pmap(2, ns[i], chunks[j]);
    check_pmap(0, 1000, 0);  /* nprocs 0: one per CPU */
    check_pmap(8, 3, 0);     /* more processes than items */
    assert_no_children();
}
END_TEST

START_TEST(test_ppool_million)
{
    check_pmap(2, scaled(1000000), 0);
    assert_no_children();
}
END_TEST

START_TEST(test_ppool_einval)
{
    int64_t x = 1, y = 0, off = 0;
    errno = 0;
    ck_assert_int_eq(pk_ppool_map(2, NULL, 1, 8, &y, 8, square_plus, &off, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_ppool_map(2, &x, 1, 8, NULL, 8, square_plus, &off, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_ppool_map(2, &x, 1, 8, &y, 8, NULL, &off, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_ppool_map(2, &x, 1, 0, &y, 8, square_plus, &off, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_ppool_map(2, &x, 1, 8, &y, 0, square_plus, &off, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(pk_ppool_map((size_t)1 << 40, &x, 1, 8, &y, 8, square_plus, &off, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* n = 0 with NULL arrays is fine and forks nothing. */
    ck_assert_int_eq(pk_ppool_map(2, NULL, 0, 8, NULL, 8, square_plus, &off, 0), 0);
    assert_no_children();
}
END_TEST

/* Item 500 kills its worker by a signal, or exits it with status 3. */
static void crash_at_500(const void *in, void *out, void *ctx)
{
    int64_t x = *(const int64_t *)in;
    if (x == 500) {
        if (*(int *)ctx == 0)
            raise(SIGSEGV);
        else
            exit(3);
    }
    *(int64_t *)out = x;
}

static void check_crash(int how)
{
    enum { N = 20000 };
    int64_t *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    for (int64_t i = 0; i < N; i++)
        in[i] = i;
    /* Under a sanitizer the dying worker prints a report: it is expected. */
    fprintf(stderr, "check_crash: a worker now %s on purpose\n",
            how ? "exits with status 3" : "crashes with SIGSEGV");
    uint64_t t0 = pk_now_ns();
    errno = 0;
    int rc = pk_ppool_map(2, in, N, sizeof *in, out, sizeof *out, crash_at_500,
                          &how, 0);
    double secs = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(rc == -1 && errno == ECHILD,
                  "a worker that %s must make the map fail with ECHILD "
                  "(rc %d, errno %d)", how ? "exits 3" : "segfaults", rc, errno);
    /* Loose bound: proves "returns promptly", not a speed. */
    ck_assert_msg(secs < 5, "the failing map took %g s", secs);
    assert_no_children();
    free(in);
    free(out);
}

START_TEST(test_ppool_worker_signal)
{
    check_crash(0);
}
END_TEST

START_TEST(test_ppool_worker_exit3)
{
    check_crash(1);
}
END_TEST

/* Exits the worker with status 0 half-way through a chunk. */
static void exit0_at_500(const void *in, void *out, void *ctx)
{
    (void)ctx;
    int64_t x = *(const int64_t *)in;
    if (x == 500)
        exit(0);
    *(int64_t *)out = x;
}

/* A worker that calls exit(0) half-way through its chunk exits "cleanly",
 * but its items were never written. The map must fail, and must not copy
 * the previous map's results (still in the kept mapping) into out. */
START_TEST(test_ppool_exit0_midchunk)
{
    enum { N = 1000 };
    int64_t in[N], out[N], off = 0;
    for (int64_t i = 0; i < N; i++)
        in[i] = i;
    ck_assert_int_eq(pk_ppool_map(2, in, N, sizeof *in, out, sizeof *out,
                                  square_plus, &off, 10), 0);
    for (int64_t i = 0; i < N; i++)
        out[i] = -7;
    fprintf(stderr, "test_ppool_exit0_midchunk: a worker now calls exit(0) on purpose\n");
    errno = 0;
    int rc = pk_ppool_map(2, in, N, sizeof *in, out, sizeof *out, exit0_at_500,
                          NULL, 10);
    ck_assert_msg(rc == -1 && errno == ECHILD,
                  "a worker that exit(0)s before its chunk is done must fail "
                  "the map with ECHILD (rc %d, errno %d)", rc, errno);
    for (int64_t i = 0; i < N; i++)
        ck_assert_msg(out[i] == -7, "a failed map wrote out[%lld] = %lld",
                      (long long)i, (long long)out[i]);
    assert_no_children();
}
END_TEST

typedef struct crash_plan {
    atomic_int calls;    /* items started, over both workers */
    uint64_t crashed_at; /* pk_now_ns() just before the crash */
} crash_plan;

/* The first item to start sleeps for seconds; the second records the time
 * and crashes. The first worker forked nearly always starts first, so the
 * sleeper is the worker a parent that waits in fork order waits for. */
static void sleep_then_crash(const void *in, void *out, void *ctx)
{
    crash_plan *plan = ctx;
    (void)in;
    if (atomic_fetch_add(&plan->calls, 1) == 0) {
        sleep(3);
        *(int64_t *)out = 1;
        return;
    }
    plan->crashed_at = pk_now_ns();
    raise(SIGSEGV);
}

/* A worker that crashes is noticed at once, not when the others finish. */
START_TEST(test_ppool_crash_noticed_promptly)
{
    crash_plan *plan = mmap(NULL, sizeof *plan, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(plan, MAP_FAILED);
    atomic_init(&plan->calls, 0);
    plan->crashed_at = 0;
    int64_t in[2] = {0, 1}, out[2];
    fprintf(stderr, "test_ppool_crash_noticed_promptly: a worker now crashes on purpose\n");
    int rc = pk_ppool_map(2, in, 2, sizeof *in, out, sizeof *out,
                          sleep_then_crash, plan, 1);
    uint64_t back = pk_now_ns();
    int err = errno;
    ck_assert_msg(rc == -1 && err == ECHILD, "rc %d errno %d, expected -1 ECHILD",
                  rc, err);
    ck_assert_msg(plan->crashed_at != 0, "the crashing item did not run");
    double late = (double)(back - plan->crashed_at) * 1e-9;
    /* 100 ms is what the header promises; sanitizers print a report in the
     * dying child first, and valgrind runs everything slowly. */
    double limit = slow_tools() ? 2.0 : 0.1;
    ck_assert_msg(late < limit, "pk_ppool_map returned %.3f s after its worker "
                  "crashed (at most %.1f s): it waited for the other worker", late,
                  limit);
    assert_no_children();
    munmap(plan, sizeof *plan);
}
END_TEST

/* Fills a whole out_size-byte result with a pattern made from the item. */
static void fill_pattern(const void *in, void *out, void *ctx)
{
    size_t size = *(const size_t *)ctx;
    memset(out, (int)(*(const int64_t *)in % 251), size);
}

/* pk_ppool_map keeps its shared buffer between calls: maps that grow it,
 * shrink back inside it, fail with a worker's crash, or release it must all
 * still give exact results. (If the crash path left the buffer locked,
 * pk_ppool_release would wait for ever and the timeout would fail the test.) */
START_TEST(test_ppool_arena_reuse)
{
    const size_t ns[] = {1000, 99991, 10, 300007, 1};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        check_pmap(2, scaled(ns[i]), 0);
    check_crash(0);
    pk_ppool_release();
    pk_ppool_release(); /* twice is fine */
    check_pmap(2, 5000, 7);
    assert_no_children();
}
END_TEST

/* A map whose results exceed the kept buffer's 64 MiB cap uses a mapping of
 * its own; wide results (4 KiB each) check the offsets. */
START_TEST(test_ppool_wide_results)
{
    size_t size = 4096, n = 17000; /* 70 MB */
    int64_t *in = malloc(n * sizeof *in);
    unsigned char *out = malloc(n * size);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i * 13;
    ck_assert_msg(pk_ppool_map(2, in, n, sizeof *in, out, size, fill_pattern,
                               &size, 0) == 0,
                  "pk_ppool_map of %zu results of 4 KiB failed: %s", n,
                  strerror(errno));
    for (size_t i = 0; i < n; i++) {
        unsigned char want = (unsigned char)(in[i] % 251);
        ck_assert_msg(out[i * size] == want && out[i * size + size - 1] == want,
                      "result %zu of 4 KiB: first/last byte %d/%d, want %d", i,
                      out[i * size], out[i * size + size - 1], want);
    }
    free(in);
    free(out);
    assert_no_children();
}
END_TEST

/* Ten maps with results offset by *arg; returns how many results were
 * wrong (no ck_assert off the test's own thread). */
static void *pmap_many(void *arg)
{
    enum { N = 10000 };
    int64_t off = *(int64_t *)arg;
    int64_t *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    uintptr_t wrong = in == NULL || out == NULL;
    for (int r = 0; r < 10 && !wrong; r++) {
        for (int64_t i = 0; i < N; i++)
            in[i] = i + r;
        if (pk_ppool_map(2, in, N, sizeof *in, out, sizeof *out, square_plus,
                         &off, 0) != 0)
            wrong++;
        for (int64_t i = 0; i < N; i++)
            wrong += out[i] != in[i] * in[i] + off;
    }
    free(in);
    free(out);
    return (void *)wrong;
}

#if defined(__SANITIZE_THREAD__)
#define PK_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PK_UNDER_TSAN 1
#endif
#endif

/* Two threads mapping at once: one gets the kept buffer, the other a
 * mapping of its own; neither may see the other's results.
 * Not under ThreadSanitizer: a child forked while another thread runs
 * inherits TSan's record of that thread, reports it as leaked when it exits
 * and exits with TSan's error status, which the map rightly calls a dead
 * worker. */
START_TEST(test_ppool_concurrent_maps)
{
#ifdef PK_UNDER_TSAN
    fprintf(stderr, "test_ppool_concurrent_maps: skipped under TSan\n");
    return;
#endif
    pthread_t t;
    int64_t off_a = 1, off_b = -1000;
    void *wrong_a, *wrong_b;
    ck_assert_int_eq(pthread_create(&t, NULL, pmap_many, &off_a), 0);
    wrong_b = pmap_many(&off_b);
    ck_assert_int_eq(pthread_join(t, &wrong_a), 0);
    ck_assert_msg(wrong_a == NULL && wrong_b == NULL,
                  "concurrent maps: %zu and %zu wrong results (a map saw the "
                  "other's shared buffer?)", (size_t)(uintptr_t)wrong_a,
                  (size_t)(uintptr_t)wrong_b);
    assert_no_children();
}
END_TEST

/* pk_ppool_alloc: aligned for huge pages, zeroed, usable by a map, freed. */
START_TEST(test_ppool_alloc)
{
    enum { N = 300000 }; /* 2.4 MB: more than one huge page, not a multiple */
    int64_t *in = pk_ppool_alloc(N * sizeof *in);
    int64_t *out = pk_ppool_alloc(N * sizeof *out);
    int64_t off = 5;
    ck_assert_msg(in != NULL && out != NULL, "pk_ppool_alloc(%zu) failed: %s",
                  N * sizeof *in, strerror(errno));
    ck_assert_msg((uintptr_t)in % (2u << 20) == 0,
                  "pk_ppool_alloc must align to 2 MiB (got %p)", (void *)in);
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(in[i] == 0, "pk_ppool_alloc memory must be zeroed "
                      "(item %zu is %lld)", i, (long long)in[i]);
        in[i] = (int64_t)i;
    }
    ck_assert_int_eq(pk_ppool_map(2, in, N, sizeof *in, out, sizeof *out,
                                  square_plus, &off, 0), 0);
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(out[i] == in[i] * in[i] + 5, "out[%zu] wrong", i);
    pk_ppool_free(in, N * sizeof *in);
    pk_ppool_free(out, N * sizeof *out);
    pk_ppool_free(NULL, 100); /* a no-op */
    assert_no_children();
}
END_TEST

START_TEST(test_ppool_alloc_errors)
{
    errno = 0;
    ck_assert_ptr_null(pk_ppool_alloc(0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(pk_ppool_alloc(SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(pk_ppool_alloc(SIZE_MAX / 2)); /* 8 EiB: no machine */
    ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* ---- report ------------------------------------------------------------------ */

START_TEST(test_report_csv)
{
    char path[] = "/tmp/pk-report-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    setenv("PK_BENCH_CSV", path, 1);
    pk_report *r = pk_report_open("99-test");
    ck_assert_ptr_nonnull(r);
    pk_stats a = {3, 0.1, 0.2, 0.2, 0.3, 0}, b = {3, 0.04, 0.05, 0.05, 0.06, 0};
    ck_assert_int_eq(pk_report_add(r, "bm", "base", 10, &a), 0);
    ck_assert_int_eq(pk_report_add(r, "bm", "fast", 10, &b), 0);
    ck_assert_double_eq_tol(pk_report_last_speedup(r), 4.0, 1e-9);
    pk_report_close(r);
    unsetenv("PK_BENCH_CSV");

    FILE *f = fopen(path, "r");
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "benchmark,variant,n,median_s,min_s,max_s,speedup\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "\"bm\",\"base\",10,0.2,0.1,0.3,1.0000\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "\"bm\",\"fast\",10,0.05,0.04,0.06,4.0000\n");
    fclose(f);
    unlink(path);
    errno = 0;
    ck_assert_ptr_null(pk_report_open(NULL));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_report_ceiling)
{
    /* The ratio itself is a measurement and moves with the machine's load
     * (a busy neighbour can slow the one-process run more than the pair):
     * only a loose sanity bound is tested here, the value is the bench's. */
    double c = pk_parallel_ceiling(2, 0.02);
    ck_assert_msg(c > 0 && c < 8, "ceiling of 2 processes measured %g", c);
    double one = pk_parallel_ceiling(1, 0.02);
    ck_assert_msg(one > 0.2 && one < 5, "one process against itself measured %g", one);
    errno = 0;
    ck_assert_msg(pk_parallel_ceiling(2, 0) == 0 && errno == EINVAL,
                  "seconds <= 0 must give 0 with EINVAL");
    errno = 0;
    ck_assert_msg(pk_parallel_ceiling(100000, 0.01) == 0 && errno == EINVAL,
                  "an absurd process count must give 0 with EINVAL");
    assert_no_children();
}
END_TEST

START_TEST(test_report_ceiling_trials)
{
    /* The trials a performance test runs in every round: sanity bounds on
     * the measured ratios, exact answers for bad arguments. */
    unsigned long long iters = pk_ceiling_calibrate(0.005);
    ck_assert_msg(iters > 0, "pk_ceiling_calibrate(0.005) returned 0");
    double c = pk_ceiling_trial(2, iters);
    ck_assert_msg(c > 0 && c < 8, "pk_ceiling_trial(2) measured %g", c);
    double s = pk_ceiling_trial_sync(2, iters);
    ck_assert_msg(s > 0 && s < 8, "pk_ceiling_trial_sync(2) measured %g", s);
    double one = pk_ceiling_trial_sync(1, iters);
    ck_assert_msg(one > 0.2 && one < 5, "one thread against itself measured %g", one);
    errno = 0;
    ck_assert_msg(pk_ceiling_calibrate(0) == 0 && errno == EINVAL,
                  "pk_ceiling_calibrate(0) must give 0 with EINVAL");
    errno = 0;
    ck_assert_msg(pk_ceiling_trial(2, 0) == 0 && errno == EINVAL,
                  "pk_ceiling_trial with 0 iterations must give 0 with EINVAL");
    errno = 0;
    ck_assert_msg(pk_ceiling_trial_sync(1000, iters) == 0 && errno == EINVAL,
                  "pk_ceiling_trial_sync with 1000 threads must give 0 with EINVAL");
    assert_no_children();
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("libpk");

    /* libpk is not an exercise: these run in `make test` and earn no points. */
    pk_test_add_ungraded(s, test_timing_now_monotonic);
    pk_test_add_ungraded(s, test_timing_cpu_ns);
    pk_test_add_ungraded(s, test_timing_stats_values);
    pk_test_add_ungraded(s, test_timing_stats_einval);
    pk_test_add_ungraded(s, test_timing_bench_counts);
    pk_test_add_ungraded(s, test_timing_cpu_count);
    pk_test_add_ungraded(s, test_task_values);
    pk_test_add_ungraded(s, test_task_project_item);
    pk_test_add_ungraded(s, test_tpool_submit_get);
    pk_test_add_ungraded(s, test_tpool_default_size);
    pk_test_add_ungraded(s, test_tpool_einval);
    pk_test_add_ungraded(s, test_tpool_map_order);
    pk_test_add_ungraded(s, test_tpool_map_odd_sizes);
    pk_test_add_ungraded(s, test_tpool_many_futures);
    pk_test_add_ungraded(s, test_tpool_create_destroy_cycles);
    pk_test_add_ungraded(s, test_tpool_destroy_runs_queue);
    pk_test_add_ungraded(s, test_tpool_concurrent_submitters);
    pk_test_add_ungraded(s, test_tpool_map_from_task);
    pk_test_add_ungraded(s, test_tpool_wait_from_task);
    pk_test_add_ungraded(s, test_tpool_map_enomem);
    pk_test_add_ungraded(s, test_ppool_map_order);
    pk_test_add_ungraded(s, test_ppool_million);
    pk_test_add_ungraded(s, test_ppool_einval);
    pk_test_add_ungraded(s, test_ppool_worker_signal);
    pk_test_add_ungraded(s, test_ppool_worker_exit3);
    pk_test_add_ungraded(s, test_ppool_exit0_midchunk);
    pk_test_add_ungraded(s, test_ppool_crash_noticed_promptly);
    pk_test_add_ungraded(s, test_ppool_arena_reuse);
    pk_test_add_ungraded(s, test_ppool_wide_results);
    pk_test_add_ungraded(s, test_ppool_concurrent_maps);
    pk_test_add_ungraded(s, test_ppool_alloc);
    pk_test_add_ungraded(s, test_ppool_alloc_errors);
    pk_test_add_ungraded(s, test_report_csv);
    pk_test_add_ungraded(s, test_report_ceiling);
    pk_test_add_ungraded(s, test_report_ceiling_trials);
    return s;
}
