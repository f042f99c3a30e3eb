/* check_threads.c - graded tests for chapter 01 (threads.h).
 *
 * No test depends on speed. Where a test waits for other threads it waits
 * with a generous deadline (seconds), only to turn a hang into a failure
 * with a message; a correct solution never comes near it. The GIL tests
 * count ticks on a virtual clock instead of reading real time.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pk/timing.h"
#include "pk_check.h"
#include "threads.h"

/* ---- helpers -------------------------------------------------------------- */

#define WAIT_LIMIT_NS 3000000000ull /* 3 s: "this will never happen" */

static int under_valgrind(void)
{
    const char *v = getenv("PK_UNDER_VALGRIND");
    return v != NULL && *v != '\0' && *v != '0';
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Threads of this process right now (entries of /proc/self/task). */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Wait until the process has @p want threads; 0 on success, -1 on timeout. */
static int wait_threads(int want)
{
    uint64_t t0 = pk_now_ns();
    while (thread_count() < want) {
        if (pk_now_ns() - t0 > WAIT_LIMIT_NS)
            return -1;
        sleep_ms(1);
    }
    return 0;
}

/* Join with a deadline, so that a lost wake-up fails the test instead of
 * hanging it. 0 if joined. */
static int join_within(pthread_t t, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(t, NULL, &ts);
}

/* ==== Exercise 1: fan-out ================================================== */

static uint64_t square_plus_one(uint64_t n)
{
    return n * n + 1;
}

START_TEST(test_threads_fan_out_results)
{
    enum { N = 16 };
    uint64_t in[N], out[N];
    for (size_t i = 0; i < N; i++) {
        in[i] = 1000 + 7 * i;
        out[i] = 0;
    }
    ck_assert_msg(thr_fan_out(square_plus_one, in, out, N) == 0,
                  "thr_fan_out returned an error (errno %d: %s)", errno,
                  strerror(errno));
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(out[i] == in[i] * in[i] + 1,
                      "out[%zu] = %llu, expected task(in[%zu]) = %llu", i,
                      (unsigned long long)out[i], i,
                      (unsigned long long)(in[i] * in[i] + 1));
}
END_TEST

/* Bigger inputs sleep less, so the threads finish in reverse input order. */
static uint64_t sleep_reverse(uint64_t n)
{
    sleep_ms((unsigned)(50 - n * 10));
    return n + 100;
}

START_TEST(test_threads_fan_out_input_order)
{
    const uint64_t in[] = {0, 1, 2, 3, 4};
    uint64_t out[5] = {0};
    ck_assert_int_eq(thr_fan_out(sleep_reverse, in, out, 5), 0);
    for (size_t i = 0; i < 5; i++)
        ck_assert_msg(out[i] == in[i] + 100,
                      "out[%zu] = %llu, expected %llu: results belong in the "
                      "slot of their input, not in the order threads finish",
                      i, (unsigned long long)out[i],
                      (unsigned long long)(in[i] + 100));
}
END_TEST

/* Each call records which input it saw. */
static _Atomic unsigned seen_input[64];

static uint64_t record_input(uint64_t n)
{
    if (n < 64)
        atomic_fetch_add(&seen_input[n], 1);
    return n;
}

START_TEST(test_threads_fan_out_each_input_once)
{
    enum { N = 32 };
    uint64_t in[N], out[N];
    for (size_t i = 0; i < N; i++) {
        in[i] = i;
        atomic_store(&seen_input[i], 0);
    }
    ck_assert_int_eq(thr_fan_out(record_input, in, out, N), 0);
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(atomic_load(&seen_input[i]) == 1,
                      "input %zu was passed to the task %u times, expected "
                      "once: does each thread get its own argument, or a "
                      "pointer to the loop variable?", i,
                      atomic_load(&seen_input[i]));
}
END_TEST

/* The task waits until all of its siblings are running: only possible if
 * every input really has its own thread, all started before any is joined. */
static _Atomic unsigned arrived;
static atomic_bool gave_up;

static uint64_t wait_for_all(uint64_t n)
{
    atomic_fetch_add(&arrived, 1);
    uint64_t t0 = pk_now_ns();
    while (atomic_load(&arrived) < n && !atomic_load(&gave_up)) {
        if (pk_now_ns() - t0 > WAIT_LIMIT_NS) {
            atomic_store(&gave_up, 1);
            return 0;
        }
        sleep_ms(1);
    }
    return atomic_load(&gave_up) ? 0 : 1;
}

START_TEST(test_threads_fan_out_concurrent)
{
    enum { N = 6 };
    uint64_t in[N], out[N];
    atomic_store(&arrived, 0);
    atomic_store(&gave_up, 0);
    for (size_t i = 0; i < N; i++)
        in[i] = N;
    ck_assert_int_eq(thr_fan_out(wait_for_all, in, out, N), 0);
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(out[i] == 1,
                      "the %d tasks never ran at the same time (only %u "
                      "arrived): start every thread before joining any",
                      N, atomic_load(&arrived));
}
END_TEST

/* A create function that starts real threads, except call number fail_at,
 * which fails. The tasks track how many of them are running. */
static _Atomic int running_tasks, finished_tasks, create_calls, fail_at;
static int fail_errno; /* what the failing call returned */
static int use_absurd_stack;

static uint64_t slow_tracked(uint64_t n)
{
    atomic_fetch_add(&running_tasks, 1);
    sleep_ms(30);
    atomic_fetch_sub(&running_tasks, 1);
    atomic_fetch_add(&finished_tasks, 1);
    return n;
}

/* An "absurd" stack size: far more memory than this machine has. */
#define ABSURD_STACK ((size_t)1 << 44)

static int failing_create(pthread_t *t, const pthread_attr_t *attr,
                          void *(*start)(void *), void *arg)
{
    if (atomic_fetch_add(&create_calls, 1) + 1 != atomic_load(&fail_at))
        return pthread_create(t, attr, start, arg);
    if (!use_absurd_stack)
        return fail_errno = EAGAIN;
    /* A real failure: the kernel refuses to map a 16 TiB stack. */
    pthread_attr_t big;
    pthread_attr_init(&big);
    int rc = pthread_attr_setstacksize(&big, ABSURD_STACK);
    if (rc == 0)
        rc = pthread_create(t, &big, start, arg);
    pthread_attr_destroy(&big);
    if (rc == 0) { /* the machine granted it after all: fail by hand */
        pthread_join(*t, NULL);
        rc = EAGAIN;
    }
    return fail_errno = rc;
}

static void *nothing(void *p)
{
    return p;
}

static void check_create_failure(int absurd)
{
    enum { N = 6, FAIL_AT = 4 };
    uint64_t in[N] = {1, 2, 3, 4, 5, 6}, out[N];
    /* Start and join one thread first: a sanitizer's helper thread appears
     * with the first pthread_create and must not count as left behind. */
    pthread_t warm;
    if (pthread_create(&warm, NULL, nothing, NULL) == 0)
        pthread_join(warm, NULL);
    int before = thread_count();

    atomic_store(&running_tasks, 0);
    atomic_store(&finished_tasks, 0);
    atomic_store(&create_calls, 0);
    atomic_store(&fail_at, FAIL_AT);
    use_absurd_stack = absurd;
    fail_errno = 0;
    errno = 0;
    int rc = thr_fan_out_with(slow_tracked, in, out, N, failing_create);
    int err = errno;

    ck_assert_msg(atomic_load(&create_calls) >= FAIL_AT,
                  "thr_fan_out_with must start its threads with the create "
                  "function it is given (called %d times)",
                  atomic_load(&create_calls));
    ck_assert_msg(rc == -1, "thread %d could not be created, yet "
                  "thr_fan_out_with returned %d instead of -1", FAIL_AT, rc);
    ck_assert_msg(err == fail_errno,
                  "errno is %d (%s), expected the create function's error "
                  "%d (%s)", err, strerror(err), fail_errno,
                  strerror(fail_errno));
    ck_assert_msg(atomic_load(&running_tasks) == 0,
                  "%d task(s) were still running when thr_fan_out_with "
                  "returned: join the threads you started before giving up",
                  atomic_load(&running_tasks));
    ck_assert_msg(atomic_load(&finished_tasks) == FAIL_AT - 1,
                  "%d tasks finished, expected the %d whose threads were "
                  "created", atomic_load(&finished_tasks), FAIL_AT - 1);
    ck_assert_msg(atomic_load(&create_calls) == FAIL_AT,
                  "after a failed create, stop: %d create calls, expected %d",
                  atomic_load(&create_calls), FAIL_AT);
    ck_assert_msg(thread_count() == before,
                  "the process had %d threads before and %d after: a thread "
                  "was left behind", before, thread_count());
}

START_TEST(test_threads_fan_out_create_failure)
{
    check_create_failure(0);
}
END_TEST

START_TEST(test_threads_fan_out_real_create_failure)
{
    check_create_failure(1);
}
END_TEST

static _Atomic int bad_calls;

static uint64_t count_call(uint64_t n)
{
    atomic_fetch_add(&bad_calls, 1);
    return n;
}

START_TEST(test_threads_fan_out_bad_args)
{
    uint64_t in[2] = {1, 2}, out[2];
    struct { thr_task_fn t; const uint64_t *in; uint64_t *out; size_t n;
             const char *what; } cases[] = {
        {NULL, in, out, 2, "NULL task"},
        {count_call, NULL, out, 2, "NULL in"},
        {count_call, in, NULL, 2, "NULL out"},
        {count_call, in, out, 0, "n = 0"},
        {count_call, in, out, THR_MAX_THREADS + 1, "n > THR_MAX_THREADS"},
        {count_call, in, out, SIZE_MAX, "n = SIZE_MAX"},
    };
    atomic_store(&bad_calls, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        int rc = thr_fan_out(cases[i].t, cases[i].in, cases[i].out, cases[i].n);
        ck_assert_msg(rc == -1 && errno == EINVAL,
                      "%s: expected -1 with errno EINVAL, got %d with errno "
                      "%d", cases[i].what, rc, errno);
    }
    ck_assert_msg(atomic_load(&bad_calls) == 0,
                  "the task ran %d times for bad arguments: check them "
                  "before starting threads", atomic_load(&bad_calls));
}
END_TEST

/* ==== Exercise 2: counters ================================================== */

#define COUNT_THREADS 4

static uint64_t count_per_thread(void)
{
    return under_valgrind() ? 20000 : 200000;
}

typedef struct inc_arg {
    thr_counter *c;
    unsigned tid;
    uint64_t times;
    int failures;
} inc_arg;

static void *inc_thread(void *p)
{
    inc_arg *a = p;
    for (uint64_t i = 0; i < a->times; i++)
        if (thr_counter_inc(a->c, a->tid) != 0)
            a->failures++;
    return NULL;
}

/* The test starts its own threads, so the counter must be right however
 * it is driven (no multiplying T by K). */
static void check_counter_exact(thr_counter_kind kind, const char *name)
{
    thr_counter *c = thr_counter_create(kind, COUNT_THREADS);
    ck_assert_msg(c != NULL, "thr_counter_create(%s, %d) returned NULL "
                  "(errno %d: %s)", name, COUNT_THREADS, errno,
                  strerror(errno));
    pthread_t t[COUNT_THREADS];
    inc_arg a[COUNT_THREADS];
    uint64_t k = count_per_thread();
    for (unsigned i = 0; i < COUNT_THREADS; i++) {
        a[i] = (inc_arg){c, i, k, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, inc_thread, &a[i]), 0);
    }
    int failures = 0;
    for (unsigned i = 0; i < COUNT_THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += a[i].failures;
    }
    uint64_t got = thr_counter_total(c);
    thr_counter_destroy(c);
    ck_assert_msg(failures == 0, "thr_counter_inc failed %d times", failures);
    ck_assert_msg(got == COUNT_THREADS * k,
                  "%s counter: %d threads x %llu increments gave %llu, "
                  "expected %llu (%lld updates lost or invented)", name,
                  COUNT_THREADS, (unsigned long long)k, (unsigned long long)got,
                  (unsigned long long)(COUNT_THREADS * k),
                  (long long)(COUNT_THREADS * k - got));
}

