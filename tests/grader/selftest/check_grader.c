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
    /* pk_fixture_path returns a static buffer: copy each result. */
    snprintf(grader, sizeof grader, "%s", pk_fixture_path("pk-grade"));
    snprintf(bad, sizeof bad, "%s", pk_fixture_path("pk-grade-selftest-bad"));
    snprintf(path, sizeof path, "%s/results.json", dir);
    snprintf(cmd, sizeof cmd,
             "NO_COLOR=1 '%s' --json '%s' --logs '%s/logs' bad='%s' >'%s/out.txt' 2>&1",
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
                         "test_bad_abort", "test_bad_hangs", "test_bad_spins"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(strcmp(status_of(bad[i]), "failed") == 0,
                      "%s must score 0", bad[i]);
    /* 1 of 8 equal tests passed: 12.5 points of 100. */
    ck_assert_msg(strstr(json, "\"score\": 12.50,") != NULL,
                  "expected a total of 12.50, json: %.200s", json);
    ck_assert_msg(strstr(json, "\"max_score\": 100,") != NULL,
                  "expected max_score 100");
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

Suite *pk_suite(void)
{
    Suite *s = suite_create("grader");
    pk_test_add_ungraded(s, test_grader_contains_misbehaviour);
    pk_test_add_ungraded(s, test_grader_messages_teach);
    return s;
}
