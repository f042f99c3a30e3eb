#!/bin/sh
# grade-all.sh SUBMISSIONS OUTDIR JOBS [CHAPTERS] - batch grading.
#
# Each subfolder of SUBMISSIONS is one student's copy of chapters/ (or part
# of it). Every student is graded by `make grade SUBMISSION=...` in a build
# folder of their own (OUTDIR/<student>), JOBS students at a time. A student
# whose code does not compile gets 0 for that chapter and the batch goes on.
# Writes OUTDIR/<student>/grade/results.json per student and
# OUTDIR/summary.csv: student, one column per chapter, total.
set -eu
subs=${1:-}
out=$2
jobs=${3:-2}
only=${4:-}
if [ -z "$subs" ] || [ ! -d "$subs" ]; then
    echo "usage: make grade-all SUBMISSIONS=DIR (each subfolder of DIR is one student's chapters/)" >&2
    exit 2
fi
subs=$(readlink -f "$subs")
mkdir -p "$out"
if [ -n "$only" ]; then chapters=$only; else chapters=$(ls -d chapters/[0-9][0-9]-* | xargs -n1 basename); fi

students=$(find "$subs" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
if [ -z "$students" ]; then
    echo "grade-all: $subs has no student folders" >&2
    exit 2
fi
echo "grading $(echo "$students" | wc -l) students, $jobs at a time; logs in $out/<student>.log"
export subs out only
echo "$students" | xargs -P "$jobs" -I{} sh -c '
    s="$1"
    if make --no-print-directory grade NO_COLOR=1 SUBMISSION="$subs/$s" BUILD="$out/$s" \
            ${only:+CH="$only"} >"$out/$s.log" 2>&1; then
        echo "  $s: $(grep "^Total:" "$out/$s.log" | sed "s/ ([0-9.]* s)//")"
    else
        echo "  $s: grading FAILED, see $out/$s.log"
    fi' sh {}

csv="$out/summary.csv"
{
    printf 'student'
    for c in $chapters; do printf ',%s' "$c"; done
    printf ',total\n'
    echo "$students" | while IFS= read -r s; do
        total=0
        line=$(printf '"%s"' "$s")
        for c in $chapters; do
            p=$(grep "^$c," "$out/$s/grade/points.csv" 2>/dev/null | cut -d, -f2)
            p=${p:-0}
            line="$line,$p"
            total=$(awk -v a="$total" -v b="$p" 'BEGIN { printf "%.2f", a + b }')
        done
        echo "$line,$total"
    done
} >"$csv"
echo "summary: $csv"
