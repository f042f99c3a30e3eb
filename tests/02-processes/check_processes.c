/* check_processes.c - graded tests for chapter 02 (processes.h).
 *
 * Every test that forks ends by checking that no child is left behind:
 * waitpid(-1, NULL, WNOHANG) must fail with ECHILD. The tests run in Check's
 * fork mode, one per process in no-fork mode (make grade), under valgrind and
 * under the sanitizers; the few time bounds are loose and only catch hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pk/timing.h"
#include "pk_check.h"
#include "processes.h"

#define MILLION 1000000u
#define FOREVER_MS 20000 /* "never ends": long past any test's timeout */

/* ---- helpers ------------------------------------------------------------ */

static int under_valgrind(void)
{
    const char *v = getenv("PK_UNDER_VALGRIND");
    return v != NULL && *v == '1';
}

/* Sizes shrink under valgrind, where every fork and every call is slow. */
static size_t scaled(size_t n, size_t valgrind_n)
{
    return under_valgrind() ? valgrind_n : n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* In a child the test forks itself: die with the test process, so that a
 * failing test (on the skeleton, say) leaves no orphan running. */
static void die_with_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0);
}

/* The contract of every function here: nothing is left to reap. */
static void assert_no_children(const char *after)
{
    errno = 0;
    pid_t p = waitpid(-1, NULL, WNOHANG);
    int e = errno;
    if (p > 0) /* reap the zombies so the next test starts clean */
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    ck_assert_msg(p == -1 && e == ECHILD,
                  "after %s a child process is still there (waitpid(-1, "
                  "WNOHANG) returned %d): every fork() needs its waitpid(), "
                  "or it stays a zombie (or keeps running)", after, (int)p);
}

/* Die by a signal even under ASan or TSan, whose SIGSEGV handlers would
 * otherwise turn the crash into exit(1): restore the default action first. */
_Noreturn static void die_by_signal(int sig)
{
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(99); /* not reached */
}

/* A shared counter the children can bump: MAP_SHARED survives fork. */
static atomic_size_t *shared_counters(size_t k)
{
    void *m = mmap(NULL, k * sizeof(atomic_size_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_msg(m != MAP_FAILED, "test setup: mmap failed");
    atomic_size_t *c = m;
    for (size_t i = 0; i < k; i++)
        atomic_init(&c[i], 0);
    return c;
}

/* ---- the map functions the tests use ------------------------------------- */

/* out = in * in + 1, on uint64_t. */
static void square_plus_one(const void *in, void *out, void *ctx)
{
    (void)ctx;
    uint64_t x = *(const uint64_t *)in;
    *(uint64_t *)out = x * x + 1;
}

static void write_pid(const void *in, void *out, void *ctx)
{
    (void)in, (void)ctx;
    *(int64_t *)out = (int64_t)getpid();
}

/* ctx is a struct Python could not pickle: a function pointer and a pointer
 * into the parent's stack. After fork both are valid in the child. */
typedef struct closure {
    uint64_t (*op)(uint64_t, uint64_t);
    const uint64_t *offsets; /* points into the test's stack frame */
    size_t noffsets;
} closure;

static uint64_t add_u64(uint64_t a, uint64_t b)
{
    return a + b;
}

static void apply_closure(const void *in, void *out, void *ctx)
{
    const closure *c = ctx;
    uint64_t x = *(const uint64_t *)in;
    *(uint64_t *)out = c->op(x, c->offsets[x % c->noffsets]);
}

/* ctx points at a counter in shared memory: counts calls in any process. */
static void count_call(const void *in, void *out, void *ctx)
{
    atomic_fetch_add((atomic_size_t *)ctx, 1);
    square_plus_one(in, out, NULL);
}

/* ctx points at a counter in the parent's ordinary memory. */
static void bump_ctx(const void *in, void *out, void *ctx)
{
    (*(int *)ctx)++;
    square_plus_one(in, out, NULL);
}

/* Items named in a crash plan fail: by a signal or by exit(code). */
typedef struct crash_plan {
    uint64_t segv_item;  /* UINT64_MAX: none */
    uint64_t exit_item;  /* UINT64_MAX: none */
    int exit_code;
    long slow_ms;        /* every other item sleeps this long */
} crash_plan;

static void crash_on_plan(const void *in, void *out, void *ctx)
{
    const crash_plan *p = ctx;
    uint64_t x = *(const uint64_t *)in;
    if (x == p->segv_item)
        die_by_signal(SIGSEGV);
    if (x == p->exit_item)
        exit(p->exit_code); /* exit(), as a careless task would */
    if (p->slow_ms > 0)
        sleep_ms(p->slow_ms);
    *(uint64_t *)out = x * x + 1;
}

static uint64_t *iota(size_t n)
{
    uint64_t *a = malloc((n ? n : 1) * sizeof *a);
    ck_assert_msg(a != NULL, "test setup: out of memory");
    for (size_t i = 0; i < n; i++)
        a[i] = i;
    return a;
}

/* Text written to a stdio stream but not yet flushed lives in a buffer in the
 * parent's memory; every child gets a copy. Returns how many times `line`
 * ended up in the file after `run` forked its children. */
static int copies_after_fork(void (*run)(void))
{
    FILE *f = tmpfile();
    ck_assert_msg(f != NULL, "test setup: tmpfile failed");
    static const char line[] = "written before the fork\n";
    fputs(line, f); /* stays in f's buffer: nothing flushed it yet */
    run();
    fflush(f);
    rewind(f);
    char buf[256];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    int copies = 0;
    for (const char *p = buf; (p = strstr(p, line)) != NULL; p += strlen(line))
        copies++;
    return copies;
}

static void run_each_three(void)
{
    uint64_t in[3] = {1, 2, 3}, out[3];
    ck_assert_int_eq(proc_run_each(in, 3, sizeof *in, out, sizeof *out,
                                   square_plus_one, NULL, 3, NULL), 0);
}

static void map_three(void)
{
    uint64_t in[3] = {1, 2, 3}, out[3];
    ck_assert_int_eq(proc_map(2, in, 3, sizeof *in, out, sizeof *out,
                              square_plus_one, NULL, 1, NULL), 0);
}

/* ======================================================================
 * Exercise 1a: proc_decode_status
 * ====================================================================== */

/* Fork a child that does `what`, reap it, return its raw wait status. */
static int status_of_child(int exit_code, int sig)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "test setup: fork failed");
    if (pid == 0) {
        die_with_parent(parent);
        if (sig != 0)
            die_by_signal(sig);
        _exit(exit_code);
    }
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    return ws;
}

