/* check_ring.c - graded tests for chapter 01's exercise 5: the lock-free
 * single-producer single-consumer ring (threads.h, ring.c).
 *
 * The memory-ordering test cannot be a stress test: on x86-64 a ring with
 * memory_order_relaxed works by luck in practically every run. It runs the
 * helper program `race` (tests/01-threads/race/), which is the student's
 * code compiled with -fsanitize=thread and checked by a happens-before
 * detector of our own (hb.c says why TSan's run-time cannot do it under
 * the grader). This file also holds run_race_helper(), which the counter
 * test of check_threads.c shares. The detector decides from the memory orders the code asks
 * for, not from what the hardware happened to do: against the mutants
 * ring-relaxed-publish, ring-relaxed-consume, ring-relaxed-free and
 * ring-relaxed-room it reported the race in 100 runs of 100 (at the first
 * value that crossed between the threads, in every run), and against
 * ring-free-before-read in 100 runs of 100 (there the race needs the
 * producer to reach the freed slot, which it did some thousand times per
 * run); the reference solution passed 100 runs of 100. All measured with
 * the machine loaded by other work (11 to 14 runnable processes on its
 * two cores).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pk/proc.h"
#include "pk/timing.h"
#include "pk_check.h"
#include "threads.h"
#include "threads_test.h"

extern char **environ;

/* thr_ring_init(r, capacity), failing the test with a message if it fails. */
static void init_ring(thr_ring *r, size_t capacity)
{
    errno = 0;
    int rc = thr_ring_init(r, capacity);
    ck_assert_msg(rc == 0, "thr_ring_init(&r, %zu) returned %d (errno = %s), "
                  "expected 0", capacity, rc, pk_errno_name(errno));
}

/* Fill a ring of @p cap from empty, check it refuses one more, empty it in
 * order, check it refuses one less; several rounds, so that the indices
 * wrap around the slots. */
static void check_fifo(size_t cap)
{
    thr_ring r;
    init_ring(&r, cap);
    uint64_t next_in = 1, next_out = 1, v = 0;
    PK_EXPECT_ERRNO("thr_ring_pop(&r, &v) on a new ring", thr_ring_pop(&r, &v),
                    EAGAIN);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < cap; i++) {
            errno = 0;
            int rc = thr_ring_push(&r, next_in);
            ck_assert_msg(rc == 0, "thr_ring_push(&r, %llu) returned %d "
                          "(errno = %s) with %zu of %zu slots used, expected "
                          "0", (unsigned long long)next_in, rc,
                          pk_errno_name(errno), i, cap);
            next_in++;
        }
        errno = 0;
        int rc = thr_ring_push(&r, next_in);
        ck_assert_msg(rc == -1 && errno == EAGAIN,
                      "thr_ring_push(&r, %llu) on a full ring of %zu slots "
                      "returned %d (errno = %s), expected -1 with errno = "
                      "EAGAIN: full is tail - head == capacity",
                      (unsigned long long)next_in, cap, rc,
                      pk_errno_name(errno));
        for (size_t i = 0; i < cap; i++) {
            errno = 0;
            v = 0;
            rc = thr_ring_pop(&r, &v);
            ck_assert_msg(rc == 0 && v == next_out,
                          "thr_ring_pop(&r, &v) returned %d (errno = %s) "
                          "with v = %llu, expected 0 with v = %llu (round %d "
                          "of a ring of %zu slots: first in, first out)", rc,
                          pk_errno_name(errno), (unsigned long long)v,
                          (unsigned long long)next_out, round, cap);
            next_out++;
        }
        PK_EXPECT_ERRNO("thr_ring_pop(&r, &v) on a ring just emptied",
                        thr_ring_pop(&r, &v), EAGAIN);
    }
    /* Half full, then interleaved: push two, pop one. */
    for (int i = 0; i < 100; i++) {
        if (thr_ring_push(&r, next_in) == 0)
            next_in++;
        if (thr_ring_push(&r, next_in) == 0)
            next_in++;
        errno = 0;
        int rc = thr_ring_pop(&r, &v);
        ck_assert_msg(rc == 0 && v == next_out,
                      "thr_ring_pop(&r, &v) returned %d (errno = %s) with v "
                      "= %llu, expected 0 with v = %llu (pushing two, "
                      "popping one, capacity %zu)", rc, pk_errno_name(errno),
                      (unsigned long long)v, (unsigned long long)next_out,
                      cap);
        next_out++;
    }
    thr_ring_destroy(&r);
    ck_assert_msg(r.slots == NULL, "thr_ring_destroy(&r) left r.slots = %p, "
                  "expected NULL (free them and forget them)",
                  (void *)r.slots);
}

START_TEST(test_threads_ring_fifo)
{
    check_fifo(4);
    check_fifo(1);
    check_fifo(64);
}
END_TEST

