/* check_main.c - the main() shared by every chapter's test program.
 *
 *   check_TOPIC                 run the whole suite (Check's fork mode unless
 *                               CK_FORK=no), exit 0 when everything passed
 *   check_TOPIC --list          one line per test (see grade_protocol.h)
 *   check_TOPIC --run NAME      run one test in this process (no fork); used
 *                               by the grader, see grade_protocol.h
 *
 * In --run mode the evidence line is written only after the test returned,
 * Check recorded no failure and no thread of the test is still busy. A test
 * body that calls exit(0) early, crashes, or is killed never reaches that
 * line, so it scores nothing: this closes the hole by which Check's fork
 * mode counts an early exit(0) as a pass.
 *
 * Performance tests (pk_perf.h) record a partial score and the figures that
 * explain it with pk_check_record(); in --run mode they go into the
 * evidence line, in the whole-suite mode pk_perf.c acts on them itself.
 */
#include "pk_check.h"
#include "grade_protocol.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct entry {
    const TTest *test;
    double weight;
    double timeout;
    const char *hint;
    const char *kind; /* PK_KIND_* */
} entry;

static entry registry[PK_PROTO_MAX_TESTS];
static size_t nregistered;

static void add(Suite *s, const TTest *t, double weight, double timeout,
                const char *hint, const char *kind)
{
    if (nregistered == PK_PROTO_MAX_TESTS) {
        fprintf(stderr, "pk_check: more than %d tests\n", PK_PROTO_MAX_TESTS);
        exit(2);
    }
    /* One TCase per test, named after it, so CK_RUN_CASE selects one test. */
    TCase *tc = tcase_create(t->name);
    tcase_set_timeout(tc, timeout);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
    registry[nregistered++] = (entry){t, weight, timeout, hint ? hint : "", kind};
}

void pk_test_add(Suite *s, const TTest *t, double weight, const char *hint)
{
    add(s, t, weight, PK_TEST_TIMEOUT, hint, PK_KIND_GRADED);
}

void pk_test_add_timeout(Suite *s, const TTest *t, double weight,
                         double timeout_s, const char *hint)
{
    add(s, t, weight, timeout_s, hint, PK_KIND_GRADED);
}

void pk_test_add_perf(Suite *s, const TTest *t, double weight,
                      double timeout_s, const char *hint)
{
    add(s, t, weight, timeout_s, hint, PK_KIND_PERF);
}

void pk_test_add_ungraded(Suite *s, const TTest *t)
{
    add(s, t, 0, PK_TEST_TIMEOUT, "", PK_KIND_UNGRADED);
}

void pk_test_add_ungraded_timeout(Suite *s, const TTest *t, double timeout_s)
{
    add(s, t, 0, timeout_s, "", PK_KIND_UNGRADED);
}

const char *pk_bin_path(const char *name)
{
    static char path[1024];
    const char *dir = getenv("PK_BIN_DIR");

    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "build/bin", name);
    return path;
}

const char *pk_errno_name(int e)
{
    static const struct { int e; const char *name; } names[] = {
        {0, "0"}, {EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"},
        {EINTR, "EINTR"}, {EIO, "EIO"}, {E2BIG, "E2BIG"}, {EBADF, "EBADF"},
        {ECHILD, "ECHILD"}, {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"},
        {EACCES, "EACCES"}, {EFAULT, "EFAULT"}, {EBUSY, "EBUSY"},
        {EEXIST, "EEXIST"}, {EINVAL, "EINVAL"}, {EMFILE, "EMFILE"},
        {ENOSPC, "ENOSPC"}, {EPIPE, "EPIPE"}, {ERANGE, "ERANGE"},
        {EDEADLK, "EDEADLK"}, {ENOSYS, "ENOSYS"}, {ENODATA, "ENODATA"},
        {ETIME, "ETIME"}, {EPROTO, "EPROTO"}, {EOVERFLOW, "EOVERFLOW"},
        {EILSEQ, "EILSEQ"}, {ENOTSUP, "ENOTSUP"}, {ECANCELED, "ECANCELED"},
        {ETIMEDOUT, "ETIMEDOUT"}, {ECONNREFUSED, "ECONNREFUSED"},
        {ECONNRESET, "ECONNRESET"}, {EHOSTUNREACH, "EHOSTUNREACH"},
        {EADDRINUSE, "EADDRINUSE"}, {ESHUTDOWN, "ESHUTDOWN"},
    };
    static _Thread_local char other[32];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].e == e)
            return names[i].name;
    snprintf(other, sizeof other, "errno %d", e);
    return other;
}

