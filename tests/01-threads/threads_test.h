/* threads_test.h - what the chapter's three test files share: small helpers
 * (defined in check_threads.c) and the functions that add each file's
 * tests to the suite. */
#ifndef PK_THREADS_TEST_H
#define PK_THREADS_TEST_H

#include <check.h>
#include <pthread.h>

/** 3 s: the deadline of "this will never happen" waits. */
#define WAIT_LIMIT_NS 3000000000ull

/* 1 under valgrind (PK_UNDER_VALGRIND=1): tests scale their sizes down. */
int under_valgrind(void);
/* Sleep @p ms milliseconds (resumes after a signal). */
void sleep_ms(unsigned ms);
/* Threads of this process right now (entries of /proc/self/task). */
int thread_count(void);
/* Wait until the process has @p want threads; 0, or -1 after 3 s. */
int wait_threads(int want);
/* pthread_join with a deadline of @p ms: 0 if joined, else an error number
 * (the thread is then left running; the test is about to fail). */
int join_within(pthread_t t, unsigned ms);

/* Run the race helper (tests/01-threads/race/race.c) with three
 * arguments; its one-line verdict goes into @p line. 0 when it said OK (or
 * cannot run instrumented in an ASan build), -1 otherwise. */
int run_race_helper(const char *a1, const char *a2, const char *a3,
                    char *line, size_t len);

/* Exercise 5's tests (check_ring.c) and the performance tests
 * (check_perf.c). */
void add_ring_tests(Suite *s);
void add_perf_tests(Suite *s);

#endif /* PK_THREADS_TEST_H */