START_TEST(test_processes_decode_exit)
{
    const int codes[] = {0, 3, 255};
    for (size_t i = 0; i < 3; i++) {
        int ws = status_of_child(codes[i], 0);
        proc_status st = {PROC_NOT_RUN, -1, 7};
        ck_assert_msg(proc_decode_status(ws, &st) == 0,
                      "decoding the status of a child that called _exit(%d) "
                      "failed", codes[i]);
        ck_assert_msg(st.end == PROC_EXITED && st.code == codes[i],
                      "a child that called _exit(%d) should decode as "
                      "PROC_EXITED with code %d, got end %d code %d",
                      codes[i], codes[i], (int)st.end, st.code);
        ck_assert_msg(st.complete == 0, "proc_decode_status must set "
                      "complete to 0: a wait status says nothing of results");
    }
    assert_no_children("the test's own children");
}
END_TEST

START_TEST(test_processes_decode_signal)
{
    const int sigs[] = {SIGSEGV, SIGKILL, SIGTERM};
    for (size_t i = 0; i < 3; i++) {
        int ws = status_of_child(0, sigs[i]);
        proc_status st = {PROC_NOT_RUN, -1, 0};
        ck_assert_int_eq(proc_decode_status(ws, &st), 0);
        ck_assert_msg(st.end == PROC_KILLED && st.code == sigs[i],
                      "a child killed by signal %d (%s) should decode as "
                      "PROC_KILLED with code %d, got end %d code %d "
                      "(did you read WEXITSTATUS of a signalled child?)",
                      sigs[i], strsignal(sigs[i]), sigs[i], (int)st.end,
                      st.code);
    }
    assert_no_children("the test's own children");
}
END_TEST

START_TEST(test_processes_decode_bad_args)
{
    /* A stopped child is alive: its status is not an ending. */
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        die_with_parent(parent);
        sleep_ms(FOREVER_MS);
        _exit(0);
    }
    kill(pid, SIGSTOP);
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, WUNTRACED), pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    proc_status st;
    errno = 0;
    ck_assert_msg(proc_decode_status(ws, &st) == -1 && errno == EINVAL,
                  "the status of a stopped child (WIFSTOPPED) must give -1 "
                  "with EINVAL: it neither exited nor was killed");
    int ok = status_of_child(0, 0);
    errno = 0;
    ck_assert_msg(proc_decode_status(ok, NULL) == -1 && errno == EINVAL,
                  "out == NULL must give -1 with errno EINVAL");
    assert_no_children("the test's own children");
}
END_TEST

/* ======================================================================
 * Exercise 1b: proc_run_each
 * ====================================================================== */

static void check_run_each_n(size_t n, size_t max_running)
{
    uint64_t *in = iota(n), *out = calloc(n, sizeof *out);
    proc_status *st = calloc(n, sizeof *st);
    ck_assert(out != NULL && st != NULL);

    int rc = proc_run_each(in, n, sizeof *in, out, sizeof *out,
                           square_plus_one, NULL, max_running, st);
    ck_assert_msg(rc == 0, "proc_run_each over %zu tasks (%zu at a time) "
                  "returned %d, errno %d (%s)", n, max_running, rc, errno,
                  strerror(errno));
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(out[i] == i * i + 1,
                      "n = %zu: result %zu is %llu, expected %llu: results "
                      "go to out + i * out_size, in input order", n, i,
                      (unsigned long long)out[i],
                      (unsigned long long)(i * i + 1));
        ck_assert_msg(st[i].end == PROC_EXITED && st[i].code == 0 &&
                          st[i].complete == 1,
                      "n = %zu: status of task %zu should be exited 0, "
                      "complete; got end %d code %d complete %d", n, i,
                      (int)st[i].end, st[i].code, st[i].complete);
    }
    free(in);
    free(out);
    free(st);
    assert_no_children("proc_run_each");
}

START_TEST(test_processes_run_each_results)
{
    check_run_each_n(1, 1);
    check_run_each_n(7, 2);
    check_run_each_n(7, 100); /* more slots than tasks */
    check_run_each_n(scaled(1000, 60), 4);
}
END_TEST

START_TEST(test_processes_run_each_zero)
{
    atomic_size_t *calls = shared_counters(1);
    uint64_t in[1] = {5}, out[1] = {42};
    ck_assert_msg(proc_run_each(in, 0, sizeof *in, out, sizeof *out,
                                count_call, calls, 2, NULL) == 0,
                  "n = 0 is an empty map, not an error: return 0");
    ck_assert_msg(out[0] == 42, "n = 0 must not write to out");
    ck_assert_msg(atomic_load(calls) == 0, "n = 0: fn must not be called");
    munmap(calls, sizeof *calls);
    assert_no_children("proc_run_each with n = 0");
}
END_TEST

START_TEST(test_processes_run_each_in_children)
{
    enum { N = 6 };
    uint64_t in[N] = {0};
    int64_t out[N] = {0};
    ck_assert_int_eq(proc_run_each(in, N, sizeof *in, out, sizeof *out,
                                   write_pid, NULL, 3, NULL), 0);
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(out[i] != 0 && out[i] != (int64_t)getpid(),
                      "task %zu ran in the parent (pid %lld): each task "
                      "must run in a fork()ed child", i, (long long)out[i]);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(out[i] != out[j],
                          "tasks %zu and %zu ran in the same process %lld: "
                          "one child per task", j, i, (long long)out[i]);
    }
    assert_no_children("proc_run_each");
}
END_TEST