START_TEST(test_threads_counter_mutex_exact)
{
    check_counter_exact(THR_COUNTER_MUTEX, "mutex");
}
END_TEST

START_TEST(test_threads_counter_atomic_exact)
{
    check_counter_exact(THR_COUNTER_ATOMIC, "atomic");
}
END_TEST

START_TEST(test_threads_counter_padded_exact)
{
    check_counter_exact(THR_COUNTER_PADDED, "padded");
}
END_TEST

START_TEST(test_threads_counter_padded_per_thread)
{
    /* Thread i adds i+1: only the sum of every slot is right. */
    enum { T = 5 };
    thr_counter *c = thr_counter_create(THR_COUNTER_PADDED, T);
    ck_assert_msg(c != NULL, "thr_counter_create(PADDED, 5) returned NULL");
    ck_assert_msg(thr_counter_total(c) == 0, "a new counter must be 0, got "
                  "%llu (initialise every slot)",
                  (unsigned long long)thr_counter_total(c));
    for (unsigned tid = 0; tid < T; tid++)
        for (unsigned j = 0; j <= tid; j++)
            ck_assert_int_eq(thr_counter_inc(c, tid), 0);
    uint64_t got = thr_counter_total(c);
    thr_counter_destroy(c);
    ck_assert_msg(got == 15, "slots 0..4 hold 1..5, total 15; got %llu: "
                  "sum every slot", (unsigned long long)got);
}
END_TEST