START_TEST(test_threads_ring_bad_args)
{
    static const size_t bad_caps[] = {0, 3, 6, 100, THR_RING_MAX_CAPACITY * 2,
                                      SIZE_MAX};
    static const char *names[] = {"0", "3", "6", "100",
                                  "THR_RING_MAX_CAPACITY * 2", "SIZE_MAX"};
    for (size_t i = 0; i < sizeof bad_caps / sizeof bad_caps[0]; i++) {
        thr_ring r;
        r.slots = (uint64_t *)&r; /* garbage that init must overwrite */
        char what[96];
        snprintf(what, sizeof what, "thr_ring_init(&r, %s)", names[i]);
        PK_EXPECT_EINVAL(thr_ring_init(&r, bad_caps[i]), what);
        ck_assert_msg(r.slots == NULL, "%s failed but left r.slots = %p, "
                      "expected NULL, so that thr_ring_destroy(&r) is "
                      "harmless", what, (void *)r.slots);
        thr_ring_destroy(&r);
    }
    PK_EXPECT_EINVAL(thr_ring_init(NULL, 8), "thr_ring_init(NULL, 8)");
    thr_ring r;
    init_ring(&r, 8);
    uint64_t v;
    PK_EXPECT_EINVAL(thr_ring_push(NULL, 1), "thr_ring_push(NULL, 1)");
    PK_EXPECT_EINVAL(thr_ring_pop(NULL, &v), "thr_ring_pop(NULL, &v)");
    PK_EXPECT_EINVAL(thr_ring_pop(&r, NULL), "thr_ring_pop(&r, NULL)");
    thr_ring_destroy(&r);
    thr_ring_destroy(NULL);
}
END_TEST

/* ---- two threads, for real ------------------------------------------------ */

typedef struct spsc {
    thr_ring ring;
    uint64_t n;
    int rc, err;        /* producer: the first failure */
    uint64_t bad_at;    /* consumer: the first wrong value, its number */
    uint64_t bad_value;
    int bad;
} spsc;

/* Value number i: never 0, never the same twice. */
static uint64_t value_of(uint64_t i)
{
    return (i + 1) * 0x9E3779B97F4A7C15ull | 1;
}

/* Each side gives up when the other has not moved for WAIT_LIMIT_NS. */
static void *spsc_producer(void *p)
{
    spsc *t = p;
    for (uint64_t i = 0; i < t->n; i++) {
        uint64_t t0 = pk_now_ns();
        while (thr_ring_push(&t->ring, value_of(i)) != 0) {
            if (errno != EAGAIN || pk_now_ns() - t0 > WAIT_LIMIT_NS) {
                t->rc = -1;
                t->err = errno;
                return NULL;
            }
            sched_yield();
        }
    }
    return NULL;
}

static void *spsc_consumer(void *p)
{
    spsc *t = p;
    for (uint64_t i = 0; i < t->n; i++) {
        uint64_t v, t0 = pk_now_ns();
        while (thr_ring_pop(&t->ring, &v) != 0) {
            if (errno != EAGAIN || pk_now_ns() - t0 > WAIT_LIMIT_NS) {
                t->bad = 2;
                t->bad_at = i;
                t->err = errno;
                return NULL;
            }
            sched_yield();
        }
        if (v != value_of(i) && !t->bad) {
            t->bad = 1;
            t->bad_at = i;
            t->bad_value = v;
        }
    }
    return NULL;
}

/* A producer and a consumer thread move 200,000 values through 16 slots:
 * the values must come out once each, in order (a wrong full or empty
 * test, an index that wraps wrongly, a slot freed before it is read). */
START_TEST(test_threads_ring_two_threads)
{
    static spsc t;
    memset(&t, 0, sizeof t);
    t.n = under_valgrind() ? 20000 : 200000;
    init_ring(&t.ring, 16);
    pthread_t pt, ct;
    ck_assert_msg(pthread_create(&ct, NULL, spsc_consumer, &t) == 0 &&
                  pthread_create(&pt, NULL, spsc_producer, &t) == 0,
                  "pthread_create failed (the test could not start its "
                  "threads)");
    pthread_join(pt, NULL);
    pthread_join(ct, NULL);
    ck_assert_msg(t.rc == 0, "thr_ring_push(&r, v) returned -1 with errno = "
                  "%s (producer thread, ring of 16), expected 0, or EAGAIN "
                  "for at most 3 s in a row while the consumer catches up",
                  pk_errno_name(t.err));
    ck_assert_msg(t.bad != 2, "thr_ring_pop(&r, &v) returned -1 with errno = "
                  "%s at value #%llu of %llu (consumer thread, ring of 16), "
                  "expected 0, or EAGAIN for at most 3 s in a row while the "
                  "producer catches up", pk_errno_name(t.err),
                  (unsigned long long)t.bad_at, (unsigned long long)t.n);
    ck_assert_msg(t.bad == 0, "thr_ring_pop(&r, &v) on the consumer thread "
                  "gave v = %#llx as value #%llu, expected %#llx: each value "
                  "comes out once, in the order pushed (ring of 16, %llu "
                  "values)", (unsigned long long)t.bad_value,
                  (unsigned long long)t.bad_at,
                  (unsigned long long)value_of(t.bad_at),
                  (unsigned long long)t.n);
    thr_ring_destroy(&t.ring);
}
END_TEST

