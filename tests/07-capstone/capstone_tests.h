/* capstone_tests.h - what chapter 07's three test files share.
 *
 *   check_capstone.c  the data, the item functions, the drivers, the
 *                     verifier, the reduce; and pk_suite(), which adds all
 *   check_pool.c      the thread pool (pool.h)
 *   check_perf.c      the performance tests and the report (REPORT.md)
 */
#ifndef CAPSTONE_TESTS_H
#define CAPSTONE_TESTS_H

#include <check.h>
#include <stddef.h>

/** Add the thread pool's tests (check_pool.c). */
void capstone_add_pool_tests(Suite *s);

/** Add the performance tests and the report's tests (check_perf.c). */
void capstone_add_perf_tests(Suite *s);

/** 1 under valgrind (PK_UNDER_VALGRIND=1): tests then scale sizes down. */
int capstone_under_valgrind(void);

#endif /* CAPSTONE_TESTS_H */