START_TEST(test_threads_count_runs_threads)
{
    const thr_counter_kind kinds[] = {THR_COUNTER_MUTEX, THR_COUNTER_ATOMIC,
                                      THR_COUNTER_PADDED};
    const char *names[] = {"mutex", "atomic", "padded"};
    uint64_t k = count_per_thread() / 4;
    for (size_t i = 0; i < 3; i++) {
        for (unsigned t = 1; t <= 3; t++) {
            uint64_t total = 12345;
            int rc = thr_count(kinds[i], t, k, &total);
            ck_assert_msg(rc == 0 && total == t * k,
                          "thr_count(%s, %u threads, %llu each) gave rc %d, "
                          "total %llu; expected 0 and %llu", names[i], t,
                          (unsigned long long)k, rc, (unsigned long long)total,
                          (unsigned long long)(t * k));
        }
        uint64_t total = 12345;
        ck_assert_msg(thr_count(kinds[i], 2, 0, &total) == 0 && total == 0,
                      "thr_count(%s, 2 threads, 0 each) must give 0, got %llu",
                      names[i], (unsigned long long)total);
    }
}
END_TEST

START_TEST(test_threads_counter_bad_args)
{
    uint64_t total;
    errno = 0;
    ck_assert_msg(thr_counter_create(THR_COUNTER_MUTEX, 0) == NULL &&
                  errno == EINVAL, "0 threads: expected NULL and EINVAL");
    errno = 0;
    ck_assert_msg(thr_counter_create(THR_COUNTER_PADDED,
                                     THR_MAX_THREADS + 1) == NULL &&
                  errno == EINVAL,
                  "THR_MAX_THREADS + 1 threads: expected NULL and EINVAL");
    errno = 0;
    ck_assert_msg(thr_counter_create((thr_counter_kind)42, 2) == NULL &&
                  errno == EINVAL, "unknown kind: expected NULL and EINVAL");

    thr_counter *c = thr_counter_create(THR_COUNTER_ATOMIC, 2);
    ck_assert_msg(c != NULL, "thr_counter_create(ATOMIC, 2) failed");
    errno = 0;
    ck_assert_msg(thr_counter_inc(c, 2) == -1 && errno == EINVAL,
                  "tid 2 of a 2-thread counter: expected -1 and EINVAL");
    errno = 0;
    ck_assert_msg(thr_counter_inc(NULL, 0) == -1 && errno == EINVAL,
                  "NULL counter: expected -1 and EINVAL");
    ck_assert_msg(thr_counter_total(c) == 0,
                  "failed increments must not count");
    thr_counter_destroy(c);
    ck_assert_msg(thr_counter_total(NULL) == 0, "total of NULL is 0");
    thr_counter_destroy(NULL);

    errno = 0;
    ck_assert_msg(thr_count(THR_COUNTER_MUTEX, 2, 10, NULL) == -1 &&
                  errno == EINVAL, "NULL total: expected -1 and EINVAL");
    errno = 0;
    ck_assert_msg(thr_count(THR_COUNTER_MUTEX, 0, 10, &total) == -1 &&
                  errno == EINVAL, "0 threads: expected -1 and EINVAL");
    errno = 0;
    ck_assert_msg(thr_count(THR_COUNTER_ATOMIC, 4, UINT64_MAX / 2, &total) ==
                  -1 && errno == EOVERFLOW,
                  "4 x 2^63 increments do not fit in 64 bits: expected -1 "
                  "and EOVERFLOW before starting any thread");
}
END_TEST

/* ==== Exercise 3: the bounded blocking queue =============================== */

