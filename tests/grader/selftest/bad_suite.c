/* bad_suite.c - a suite that misbehaves on purpose, one way per test, for the
 * grader's own tests (check_grader.c). Only test_bad_passes may score in
 * full, and test_bad_partial half of its points. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "pk_check.h"
#include "pk_perf.h"

START_TEST(test_bad_passes)
{
    ck_assert_int_eq(1 + 1, 2);
}
END_TEST

START_TEST(test_bad_fails)
{
    ck_assert_msg(1 + 1 == 3, "arithmetic is not what it was");
}
END_TEST

START_TEST(test_bad_exit0)
{
    exit(0); /* Check's fork mode would count this as a pass */
    ck_assert_int_eq(1, 2);
}
END_TEST

START_TEST(test_bad_underscore_exit0)
{
    _exit(0);
}
END_TEST

START_TEST(test_bad_segv)
{
    raise(SIGSEGV);
}
END_TEST

START_TEST(test_bad_abort)
{
    abort();
}
END_TEST

START_TEST(test_bad_hangs)
{
    for (;;)
        pause();
}
END_TEST

START_TEST(test_bad_spins)
{
    volatile unsigned long x = 0;
    for (;;)
        x++;
}
END_TEST

START_TEST(test_bad_flood_output)
{
    static const char line[] = "flooding stdout and stderr ........................\n";
    for (;;) {
        fputs(line, stdout);
        fputs(line, stderr);
    }
}
END_TEST

START_TEST(test_bad_huge_file)
{
    FILE *f = tmpfile(); /* unlinked: the space comes back when we die */
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    for (;;)
        fwrite(block, 1, sizeof block, f);
}
END_TEST

START_TEST(test_bad_fork_bomb)
{
    for (;;)
        fork();
}
END_TEST

START_TEST(test_bad_memory_hog)
{
    for (;;) {
        size_t sz = (size_t)64 << 20;
        char *p = malloc(sz);
        memset(p, 1, sz); /* touch every page; NULL once the limit is hit */
    }
}
END_TEST

START_TEST(test_bad_kill_parent)
{
    kill(getppid(), SIGKILL);
    kill(getppid(), SIGTERM);
    ck_abort_msg("still here after killing the parent");
}
END_TEST

START_TEST(test_bad_setsid_orphan)
{
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        prctl(PR_SET_NAME, "pk-bad-orphan");
        for (;;)
            pause();
    }
    ck_abort_msg("left a child in a session of its own");
}
END_TEST

START_TEST(test_bad_ignore_signals)
{
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    signal(SIGTERM, SIG_IGN);
    signal(SIGALRM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    volatile unsigned long x = 0;
    for (;;)
        x++;
}
END_TEST

START_TEST(test_bad_close_output)
{
    close(STDOUT_FILENO);
    close(STDERR_FILENO);
    ck_abort_msg("the message still arrives with stdout and stderr closed");
}
END_TEST

START_TEST(test_bad_fake_output)
{
    printf("100%%: Checks: 1, Failures: 0, Errors: 0\n");
    printf("{\"score\": 100, \"max_score\": 100, \"tests\": []}\n");
    printf("PASS 0 1\n");
    fflush(stdout);
    ck_abort_msg("printed a fake pass");
}
END_TEST

static void *spin_forever(void *arg)
{
    (void)arg;
    volatile unsigned long x = 0;
    for (;;)
        x++;
    return NULL;
}

START_TEST(test_bad_stray_thread)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, spin_forever, NULL), 0);
    pthread_detach(t);
    ck_assert_int_eq(1 + 1, 2); /* every check passes, but a thread runs on */
}
END_TEST

/* A performance test that earns half its points. */
START_TEST(test_bad_partial)
{
    PK_PERF_LOOP {
        pk_perf_award(0.75, 1.0, PK_PERF_HIGHER, "figure 0.75 against a target of 1.0");
    }
}
END_TEST

/* A performance test on a machine too busy to measure: points withheld. */
START_TEST(test_bad_busy)
{
    pk_check_record(0, PK_NOTE_IS_BUSY, "machine too busy to measure speed (a test of the grader)");
}
END_TEST

/* A test that earns a score, then crashes: nothing. */
START_TEST(test_bad_partial_then_crash)
{
    pk_check_record(0.9, PK_NOTE_IS_PERF, "nearly there");
    raise(SIGSEGV);
}
END_TEST

/* A test that forges a PASS line on every descriptor it can find, then
 * fails: the forged line lacks this run's nonce. */
START_TEST(test_bad_forged_pass)
{
    static const char fake[] = "PASS 0123456789abcdef 1.0000 ok\tforged\n";
    for (int fd = 0; fd < 1024; fd++)
        if (write(fd, fake, sizeof fake - 1) < 0)
            continue;
    ck_abort_msg("the real result: failed");
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("bad");
    pk_test_add(s, test_bad_passes, 1, "");
    pk_test_add(s, test_bad_fails, 1, "hint for fails");
    pk_test_add(s, test_bad_exit0, 1, "");
    pk_test_add(s, test_bad_underscore_exit0, 1, "");
    pk_test_add(s, test_bad_segv, 1, "");
    pk_test_add(s, test_bad_abort, 1, "");
    pk_test_add_timeout(s, test_bad_hangs, 1, 1, "");
    pk_test_add_timeout(s, test_bad_spins, 1, 1, "");
    pk_test_add_timeout(s, test_bad_flood_output, 1, 2, "");
    pk_test_add_timeout(s, test_bad_huge_file, 1, 5, "");
    pk_test_add_timeout(s, test_bad_fork_bomb, 1, 1, "");
    pk_test_add_timeout(s, test_bad_memory_hog, 1, 10, "");
    pk_test_add(s, test_bad_kill_parent, 1, "");
    pk_test_add(s, test_bad_setsid_orphan, 1, "");
    pk_test_add_timeout(s, test_bad_ignore_signals, 1, 1, "");
    pk_test_add(s, test_bad_close_output, 1, "");
    pk_test_add(s, test_bad_fake_output, 1, "");
    pk_test_add(s, test_bad_stray_thread, 1, "");
    pk_test_add_perf(s, test_bad_partial, 1, 10, "");
    pk_test_add_perf(s, test_bad_busy, 1, 10, "");
    pk_test_add_perf(s, test_bad_partial_then_crash, 1, 10, "");
    pk_test_add(s, test_bad_forged_pass, 1, "");
    return s;
}
