/**
 * @file pk_check.h
 * @brief How a chapter's Check suite registers its tests for grading.
 *
 * Every chapter's test program is one Check suite built by `pk_suite()`,
 * which the shared main (tests/grader/check_main.c) runs. Tests are added
 * with pk_test_add() instead of tcase_add_test() so that each test gets its
 * own TCase (the grader runs them one at a time, by name), a weight, a
 * timeout and a hint for the student.
 *
 * @code
 *     START_TEST(test_warmup_sum_small)
 *     {
 *         ck_assert_uint_eq(warmup_sum_squares(3), 5);
 *     }
 *     END_TEST
 *
 *     Suite *pk_suite(void)
 *     {
 *         Suite *s = suite_create("00-warmup");
 *         pk_test_add(s, test_warmup_sum_small, 1,
 *                     "0*0 + 1*1 + 2*2 = 5: the range stops before n");
 *         return s;
 *     }
 * @endcode
 */
#ifndef PK_CHECK_H
#define PK_CHECK_H

#include <check.h>
#include <errno.h>
#include <string.h>

/** Seconds a test may run before Check (or the grader) stops it. */
#define PK_TEST_TIMEOUT 10.0
/** Seconds a performance test may run (it measures several rounds). */
#define PK_PERF_TIMEOUT 60.0

/** Build the chapter's suite. Each chapter's test files define exactly one. */
Suite *pk_suite(void);

/**
 * @brief Add a graded test in a TCase of its own.
 * @param s the suite.
 * @param t the test (the name given to START_TEST).
 * @param weight its share of the chapter's 100 points, relative to the
 *        other tests' weights (1 for an ordinary test).
 * @param hint what a student whose code fails this test should look at.
 */
void pk_test_add(Suite *s, const TTest *t, double weight, const char *hint);

/**
 * @brief Same as pk_test_add() with a timeout other than PK_TEST_TIMEOUT.
 * @param s the suite.
 * @param t the test.
 * @param weight its share of the points.
 * @param timeout_s seconds before the test counts as hung.
 * @param hint the hint for a failure.
 */
void pk_test_add_timeout(Suite *s, const TTest *t, double weight,
                         double timeout_s, const char *hint);

/**
 * @brief Add a test that runs in `make test` but earns no points and is not
 *        required to fail on the skeleton (for code the chapter provides).
 * @param s the suite.
 * @param t the test.
 */
void pk_test_add_ungraded(Suite *s, const TTest *t);

/**
 * @brief pk_test_add_ungraded() with a timeout other than PK_TEST_TIMEOUT.
 * @param s the suite.
 * @param t the test.
 * @param timeout_s seconds before the test counts as hung.
 */
void pk_test_add_ungraded_timeout(Suite *s, const TTest *t, double timeout_s);

/**
 * @brief Add a graded performance test (see pk_perf.h): it checks results
 *        first, then measures a ratio and earns part of its weight.
 * @param s the suite.
 * @param t the test.
 * @param weight its share of the chapter's points.
 * @param timeout_s seconds before the test counts as hung
 *        (PK_PERF_TIMEOUT suits most).
 * @param hint the hint for a failure or a low score.
 *
 * With PK_PERF=0 in the environment the grader skips performance tests and
 * grades correctness only.
 */
void pk_test_add_perf(Suite *s, const TTest *t, double weight,
                      double timeout_s, const char *hint);

/** What a test's score rests on (see grade_protocol.h's PK_NOTE_*). */
typedef enum pk_note {
    PK_NOTE_IS_OK,     /**< an ordinary test */
    PK_NOTE_IS_PERF,   /**< a measured performance figure */
    PK_NOTE_IS_BUSY,   /**< too busy to measure: points withheld */
    PK_NOTE_IS_NOPERF, /**< speed not measured (PK_PERF=0, sanitizers) */
} pk_note;

/**
 * @brief Record the running test's score and the message that explains it
 *        (used by pk_perf.c; a test normally calls pk_perf_award()).
 * @param score fraction of the test's points, 0 to 1.
 * @param note what the score rests on.
 * @param fmt printf format of the message (the figures).
 */