START_TEST(test_processes_run_each_status)
{
    enum { N = 7 };
    uint64_t *in = iota(N), out[N];
    proc_status st[N];
    memset(out, 0, sizeof out);
    crash_plan plan = {.segv_item = 4, .exit_item = 2, .exit_code = 3};

    errno = 0;
    int rc = proc_run_each(in, N, sizeof *in, out, sizeof *out, crash_on_plan,
                           &plan, 3, st);
    ck_assert_msg(rc == -1 && errno == ECHILD,
                  "two tasks failed: expected -1 with errno ECHILD, got %d "
                  "errno %d", rc, errno);
    ck_assert_msg(st[2].end == PROC_EXITED && st[2].code == 3,
                  "task 2 called exit(3): status should be PROC_EXITED code "
                  "3, got end %d code %d", (int)st[2].end, st[2].code);
    ck_assert_msg(st[4].end == PROC_KILLED && st[4].code == SIGSEGV,
                  "task 4 died of SIGSEGV: status should be PROC_KILLED code "
                  "%d, got end %d code %d", SIGSEGV, (int)st[4].end,
                  st[4].code);
    ck_assert_msg(!st[2].complete && !st[4].complete,
                  "failed tasks sent no result: complete must be 0");
    for (size_t i = 0; i < N; i++) {
        if (i == 2 || i == 4)
            continue;
        ck_assert_msg(st[i].end == PROC_EXITED && st[i].code == 0 &&
                          st[i].complete && out[i] == i * i + 1,
                      "task %zu did not fail, but got end %d code %d "
                      "complete %d result %llu: one failure must not stop "
                      "the other tasks", i, (int)st[i].end, st[i].code,
                      st[i].complete, (unsigned long long)out[i]);
    }
    free(in);
    assert_no_children("proc_run_each with failing tasks");
}
END_TEST

/* Leaves the child without sending anything, yet with status 0. */
static void vanish(const void *in, void *out, void *ctx)
{
    (void)in, (void)out, (void)ctx;
    _exit(0);
}

START_TEST(test_processes_run_each_missing_result)
{
    uint64_t in[2] = {1, 2}, out[2] = {7, 7};
    proc_status st[2];
    errno = 0;
    int rc = proc_run_each(in, 2, sizeof *in, out, sizeof *out, vanish, NULL,
                           2, st);
    ck_assert_msg(rc == -1 && errno == ECHILD,
                  "children that exited 0 without sending a result must "
                  "still fail the call (-1, ECHILD); got %d", rc);
    ck_assert_msg(st[0].end == PROC_EXITED && st[0].code == 0 &&
                      st[0].complete == 0,
                  "exit status 0 but no result: end PROC_EXITED, code 0, "
                  "complete 0; got end %d code %d complete %d",
                  (int)st[0].end, st[0].code, st[0].complete);
    assert_no_children("proc_run_each");
}
END_TEST

/* A result much larger than a pipe's 64 KiB buffer. */
#define BIG_RESULT (256 * 1024)

static void fill_big(const void *in, void *out, void *ctx)
{
    (void)ctx;
    memset(out, (int)(*(const uint64_t *)in + 'a'), BIG_RESULT);
}

START_TEST(test_processes_run_each_big_result)
{
    enum { N = 3 };
    uint64_t in[N] = {0, 1, 2};
    char *out = malloc((size_t)N * BIG_RESULT);
    ck_assert(out != NULL);
    int rc = proc_run_each(in, N, sizeof *in, out, BIG_RESULT, fill_big, NULL,
                           N, NULL);
    ck_assert_msg(rc == 0, "256 KiB results failed (%d, %s): a child blocks "
                  "in write() once the pipe holds 64 KiB, so the parent must "
                  "read before it waits", rc, strerror(errno));
    for (size_t i = 0; i < N; i++)
        for (size_t b = 0; b < BIG_RESULT; b += 4099)
            ck_assert_msg(out[i * BIG_RESULT + b] == (char)('a' + i),
                          "byte %zu of result %zu is wrong", b, i);
    free(out);
    assert_no_children("proc_run_each");
}
END_TEST

/* Counts children alive at once through counters in shared memory. Each
 * task waits (up to a second) until it sees a second task running, then
 * lingers 50 ms so that a third one, if the limit is broken, overlaps too.
 * Waiting for the partner instead of sleeping a fixed time keeps the test
 * honest on a heavily loaded machine, where a child may start late. */
#define PARTNER_WAIT_MS 1000
#define LINGER_MS 50

static void count_overlap(const void *in, void *out, void *ctx)
{
    atomic_size_t *c = ctx; /* c[0] running now, c[1] the most seen */
    size_t now = atomic_fetch_add(&c[0], 1) + 1;
    size_t max = atomic_load(&c[1]);
    while (now > max && !atomic_compare_exchange_weak(&c[1], &max, now))
        ;
    for (int ms = 0; ms < PARTNER_WAIT_MS && atomic_load(&c[1]) < 2; ms++)
        sleep_ms(1);
    sleep_ms(LINGER_MS);
    now = atomic_load(&c[0]);
    max = atomic_load(&c[1]);
    while (now > max && !atomic_compare_exchange_weak(&c[1], &max, now))
        ;
    atomic_fetch_sub(&c[0], 1);
    square_plus_one(in, out, NULL);
}

START_TEST(test_processes_run_each_limit)
{
    enum { N = 4 };
    atomic_size_t *c = shared_counters(2);
    uint64_t *in = iota(N), out[N];
    ck_assert_int_eq(proc_run_each(in, N, sizeof *in, out, sizeof *out,
                                   count_overlap, c, 2, NULL), 0);
    size_t most = atomic_load(&c[1]);
    ck_assert_msg(most <= 2, "max_running = 2, but %zu tasks ran at once",
                  most);
    ck_assert_msg(most == 2, "max_running = 2, but tasks never overlapped: "
                  "start the next child before waiting for the previous");
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(out[i] == i * i + 1, "result %zu is wrong", i);
    free(in);
    munmap(c, 2 * sizeof *c);
    assert_no_children("proc_run_each");
}
END_TEST

