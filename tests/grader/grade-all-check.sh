#!/bin/sh
# The batch tool is checked, not speed: performance tests are not run
# (two students are graded at a time, which no measurement survives).
export PK_PERF=0
# grade-all-check.sh - batch grading end to end, on three made-up students:
#   complete  a copy of the reference solutions: 100 in every chapter
#   broken    the same, with a syntax error in one chapter: 0 there, with the
#             compiler's error as the message, 100 elsewhere
#   empty     submitted nothing: every chapter graded as its skeleton, 0
#
# PK_CHECK_CHAPTERS="00-warmup 08-distributed" (CI's quick mode) grades
# those chapters only: the batch tool is what is checked, and make test
# already proves that every chapter's solution passes.
set -eu
chapters_only=${PK_CHECK_CHAPTERS:-}
unset MAKEFLAGS MAKELEVEL MFLAGS CH SUBMISSION
build=${1:-build}
subs=$(mktemp -d)
trap 'rm -rf "$subs"' EXIT
cp -r solutions "$subs/complete"
cp -r solutions "$subs/broken"
mkdir "$subs/empty"
if [ -n "$chapters_only" ]; then
    chapter_dirs=$(for c in $chapters_only; do echo "chapters/$c"; done)
else
    chapter_dirs=$(ls -d chapters/[0-9][0-9]-*)
fi
victim=$(basename "$(echo "$chapter_dirs" | head -n 1)")
file=$(ls "$subs/broken/$victim"/*.c | head -n 1)
printf '\nthis is not C\n' >>"$file"
make --no-print-directory grade-all SUBMISSIONS="$subs" BUILD="$build" CH="$chapters_only"
csv=$build/batch/summary.csv
fail=0
check() { if ! eval "$2"; then echo "grade-all-check: FAIL: $1"; fail=1; fi; }
row() { grep "^\"$1\"," "$csv"; }
# Each chapter's maximum: its NN-topic_POINTS in chapter.mk, else 100.
want=$(for d in $chapter_dirs; do
           c=$(basename "$d")
           p=$(sed -n "s/^$c""_POINTS *= *\([0-9]*\).*/\1/p" "$d/chapter.mk" 2>/dev/null)
           printf '%s.00\n' "${p:-100}"
       done)
cells() { row "$1" | tr ',' '\n' | sed '1d;$d'; }
check "complete scores every chapter's maximum" \
    "[ \"\$(cells complete)\" = \"\$want\" ]"
check "empty scores 0 in total" "row empty | grep -q ',0.00\$'"
printf '%s\n' "$want" >"$build/want.txt"
cells broken >"$build/broken.txt"
check "broken loses exactly $victim" \
    "[ \"\$(paste -d' ' '$build/broken.txt' '$build/want.txt' | awk '\$1 != \$2' | wc -l)\" -eq 1 ]"
check "broken's message is the compiler's error" \
    "grep -q 'did not compile' '$build/batch/broken/grade/results.json'"
[ "$fail" -eq 0 ] && echo "grade-all-check: ok ($(wc -l <"$csv") lines in $csv)"
exit "$fail"
