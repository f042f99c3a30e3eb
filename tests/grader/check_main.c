/* check_main.c - the main() shared by every chapter's test program.
 *
 *   check_TOPIC                 run the whole suite (Check's fork mode unless
 *                               CK_FORK=no), exit 0 when everything passed
 *   check_TOPIC --list          one line per test: name, weight, timeout,
 *                               graded (1/0) and hint, tab-separated
 *   check_TOPIC --run NAME      run one test in this process (no fork); used
 *                               by the grader, see below
 *
 * Grading protocol (--run): the grader opens a pipe, passes its write end as
 * file descriptor $PK_GRADE_FD and a random $PK_GRADE_NONCE. Only after the
 * test returned, and Check recorded no failure, does this main write
 * "PASS <nonce> <pid>" to it. A test body that calls exit(0) early, crashes,
 * or is killed never reaches that line, so it scores nothing: this closes the
 * hole by which Check's fork mode counts an early exit(0) as a pass.
 */
#include "pk_check.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TESTS 512

typedef struct entry {
    const TTest *test;
    double weight;
    double timeout;
    const char *hint;
    int graded;
} entry;

static entry registry[MAX_TESTS];
static size_t nregistered;

static void add(Suite *s, const TTest *t, double weight, double timeout,
                const char *hint, int graded)
{
    if (nregistered == MAX_TESTS) {
        fprintf(stderr, "pk_check: more than %d tests\n", MAX_TESTS);
        exit(2);
    }
    /* One TCase per test, named after it, so CK_RUN_CASE selects one test. */
    TCase *tc = tcase_create(t->name);
    tcase_set_timeout(tc, timeout);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
    registry[nregistered++] = (entry){t, weight, timeout, hint ? hint : "",
                                      graded};
}

void pk_test_add(Suite *s, const TTest *t, double weight, const char *hint)
{
    add(s, t, weight, PK_TEST_TIMEOUT, hint, 1);
}

void pk_test_add_timeout(Suite *s, const TTest *t, double weight,
                         double timeout_s, const char *hint)
{
    add(s, t, weight, timeout_s, hint, 1);
}

void pk_test_add_ungraded(Suite *s, const TTest *t)
{
    add(s, t, 0, PK_TEST_TIMEOUT, "", 0);
}

void pk_test_add_ungraded_timeout(Suite *s, const TTest *t, double timeout_s)
{
    add(s, t, 0, timeout_s, "", 0);
}

const char *pk_bin_path(const char *name)
{
    static char path[1024];
    const char *dir = getenv("PK_BIN_DIR");

    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "build/bin", name);
    return path;
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
        printf("%s\t%g\t%g\t%d\t", e->test->name, e->weight, e->timeout,
               e->graded);
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

static int run_one(Suite *s, const char *name)
{
    const char *fd_env = getenv("PK_GRADE_FD");
    const char *nonce_env = getenv("PK_GRADE_NONCE");
    int fd = -1;
    char nonce[128] = "";

    if (fd_env != NULL && nonce_env != NULL) {
        /* Move the evidence pipe out of the way and out of exec'd children,
         * and take the nonce out of the environment the test sees. */
        fd = fcntl(atoi(fd_env), F_DUPFD_CLOEXEC, 100);
        close(atoi(fd_env));
        snprintf(nonce, sizeof nonce, "%s", nonce_env);
        unsetenv("PK_GRADE_FD");
        unsetenv("PK_GRADE_NONCE");
    }

    size_t i;
    for (i = 0; i < nregistered; i++)
        if (strcmp(registry[i].test->name, name) == 0)
            break;
    if (i == nregistered) {
        fprintf(stderr, "no test named %s\n", name);
        return 2;
    }

    setenv("CK_RUN_CASE", name, 1);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int ran = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);

    char line[2048];
    int len;
    if (ran == 1 && failed == 0 && stray_threads()) {
        len = snprintf(line, sizeof line,
                       "FAIL a thread was still running after the test returned "
                       "(join every thread you create, or destroy the pool)\n");
        failed = 1;
    } else if (ran == 1 && failed == 0) {
        len = snprintf(line, sizeof line, "PASS %s %ld\n", nonce, (long)getpid());
    } else {
        TestResult **tr = srunner_failures(sr);
        const char *msg = (failed > 0 && tr != NULL) ? tr_msg(tr[0]) : "did not run";
        len = snprintf(line, sizeof line, "FAIL %s\n", msg);
        free(tr);
    }
    if (fd >= 0) {
        if (len > (int)sizeof line - 1)
            len = sizeof line - 1;
        if (write(fd, line, (size_t)len) < 0)
            perror("check_main: writing the grade evidence");
        close(fd);
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
