/* grade_protocol.h - what a chapter's test program (check_main.c) and the
 * grader (grade_*.c) say to each other. Both include this header, so the
 * two sides cannot drift apart.
 *
 * The test program is run two ways by the grader:
 *
 *   PROGRAM --list       one line per test on stdout, tab-separated:
 *                            NAME  WEIGHT  TIMEOUT_S  KIND  HINT
 *                        KIND is PK_KIND_GRADED, PK_KIND_UNGRADED or
 *                        PK_KIND_PERF (a graded performance test)
 *
 *   PROGRAM --run NAME   runs one test in this process. The grader passes
 *                        the write end of a pipe as file descriptor
 *                        $PK_GRADE_FD and a random $PK_GRADE_NONCE; the test
 *                        program takes both out of its environment before
 *                        the test starts. It writes ONE evidence line:
 *
 *     PASS <nonce> <score> <note>\t<message>\n
 *         written only after the test body returned with every check
 *         passed and no thread of the test still busy. <score> is the
 *         fraction of the test's points earned, 0 to 1 (below 1 only for
 *         performance tests: partial credit); <note> says what the score
 *         rests on (PK_NOTE_*); <message> the figures a performance test
 *         measured, or empty.
 *     FAIL\t<message>\n
 *         a check failed; <message> says which and why.
 *
 * A test that crashes, hangs or exits early writes no line and scores 0,
 * whatever its exit status. The nonce shows that a PASS line came from the
 * program this grader started for this test: the test's own code never sees
 * it in the environment (it could still find it in the test program's
 * memory: the grader does not defend against deliberate forgery).
 */
#ifndef GRADE_PROTOCOL_H
#define GRADE_PROTOCOL_H

#define PK_PROTO_MAX_TESTS 512    /* tests per chapter */
#define PK_PROTO_EVIDENCE_MAX 4096 /* bytes of evidence the grader reads */
#define PK_PROTO_MESSAGE_MAX 1800  /* longest message in an evidence line */

#define PK_PROTO_ENV_FD "PK_GRADE_FD"
#define PK_PROTO_ENV_NONCE "PK_GRADE_NONCE"

#define PK_PROTO_PASS "PASS"
#define PK_PROTO_FAIL "FAIL"

/* KIND in the --list output. */
#define PK_KIND_GRADED "graded"
#define PK_KIND_UNGRADED "ungraded"
#define PK_KIND_PERF "perf"

/* NOTE in a PASS line. */
#define PK_NOTE_OK "ok"         /* an ordinary test: every check passed */
#define PK_NOTE_PERF "perf"     /* a performance figure was measured; score
                                   is its partial credit */
#define PK_NOTE_BUSY "busy"     /* the machine was too busy to measure speed:
                                   the points are withheld, score 0 */
#define PK_NOTE_NOPERF "noperf" /* speed was not measured (PK_PERF=0, or a
                                   sanitizer or valgrind build) */

#endif /* GRADE_PROTOCOL_H */
