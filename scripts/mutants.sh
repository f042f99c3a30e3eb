#!/bin/sh
# mutants.sh [--quick] [--kind wrong|slow|all] CHAPTER... - the tests of the
# tests: grade realistic wrong versions of each chapter's reference solution
# and fail unless every one loses points.
#
# A mutant is tests/NN-topic/mutants/NAME.patch: a unified diff against the
# chapter's files in solutions/NN-topic (paths a/FILE, b/FILE), preceded by
# three header lines (patch ignores text before the diff):
#
#   Mistake: the loop stops at i < n - 1 (the last term is lost)
#   Kind: wrong
#   Caught-by: test_warmup_sum_small test_warmup_sum_matches_closed
#
# Kind "wrong" is a mistake in the results: the mutant must lose points.
# Kind "slow" is correct but slow code (the performance tests exist to catch
# it): it must keep every correctness point and lose points in each
# performance test named by Caught-by. Caught-by names the tests that catch
# the mutant; the full run shows which tests really lost points.
#
# Each mutant is copied from solutions/, patched, and graded as a
# submission (make grade SUBMISSION=...) in build/mutants.
#   full mode (default)  every test runs; PK_PERF as in the environment
#   --quick              only the tests that should catch it run (for a
#                        slow mutant: its performance tests). This is what
#                        CI runs: it proves every catch in a fraction of the
#                        time. That a slow mutant keeps all its correctness
#                        points is proved by the full run and by make
#                        perf-selftest, which run every test.
# A slow mutant on a machine too busy to measure speed is reported as not
# proven (and retried once); it does not fail the run, and the table says so.
#
# Writes $PK_BUILD/mutants/table.txt (PK_BUILD: make's BUILD, default build); exits 1 if a mutant was not caught.
set -u
quick=0
kind_wanted=all
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; shift ;;
        --kind) kind_wanted=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: mutants.sh [--quick] [--kind K] CHAPTER..." >&2; exit 2; }

top=${PK_BUILD:-build}          # make's BUILD
build=$top/mutants
mkdir -p "$build"
table=$build/table.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$table"
total=0
caught=0
unproven=0
missed=""
printf '%-14s %-30s %-5s %-8s %s\n' chapter mutant kind points "caught by" | tee -a "$table"

# field FILE NAME: the value of the header line "NAME: value".
field() { sed -n "s/^$2: *//p" "$1" | head -n 1; }

# Read build/mutants/grade/results.json into lines "test score max output".
results() {
    awk -v ch="$1" '
        /"name": "/ {
            line = $0
            sub(/.*"name": "/, "", line); name = line; sub(/".*/, "", name)
            sub("^" ch ": ", "", name)
            s = $0; sub(/.*"score": /, "", s); sub(/,.*/, "", s)
            m = $0; sub(/.*"max_score": /, "", m); sub(/,.*/, "", m)
            busy = index($0, "too busy") > 0
            print name, s, m, busy
        }' "$build/grade/results.json"
}