/* ---- the running test's recorded score ------------------------------------ */

static int graded_run;      /* --run under the grader */
static int recorded;        /* pk_check_record() was called */
static double rec_score;
static pk_note rec_note;
static char rec_msg[PK_PROTO_MESSAGE_MAX];

int pk_check_graded_run(void)
{
    return graded_run;
}

void pk_check_record(double score, pk_note note, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rec_msg, sizeof rec_msg, fmt, ap);
    va_end(ap);
    for (char *p = rec_msg; *p; p++) /* one line on the wire */
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    rec_score = score < 0 ? 0 : score > 1 ? 1 : score;
    rec_note = note;
    recorded = 1;
}

double pk_check_recorded(pk_note *note, char *msg, size_t size)
{
    if (!recorded)
        return -1;
    if (note != NULL)
        *note = rec_note;
    if (msg != NULL && size > 0)
        snprintf(msg, size, "%s", rec_msg);
    return rec_score;
}

/* Hints and names go into a tab-separated listing: keep them on one line. */
static void print_field(const char *s)
{
    for (; *s; s++)
        putchar(*s == '\t' || *s == '\n' ? ' ' : *s);
}

static int list_tests(void)
{
    for (size_t i = 0; i < nregistered; i++) {
        const entry *e = &registry[i];
        printf("%s\t%g\t%g\t%s\t", e->test->name, e->weight, e->timeout,
               e->kind);
        print_field(e->hint);
        putchar('\n');
    }
    return 0;
}

#define STRAY_SAMPLES 20    /* looks at the threads after the test returned */
#define STRAY_SAMPLE_MS 50  /* apart, so over one second */
#define STRAY_BUSY 16       /* samples in which a thread must be running */

/* 1 if a thread other than the calling one is running (state R) now; sets
 * *tid to it. Threads asleep (an OpenMP or sanitizer runtime's idle workers)
 * do not count. */