START_TEST(test_processes_run_each_ctx_isolated)
{
    int counter = 0;
    uint64_t in[3] = {1, 2, 3}, out[3];
    ck_assert_int_eq(proc_run_each(in, 3, sizeof *in, out, sizeof *out,
                                   bump_ctx, &counter, 2, NULL), 0);
    ck_assert_msg(out[2] == 10, "task 2 gave %llu, expected 10",
                  (unsigned long long)out[2]);
    ck_assert_msg(counter == 0,
                  "each child bumped its own copy of the counter, so the "
                  "parent's must still be 0, got %d: did fn run in the "
                  "parent?", counter);
    assert_no_children("proc_run_each");
}
END_TEST

START_TEST(test_processes_run_each_bad_args)
{
    uint64_t in[2] = {1, 2}, out[2];
    struct {
        const void *in;
        size_t n, in_size;
        void *out;
        size_t out_size;
        pk_map_fn fn;
        size_t max_running;
        const char *what;
    } bad[] = {
        {NULL, 2, 8, out, 8, square_plus_one, 1, "in == NULL"},
        {in, 2, 8, NULL, 8, square_plus_one, 1, "out == NULL"},
        {in, 2, 8, out, 8, NULL, 1, "fn == NULL"},
        {in, 2, 0, out, 8, square_plus_one, 1, "in_size == 0"},
        {in, 2, 8, out, 0, square_plus_one, 1, "out_size == 0"},
        {in, 2, 8, out, 8, square_plus_one, 0, "max_running == 0"},
        {in, 2, 8, out, 8, square_plus_one, PROC_MAX_WORKERS + 1,
         "max_running > PROC_MAX_WORKERS"},
        {in, SIZE_MAX / 4, 8, out, 8, square_plus_one, 1,
         "n * in_size overflowing size_t"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        int rc = proc_run_each(bad[i].in, bad[i].n, bad[i].in_size,
                               bad[i].out, bad[i].out_size, bad[i].fn, NULL,
                               bad[i].max_running, NULL);
        ck_assert_msg(rc == -1 && errno == EINVAL,
                      "%s: expected -1 with errno EINVAL, got %d errno %d",
                      bad[i].what, rc, errno);
    }
    assert_no_children("proc_run_each with bad arguments");
}
END_TEST

START_TEST(test_processes_run_each_stdio_once)
{
    int copies = copies_after_fork(run_each_three);
    ck_assert_msg(copies == 1,
                  "a line the parent wrote (unflushed) before proc_run_each "
                  "appears %d times in its file: fflush(NULL) before fork(), "
                  "and leave the child with _exit(), not exit()", copies);
    assert_no_children("proc_run_each");
}
END_TEST

/* ======================================================================
 * Exercise 2a: proc_claim_chunk
 * ====================================================================== */

START_TEST(test_processes_claim_chunk_basic)
{
    atomic_size_t next;
    atomic_init(&next, 0);
    size_t lo = 99, hi = 99;
    const size_t want[][2] = {{0, 4}, {4, 8}, {8, 10}};
    for (size_t k = 0; k < 3; k++) {
        int r = proc_claim_chunk(&next, 10, 4, &lo, &hi);
        ck_assert_msg(r == 1 && lo == want[k][0] && hi == want[k][1],
                      "claim %zu of n = 10, chunk = 4: expected 1 with "
                      "[%zu, %zu), got %d with [%zu, %zu) (the last chunk "
                      "stops at n)", k, want[k][0], want[k][1], r, lo, hi);
    }
    lo = hi = 99;
    ck_assert_msg(proc_claim_chunk(&next, 10, 4, &lo, &hi) == 0,
                  "all 10 items are taken: expected 0");
    ck_assert_msg(lo == 99 && hi == 99,
                  "when nothing is claimed, lo and hi stay untouched");
    ck_assert_msg(proc_claim_chunk(&next, 10, 4, &lo, &hi) == 0,
                  "asking again after the end must still give 0");
}
END_TEST

typedef struct claim_ctx {
    atomic_size_t next;
    unsigned char *seen; /* bumped once per item */
    size_t n, chunk;
} claim_ctx;

static void *claim_all(void *arg)
{
    claim_ctx *c = arg;
    size_t lo, hi;
    while (proc_claim_chunk(&c->next, c->n, c->chunk, &lo, &hi) == 1)
        for (size_t i = lo; i < hi; i++)
            c->seen[i]++; /* each item belongs to one claimer: no race */
    return NULL;
}

START_TEST(test_processes_claim_chunk_concurrent)
{
    enum { THREADS = 4 };
    /* Chunk 1 and many claims, so that a racy claim (a load, then a store)
     * is caught in the act: two claimers read the same value between the
     * other's load and store. Several rounds, because a loaded machine may
     * run the threads one after the other in any single round. */
    claim_ctx c = {.n = scaled(2 * MILLION, 20000), .chunk = 1};
    c.seen = malloc(c.n);
    ck_assert(c.seen != NULL);
    for (size_t round = 0; round < scaled(8, 1); round++) {
        atomic_init(&c.next, 0);
        memset(c.seen, 0, c.n);
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, claim_all, &c), 0);
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
        /* One assertion per round: Check records every ck_assert call. */
        size_t bad = 0;
        while (bad < c.n && c.seen[bad] == 1)
            bad++;
        ck_assert_msg(bad == c.n,
                      "item %zu was handed out %d times by 4 concurrent "
                      "claimers: read and advance the counter in one atomic "
                      "step (atomic_fetch_add), not a load then a store",
                      bad, bad < c.n ? c.seen[bad] : 1);
    }
    free(c.seen);
}
END_TEST

START_TEST(test_processes_claim_chunk_bad_args)
{
    atomic_size_t next;
    atomic_init(&next, 0);
    size_t lo, hi;
    errno = 0;
    ck_assert_msg(proc_claim_chunk(NULL, 10, 1, &lo, &hi) == -1 &&
                      errno == EINVAL, "next == NULL: expected -1, EINVAL");
    errno = 0;
    ck_assert_msg(proc_claim_chunk(&next, 10, 0, &lo, &hi) == -1 &&
                      errno == EINVAL,
                  "chunk == 0 would hand out empty chunks forever: expected "
                  "-1, EINVAL");
    errno = 0;
    ck_assert_msg(proc_claim_chunk(&next, 10, 1, NULL, &hi) == -1 &&
                      errno == EINVAL, "lo == NULL: expected -1, EINVAL");
    errno = 0;
    ck_assert_msg(proc_claim_chunk(&next, 10, 1, &lo, NULL) == -1 &&
                      errno == EINVAL, "hi == NULL: expected -1, EINVAL");
}
END_TEST

