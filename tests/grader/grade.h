/* grade.h - pk-grade's parts and what they share.
 *
 *   grade_main.c     the command line; wires the parts together
 *   grade_contain.c  containment: limits, PID namespace, pids cgroup
 *   grade_run.c      running one test program and collecting its evidence
 *   grade_score.c    a chapter's tests: which run, what each earns
 *   grade_report.c   the score table, the hint, results.json, points.csv
 *
 * The wire protocol between the test program and the grader is in
 * grade_protocol.h, which check_main.c includes too.
 */
#ifndef GRADE_H
#define GRADE_H

#include <stddef.h>
#include <sys/types.h>

#include "grade_protocol.h"

#define MAX_CHAPTERS 64

typedef enum test_kind { KIND_UNGRADED, KIND_GRADED, KIND_PERF } test_kind;

typedef enum outcome {
    OUT_NOT_RUN, /* not run: --only, after the first failure, PK_PERF=0 */
    OUT_PASS,    /* every check passed, full points */
    OUT_PARTIAL, /* a performance test below its target: part of the points */
    OUT_BUSY,    /* a performance test on a busy machine: points withheld */
    OUT_FAIL,    /* a check failed, or the test crashed, hung, exited early */
} outcome;

typedef struct test {
    char name[128];
    double weight, timeout;
    test_kind kind;
    char hint[512];
    outcome result;
    double fraction;   /* of the test's points earned, 0..1 */
    char msg[2048];    /* what happened, in the course's words */
    char where[1024];  /* the student's file:line it points at, or "" */
    double seconds;
    int crashed;       /* died by a signal: worth a sanitizer re-run */
    double points, max_points; /* set by score_chapter() */
} test;

typedef struct chapter {
    char name[64];
    const char *program;  /* the test program */
    const char *buildlog; /* make's output for it, or NULL */
    const char *srcdir;   /* the student's folder for this chapter, or NULL */
    test tests[PK_PROTO_MAX_TESTS];
    size_t ntests;
    int listed;           /* --list worked: the chapter built and starts */
    char build_error[2048];
    char warning[2048];   /* the first compiler warning in the student's files */
    double worth;              /* the chapter's points in the course total;
                                  0 means 100 */
    double points, max_points; /* max_points is worth */
    size_t passed, graded, not_run;
} chapter;

typedef struct options {
    const char *json, *csv, *logs;
    int skeleton_check;   /* every graded test must FAIL */
    int hint;             /* stop at the first failure, print it alone */
    int stop_first;       /* stop each chapter at its first failure (watch) */
    int perf;             /* 0: PK_PERF=0, performance tests not run */
    int colour;
    const char *only;     /* comma-separated test names, or NULL for all */
    const char *asan_make;/* shell command that builds the ASan test program
                             of a chapter (CH=<name> appended; it prints the
                             program's path last), or NULL */
} options;

/* ---- grade_contain.c -------------------------------------------------- */
void contain_init(int allow_pidns);
void contain_cleanup(void);
void contain_kill_all(void);
/* In a forked child: apply the limits and exec argv (never returns). A
 * limit that cannot be set is reported on err_fd and the child exits. */
void contain_exec(char *const argv[], double timeout, int err_fd);

/* ---- grade_run.c ------------------------------------------------------ */
typedef struct run_result {
    int status;      /* from waitpid */
    int signal;      /* the signal that ended the test, or 0 */
    int timed_out;
    char evidence[PK_PROTO_EVIDENCE_MAX];
    char contain_error[512]; /* a limit could not be set: grading must stop */
    double seconds;
} run_result;

/* Run argv contained, with output to logpath (or into capture). extra_env
 * is NULL or "NAME=VALUE" strings to set in the child. progress: print a
 * line when the run takes more than a second. 0, or -1 if it could not
 * start (errno). */
int run_limited(char *const argv[], double timeout, const char *logpath,
                const char *nonce, const char *const extra_env[],
                const char *progress, run_result *rr, char *capture,
                size_t capcap);
/* --list the chapter's tests; -1 with ch->build_error when it cannot. */
int load_tests(chapter *ch);
/* Run one test; fills t->result, fraction, msg, where, seconds. Returns -1
 * when containment failed (grading must stop), else 0. */
int run_test(chapter *ch, test *t, const options *o);
/* The first compiler diagnostic of the student's files in a build log, with
 * gcc's source and caret lines: kind is "warning" or "error". */
int first_diagnostic(const char *logpath, const char *srcdir, const char *kind,
                     char *out, size_t size);

/* ---- grade_score.c ---------------------------------------------------- */
/* Run the chapter's tests as the options say, then score it. -1 when
 * grading must stop (containment failed). */
int grade_chapter(chapter *ch, const options *o);
/* Points of each test and of the chapter, computed once, from results. */
void score_chapter(chapter *ch, const options *o);

/* ---- grade_report.c --------------------------------------------------- */
void print_table(const chapter *chs, size_t nch, double secs, const options *o);
int print_hint(const chapter *chs, size_t nch, const options *o);
int print_skeleton_check(const chapter *chs, size_t nch);
int write_json(const char *path, const chapter *chs, size_t nch, double secs,
               const options *o);
int write_csv(const char *path, const chapter *chs, size_t nch);

/* Small shared helpers (grade_run.c). */
double now_s(void);
void mkdirs(const char *path);

#endif /* GRADE_H */
