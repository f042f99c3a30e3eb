/* grade_main.c - pk-grade: runs chapters' test programs one test at a time
 * and turns the results into points, a summary table and results.json.
 *
 * usage: pk-grade [options] CHAPTER=PROGRAM[:BUILDLOG[:SRCDIR[:POINTS]]] ...
 *
 *   --json FILE        results in Gradescope's schema
 *   --csv FILE         one line per chapter, "chapter,points"
 *   --logs DIR         each test's output (default build/grade/logs)
 *   --hint             stop at the first failing test and print it alone
 *   --stop-first       stop each chapter at its first failure (make watch)
 *   --only A,B,...     run only these tests (make mutants' quick mode)
 *   --skeleton-check   exit 1 if any graded test PASSED (skeletons must
 *                      fail every graded test)
 *   --asan-make CMD    how to build a chapter's test program with
 *                      AddressSanitizer, to find the line of a crash
 *                      (CMD CH=<chapter> prints the program's path)
 *
 * BUILDLOG is the chapter's build output (compiler warnings and errors are
 * shown from it), SRCDIR the student's folder for the chapter (only
 * diagnostics and crash frames in it are shown as "your code"), POINTS
 * the chapter's share of the course total (100 when absent).
 * PK_PERF=0 in the environment leaves the performance tests out.
 * The parts: see grade.h.
 */
#include "grade.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: pk-grade [--json FILE] [--csv FILE] [--logs DIR] [--hint] "
                    "[--stop-first] [--only TESTS] [--skeleton-check] [--asan-make CMD] "
                    "CHAPTER=PROGRAM[:BUILDLOG[:SRCDIR[:POINTS]]] ...\n");
    return 2;
}

/* CHAPTER=PROGRAM[:BUILDLOG[:SRCDIR[:POINTS]]] */
static void parse_chapter(chapter *ch, char *arg)
{
    char *eq = strchr(arg, '=');
    *eq = '\0';
    snprintf(ch->name, sizeof ch->name, "%s", arg);
    ch->program = eq + 1;
    char *colon = strchr(eq + 1, ':');
    if (colon == NULL)
        return;
    *colon = '\0';
    ch->buildlog = colon + 1;
    colon = strchr(colon + 1, ':');
    if (colon == NULL)
        return;
    *colon = '\0';
    ch->srcdir = colon + 1;
    colon = strchr(colon + 1, ':');
    if (colon == NULL)
        return;
    *colon = '\0';
    ch->worth = atof(colon + 1);
}

static int has_failure(const chapter *ch)
{
    if (!ch->listed)
        return 1;
    for (size_t i = 0; i < ch->ntests; i++)
        if (ch->tests[i].max_points > 0 && ch->tests[i].result == OUT_FAIL)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    static chapter chs[MAX_CHAPTERS];
    size_t nch = 0;
    const char *perf = getenv("PK_PERF");
    options o = {.logs = "build/grade/logs",
                 .perf = !(perf != NULL && strcmp(perf, "0") == 0)};

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            o.json = argv[++i];
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
            o.csv = argv[++i];
        else if (strcmp(argv[i], "--logs") == 0 && i + 1 < argc)
            o.logs = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            o.only = argv[++i];
        else if (strcmp(argv[i], "--asan-make") == 0 && i + 1 < argc)
            o.asan_make = argv[++i];
        else if (strcmp(argv[i], "--hint") == 0)
            o.hint = 1;
        else if (strcmp(argv[i], "--stop-first") == 0)
            o.stop_first = 1;
        else if (strcmp(argv[i], "--skeleton-check") == 0)
            o.skeleton_check = 1;
        else if (strchr(argv[i], '=') != NULL && argv[i][0] != '-') {
            if (nch == MAX_CHAPTERS) {
                fprintf(stderr, "pk-grade: more than %d chapters\n", MAX_CHAPTERS);
                return 2;
            }
            parse_chapter(&chs[nch++], argv[i]);
        } else {
            return usage();
        }
    }
    o.colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    if (getenv("PK_FORCE_COLOR") != NULL) /* make watch keeps its colours */
        o.colour = 1;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    signal(SIGPIPE, SIG_IGN);

    contain_init(getenv("PK_GRADE_NO_PIDNS") == NULL);
    atexit(contain_cleanup);

    double t0 = now_s();
    for (size_t c = 0; c < nch; c++) {
        chapter *ch = &chs[c];
        if (!o.skeleton_check && !o.hint) {
            printf("grading %s ...\n", ch->name);
            fflush(stdout);
        }
        if (ch->buildlog != NULL && !o.skeleton_check)
            first_diagnostic(ch->buildlog, ch->srcdir, "warning", ch->warning,
                             sizeof ch->warning);
        if (grade_chapter(ch, &o) != 0)
            return 3; /* containment failed: nothing may be scored */
        score_chapter(ch, &o);
        if (o.hint && has_failure(ch))
            break; /* the first failure is found: later chapters can wait */
    }
    double secs = now_s() - t0;
    if (o.skeleton_check)
        return print_skeleton_check(chs, nch);
    if (o.hint)
        return print_hint(chs, nch, &o);
    print_table(chs, nch, secs, &o);
    if (o.json != NULL) {
        if (write_json(o.json, chs, nch, secs, &o) != 0)
            return 1;
        printf("results: %s\n", o.json);
    }
    if (o.csv != NULL && write_csv(o.csv, chs, nch) != 0)
        return 1;
    return 0;
}