START_TEST(test_threads_queue_fifo)
{
    thr_queue *q = thr_queue_create(4);
    ck_assert_msg(q != NULL, "thr_queue_create(4) returned NULL (errno %d)",
                  errno);
    static int v[10];
    void *got;
    /* Several rounds, so that the ring buffer wraps around. */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(thr_queue_push(q, &v[i + round]), 0);
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(thr_queue_pop(q, &got), 0);
            ck_assert_msg(got == &v[i + round],
                          "round %d: pop %d returned the wrong item: first "
                          "in, first out", round, i);
        }
    }
    ck_assert_int_eq(thr_queue_push(q, NULL), 0);
    got = &v[0];
    ck_assert_int_eq(thr_queue_pop(q, &got), 0);
    ck_assert_msg(got == NULL, "NULL is an item like any other");
    thr_queue_destroy(q);
}
END_TEST

typedef struct q_arg {
    thr_queue *q;
    void *item;
    atomic_int done;
    int rc, err;
} q_arg;

static void *push_one(void *p)
{
    q_arg *a = p;
    a->rc = thr_queue_push(a->q, a->item);
    a->err = errno;
    atomic_store(&a->done, 1);
    return NULL;
}

static void *pop_one(void *p)
{
    q_arg *a = p;
    a->rc = thr_queue_pop(a->q, &a->item);
    a->err = errno;
    atomic_store(&a->done, 1);
    return NULL;
}

START_TEST(test_threads_queue_push_blocks_when_full)
{
    static int x, y, z;
    thr_queue *q = thr_queue_create(2);
    ck_assert_msg(q != NULL, "thr_queue_create(2) returned NULL");
    ck_assert_int_eq(thr_queue_push(q, &x), 0);
    ck_assert_int_eq(thr_queue_push(q, &y), 0);
    q_arg a = {q, &z, 0, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, push_one, &a);
    /* A correct push never returns while the queue is full; 100 ms gives a
     * wrong one ample time to show itself. */
    sleep_ms(100);
    ck_assert_msg(!atomic_load(&a.done),
                  "push on a full queue returned %d instead of waiting for "
                  "room", a.rc);
    void *got;
    ck_assert_int_eq(thr_queue_pop(q, &got), 0);
    ck_assert_msg(got == &x, "the first item pushed comes out first");
    ck_assert_msg(join_within(t, 3000) == 0,
                  "a pop made room, but the blocked push never woke up: "
                  "signal not_full after a pop");
    ck_assert_msg(a.rc == 0, "the woken push failed");
    ck_assert_int_eq(thr_queue_pop(q, &got), 0);
    ck_assert_int_eq(thr_queue_pop(q, &got), 0);
    ck_assert_msg(got == &z, "the blocked push's item comes out last");
    thr_queue_destroy(q);
}
END_TEST

START_TEST(test_threads_queue_pop_blocks_when_empty)
{
    static int x;
    thr_queue *q = thr_queue_create(2);
    ck_assert_msg(q != NULL, "thr_queue_create(2) returned NULL");
    q_arg a = {q, NULL, 0, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, pop_one, &a);
    sleep_ms(100);
    ck_assert_msg(!atomic_load(&a.done),
                  "pop on an empty open queue returned %d instead of "
                  "waiting for an item", a.rc);
    ck_assert_int_eq(thr_queue_push(q, &x), 0);
    ck_assert_msg(join_within(t, 3000) == 0,
                  "an item arrived, but the blocked pop never woke up: "
                  "signal not_empty after a push");
    ck_assert_msg(a.rc == 0 && a.item == &x,
                  "the woken pop should return 0 and the pushed item");
    thr_queue_destroy(q);
}
END_TEST

START_TEST(test_threads_queue_close_wakes_consumers)
{
    enum { N = 4 };
    thr_queue *q = thr_queue_create(3);
    ck_assert_msg(q != NULL, "thr_queue_create(3) returned NULL");
    q_arg a[N];
    pthread_t t[N];
    int base = thread_count();
    for (int i = 0; i < N; i++) {
        a[i] = (q_arg){q, NULL, 0, 0, 0};
        pthread_create(&t[i], NULL, pop_one, &a[i]);
    }
    wait_threads(base + N);
    sleep_ms(50); /* let them reach the wait */
    thr_queue_close(q);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(join_within(t[i], 3000) == 0,
                      "consumer %d still waits after close(): close must wake "
                      "every waiter (broadcast, not signal)", i);
        ck_assert_msg(a[i].rc == -1 && a[i].err == EPIPE,
                      "pop on a closed empty queue: expected -1 and EPIPE, "
                      "got %d and errno %d", a[i].rc, a[i].err);
    }
    thr_queue_destroy(q);
}
END_TEST

START_TEST(test_threads_queue_close_wakes_producers)
{
    enum { N = 3 };
    static int x, items[N];
    thr_queue *q = thr_queue_create(1);
    ck_assert_msg(q != NULL, "thr_queue_create(1) returned NULL");
    ck_assert_int_eq(thr_queue_push(q, &x), 0);
    q_arg a[N];
    pthread_t t[N];
    int base = thread_count();
    for (int i = 0; i < N; i++) {
        a[i] = (q_arg){q, &items[i], 0, 0, 0};
        pthread_create(&t[i], NULL, push_one, &a[i]);
    }
    wait_threads(base + N);
    sleep_ms(50);
    thr_queue_close(q);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(join_within(t[i], 3000) == 0,
                      "producer %d still waits after close(): close must "
                      "wake producers too", i);
        ck_assert_msg(a[i].rc == -1 && a[i].err == EPIPE,
                      "a push interrupted by close: expected -1 and EPIPE, "
                      "got %d and errno %d", a[i].rc, a[i].err);
    }
    void *got;
    ck_assert_msg(thr_queue_pop(q, &got) == 0 && got == &x,
                  "the item pushed before close is still handed out");
    thr_queue_destroy(q);
}
END_TEST

