/* bad_suite.c - a suite that misbehaves on purpose, one way per test, for the
 * grader's own tests (check_grader.c). Only test_bad_passes may score. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "pk_check.h"

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
    return s;
}