/* ======================================================================
 * Exercise 2b: proc_map
 * ====================================================================== */

static void check_map(size_t nprocs, size_t n, size_t chunk)
{
    uint64_t *in = iota(n), *out = malloc((n ? n : 1) * sizeof *out);
    ck_assert(out != NULL);
    memset(out, 0, (n ? n : 1) * sizeof *out);
    int rc = proc_map(nprocs, in, n, sizeof *in, out, sizeof *out,
                      square_plus_one, NULL, chunk, NULL);
    ck_assert_msg(rc == 0, "proc_map(nprocs %zu, n %zu, chunk %zu) returned "
                  "%d, errno %d (%s)", nprocs, n, chunk, rc, errno,
                  strerror(errno));
    /* Find the first wrong result, then assert once: Check records every
     * ck_assert call, and 10^6 of them would take seconds. */
    size_t i = 0;
    while (i < n && out[i] == i * i + 1)
        i++;
    ck_assert_msg(i == n,
                  "nprocs %zu, n %zu, chunk %zu: out[%zu] = %llu, expected "
                  "%llu (a chunk lost, or results not copied out of the "
                  "shared mapping?)", nprocs, n, chunk, i,
                  (unsigned long long)(i < n ? out[i] : 0),
                  (unsigned long long)(i * i + 1));
    free(in);
    free(out);
    assert_no_children("proc_map");
}

START_TEST(test_processes_map_sizes)
{
    check_map(2, 1, 0);
    check_map(2, 7, 0);
    check_map(3, 1000, 0);
    check_map(2, MILLION, 0);
}
END_TEST

START_TEST(test_processes_map_zero)
{
    uint64_t in[1] = {3}, out[1] = {42};
    ck_assert_msg(proc_map(2, in, 0, sizeof *in, out, sizeof *out,
                           square_plus_one, NULL, 0, NULL) == 0,
                  "n = 0 is an empty map: return 0");
    ck_assert_msg(out[0] == 42, "n = 0 must not write to out");
    assert_no_children("proc_map with n = 0");
}
END_TEST

START_TEST(test_processes_map_uneven_chunks)
{
    /* Chunk sizes that do not divide n, one larger than n, and 1. */
    const size_t chunks[] = {1, 3, 7, 999, 1000, 5000};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++)
        check_map(3, 1000, chunks[k]);
    check_map(2, 7, 2);
}
END_TEST

START_TEST(test_processes_map_more_workers_than_items)
{
    enum { N = 3 };
    uint64_t in[N] = {0};
    int64_t out[N] = {0};
    ck_assert_msg(proc_map(8, in, N, sizeof *in, out, sizeof *out, write_pid,
                           NULL, 1, NULL) == 0,
                  "8 workers for 3 items must work (use 3 workers): %s",
                  strerror(errno));
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(out[i] != 0 && out[i] != (int64_t)getpid(),
                      "item %zu was computed in the parent (or not at all): "
                      "the workers are fork()ed children", i);
    assert_no_children("proc_map");
}
END_TEST