/* ---- the memory orders, under the happens-before detector ------------------ */

#if defined(__SANITIZE_ADDRESS__)
#define RING_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RING_UNDER_ASAN 1
#endif
#endif
#ifndef RING_UNDER_ASAN
#define RING_UNDER_ASAN 0
#endif

#define HELPER_LIMIT_MS 8000 /* the helper gives up by itself after 5 s */

/* Run the program argv[0] with @p argv; its first output line into
 * @p line. Returns its exit status (0..255), or -1 with @p line saying what
 * went wrong. */
static int run_helper(char *const argv[], char *line, size_t len)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(line, len, "pipe failed: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(line, len, "could not start %s: %s", argv[0], strerror(rc));
        return -1;
    }
    size_t used = 0;
    uint64_t t0 = pk_now_ns();
    for (;;) {
        uint64_t waited = (pk_now_ns() - t0) / 1000000;
        if (waited >= HELPER_LIMIT_MS) {
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        if (poll(&pfd, 1, (int)(HELPER_LIMIT_MS - waited)) <= 0)
            continue;
        ssize_t k = read(fds[0], line + used, len - 1 - used);
        if (k <= 0)
            break;
        used += (size_t)k;
        if (used == len - 1)
            break;
    }
    close(fds[0]);
    line[used] = '\0';
    line[strcspn(line, "\n")] = '\0';
    int st;
    if (pk_waitpid(pid, &st, 0) != pid) {
        snprintf(line, len, "waitpid failed: %s", strerror(errno));
        return -1;
    }
    if (WIFSIGNALED(st)) {
        snprintf(line + strlen(line), len - strlen(line),
                 "%s%s stopped by signal %d%s", used ? "; " : "", argv[0],
                 WTERMSIG(st), WTERMSIG(st) == SIGKILL ? " (it ran too long)" : "");
        return -1;
    }
    return WEXITSTATUS(st);
}

int run_race_helper(const char *a1, const char *a2, const char *a3,
                    char *line, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/race", PK_AUX_DIR);
    char *argv[] = {path, (char *)a1, (char *)a2, (char *)a3, NULL};
    int st = run_helper(argv, line, len);
    if (RING_UNDER_ASAN && strncmp(line, "UNINSTRUMENTED", 14) == 0)
        return 0; /* make sanitize's ASan pass: the helper cannot have
                     TSan's instrumentation too; the TSan pass runs it */
    return st == 0 && strncmp(line, "OK", 2) == 0 ? 0 : -1;
}

/* Run the helper on a ring of @p cap slots with @p n values. */
static void check_orders(size_t cap, unsigned n)
{
    char caps[32], ns[32], line[2048];
    snprintf(caps, sizeof caps, "%zu", cap);
    snprintf(ns, sizeof ns, "%u", n);
    int rc = run_race_helper("ring", caps, ns, line, sizeof line);
    ck_assert_msg(rc == 0, "one producer and one consumer thread moved %u "
                  "values through thr_ring_init(&r, %zu) under the "
                  "happens-before detector: %s", n, cap,
                  line[0] ? line : "(no output)");
}

START_TEST(test_threads_ring_acquire_release)
{
    check_orders(8, 20000);
    check_orders(2, 5000);
}
END_TEST

void add_ring_tests(Suite *s)
{
    pk_test_add_timeout(s, test_threads_ring_fifo, 1, 2,
                        "free-running head and tail: the ring holds tail - "
                        "head values, the oldest in slots[head & mask]; full "
                        "when tail - head == capacity");
    pk_test_add_timeout(s, test_threads_ring_bad_args, 1, 2,
                        "capacity must be a power of two from 1 to "
                        "THR_RING_MAX_CAPACITY; set r->slots = NULL before "
                        "any check that can fail");
    pk_test_add_timeout(s, test_threads_ring_two_threads, 1, 10,
                        "only the producer stores tail, only the consumer "
                        "head; read the slot before you store the new head");
    pk_test_add_timeout(s, test_threads_ring_acquire_release, 2, 20,
                        "push: write the slot, then store tail with "
                        "memory_order_release; pop: load tail with "
                        "memory_order_acquire, then read the slot (and the "
                        "same pair on head, the other way)");
}