for ch in "$@"; do
    dir=tests/$ch/mutants
    [ -d "$dir" ] || { echo "$ch: no mutants in $dir" | tee -a "$table"; missed="$missed $ch(none)"; continue; }
    # Every test of the chapter, and which are performance tests.
    make -s --no-print-directory BUILD="$top" "$top/sol/$ch/check" >/dev/null 2>&1 ||
        { echo "$ch: the reference test program does not build" >&2; exit 1; }
    "$top/sol/$ch/check" --list > "$work/list"
    for patch in "$dir"/*.patch; do
        [ -e "$patch" ] || continue
        name=$(basename "$patch" .patch)
        kind=$(field "$patch" Kind)
        want=$(field "$patch" Caught-by)
        [ "$kind_wanted" = all ] || [ "$kind_wanted" = "$kind" ] || continue
        total=$((total + 1))
        sub=$work/sub
        rm -rf "$sub" && mkdir -p "$sub/$ch"
        # Everything the student hands in: the exercise files and any file
        # beside them that a test reads (07's REPORT.md).
        cp -R solutions/"$ch"/. "$sub/$ch/"
        if ! patch -s -p1 -d "$sub/$ch" < "$patch" >"$work/patch.log" 2>&1; then
            printf '%-14s %-30s %-5s %-8s %s\n' "$ch" "$name" "$kind" "-" "DOES NOT APPLY" | tee -a "$table"
            cat "$work/patch.log"
            missed="$missed $ch/$name"
            continue
        fi
        only=""
        if [ "$quick" = 1 ]; then
            only=$(echo "$want" | tr ' ' ',')
        fi
        for try in 1 2; do
            NO_COLOR=1 make -s --no-print-directory grade CH="$ch" SUBMISSION="$sub" \
                BUILD="$build" GRADE_ONLY="$only" >"$build/$ch-$name.log" 2>&1
            results "$ch" > "$work/res"
            busy=$(awk '$4 == 1' "$work/res" | wc -l)
            [ "$kind" = slow ] && [ "$busy" -gt 0 ] && [ "$try" = 1 ] && continue
            break
        done
        points=$(awk '{ s += $2 } END { printf "%.1f", s }' "$work/res")
        lost=$(awk '$3 > 0 && $2 < $3 - 0.0001 { printf "%s ", $1 }' "$work/res")
        verdict=ok
        perf_lost=$(awk -F '\t' '$4 == "perf" { print $1 }' "$work/list" |
                    while read -r t; do echo "$lost" | tr ' ' '\n' | grep -qx "$t" && echo "$t"; done)
        correct_lost=$(awk -F '\t' '$4 == "graded" { print $1 }' "$work/list" |
                       while read -r t; do echo "$lost" | tr ' ' '\n' | grep -qx "$t" && echo "$t"; done)
        if [ -z "$lost" ]; then
            verdict="NOT CAUGHT"
        elif [ "$kind" = slow ] && [ -n "$correct_lost" ]; then
            verdict="WRONG KIND: a slow mutant lost correctness points ($(echo $correct_lost))"
        elif [ "$kind" = slow ] && [ -z "$perf_lost" ]; then
            verdict="NOT CAUGHT by a performance test"
        fi
        # A slow mutant is caught only by a performance test that measured:
        # one withheld as "too busy" scores 0 whatever the code.
        measured_lost=$(for t in $perf_lost; do
                            awk -v t="$t" '$1 == t && $4 == 0 { print t }' "$work/res"; done)
        if [ "$kind" = slow ] && [ -z "$measured_lost" ] && [ -z "$correct_lost" ]; then
            verdict="NOT PROVEN (machine too busy to measure speed)"
        fi
        # Caught-by should name what catches it: say where it does not.
        expected=""
        for t in $want; do
            echo "$lost" | tr ' ' '\n' | grep -qx "$t" || expected="$expected $t"
        done
        [ "$verdict" = ok ] && [ -n "$expected" ] && lost="$lost(Caught-by also names:$expected)"
        case "$verdict" in
            ok) caught=$((caught + 1)); shown=$lost ;;
            "NOT PROVEN"*) unproven=$((unproven + 1)); shown=$verdict ;;
            *) missed="$missed $ch/$name"; shown="$verdict; lost: ${lost:-nothing}" ;;
        esac
        printf '%-14s %-30s %-5s %-8s %s\n' "$ch" "$name" "$kind" "$points" "$shown" | tee -a "$table"
    done
done
echo "mutants: $caught of $total caught$( [ "$unproven" -gt 0 ] && echo ", $unproven not proven (machine busy)")$( [ "$quick" = 1 ] && echo " (quick mode: only the catching tests ran)")" | tee -a "$table"
if [ -n "$missed" ]; then
    echo "mutants not caught:$missed (logs in $build/)" | tee -a "$table"
    exit 1
fi