START_TEST(test_threads_queue_closed_drains)
{
    static int x, y;
    thr_queue *q = thr_queue_create(4);
    ck_assert_msg(q != NULL, "thr_queue_create(4) returned NULL");
    ck_assert_int_eq(thr_queue_push(q, &x), 0);
    ck_assert_int_eq(thr_queue_push(q, &y), 0);
    thr_queue_close(q);
    thr_queue_close(q); /* twice is harmless */
    errno = 0;
    ck_assert_msg(thr_queue_push(q, &x) == -1 && errno == EPIPE,
                  "push after close: expected -1 and EPIPE");
    void *got = NULL;
    ck_assert_msg(thr_queue_pop(q, &got) == 0 && got == &x,
                  "pop after close still hands out what was queued (x)");
    ck_assert_msg(thr_queue_pop(q, &got) == 0 && got == &y,
                  "pop after close still hands out what was queued (y)");
    errno = 0;
    ck_assert_msg(thr_queue_pop(q, &got) == -1 && errno == EPIPE,
                  "pop on a closed, drained queue: expected -1 and EPIPE "
                  "at once, not a wait");
    thr_queue_destroy(q);
}
END_TEST

#define MP_PRODUCERS 3
#define MP_CONSUMERS 3

typedef struct mp_ctx {
    thr_queue *q;
    size_t per_producer;
    _Atomic unsigned *seen; /* one counter per item */
    atomic_int bad;         /* pops that returned something impossible */
} mp_ctx;

typedef struct mp_arg {
    mp_ctx *ctx;
    size_t first;
    int rc;
} mp_arg;

static void *mp_producer(void *p)
{
    mp_arg *a = p;
    for (size_t i = 0; i < a->ctx->per_producer; i++)
        if (thr_queue_push(a->ctx->q, (void *)(uintptr_t)(a->first + i + 1)) != 0)
            a->rc = -1;
    return NULL;
}

static void *mp_consumer(void *p)
{
    mp_arg *a = p;
    size_t total = a->ctx->per_producer * MP_PRODUCERS;
    void *item;
    while (thr_queue_pop(a->ctx->q, &item) == 0) {
        uintptr_t v = (uintptr_t)item;
        if (v == 0 || v > total)
            atomic_fetch_add(&a->ctx->bad, 1);
        else
            atomic_fetch_add(&a->ctx->seen[v - 1], 1);
    }
    a->rc = errno == EPIPE ? 0 : -1;
    return NULL;
}

START_TEST(test_threads_queue_mpmc_exactly_once)
{
    size_t per = under_valgrind() ? 2000 : 20000;
    size_t total = per * MP_PRODUCERS;
    mp_ctx ctx = {thr_queue_create(8), per, calloc(total, sizeof(unsigned)), 0};
    ck_assert_msg(ctx.q != NULL, "thr_queue_create(8) returned NULL");
    ck_assert_ptr_nonnull(ctx.seen);
    pthread_t pt[MP_PRODUCERS], ct[MP_CONSUMERS];
    mp_arg pa[MP_PRODUCERS], ca[MP_CONSUMERS];
    for (int i = 0; i < MP_CONSUMERS; i++) {
        ca[i] = (mp_arg){&ctx, 0, 0};
        pthread_create(&ct[i], NULL, mp_consumer, &ca[i]);
    }
    for (int i = 0; i < MP_PRODUCERS; i++) {
        pa[i] = (mp_arg){&ctx, (size_t)i * per, 0};
        pthread_create(&pt[i], NULL, mp_producer, &pa[i]);
    }
    for (int i = 0; i < MP_PRODUCERS; i++) {
        ck_assert_msg(join_within(pt[i], 8000) == 0,
                      "producer %d is stuck (a lost wake-up on not_full?)", i);
        ck_assert_msg(pa[i].rc == 0, "a push failed on an open queue");
    }
    thr_queue_close(ctx.q);
    for (int i = 0; i < MP_CONSUMERS; i++) {
        ck_assert_msg(join_within(ct[i], 3000) == 0,
                      "consumer %d is stuck after close()", i);
        ck_assert_msg(ca[i].rc == 0, "a consumer's last pop failed with "
                      "something other than EPIPE");
    }
    ck_assert_msg(atomic_load(&ctx.bad) == 0,
                  "%d pops returned an item nobody pushed (a stale slot: "
                  "wait in a while loop, not an if)", atomic_load(&ctx.bad));
    for (size_t i = 0; i < total; i++)
        ck_assert_msg(atomic_load(&ctx.seen[i]) == 1,
                      "item %zu came out %u times, expected exactly once", i + 1,
                      atomic_load(&ctx.seen[i]));
    free(ctx.seen);
    thr_queue_destroy(ctx.q);
}
END_TEST

START_TEST(test_threads_queue_bad_args)
{
    errno = 0;
    ck_assert_msg(thr_queue_create(0) == NULL && errno == EINVAL,
                  "capacity 0: expected NULL and EINVAL");
    errno = 0;
    ck_assert_msg(thr_queue_create(THR_QUEUE_MAX_CAPACITY + 1) == NULL &&
                  errno == EINVAL, "capacity too large: expected EINVAL");
    errno = 0;
    ck_assert_msg(thr_queue_create(SIZE_MAX) == NULL && errno == EINVAL,
                  "capacity SIZE_MAX: expected EINVAL, not a huge malloc");
    void *item;
    errno = 0;
    ck_assert_msg(thr_queue_push(NULL, &item) == -1 && errno == EINVAL,
                  "push on NULL: expected -1 and EINVAL");
    errno = 0;
    ck_assert_msg(thr_queue_pop(NULL, &item) == -1 && errno == EINVAL,
                  "pop on NULL: expected -1 and EINVAL");
    thr_queue *q = thr_queue_create(1);
    ck_assert_msg(q != NULL, "thr_queue_create(1) returned NULL");
    errno = 0;
    ck_assert_msg(thr_queue_pop(q, NULL) == -1 && errno == EINVAL,
                  "pop into NULL: expected -1 and EINVAL");
    thr_queue_close(NULL);
    thr_queue_destroy(NULL);
    thr_queue_destroy(q);
}
END_TEST

