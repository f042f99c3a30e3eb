/* check_grader.c - the grader grades a misbehaving suite (bad_suite.c) and
 * gives points only to the one test that really passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pk_check.h"

static char json[64 * 1024];

/* Run pk-grade on the bad suite once per test process; read results.json. */
static void grade_bad_suite(void)
{
    char dir[] = "/tmp/pk-grader-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[4096], path[256], grader[1024], bad[1024];
    /* pk_bin_path returns a static buffer: copy each result. */
    snprintf(grader, sizeof grader, "%s", pk_bin_path("pk-grade"));
    snprintf(bad, sizeof bad, "%s", pk_bin_path("pk-grade-selftest-bad"));
    snprintf(path, sizeof path, "%s/results.json", dir);
    /* The bad suite's performance test must measure even when this
     * program runs under valgrind (make valgrind) or with PK_PERF=0 (CI's
     * clang run): the grader's partial credit is what is tested. */
    snprintf(cmd, sizeof cmd,
             "unset PK_UNDER_VALGRIND PK_PERF; NO_COLOR=1 PK_GRADE_MEM_MB=512 '%s' --json '%s' --logs '%s/logs' bad='%s' >'%s/out.txt' 2>&1",
             grader, path, dir, bad, dir);
    int rc = system(cmd);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "pk-grade failed: %s", cmd);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t k = fread(json, 1, sizeof json - 1, f);
    json[k] = '\0';
    fclose(f);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The score the JSON gives test NAME. */
static double score_of(const char *name)
{
    char key[256];
    snprintf(key, sizeof key, "\"name\": \"bad: %s\"", name);
    const char *p = strstr(json, key);
    ck_assert_msg(p != NULL, "%s missing from results.json", name);
    const char *sc = strstr(p, "\"score\": ");
    ck_assert_msg(sc != NULL, "%s has no score", name);
    return atof(sc + 9);
}

/* The status the JSON gives test NAME. */
static const char *status_of(const char *name)
{
    char key[256];
    snprintf(key, sizeof key, "\"name\": \"bad: %s\"", name);
    const char *p = strstr(json, key);
    ck_assert_msg(p != NULL, "%s missing from results.json", name);
    const char *st = strstr(p, "\"status\": \"");
    ck_assert_ptr_nonnull(st);
    return strncmp(st + 11, "passed", 6) == 0 ? "passed" : "failed";
}

START_TEST(test_grader_contains_misbehaviour)
{
    grade_bad_suite();
    ck_assert_str_eq(status_of("test_bad_passes"), "passed");
    const char *bad[] = {"test_bad_fails", "test_bad_exit0",
                         "test_bad_underscore_exit0", "test_bad_segv",
                         "test_bad_abort", "test_bad_hangs", "test_bad_spins",
                         "test_bad_flood_output", "test_bad_huge_file",
                         "test_bad_fork_bomb", "test_bad_memory_hog",
                         "test_bad_kill_parent", "test_bad_setsid_orphan",
                         "test_bad_ignore_signals", "test_bad_close_output",
                         "test_bad_fake_output", "test_bad_stray_thread",
                         "test_bad_busy", "test_bad_partial_then_crash",
                         "test_bad_forged_pass", "test_bad_partial"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(strcmp(status_of(bad[i]), "failed") == 0,
                      "%s must score 0", bad[i]);
    /* 22 equal tests: one passed (4.55 points) and one earned half of its
     * points (2.27): 6.82 of 100. */
    ck_assert_msg(strstr(json, "\"score\": 6.82,") != NULL,
                  "expected a total of 6.82, json: %.200s", json);
    ck_assert_msg(strstr(json, "\"max_score\": 100,") != NULL,
                  "expected max_score 100");
}
END_TEST

START_TEST(test_grader_partial_credit)
{
    grade_bad_suite();
    double half = score_of("test_bad_partial");
    ck_assert_msg(half > 2.26 && half < 2.28, "a performance test at 0.75 of a "
                  "target of 1.0 earns half its 4.55 points: got %.4f", half);
    ck_assert_msg(score_of("test_bad_busy") == 0, "a busy machine's test earns 0");
    ck_assert_msg(strstr(json, "machine too busy") != NULL,
                  "the busy test must say why it earned nothing");
    ck_assert_msg(score_of("test_bad_partial_then_crash") == 0,
                  "a test that recorded a score and then crashed earns 0");
    ck_assert_msg(score_of("test_bad_forged_pass") == 0,
                  "a forged PASS line without the nonce earns 0");
    ck_assert_msg(strstr(json, "figure 0.75 against a target of 1.0") != NULL,
                  "a performance test's figures must reach results.json");
}
END_TEST

START_TEST(test_grader_messages_teach)
{
    grade_bad_suite();
    ck_assert_msg(strstr(json, "arithmetic is not what it was") != NULL,
                  "the failing assertion's message must reach the student");
    ck_assert_msg(strstr(json, "hint for fails") != NULL, "the hint must be shown");
    ck_assert_msg(strstr(json, "exited with status 0 before the test finished") != NULL,
                  "an early exit(0) must be named as such");
    ck_assert_msg(strstr(json, "timed out") != NULL, "a hang must be named");
    ck_assert_msg(strstr(json, "crashed: killed by signal") != NULL,
                  "a crash must be named");
}
END_TEST

/* 1 if a process named NAME (its comm) is running. */
static int process_named(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "grep -qx '%s' /proc/[0-9]*/comm 2>/dev/null", name);
    return system(cmd) == 0;
}

START_TEST(test_grader_leaves_no_process)
{
    grade_bad_suite();
    /* test_bad_setsid_orphan's child left its session and sleeps forever;
     * the grader must have killed it (PID namespace, or cgroup). */
    ck_assert_msg(!process_named("pk-bad-orphan"),
                  "a process of the graded code outlived grading");
    ck_assert_msg(strstr(json, "a thread was still running") != NULL,
                  "a thread left running must cost the test its points");
    ck_assert_msg(strstr(json, "File size limit exceeded") != NULL,
                  "a huge file must be stopped by the file size limit");
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("grader");
    /* Grading the bad suite takes several seconds of fixed timeouts. */
    pk_test_add_ungraded_timeout(s, test_grader_contains_misbehaviour, 120);
    pk_test_add_ungraded_timeout(s, test_grader_messages_teach, 120);
    pk_test_add_ungraded_timeout(s, test_grader_partial_credit, 120);
    pk_test_add_ungraded_timeout(s, test_grader_leaves_no_process, 120);
    return s;
}
