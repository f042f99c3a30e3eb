#!/bin/sh
# new-chapter.sh NN-topic - scaffold a chapter that builds and grades 0.
#
# Writes the files of docs/pages/authoring.md's checklist with a working
# minimum: the lesson with its standard sections, a header with one
# documented exercise function, its skeleton (PK_TODO) and solution, one
# graded test that fails on the skeleton, a benchmark of the student's code
# beside the reference, chapter.mk, one mutant; adds the chapter to the
# course table in README.md and the lesson footers. Then `make grade
# CH=NN-topic` scores 0 and `make test CH=NN-topic` passes.
set -eu
name=${1:-}
case "$name" in
    [0-9][0-9]-[a-z]*) ;;
    *) echo "usage: make new-chapter NAME=NN-topic   (two digits, a dash, a lower-case name)" >&2
       exit 2 ;;
esac
if [ -e "chapters/$name" ] || [ -e "solutions/$name" ] || [ -e "tests/$name" ]; then
    echo "new-chapter: $name exists already" >&2
    exit 2
fi
topic=$(echo "${name#??-}" | tr '-' '_')       # C identifier prefix
guard=$(echo "$topic" | tr 'a-z' 'A-Z')_H
existing=$(ls chapters/*/*.h common/include/pk/*.h 2>/dev/null | sed 's#.*/##')
if echo "$existing" | grep -qx "$topic.h"; then
    echo "new-chapter: a header named $topic.h exists already; choose another name" >&2
    exit 2
fi
mkdir -p "chapters/$name/bench" "solutions/$name" "tests/$name/mutants"

cat >"chapters/$name/$topic.h" <<EOF
/**
 * @file $topic.h
 * @brief Chapter $name: the exercises' contract.
 *
 * Conventions: functions return 0 on success and -1 with errno on failure;
 * NULL pointers and zero sizes give EINVAL, never a crash.
 */
#ifndef $guard
#define $guard

#include <stddef.h>
#include <stdint.h>

/**
 * @brief Sum of @p n values (the chapter's first exercise: replace it).
 * @param values @p n values.
 * @param n how many; 0 gives a sum of 0 (values may then be NULL).
 * @param out receives the sum.
 * @return 0, or -1 with errno EINVAL (NULL out, or NULL values with n > 0).
 */
int ${topic}_sum(const uint64_t *values, size_t n, uint64_t *out);

#endif /* $guard */
EOF

body_check='    if (out == NULL || (values == NULL && n > 0)) {
        errno = EINVAL;
        return -1;
    }'
cat >"solutions/$name/$topic.c" <<EOF
/* $topic.c - chapter $name reference solution. */
#include "$topic.h"

#include <errno.h>

int ${topic}_sum(const uint64_t *values, size_t n, uint64_t *out)
{
$body_check
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += values[i];
    *out = s;
    return 0;
}
EOF

cat >"chapters/$name/$topic.c" <<EOF
/* $topic.c - chapter $name: your code. See $topic.h for the contract. */
#include "$topic.h"

#include <errno.h>

#include "pk/todo.h"

int ${topic}_sum(const uint64_t *values, size_t n, uint64_t *out)
{
    (void)values;
    (void)n;
    (void)out;
    PK_TODO("check the arguments, then add the n values into *out");
    return -1;
}
EOF

cat >"chapters/$name/chapter.mk" <<EOF
# chapter.mk - chapter ${name}'s build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/$name has the
# reference version of each.
${name}_EXERCISES = $topic.c
EOF

cat >"tests/$name/check_$topic.c" <<EOF
/* check_$topic.c - the graded tests of chapter $name. */
#include <errno.h>
#include <stdint.h>

#include "$topic.h"
#include "pk_check.h"

START_TEST(test_${topic}_sum_small)
{
    const uint64_t v[] = {1, 2, 3, 4};
    uint64_t out = 0;
    PK_EXPECT_INT("${topic}_sum({1, 2, 3, 4}, 4, &out)", ${topic}_sum(v, 4, &out), 0);
    PK_EXPECT_UINT("the sum of {1, 2, 3, 4}", out, 10);
}
END_TEST