/* ==== Exercise 4: the GIL simulation ======================================== */

/* The test's "bytecode": each tick records who ran it, checks how many
 * ticks run at once, advances a virtual clock by TICK_NS and adds to the
 * task's result. */
#define GIL_TASKS 4
#define GIL_TICKS 150                 /* ticks per task */
#define TICK_NS 100000ull             /* virtual time per tick: 0.1 ms */
#define INTERVAL_NS 1000000ull        /* switch interval: 1 ms = 10 ticks */
#define TURN_MAX (INTERVAL_NS / TICK_NS + 1) /* longest fair turn, in ticks */

typedef struct gil_ctx {
    _Atomic uint64_t vclock;
    atomic_int inside, max_inside;
    atomic_size_t nlog;
    int log[GIL_TASKS * GIL_TICKS];
    int mode_free_wait;  /* free mode: first ticks wait for everyone inside */
    atomic_int all_inside_seen;
    int gate;            /* first tick waits until every thread exists */
    int base_threads;
    atomic_int gate_done;
} gil_ctx;

typedef struct gil_task {
    gil_ctx *ctx;
    int id;
    int ticks_left;
    uint64_t result;
} gil_task;

static uint64_t virtual_clock(void *p)
{
    return atomic_load(&((gil_ctx *)p)->vclock);
}

static void busy_us(unsigned us)
{
    uint64_t t0 = pk_now_ns();
    while (pk_now_ns() - t0 < us * 1000ull)
        ;
}

static int gil_tick(void *p)
{
    gil_task *t = p;
    gil_ctx *c = t->ctx;

    int now = atomic_fetch_add(&c->inside, 1) + 1;
    for (int m = atomic_load(&c->max_inside); now > m;)
        if (atomic_compare_exchange_weak(&c->max_inside, &m, now))
            break;

    if (c->gate && !atomic_exchange(&c->gate_done, 1)) {
        /* The very first tick: wait until all the interpreter's threads
         * exist and have had time to queue for the GIL, so that from here on
         * every unfinished task is either running or waiting. */
        wait_threads(c->base_threads + GIL_TASKS);
        sleep_ms(under_valgrind() ? 300 : 100);
    }
    if (c->mode_free_wait && t->ticks_left == GIL_TICKS) {
        /* Free mode: the first tick of each task waits until all tasks are
         * inside at once, which only parallel threads can achieve. */
        uint64_t t0 = pk_now_ns();
        while (atomic_load(&c->inside) < GIL_TASKS &&
               pk_now_ns() - t0 < WAIT_LIMIT_NS)
            sleep_ms(1);
        if (atomic_load(&c->inside) >= GIL_TASKS)
            atomic_store(&c->all_inside_seen, 1);
    }

    size_t i = atomic_fetch_add(&c->nlog, 1);
    if (i < GIL_TASKS * GIL_TICKS)
        c->log[i] = t->id;
    atomic_fetch_add(&c->vclock, TICK_NS);
    t->result = t->result * 31 + (uint64_t)t->ticks_left * (uint64_t)(t->id + 1);
    sched_yield(); /* invite another thread in, if nothing keeps it out */
    busy_us(2);
    atomic_fetch_sub(&c->inside, 1);
    return --t->ticks_left > 0;
}

static uint64_t expected_result(int id)
{
    uint64_t r = 0;
    for (int left = GIL_TICKS; left > 0; left--)
        r = r * 31 + (uint64_t)left * (uint64_t)(id + 1);
    return r;
}

/* Run the GIL_TASKS tasks in @p mode; the caller's ctx must be zeroed. */
static int run_gil(gil_ctx *ctx, gil_task *tasks, thr_gil_mode mode)
{
    void *states[GIL_TASKS];
    for (int i = 0; i < GIL_TASKS; i++) {
        tasks[i] = (gil_task){ctx, i, GIL_TICKS, 0};
        states[i] = &tasks[i];
    }
    ctx->base_threads = thread_count();
    thr_interp_config cfg = {mode, INTERVAL_NS, virtual_clock, ctx};
    return thr_interp_run(&cfg, gil_tick, states, GIL_TASKS);
}

START_TEST(test_threads_gil_same_results)
{
    static gil_ctx ctx;
    gil_task tasks[GIL_TASKS];
    const thr_gil_mode modes[] = {THR_GIL_ON, THR_GIL_FREE};
    const char *names[] = {"GIL", "free"};
    for (int m = 0; m < 2; m++) {
        memset(&ctx, 0, sizeof ctx);
        ck_assert_msg(run_gil(&ctx, tasks, modes[m]) == 0,
                      "thr_interp_run in %s mode failed (errno %d: %s)",
                      names[m], errno, strerror(errno));
        for (int i = 0; i < GIL_TASKS; i++) {
            ck_assert_msg(tasks[i].ticks_left == 0,
                          "%s mode: task %d stopped with %d ticks left: "
                          "call tick until it returns 0", names[m], i,
                          tasks[i].ticks_left);
            ck_assert_msg(tasks[i].result == expected_result(i),
                          "%s mode: task %d has the wrong result", names[m], i);
        }
    }
}
END_TEST

START_TEST(test_threads_gil_one_inside)
{
    static gil_ctx ctx;
    gil_task tasks[GIL_TASKS];
    memset(&ctx, 0, sizeof ctx);
    ck_assert_msg(run_gil(&ctx, tasks, THR_GIL_ON) == 0,
                  "thr_interp_run failed (errno %d)", errno);
    ck_assert_msg(atomic_load(&ctx.max_inside) == 1,
                  "in GIL mode %d ticks ran at the same time; at most one "
                  "thread may be inside the interpreter",
                  atomic_load(&ctx.max_inside));
}
END_TEST