static int busy_thread(long self, long *tid)
{
    DIR *d = opendir("/proc/self/task");
    int found = 0;
    if (d == NULL)
        return 0;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || atol(e->d_name) == self)
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t k = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (k <= 0)
            continue;
        buf[k] = '\0';
        char *close_paren = strrchr(buf, ')'); /* the name may hold spaces */
        if (close_paren != NULL && close_paren[1] == ' ' && close_paren[2] == 'R') {
            *tid = atol(e->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* 1 if the test left a thread running: one that stays busy for most of a
 * second after the test returned. Idle pool threads sleep and pass. */
static int stray_threads(void)
{
    long self = (long)syscall(SYS_gettid), tid;
    int busy = 0;
    for (int i = 0; i < STRAY_SAMPLES; i++) {
        busy += busy_thread(self, &tid);
        if (busy >= STRAY_BUSY)
            return 1;
        if (busy + (STRAY_SAMPLES - 1 - i) < STRAY_BUSY)
            return 0; /* cannot reach STRAY_BUSY any more */
        struct timespec ts = {0, STRAY_SAMPLE_MS * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static const char *note_word(pk_note note)
{
    switch (note) {
    case PK_NOTE_IS_PERF: return PK_NOTE_PERF;
    case PK_NOTE_IS_BUSY: return PK_NOTE_BUSY;
    case PK_NOTE_IS_NOPERF: return PK_NOTE_NOPERF;
    default: return PK_NOTE_OK;
    }
}

static int run_one(Suite *s, const char *name)
{
    const char *fd_env = getenv(PK_PROTO_ENV_FD);
    const char *nonce_env = getenv(PK_PROTO_ENV_NONCE);
    int fd = -1;
    char nonce[128] = "";

    if (fd_env != NULL && nonce_env != NULL) {
        /* Move the evidence pipe out of the way and out of exec'd children,
         * and take the nonce out of the environment the test sees. */
        fd = fcntl(atoi(fd_env), F_DUPFD_CLOEXEC, 100);
        close(atoi(fd_env));
        snprintf(nonce, sizeof nonce, "%s", nonce_env);
        unsetenv(PK_PROTO_ENV_FD);
        unsetenv(PK_PROTO_ENV_NONCE);
        graded_run = 1;
    }

    size_t i;
    for (i = 0; i < nregistered; i++)
        if (strcmp(registry[i].test->name, name) == 0)
            break;
    if (i == nregistered) {
        fprintf(stderr, "no test named %s\n", name);
        return 2;
    }
    int perf = strcmp(registry[i].kind, PK_KIND_PERF) == 0;

    setenv("CK_RUN_CASE", name, 1);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int ran = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);

    char line[PK_PROTO_MESSAGE_MAX + 256], msg[PK_PROTO_MESSAGE_MAX] = "";
    pk_note note = PK_NOTE_IS_OK;
    double score = pk_check_recorded(&note, msg, sizeof msg);
    int len;
    if (ran == 1 && failed == 0 && stray_threads()) {
        len = snprintf(line, sizeof line,
                       PK_PROTO_FAIL "\ta thread was still running after the test "
                       "returned (join every thread you create, or destroy the pool)\n");
        failed = 1;
    } else if (ran == 1 && failed == 0 && perf && score < 0) {
        len = snprintf(line, sizeof line, PK_PROTO_FAIL "\tthe performance test "
                       "recorded no figure (a bug in the test: it must call "
                       "pk_perf_award())\n");
        failed = 1;
    } else if (ran == 1 && failed == 0) {
        if (!perf) { /* only performance tests earn partial credit */
            score = 1;
            note = PK_NOTE_IS_OK;
        }
        len = snprintf(line, sizeof line, PK_PROTO_PASS " %s %.4f %s\t%s\n", nonce,
                       score, note_word(note), msg);
    } else {
        TestResult **tr = srunner_failures(sr);
        const char *why = (failed > 0 && tr != NULL) ? tr_msg(tr[0]) : "did not run";
        len = snprintf(line, sizeof line, PK_PROTO_FAIL "\t%s\n", why);
        free(tr);
    }
    if (fd >= 0) {
        if (len > (int)sizeof line - 1)
            len = sizeof line - 1;
        if (write(fd, line, (size_t)len) < 0)
            perror("check_main: writing the grade evidence");
        close(fd);
    } else if (ran == 1 && failed == 0 && msg[0] != '\0') {
        printf("%s\n", msg); /* run by hand: show the figures */
    }
    srunner_free(sr);
    return (ran == 1 && failed == 0) ? 0 : 1;
}

int main(int argc, char **argv)
{
    Suite *s = pk_suite();

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        SRunner *sr = srunner_create(s); /* owns and frees the suite */
        int rc = list_tests();
        srunner_free(sr);
        return rc;
    }
    if (argc == 3 && strcmp(argv[1], "--run") == 0)
        return run_one(s, argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--list | --run TEST]\n", argv[0]);
        return 2;
    }

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    int ran = srunner_ntests_run(sr);
    srunner_free(sr);
    /* A plain closing line that any CI log reader understands. */
    printf("%d passed, %d failed\n", ran - failed, failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
