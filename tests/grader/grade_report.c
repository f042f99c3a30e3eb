/* grade_report.c - what the grader tells people: the score table and the
 * next step (students), the skeleton check (authors), results.json in
 * Gradescope's schema and points.csv (instructors). Points come from
 * score_chapter(); nothing here computes them again.
 */
#include "grade.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BAR_WIDTH 20
#define FULL 99.995 /* points at which a chapter counts as complete */

typedef struct colours {
    const char *green, *red, *yellow, *bold, *off;
} colours;

static colours colours_for(const options *o)
{
    if (!o->colour)
        return (colours){"", "", "", "", ""};
    return (colours){"\033[32m", "\033[31m", "\033[33m", "\033[1m", "\033[0m"};
}

/* "1 chapter", "2 chapters" */
static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Print text indented by `indent` spaces on every line. */
static void print_indented(const char *text, int indent)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        printf("%*s%.*s\n", indent, "", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

static const test *first_failure(const chapter *ch)
{
    for (size_t i = 0; i < ch->ntests; i++) {
        const test *t = &ch->tests[i];
        if (t->max_points > 0 && t->result == OUT_FAIL)
            return t;
    }
    return NULL;
}

static void print_failure(const chapter *ch, const test *t, const colours *c)
{
    (void)ch;
    printf("    next: %s%s%s\n", c->bold, t->name, c->off);
    if (t->where[0])
        print_indented(t->where, 6);
    print_indented(t->msg, 6);
    if (t->hint[0])
        printf("      hint: %s\n", t->hint);
}

void print_table(const chapter *chs, size_t nch, double secs, const options *o)
{
    colours c = colours_for(o);
    double score = 0, max = 0;
    size_t done = 0;

    printf("\n%s%-16s %-*s %7s %14s%s\n", c.bold, "chapter", BAR_WIDTH + 2,
           "progress", "tests", "points", c.off);
    for (size_t k = 0; k < nch; k++) {
        const chapter *ch = &chs[k];
        double pct = ch->max_points > 0 ? 100 * ch->points / ch->max_points : 0;
        int filled = (int)(pct / 100.0 * BAR_WIDTH + 0.5);
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        const char *col = pct >= FULL ? c.green : ch->points > 0 ? c.yellow : c.red;
        printf("%-16s %s[%s]%s %3zu/%-3zu %7.1f / %-4.0f\n", ch->name, col, bar,
               c.off, ch->passed, ch->graded, ch->points, ch->max_points);
        score += ch->points;
        max += ch->max_points;
        if (ch->listed && pct >= FULL)
            done++;
        if (!ch->listed) {
            printf("%s", c.red);
            print_indented(ch->build_error, 4);
            printf("%s", c.off);
            continue;
        }
        if (ch->warning[0]) {
            printf("    %swarning in your code%s (all of them: %s):\n", c.yellow,
                   c.off, ch->buildlog ? ch->buildlog : "the build log");
            print_indented(ch->warning, 6);
        }
        const test *f = first_failure(ch);
        if (f != NULL)
            print_failure(ch, f, &c);
        /* Speed: each performance test below full points says why. */
        for (size_t i = 0; i < ch->ntests; i++) {
            const test *t = &ch->tests[i];
            if (t->max_points <= 0)
                continue;
            if (t->result == OUT_PARTIAL)
                printf("    speed: %s: %.1f of %.1f points\n      %s\n", t->name,
                       t->points, t->max_points, t->msg);
            else if (t->result == OUT_BUSY)
                printf("    %sspeed not measured%s: %s: %s\n", c.yellow, c.off,
                       t->name, t->msg);
        }
        if (!o->perf)
            printf("    (PK_PERF=0: performance tests not run; points are for "
                   "correctness only)\n");
    }
    printf("%sTotal: %.1f / %.0f points, %zu of %zu %s complete (%.1f s)%s\n",
           c.bold, score, max, done, nch, plural(nch, "chapter", "chapters"),
           secs, c.off);
}

/* `make hint`: the next failing test only, so the student sees one step. */
int print_hint(const chapter *chs, size_t nch, const options *o)
{
    for (size_t k = 0; k < nch; k++) {
        const chapter *ch = &chs[k];
        if (!ch->listed) {
            printf("%s:\n", ch->name);
            print_indented(ch->build_error, 2);
            return 0;
        }
        if (ch->warning[0]) {
            printf("%s: warning in your code:\n", ch->name);
            print_indented(ch->warning, 2);
            printf("\n");
        }
        const test *t = first_failure(ch);
        if (t == NULL) {
            size_t partial = 0;
            for (size_t i = 0; i < ch->ntests; i++)
                partial += ch->tests[i].result == OUT_PARTIAL;
            printf("%s: all %zu %s pass%s.\n", ch->name, ch->graded,
                   plural(ch->graded, "test", "tests"),
                   partial ? " (some below their speed target: run make grade)" : "");
            continue;
        }
        size_t before = 0;
        for (size_t i = 0; i < ch->ntests && &ch->tests[i] != t; i++)
            before += ch->tests[i].result == OUT_PASS;
        printf("%s: %zu %s passed before this one. Next step:\n\n", ch->name,
               before, plural(before, "test", "tests"));
        printf("  test:     %s\n", t->name);
        if (t->where[0]) {
            printf("  where:\n");
            print_indented(t->where, 4);
        }
        printf("  result:\n");
        print_indented(t->msg, 4);
        if (t->hint[0])
            printf("  hint:     %s\n", t->hint);
        printf("  log:      %s/%s/%s.log\n", o->logs, ch->name, t->name);
        printf("\n(fix this, then run make hint again; make grade shows every test)\n");
        return 0;
    }
    return 0;
}

int print_skeleton_check(const chapter *chs, size_t nch)
{
    int bad = 0;
    for (size_t k = 0; k < nch; k++) {
        const chapter *ch = &chs[k];
        if (!ch->listed) {
            printf("FAIL %s: %s\n", ch->name, ch->build_error);
            bad = 1;
            continue;
        }
        size_t leaks = 0;
        for (size_t i = 0; i < ch->ntests; i++) {
            const test *t = &ch->tests[i];
            if (t->max_points > 0 && t->result != OUT_FAIL) {
                printf("FAIL %s: %s does not fail on the skeleton (%s)\n", ch->name,
                       t->name, t->msg);
                leaks++;
            }
        }
        printf("%s %s: %zu graded tests, %zu fail on the skeleton\n",
               leaks ? "FAIL" : "ok  ", ch->name, ch->graded, ch->graded - leaks);
        bad |= leaks > 0;
    }
    return bad;
}

/* ---- results.json (Gradescope) and points.csv --------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static const char *status_of(const test *t)
{
    return t->result == OUT_PASS ? "passed" : "failed";
}

int write_json(const char *path, const chapter *chs, size_t nch, double secs,
               const options *o)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "pk-grade: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    double score = 0, max = 0;
    int busy = 0;
    for (size_t k = 0; k < nch; k++) {
        score += chs[k].points;
        max += chs[k].max_points;
        for (size_t i = 0; i < chs[k].ntests; i++)
            busy |= chs[k].tests[i].result == OUT_BUSY;
    }
    fprintf(f, "{\n  \"score\": %.2f,\n  \"max_score\": %.0f,\n"
               "  \"execution_time\": %.2f,\n", score, max, secs);
    if (!o->perf || busy) {
        fprintf(f, "  \"output\": ");
        json_string(f, !o->perf
                       ? "PK_PERF=0: performance tests were not run; the points "
                         "are for correctness only."
                       : "Some performance tests could not measure speed: the "
                         "machine was too busy. Their points were withheld; grade "
                         "again on a quiet machine.");
        fprintf(f, ",\n");
    }
    fprintf(f, "  \"tests\": [");
    const char *sep = "\n";
    for (size_t k = 0; k < nch; k++) {
        const chapter *ch = &chs[k];
        if (!ch->listed) {
            /* Did not build or list: one entry carries the chapter's 100. */
            fprintf(f, "%s    {\"name\": ", sep);
            json_string(f, ch->name);
            fprintf(f, ", \"score\": 0, \"max_score\": %.0f, \"status\": "
                       "\"failed\", \"output\": ", ch->max_points);
            json_string(f, ch->build_error);
            fprintf(f, "}");
            sep = ",\n";
            continue;
        }
        for (size_t i = 0; i < ch->ntests; i++) {
            const test *t = &ch->tests[i];
            if (t->kind == KIND_UNGRADED)
                continue;
            char name[256 + 128], out[4096];
            snprintf(name, sizeof name, "%.63s: %.127s", ch->name, t->name);
            if (t->result == OUT_PASS)
                snprintf(out, sizeof out, "%s", t->msg);
            else if (t->max_points <= 0)
                snprintf(out, sizeof out, "not run%s%s",
                         t->kind == KIND_PERF && !o->perf ? " (PK_PERF=0)" : "",
                         t->msg[0] ? ": " : "");
            else
                snprintf(out, sizeof out, "%s%s%s\n%.1f of %.1f points\nHint: %s",
                         t->where, t->where[0] ? "\n" : "", t->msg, t->points,
                         t->max_points, t->hint);
            if (t->max_points <= 0 && t->msg[0])
                strncat(out, t->msg, sizeof out - strlen(out) - 1);
            fprintf(f, "%s    {\"name\": ", sep);
            json_string(f, name);
            fprintf(f, ", \"score\": %.4f, \"max_score\": %.4f, ", t->points,
                    t->max_points);
            if (t->max_points > 0)
                fprintf(f, "\"status\": \"%s\", ", status_of(t));
            fprintf(f, "\"execution_time\": %.3f, \"output\": ", t->seconds);
            json_string(f, out);
            fprintf(f, "}");
            sep = ",\n";
        }
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f);
}

int write_csv(const char *path, const chapter *chs, size_t nch)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "pk-grade: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (size_t k = 0; k < nch; k++)
        fprintf(f, "%s,%.2f\n", chs[k].name, chs[k].points);
    return fclose(f);
}