START_TEST(test_threads_gil_switch_interval)
{
    static gil_ctx ctx;
    gil_task tasks[GIL_TASKS];
    memset(&ctx, 0, sizeof ctx);
    ctx.gate = 1;
    ck_assert_msg(run_gil(&ctx, tasks, THR_GIL_ON) == 0,
                  "thr_interp_run failed (errno %d)", errno);
    size_t n = atomic_load(&ctx.nlog);
    ck_assert_uint_eq(n, GIL_TASKS * GIL_TICKS);

    /* last[i]: index of task i's final tick. */
    size_t last[GIL_TASKS] = {0};
    for (size_t i = 0; i < n; i++)
        last[ctx.log[i]] = i;
    /* Walk the turns (runs of ticks by one thread). While another task
     * still has work (it waits: the gate made sure every thread queued),
     * a turn may last one switch interval, TURN_MAX ticks at most. */
    size_t turns = 0;
    for (size_t s = 0; s < n;) {
        size_t e = s;
        while (e < n && ctx.log[e] == ctx.log[s])
            e++;
        turns++;
        int others_waiting = 0;
        for (int k = 0; k < GIL_TASKS; k++)
            if (k != ctx.log[s] && last[k] > s)
                others_waiting = 1;
        /* The first turn is exempt: it began before the others queued. */
        ck_assert_msg(s == 0 || !others_waiting || e - s <= TURN_MAX,
                      "task %d held the GIL for %zu ticks (%.1f ms of the "
                      "virtual clock) while others waited; the switch "
                      "interval is %.1f ms: after each tick, read the "
                      "config's clock and hand the GIL on when the interval "
                      "is up", ctx.log[s], e - s,
                      (double)(e - s) * TICK_NS / 1e6, INTERVAL_NS / 1e6);
        /* A turn handed over while its task still had work must have
         * lasted the interval (one tick of slack for <= against <). */
        int handed_over = e < n && last[ctx.log[s]] > e;
        ck_assert_msg(!handed_over || e - s + 1 >= TURN_MAX - 1,
                      "task %d handed the GIL over after %zu ticks (%.1f ms "
                      "virtual), before its %.1f ms switch interval was up: "
                      "keep it until cfg->clock_ns() - start >= interval",
                      ctx.log[s], e - s, (double)(e - s) * TICK_NS / 1e6,
                      INTERVAL_NS / 1e6);
        s = e;
    }
    ck_assert_msg(turns > GIL_TASKS,
                  "only %zu turns for %d tasks: the GIL never changed hands "
                  "in the middle of a task", turns, GIL_TASKS);
}
END_TEST

START_TEST(test_threads_gil_no_starvation)
{
    static gil_ctx ctx;
    gil_task tasks[GIL_TASKS];
    memset(&ctx, 0, sizeof ctx);
    ctx.gate = 1;
    ck_assert_msg(run_gil(&ctx, tasks, THR_GIL_ON) == 0,
                  "thr_interp_run failed (errno %d)", errno);
    size_t n = atomic_load(&ctx.nlog);
    ck_assert_uint_eq(n, GIL_TASKS * GIL_TICKS);

    /* With first-come first-served hand-offs, a waiting task gets the GIL
     * back after at most T-1 turns of the others, each at most TURN_MAX
     * ticks: that bounds the ticks between two of its own ticks (and before
     * its first). */
    const size_t bound = (GIL_TASKS - 1) * TURN_MAX;
    size_t prev[GIL_TASKS];
    for (int k = 0; k < GIL_TASKS; k++)
        prev[k] = SIZE_MAX; /* "before the start" */
    for (size_t i = 0; i < n; i++) {
        int k = ctx.log[i];
        size_t gap = prev[k] == SIZE_MAX ? i : i - prev[k] - 1;
        ck_assert_msg(gap <= bound,
                      "task %d waited %zu ticks of other tasks (%.1f ms "
                      "virtual) for the GIL; with %d tasks and a %.1f ms "
                      "interval no wait should exceed %zu ticks: hand the GIL "
                      "to waiters in the order they asked (a ticket lock)",
                      k, gap, (double)gap * TICK_NS / 1e6, GIL_TASKS,
                      INTERVAL_NS / 1e6, bound);
        prev[k] = i;
    }
}
END_TEST

START_TEST(test_threads_free_mode_parallel)
{
    static gil_ctx ctx;
    gil_task tasks[GIL_TASKS];
    memset(&ctx, 0, sizeof ctx);
    ctx.mode_free_wait = 1;
    ck_assert_msg(run_gil(&ctx, tasks, THR_GIL_FREE) == 0,
                  "thr_interp_run in free mode failed (errno %d)", errno);
    ck_assert_msg(atomic_load(&ctx.all_inside_seen),
                  "in free mode all %d tasks should be able to run a tick at "
                  "the same moment (max seen at once: %d): take no lock",
                  GIL_TASKS, atomic_load(&ctx.max_inside));
    for (int i = 0; i < GIL_TASKS; i++)
        ck_assert_msg(tasks[i].result == expected_result(i),
                      "free mode: task %d has the wrong result", i);
}
END_TEST

static int never_called(void *p)
{
    (*(int *)p)++;
    return 0;
}