START_TEST(test_${topic}_sum_einval)
{
    uint64_t out;
    PK_EXPECT_EINVAL(${topic}_sum(NULL, 1, &out), "${topic}_sum(NULL, 1, &out)");
    PK_EXPECT_EINVAL(${topic}_sum(&out, 1, NULL), "${topic}_sum(values, 1, NULL)");
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("$name");
    pk_test_add_timeout(s, test_${topic}_sum_small, 1, 2,
                        "add every value; start the sum at 0");
    pk_test_add_timeout(s, test_${topic}_sum_einval, 1, 2,
                        "check values and out before using them");
    return s;
}
EOF

cat >"tests/$name/mutants/skips-last.patch" <<EOF
Mistake: the loop stops one value early (i < n - 1)
Kind: wrong
Caught-by: test_${topic}_sum_small
--- a/$topic.c
+++ b/$topic.c
@@ -10,7 +10,7 @@
         return -1;
     }
     uint64_t s = 0;
-    for (size_t i = 0; i < n; i++)
+    for (size_t i = 0; i + 1 < n; i++)
         s += values[i];
     *out = s;
     return 0;
EOF

cat >"chapters/$name/bench.c" <<EOF
/* bench.c - chapter $name benchmark: your ${topic}_sum beside a plain loop
 * and the reference solution, timed in the same interleaved rounds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "$topic.h"
#include "pk/report.h"
#include "pk/timing.h"

#define N ((size_t)1 << 20) /* values summed per call */
#define RUNS 21             /* timed rounds; the median is reported */

PK_REF_DECLARE(${topic}_sum);

static uint64_t *values;

static void plain(void *ctx)
{
    (void)ctx;
    uint64_t s = 0;
    for (size_t i = 0; i < N; i++)
        s += values[i];
    pk_consume_u64(s);
}

static void yours(void *ctx)
{
    uint64_t s = 0;
    (void)ctx;
    if (${topic}_sum(values, N, &s) == 0)
        pk_consume_u64(s);
}

static void reference(void *ctx)
{
    uint64_t s = 0;
    (void)ctx;
    if (PK_REF(${topic}_sum)(values, N, &s) == 0)
        pk_consume_u64(s);
}

int main(void)
{
    values = calloc(N, sizeof *values);
    pk_report *r = pk_report_open("$name");
    if (values == NULL || r == NULL) {
        perror("bench");
        return 1;
    }
    /* A function still at PK_TODO fails with ENOSYS: its row says so. */
    uint64_t s;
    errno = 0;
    int written = !(${topic}_sum(values, N, &s) != 0 && errno == ENOSYS);
    void (*fns[3])(void *) = {plain};
    const char *names[3] = {"plain loop"};
    size_t k = 1;
    if (written) {
        fns[k] = yours;
        names[k++] = "yours";
    }
    if (PK_REF(${topic}_sum) != NULL) { /* NULL in the student handout */
        fns[k] = reference;
        names[k++] = "reference";
    }
    pk_stats st[3];
    if (pk_bench_many(fns, NULL, k, 2, pk_bench_quick() ? 5 : RUNS, st) != 0) {
        perror("bench");
        return 1;
    }
    const char *bench = "sum of 2^20 values";
    pk_report_add(r, bench, names[0], N, &st[0]);
    if (!written)
        pk_report_todo(r, bench, "yours");
    for (size_t i = 1; i < k; i++)
        pk_report_add(r, bench, names[i], N, &st[i]);
    pk_report_close(r);
    free(values);
    return 0;
}
EOF

cat >"chapters/$name/README.md" <<EOF
# Chapter ${name#??-}: a new chapter

**What you will learn:** (the ideas, in one line each).

**What you will build:** \`${topic}_sum()\` in \`chapters/$name/$topic.c\`; the
contract is \`chapters/$name/$topic.h\`.

**Time:** core about N hours; stretch about N more.

## The Python starting point

## The C mechanism

## Measured

\`\`\`sh
make grade CH=$name
make bench CH=$name
\`\`\`

## What to remember
EOF

# The course table and the lesson footers.
row="| [$name](chapters/$name/README.md) | (what you build) | (Python chapter section) |"
last=$(grep -n '^| \[[0-9][0-9]-' README.md | tail -n 1 | cut -d: -f1)
if [ -n "$last" ]; then
    awk -v n="$last" -v row="$row" '{ print } NR == n { print row }' README.md > README.md.tmp
    mv README.md.tmp README.md
fi
scripts/lesson-nav.sh

echo "new-chapter: chapters/$name, solutions/$name, tests/$name written; the course table and footers updated."
echo "next: make grade CH=$name (scores 0), make test CH=$name, then the checklist in docs/pages/authoring.md"