START_TEST(test_processes_map_in_children)
{
    size_t n = 5000;
    uint64_t *in = iota(n);
    int64_t *out = calloc(n, sizeof *out);
    ck_assert(out != NULL);
    ck_assert_int_eq(proc_map(2, in, n, sizeof *in, out, sizeof *out,
                              write_pid, NULL, 100, NULL), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(out[i] > 0 && out[i] != (int64_t)getpid(),
                      "item %zu was computed by pid %lld, not by a worker "
                      "child", i, (long long)out[i]);
    free(in);
    free(out);
    assert_no_children("proc_map");
}
END_TEST

START_TEST(test_processes_map_ctx_crosses_fork)
{
    /* A function pointer and a pointer into this stack frame: Python would
     * have to pickle them (and cannot); fork() copies them as they are. */
    const uint64_t offsets[3] = {100, 200, 300};
    closure c = {add_u64, offsets, 3};
    size_t n = 1000;
    uint64_t *in = iota(n), *out = calloc(n, sizeof *out);
    ck_assert(out != NULL);
    ck_assert_int_eq(proc_map(2, in, n, sizeof *in, out, sizeof *out,
                              apply_closure, &c, 0, NULL), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(out[i] == i + offsets[i % 3],
                      "out[%zu] = %llu, expected %llu: pass ctx to fn "
                      "unchanged", i, (unsigned long long)out[i],
                      (unsigned long long)(i + offsets[i % 3]));
    free(in);
    free(out);
    assert_no_children("proc_map");
}
END_TEST

/* Item 0 is slow: it waits (up to 3 s) until every other item is done.
 * The others are quick. ctx counts finished items in shared memory. */
#define DYNAMIC_N 20
#define SLOW_WAIT_MS 3000

static void slow_first_item(const void *in, void *out, void *ctx)
{
    atomic_size_t *done = ctx;
    if (*(const uint64_t *)in == 0) {
        for (int ms = 0; ms < SLOW_WAIT_MS &&
                         atomic_load(done) < DYNAMIC_N - 1; ms++)
            sleep_ms(1);
    } else {
        sleep_ms(2);
    }
    atomic_fetch_add(done, 1);
    *(int64_t *)out = (int64_t)getpid();
}

START_TEST(test_processes_map_dynamic)
{
    atomic_size_t *done = shared_counters(1);
    uint64_t in[DYNAMIC_N];
    int64_t out[DYNAMIC_N];
    for (size_t i = 0; i < DYNAMIC_N; i++)
        in[i] = i;
    ck_assert_int_eq(proc_map(2, in, DYNAMIC_N, sizeof *in, out, sizeof *out,
                              slow_first_item, done, 1, NULL), 0);
    size_t same = 0;
    for (size_t i = 1; i < DYNAMIC_N; i++)
        same += out[i] == out[0];
    /* Static halves would leave items 1..9 to the worker stuck on item 0.
     * With a shared counter the other worker takes them all while item 0
     * waits for exactly that; 5 leaves room for a late start. */
    ck_assert_msg(same <= 5,
                  "the worker stuck on slow item 0 also did %zu of the 19 "
                  "quick items: hand out chunks from a shared counter "
                  "(dynamic scheduling), not fixed ranges", same);
    munmap(done, sizeof *done);
    assert_no_children("proc_map");
}
END_TEST

START_TEST(test_processes_map_bad_args)
{
    uint64_t in[2] = {1, 2}, out[2];
    struct {
        size_t nprocs;
        const void *in;
        size_t n, in_size;
        void *out;
        size_t out_size;
        pk_map_fn fn;
        const char *what;
    } bad[] = {
        {2, NULL, 2, 8, out, 8, square_plus_one, "in == NULL"},
        {2, in, 2, 8, NULL, 8, square_plus_one, "out == NULL"},
        {2, in, 2, 8, out, 8, NULL, "fn == NULL"},
        {2, in, 2, 0, out, 8, square_plus_one, "in_size == 0"},
        {2, in, 2, 8, out, 0, square_plus_one, "out_size == 0"},
        {0, in, 2, 8, out, 8, square_plus_one, "nprocs == 0"},
        {PROC_MAX_WORKERS + 1, in, 2, 8, out, 8, square_plus_one,
         "nprocs > PROC_MAX_WORKERS"},
        {2, in, SIZE_MAX / 4, 8, out, 8, square_plus_one,
         "n * in_size overflowing size_t"},
        {2, in, SIZE_MAX / 8 - 1, 1, out, 8, square_plus_one,
         "the shared mapping's size overflowing size_t"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        int rc = proc_map(bad[i].nprocs, bad[i].in, bad[i].n, bad[i].in_size,
                          bad[i].out, bad[i].out_size, bad[i].fn, NULL, 0,
                          NULL);
        ck_assert_msg(rc == -1 && errno == EINVAL,
                      "%s: expected -1 with errno EINVAL, got %d errno %d",
                      bad[i].what, rc, errno);
    }
    assert_no_children("proc_map with bad arguments");
}
END_TEST

START_TEST(test_processes_map_stdio_once)
{
    int copies = copies_after_fork(map_three);
    ck_assert_msg(copies == 1,
                  "a line the parent wrote (unflushed) before proc_map "
                  "appears %d times in its file: fflush(NULL) before fork(), "
                  "and leave the workers with _exit(), not exit()", copies);
    assert_no_children("proc_map");
}
END_TEST

/* ======================================================================
 * Exercise 3: crash handling, through proc_map
 * ====================================================================== */

static void check_map_crash(crash_plan plan, size_t n, size_t chunk,
                            uint64_t want_item, proc_end want_end,
                            int want_code)
{
    uint64_t *in = iota(n), *out = malloc(n * sizeof *out);
    ck_assert(out != NULL);
    for (size_t i = 0; i < n; i++)
        out[i] = 12345;
    proc_crash crash = {0, 0, {PROC_NOT_RUN, 0, 0}};
    errno = 0;
    int rc = proc_map(2, in, n, sizeof *in, out, sizeof *out, crash_on_plan,
                      &plan, chunk, &crash);
    ck_assert_msg(rc == -1 && errno == ECHILD,
                  "a worker died on item %llu: expected -1 with errno "
                  "ECHILD, got %d errno %d", (unsigned long long)want_item,
                  rc, errno);
    ck_assert_msg(crash.item == want_item,
                  "the worker died on item %llu, but crash.item = %zu: "
                  "store each item's index in the worker's progress slot "
                  "before calling fn", (unsigned long long)want_item,
                  crash.item);
    ck_assert_msg(crash.status.end == want_end &&
                      crash.status.code == want_code,
                  "expected the crash status end %d code %d, got end %d "
                  "code %d", (int)want_end, want_code,
                  (int)crash.status.end, crash.status.code);
    ck_assert_msg(crash.pid > 0 && crash.pid != getpid(),
                  "crash.pid should be the dead worker's pid, got %d",
                  (int)crash.pid);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(out[i] == 12345,
                      "out[%zu] was changed by a failed map: copy results "
                      "out only when every worker succeeded", i);
    free(in);
    free(out);
    assert_no_children("a crashed proc_map");
}

START_TEST(test_processes_map_crash_signal)
{
    crash_plan plan = {.segv_item = 437, .exit_item = UINT64_MAX};
    check_map_crash(plan, 1000, 10, 437, PROC_KILLED, SIGSEGV);
}
END_TEST

START_TEST(test_processes_map_crash_exit)
{
    crash_plan plan = {.segv_item = UINT64_MAX, .exit_item = 3,
                       .exit_code = 3};
    check_map_crash(plan, 7, 2, 3, PROC_EXITED, 3);
}
END_TEST

START_TEST(test_processes_map_crash_no_hang)
{
    /* Item 0 crashes at once; item 1 would sleep 20 s. The map must notice
     * the crash, kill the sleeper and return long before that. */
    crash_plan plan = {.segv_item = 0, .exit_item = UINT64_MAX,
                       .slow_ms = FOREVER_MS};
    uint64_t t0 = pk_now_ns();
    check_map_crash(plan, 2, 1, 0, PROC_KILLED, SIGSEGV);
    double s = (double)(pk_now_ns() - t0) * 1e-9;
    /* Loose bound: it only has to beat the 20 s sleep (and the 10 s test
     * timeout); a correct map returns in milliseconds. */
    ck_assert_msg(s < 8, "proc_map took %.1f s after a worker crashed: kill "
                  "the other workers at the first failure instead of "
                  "waiting for them", s);
}
END_TEST

START_TEST(test_processes_map_crash_every_chunk_size)
{
    /* The item is found whatever chunk holds it, first or last in it. */
    const size_t chunks[] = {1, 7, 100, 0};
    for (size_t k = 0; k < 4; k++) {
        crash_plan plan = {.segv_item = 699, .exit_item = UINT64_MAX};
        check_map_crash(plan, 700, chunks[k], 699, PROC_KILLED, SIGSEGV);
    }
}
END_TEST

/* ======================================================================
 * Exercise 3: proc_reap_workers on hand-made workers
 * ====================================================================== */

typedef enum { W_EXIT0, W_EXIT, W_SEGV, W_PAUSE } w_kind;

/* Fork one worker with a pipe, as proc_map does; it sets its progress slot
 * to item, waits delay_ms, then does what kind says. */
static proc_worker spawn(w_kind kind, int code, size_t item, long delay_ms,
                         proc_progress *slot)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        die_with_parent(parent);
        close(fds[0]);
        if (slot != NULL)
            atomic_store(&slot->item, item);
        sleep_ms(delay_ms);
        switch (kind) {
        case W_EXIT0: _exit(0);
        case W_EXIT: _exit(code);
        case W_SEGV: die_by_signal(SIGSEGV);
        case W_PAUSE:
            sleep_ms(FOREVER_MS);
            _exit(0);
        }
        _exit(0);
    }
    close(fds[1]);
    return (proc_worker){pid, fds[0], slot};
}

static proc_progress *shared_slots(size_t k)
{
    void *m = mmap(NULL, k * sizeof(proc_progress), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(m != MAP_FAILED);
    proc_progress *s = m;
    for (size_t i = 0; i < k; i++)
        atomic_init(&s[i].item, PROC_NO_ITEM);
    return s;
}

static void assert_closed(int fd)
{
    errno = 0;
    ck_assert_msg(fcntl(fd, F_GETFD) == -1 && errno == EBADF,
                  "fd %d is still open: proc_reap_workers closes every "
                  "worker's fd", fd);
}

START_TEST(test_processes_reap_workers_ok)
{
    proc_progress *slots = shared_slots(3);
    proc_worker w[3];
    int fds[3];
    for (int i = 0; i < 3; i++) {
        w[i] = spawn(W_EXIT0, 0, (size_t)i, 20L * i, &slots[i]);
        fds[i] = w[i].fd;
    }
    proc_crash crash = {77, 77, {PROC_NOT_RUN, 77, 77}};
    int rc = proc_reap_workers(w, 3, &crash);
    ck_assert_msg(rc == 0, "three workers exited 0: expected 0, got %d (%s)",
                  rc, strerror(errno));
    ck_assert_msg(crash.item == 77 && crash.pid == 77,
                  "on success crash must be left untouched");
    for (int i = 0; i < 3; i++)
        assert_closed(fds[i]);
    munmap(slots, 3 * sizeof *slots);
    assert_no_children("proc_reap_workers");
}
END_TEST

START_TEST(test_processes_reap_workers_names_item)
{
    /* Worker 0 would never end; worker 1 dies on item 42 after 50 ms. */
    proc_progress *slots = shared_slots(2);
    proc_worker w[2];
    w[0] = spawn(W_PAUSE, 0, 5, 0, &slots[0]);
    w[1] = spawn(W_SEGV, 0, 42, 50, &slots[1]);
    pid_t culprit = w[1].pid;
    proc_crash crash;
    uint64_t t0 = pk_now_ns();
    errno = 0;
    int rc = proc_reap_workers(w, 2, &crash);
    double s = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(rc == -1 && errno == ECHILD,
                  "a worker died of SIGSEGV: expected -1 with ECHILD, got "
                  "%d errno %d", rc, errno);
    ck_assert_msg(crash.item == 42 && crash.pid == culprit,
                  "expected the crash on item 42 by pid %d, got item %zu "
                  "pid %d (the other worker was killed by you: it is not to "
                  "blame)", (int)culprit, crash.item, (int)crash.pid);
    ck_assert_msg(crash.status.end == PROC_KILLED &&
                      crash.status.code == SIGSEGV,
                  "crash.status should say killed by SIGSEGV, got end %d "
                  "code %d", (int)crash.status.end, crash.status.code);
    /* Loose: the never-ending worker must have been killed, not waited for. */
    ck_assert_msg(s < 8, "took %.1f s: kill the workers still running", s);
    munmap(slots, 2 * sizeof *slots);
    assert_no_children("proc_reap_workers");
}
END_TEST

START_TEST(test_processes_reap_workers_lowest_item)
{
    /* Both die by themselves before the call: item 9 by exit(4), item 5 by
     * exit(5). The lowest item is the one to name. */
    proc_progress *slots = shared_slots(2);
    proc_worker w[2];
    w[0] = spawn(W_EXIT, 4, 9, 0, &slots[0]);
    w[1] = spawn(W_EXIT, 5, 5, 0, &slots[1]);
    /* Wait until both pipes read EOF, i.e. both workers are gone. */
    struct pollfd p[2] = {{w[0].fd, POLLIN, 0}, {w[1].fd, POLLIN, 0}};
    for (int done = 0; done < 2;) {
        done = 0;
        poll(p, 2, 1000);
        for (int i = 0; i < 2; i++)
            done += (p[i].revents & POLLHUP) != 0;
    }
    proc_crash crash;
    errno = 0;
    ck_assert_int_eq(proc_reap_workers(w, 2, &crash), -1);
    ck_assert_int_eq(errno, ECHILD);
    ck_assert_msg(crash.item == 5 && crash.status.end == PROC_EXITED &&
                      crash.status.code == 5,
                  "two workers failed, on items 9 (exit 4) and 5 (exit 5): "
                  "name the lowest item, 5 with exit 5; got item %zu end %d "
                  "code %d", crash.item, (int)crash.status.end,
                  crash.status.code);
    munmap(slots, 2 * sizeof *slots);
    assert_no_children("proc_reap_workers");
}
END_TEST

START_TEST(test_processes_reap_workers_no_progress)
{
    proc_worker w[1];
    w[0] = spawn(W_EXIT, 3, 0, 0, NULL);
    proc_crash crash = {0, 0, {PROC_NOT_RUN, 0, 0}};
    ck_assert_int_eq(proc_reap_workers(w, 1, &crash), -1);
    ck_assert_msg(crash.item == PROC_NO_ITEM && crash.status.code == 3,
                  "a worker without a progress slot cannot name an item: "
                  "expected PROC_NO_ITEM and exit 3, got item %zu code %d",
                  crash.item, crash.status.code);
    assert_no_children("proc_reap_workers");
}
END_TEST

START_TEST(test_processes_reap_workers_bad_args)
{
    proc_worker w[1] = {{0, -1, NULL}};
    errno = 0;
    ck_assert_msg(proc_reap_workers(NULL, 1, NULL) == -1 && errno == EINVAL,
                  "w == NULL: expected -1, EINVAL");
    errno = 0;
    ck_assert_msg(proc_reap_workers(w, 0, NULL) == -1 && errno == EINVAL,
                  "nworkers == 0: expected -1, EINVAL");
    errno = 0;
    ck_assert_msg(proc_reap_workers(w, PROC_MAX_WORKERS + 1, NULL) == -1 &&
                      errno == EINVAL,
                  "nworkers > PROC_MAX_WORKERS: expected -1, EINVAL");
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("02-processes");

    /* exercise 1 */
    pk_test_add(s, test_processes_decode_exit, 1,
                "WIFEXITED(ws) then WEXITSTATUS(ws) gives the exit status");
    pk_test_add(s, test_processes_decode_signal, 1,
                "WIFSIGNALED(ws) then WTERMSIG(ws) gives the signal");
    pk_test_add(s, test_processes_decode_bad_args, 1,
                "a stopped child (WIFSTOPPED) has not ended: EINVAL");
    pk_test_add(s, test_processes_run_each_results, 3,
                "one pipe and one fork per task; the parent closes the write "
                "end, reads the result until EOF, then waitpid()s the child");
    pk_test_add(s, test_processes_run_each_zero, 1,
                "n = 0: return 0 before forking anything");
    pk_test_add(s, test_processes_run_each_in_children, 1,
                "fn runs in the child (fork() returned 0), never in the "
                "parent");
    pk_test_add(s, test_processes_run_each_status, 2,
                "decode each child's waitpid() status with "
                "proc_decode_status() into status[i]; keep going after a "
                "failure, return -1 with ECHILD at the end");
    pk_test_add(s, test_processes_run_each_missing_result, 1,
                "exit status 0 is not enough: count the bytes that arrived");
    pk_test_add(s, test_processes_run_each_big_result, 1,
                "read the pipe until EOF before waitpid(): a child blocked "
                "in write() never exits");
    pk_test_add(s, test_processes_run_each_limit, 1,
                "keep up to max_running children alive; when full, finish "
                "the oldest before forking the next");
    pk_test_add(s, test_processes_run_each_ctx_isolated, 1,
                "the child has a copy of the parent's memory: its writes "
                "stay in the child");
    pk_test_add(s, test_processes_run_each_stdio_once, 1,
                "a child inherits the parent's unflushed stdio buffers and "
                "exit() writes them again");
    pk_test_add(s, test_processes_run_each_bad_args, 1,
                "check every argument before forking; n * in_size must not "
                "overflow (SIZE_MAX / in_size < n)");
    /* exercise 2 */
    pk_test_add(s, test_processes_claim_chunk_basic, 1,
                "start = atomic_fetch_add(next, chunk); hi = min(start + "
                "chunk, n)");
    pk_test_add(s, test_processes_claim_chunk_concurrent, 2,
                "a load followed by a store lets two claimers take the same "
                "chunk: use one atomic_fetch_add");
    pk_test_add(s, test_processes_claim_chunk_bad_args, 1,
                "NULL pointers and chunk == 0 are EINVAL");
    pk_test_add(s, test_processes_map_sizes, 3,
                "workers write into the MAP_SHARED mapping; the parent copies "
                "it to out after every worker exited 0");
    pk_test_add(s, test_processes_map_zero, 1,
                "n = 0: return 0 before mapping or forking anything");
    pk_test_add(s, test_processes_map_uneven_chunks, 2,
                "the last chunk is shorter: stop at n");
    pk_test_add(s, test_processes_map_more_workers_than_items, 1,
                "fork at most n workers");
    pk_test_add(s, test_processes_map_in_children, 1,
                "fn runs in the forked workers, never in the parent");
    pk_test_add(s, test_processes_map_ctx_crosses_fork, 1,
                "pass ctx to fn as it is: after fork its address is valid "
                "in the child");
    pk_test_add(s, test_processes_map_dynamic, 2,
                "workers pull chunks from the shared counter until it runs "
                "past n; no fixed ranges");
    pk_test_add(s, test_processes_map_stdio_once, 1,
                "fflush(NULL) before forking the workers; workers end with "
                "_exit(0)");
    pk_test_add(s, test_processes_map_bad_args, 1,
                "validate before mmap and fork; check the mapping's size "
                "for overflow too");
    /* exercise 3 */
    pk_test_add(s, test_processes_map_crash_signal, 2,
                "a worker stores each item in its progress slot before fn; "
                "after a crash proc_reap_workers() reads it");
    pk_test_add(s, test_processes_map_crash_exit, 2,
                "a non-zero exit status is a crash too");
    pk_test_add(s, test_processes_map_crash_no_hang, 2,
                "at the first failure, SIGKILL the workers still running, "
                "then reap them");
    pk_test_add(s, test_processes_map_crash_every_chunk_size, 1,
                "the slot holds the item, not the chunk's start");
    pk_test_add(s, test_processes_reap_workers_ok, 1,
                "poll() the fds; on EOF close the fd and waitpid() the "
                "worker; 0 when all exited 0");
    pk_test_add(s, test_processes_reap_workers_names_item, 2,
                "watch all fds at once with poll(), so a crash is seen while "
                "another worker still runs; then kill the rest");
    pk_test_add(s, test_processes_reap_workers_lowest_item, 1,
                "among workers that died by themselves, blame the lowest "
                "item");
    pk_test_add(s, test_processes_reap_workers_no_progress, 1,
                "progress == NULL: the item is PROC_NO_ITEM");
    pk_test_add(s, test_processes_reap_workers_bad_args, 1,
                "NULL, 0 and more than PROC_MAX_WORKERS workers are EINVAL");
    return s;
}
