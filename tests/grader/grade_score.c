/* grade_score.c - which of a chapter's tests run, and what each earns.
 *
 * A chapter is worth its points in the course total (100 unless the
 * chapter's chapter.mk says otherwise), shared among its graded tests
 * (ordinary and performance) by weight. An ordinary test earns all of its share or
 * nothing; a performance test earns the fraction its evidence reports
 * (partial credit), and nothing when the machine was too busy to measure.
 * Tests that were not run are left out of the total only when the run was
 * asked to leave them out (PK_PERF=0 leaves out performance tests, --only
 * leaves out the others); a test skipped because an earlier one failed
 * (--stop-first, --hint) still counts, with 0 points.
 */
#include "grade.h"

#include <stdio.h>
#include <string.h>

/* 1 if name is in the comma-separated list. */
static int listed_in(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p != NULL && *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, name, n) == 0)
            return 1;
        p += k + (p[k] == ',');
    }
    return 0;
}

/* Whether a test counts toward the chapter's total in this run. */
static int counts(const test *t, const options *o)
{
    if (t->kind == KIND_UNGRADED)
        return 0;
    if (t->kind == KIND_PERF && !o->perf)
        return 0;
    if (o->only != NULL && !listed_in(o->only, t->name))
        return 0;
    return 1;
}

void score_chapter(chapter *ch, const options *o)
{
    double total = 0;
    for (size_t i = 0; i < ch->ntests; i++)
        if (counts(&ch->tests[i], o))
            total += ch->tests[i].weight;

    ch->points = 0;
    ch->passed = ch->graded = ch->not_run = 0;
    /* When the run leaves tests out on purpose, the points are shared
     * among those that remain. */
    ch->max_points = ch->worth > 0 ? ch->worth : 100;
    for (size_t i = 0; i < ch->ntests; i++) {
        test *t = &ch->tests[i];
        t->points = t->max_points = 0;
        if (!counts(t, o))
            continue;
        t->max_points = total > 0 ? ch->max_points * t->weight / total : 0;
        t->points = t->fraction * t->max_points;
        ch->points += t->points;
        ch->graded++;
        if (t->result == OUT_PASS)
            ch->passed++;
        if (t->result == OUT_NOT_RUN)
            ch->not_run++;
    }
}

int grade_chapter(chapter *ch, const options *o)
{
    if (load_tests(ch) != 0)
        return 0;
    int stopped = 0;
    for (size_t i = 0; i < ch->ntests; i++) {
        test *t = &ch->tests[i];
        t->result = OUT_NOT_RUN;
        t->fraction = 0;
        if (!counts(t, o))
            continue;
        if (stopped) {
            snprintf(t->msg, sizeof t->msg, "not run: an earlier test failed");
            continue;
        }
        if (run_test(ch, t, o) != 0)
            return -1;
        if ((o->stop_first || o->hint) && t->result == OUT_FAIL)
            stopped = 1;
    }
    score_chapter(ch, o);
    return 0;
}