void pk_check_record(double score, pk_note note, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * @brief The recorded score of the running test.
 * @param note receives what it rests on; may be NULL.
 * @param msg receives the message; may be NULL.
 * @param size room in @p msg.
 * @return the score, or -1 when nothing was recorded.
 */
double pk_check_recorded(pk_note *note, char *msg, size_t size);

/**
 * @brief 1 when the test runs under the grader (one test per process, its
 *        score reported as evidence), 0 in `make test` (Check's own runner).
 * @return the mode.
 */
int pk_check_graded_run(void);

/**
 * @brief errno's symbolic name, for messages: "EINVAL", "ENOSYS", ...
 * @param e an errno value.
 * @return a static string; "0" for 0, "errno N" for one not known here.
 */
const char *pk_errno_name(int e);

/**
 * @brief Path of a program the build puts in build/bin (e.g. "pk-grade").
 * @param name the program's name.
 * @return a static buffer with the path: $PK_BIN_DIR/name, where make sets
 *         PK_BIN_DIR to build/bin.
 */
const char *pk_bin_path(const char *name);

/**
 * @brief Assert that @p call (an int-returning call) fails the course's way
 *        for a bad argument: returns -1 and sets errno to EINVAL.
 * @param call the call, evaluated once with errno cleared first.
 * @param what a description for the failure message, e.g. the call's text.
 */
#define PK_EXPECT_EINVAL(call, what)                                        \
    do {                                                                    \
        errno = 0;                                                          \
        int pk_rc_ = (call);                                                \
        int pk_errno_ = errno;                                              \
        ck_assert_msg(pk_rc_ == -1 && pk_errno_ == EINVAL,                  \
                      "%s returned %d with errno = %s, expected -1 with "   \
                      "errno = EINVAL (a bad argument must be refused, "    \
                      "not used)", (what), pk_rc_,                          \
                      pk_errno_name(pk_errno_));                            \
    } while (0)

/**
 * @name Assertions that speak the course's words
 * A failing graded test must tell the student what was called, what came
 * back and what was expected, never Check's raw expression text
 * (tests/grader/check-messages.sh refuses ck_assert() and the typed
 * ck_assert_int_eq() family in graded tests). Use ck_assert_msg() with a
 * sentence, or these, which name errno values by name:
 * @code
 *     PK_EXPECT_INT("thr_fan_out(tasks, 4, 2)", thr_fan_out(tasks, 4, 2), 0);
 *     // -> "thr_fan_out(tasks, 4, 2) returned -1, expected 0 (errno = ENOSYS)"
 * @endcode
 * @{
 */
/** @brief @p got (a signed integer) must equal @p want; @p what names the call. */
#define PK_EXPECT_INT(what, got, want)                                      \
    do {                                                                    \
        errno = 0;                                                          \
        long long pk_g_ = (long long)(got);                                 \
        int pk_e_ = errno;                                                  \
        long long pk_w_ = (long long)(want);                                \
        ck_assert_msg(pk_g_ == pk_w_, "%s returned %lld, expected %lld%s%s%s",\
                      (what), pk_g_, pk_w_, pk_e_ ? " (errno = " : "",      \
                      pk_e_ ? pk_errno_name(pk_e_) : "", pk_e_ ? ")" : ""); \
    } while (0)

/** @brief @p got (an unsigned integer) must equal @p want. */
#define PK_EXPECT_UINT(what, got, want)                                     \
    do {                                                                    \
        unsigned long long pk_g_ = (unsigned long long)(got);               \
        unsigned long long pk_w_ = (unsigned long long)(want);              \
        ck_assert_msg(pk_g_ == pk_w_, "%s returned %llu, expected %llu",    \
                      (what), pk_g_, pk_w_);                                \
    } while (0)

/** @brief @p call must return -1 and set errno to @p want_errno. */
#define PK_EXPECT_ERRNO(what, call, want_errno)                             \
    do {                                                                    \
        errno = 0;                                                          \
        long long pk_g_ = (long long)(call);                                \
        int pk_e_ = errno;                                                  \
        ck_assert_msg(pk_g_ == -1 && pk_e_ == (want_errno),                 \
                      "%s returned %lld with errno = %s, expected -1 with " \
                      "errno = %s", (what), pk_g_, pk_errno_name(pk_e_),    \
                      pk_errno_name(want_errno));                           \
    } while (0)

/** @brief @p call must return a non-NULL pointer. */
#define PK_EXPECT_NONNULL(what, call)                                       \
    do {                                                                    \
        errno = 0;                                                          \
        const void *pk_p_ = (const void *)(call);                           \
        int pk_e_ = errno;                                                  \
        ck_assert_msg(pk_p_ != NULL, "%s returned NULL (errno = %s), "      \
                      "expected a pointer", (what), pk_errno_name(pk_e_));  \
    } while (0)

/** @brief Two strings must be equal. */
#define PK_EXPECT_STR(what, got, want)                                      \
    do {                                                                    \
        const char *pk_g_ = (got), *pk_w_ = (want);                         \
        ck_assert_msg(pk_g_ != NULL && strcmp(pk_g_, pk_w_) == 0,           \
                      "%s gave \"%s\", expected \"%s\"", (what),            \
                      pk_g_ ? pk_g_ : "(NULL)", pk_w_);                     \
    } while (0)
/** @} */

#endif /* PK_CHECK_H */