START_TEST(test_threads_interp_bad_args)
{
    int calls = 0;
    void *states[1] = {&calls};
    thr_interp_config bad = {(thr_gil_mode)7, 0, NULL, NULL};
    errno = 0;
    ck_assert_msg(thr_interp_run(NULL, NULL, states, 1) == -1 &&
                  errno == EINVAL, "NULL tick: expected -1 and EINVAL");
    errno = 0;
    ck_assert_msg(thr_interp_run(NULL, never_called, NULL, 1) == -1 &&
                  errno == EINVAL, "NULL states: expected -1 and EINVAL");
    errno = 0;
    ck_assert_msg(thr_interp_run(NULL, never_called, states, 0) == -1 &&
                  errno == EINVAL, "0 tasks: expected -1 and EINVAL");
    errno = 0;
    ck_assert_msg(thr_interp_run(NULL, never_called, states,
                                 THR_MAX_THREADS + 1) == -1 && errno == EINVAL,
                  "THR_MAX_THREADS + 1 tasks: expected -1 and EINVAL");
    errno = 0;
    ck_assert_msg(thr_interp_run(&bad, never_called, states, 1) == -1 &&
                  errno == EINVAL, "unknown mode: expected -1 and EINVAL");
    ck_assert_msg(calls == 0, "tick ran for bad arguments");
    /* NULL config: GIL mode with the defaults; one task of one tick. */
    ck_assert_msg(thr_interp_run(NULL, never_called, states, 1) == 0 &&
                  calls == 1, "a NULL config means the defaults: expected 0 "
                  "and exactly one tick");
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("01-threads");

    /* Exercise 1 */
    pk_test_add(s, test_threads_fan_out_results, 1,
                "one thread per input; thread i computes task(in[i]) into "
                "out[i]; join them all before returning");
    pk_test_add(s, test_threads_fan_out_input_order, 1,
                "give each thread the address of its own result slot, do not "
                "append results as they come in");
    pk_test_add(s, test_threads_fan_out_each_input_once, 1,
                "pass each thread a pointer to its own argument struct, "
                "never &i: i has moved on when the thread reads it");
    pk_test_add(s, test_threads_fan_out_concurrent, 1,
                "start all the threads in one loop, join them in a second "
                "loop");
    pk_test_add(s, test_threads_fan_out_create_failure, 2,
                "when create() fails, stop creating, join every thread "
                "already started, then return -1 with errno = its error");
    pk_test_add(s, test_threads_fan_out_real_create_failure, 1,
                "pthread_create returns the error number (it does not set "
                "errno): copy it into errno after joining");
    pk_test_add(s, test_threads_fan_out_bad_args, 1,
                "check task, in, out and 1 <= n <= THR_MAX_THREADS first");
    /* Exercise 2 */
    pk_test_add(s, test_threads_counter_mutex_exact, 1,
                "lock the mutex around the increment, every time");
    pk_test_add(s, test_threads_counter_atomic_exact, 1,
                "atomic_fetch_add on an _Atomic uint64_t");
    pk_test_add(s, test_threads_counter_padded_exact, 1,
                "each tid increments its own slot; total() sums them");
    pk_test_add(s, test_threads_counter_padded_per_thread, 1,
                "zero every slot at create; total() adds all nthreads slots");
    pk_test_add(s, test_threads_count_runs_threads, 1,
                "thr_count: create the counter, start nthreads threads that "
                "each call thr_counter_inc(c, i) per_thread times, join, "
                "read the total, destroy");
    pk_test_add(s, test_threads_counter_bad_args, 1,
                "validate kind, nthreads and tid; check per_thread * nthreads "
                "for overflow before starting threads");
    /* Exercise 3 */
    pk_test_add(s, test_threads_queue_fifo, 1,
                "a ring buffer: head, count, items[(head + count) % capacity]");
    pk_test_add(s, test_threads_queue_push_blocks_when_full, 1,
                "push waits on not_full in a while loop; pop signals not_full");
    pk_test_add(s, test_threads_queue_pop_blocks_when_empty, 1,
                "pop waits on not_empty in a while loop; push signals "
                "not_empty");
    pk_test_add(s, test_threads_queue_close_wakes_consumers, 1,
                "close sets the flag under the mutex and broadcasts both "
                "condition variables; pop's loop also stops when closed");
    pk_test_add(s, test_threads_queue_close_wakes_producers, 1,
                "push's wait loop must also end when the queue is closed, "
                "and then fail with EPIPE");
    pk_test_add(s, test_threads_queue_closed_drains, 1,
                "after close: push fails; pop returns what is left, then "
                "-1 with EPIPE");
    pk_test_add(s, test_threads_queue_mpmc_exactly_once, 2,
                "re-check the condition after every wake-up (while, not if) "
                "and touch the buffer only with the mutex held");
    pk_test_add(s, test_threads_queue_bad_args, 1,
                "check capacity (1 .. THR_QUEUE_MAX_CAPACITY) and NULL "
                "pointers before anything else");
    /* Exercise 4 */
    pk_test_add(s, test_threads_gil_same_results, 1,
                "each thread calls tick(states[i]) until it returns 0; in "
                "GIL mode only while holding the GIL");
    pk_test_add(s, test_threads_gil_one_inside, 2,
                "acquire the GIL before the first tick and keep it around "
                "every tick; release it only to hand it on or when done");
    pk_test_add(s, test_threads_gil_switch_interval, 2,
                "after each tick: if cfg->clock_ns says the switch interval "
                "has passed since you got the GIL and someone waits, hand "
                "it on (not earlier, not much later)");
    pk_test_add(s, test_threads_gil_no_starvation, 2,
                "a ticket lock (next_ticket, now_serving) serves waiters in "
                "arrival order; a thread that hands over takes a new ticket");
    pk_test_add(s, test_threads_free_mode_parallel, 1,
                "in THR_GIL_FREE mode the threads call tick with no lock");
    pk_test_add(s, test_threads_interp_bad_args, 1,
                "check tick, states, ntasks and the mode; NULL cfg means GIL "
                "mode with THR_DEFAULT_SWITCH_NS");
    return s;
}
