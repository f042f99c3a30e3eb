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
# Wrong mutants are graded in MUTANT_JOBS streams side by side (default:
# the number of CPUs, at most 4), each with a build directory of its own:
# losing points is all they must do, and a busy machine cannot make a
# wrong result right. Slow mutants are graded one at a time, after them,
# with the machine to themselves: they are caught by measuring speed.
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
jobs=${MUTANT_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
[ "$jobs" -le 4 ] || jobs=4
row() { printf '%-14s %-30s %-5s %-8s %s\n' "$@"; }

# field FILE NAME: the value of the header line "NAME: value".
field() { sed -n "s/^$2: *//p" "$1" | head -n 1; }

# results CHAPTER RESULTS_JSON: lines "test score max busy".
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
        }' "$2"
}

# grade_one INDEX CHAPTER PATCH STREAM: grade one mutant in the build
# directory of STREAM; appends "INDEX<TAB>STATUS<TAB>ROW" to
# $work/out.STREAM (STATUS: ok, unproven or missed) and prints ROW.
grade_one() {
    idx=$1 ch=$2 patch=$3 stream=$4
    sb=$build/s$stream                   # this stream's build directory
    tmp=$work/s$stream
    name=$(basename "$patch" .patch)
    kind=$(field "$patch" Kind)
    want=$(field "$patch" Caught-by)
    sub=$tmp/sub
    rm -rf "$sub" && mkdir -p "$sub/$ch"
    # Everything the student hands in: the exercise files and any file
    # beside them that a test reads (07's REPORT.md).
    cp -R solutions/"$ch"/. "$sub/$ch/"
    if ! patch -s -p1 -d "$sub/$ch" < "$patch" >"$tmp/patch.log" 2>&1; then
        line=$(row "$ch" "$name" "$kind" "-" "DOES NOT APPLY")
        cat "$tmp/patch.log" >&2
        printf '%s\t%s\t%s\n' "$idx" missed "$line" >>"$work/out.$stream"
        echo "$line"
        return
    fi
    only=""
    [ "$quick" = 1 ] && only=$(echo "$want" | tr ' ' ',')
    for try in 1 2; do
        NO_COLOR=1 make -s --no-print-directory grade CH="$ch" SUBMISSION="$sub" \
            BUILD="$sb" GRADE_ONLY="$only" >"$build/$ch-$name.log" 2>&1
        results "$ch" "$sb/grade/results.json" > "$tmp/res"
        busy=$(awk '$4 == 1' "$tmp/res" | wc -l)
        [ "$kind" = slow ] && [ "$busy" -gt 0 ] && [ "$try" = 1 ] && continue
        break
    done
    list=$work/list.$ch
    points=$(awk '{ s += $2 } END { printf "%.1f", s }' "$tmp/res")
    lost=$(awk '$3 > 0 && $2 < $3 - 0.0001 { printf "%s ", $1 }' "$tmp/res")
    verdict=ok
    perf_lost=$(awk -F '\t' '$4 == "perf" { print $1 }' "$list" |
                while read -r t; do echo "$lost" | tr ' ' '\n' | grep -qx "$t" && echo "$t"; done)
    correct_lost=$(awk -F '\t' '$4 == "graded" { print $1 }' "$list" |
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
    # One that kept its points with every test measured is NOT CAUGHT.
    measured_lost=$(for t in $perf_lost; do
                        awk -v t="$t" '$1 == t && $4 == 0 { print t }' "$tmp/res"; done)
    busy_perf=$(awk -F '\t' '$4 == "perf" { print $1 }' "$list" |
                while read -r t; do awk -v t="$t" '$1 == t && $4 == 1 { print t }' "$tmp/res"; done)
    if [ "$kind" = slow ] && [ -z "$measured_lost" ] && [ -z "$correct_lost" ] &&
       [ -n "$busy_perf" ]; then
        verdict="NOT PROVEN (machine too busy to measure speed)"
    fi
    # Caught-by should name what catches it: say where it does not.
    expected=""
    for t in $want; do
        echo "$lost" | tr ' ' '\n' | grep -qx "$t" || expected="$expected $t"
    done
    [ "$verdict" = ok ] && [ -n "$expected" ] && lost="$lost(Caught-by also names:$expected)"
    case "$verdict" in
        ok) status=ok; shown=$lost ;;
        "NOT PROVEN"*) status=unproven; shown=$verdict ;;
        *) status=missed; shown="$verdict; lost: ${lost:-nothing}" ;;
    esac
    line=$(row "$ch" "$name" "$kind" "$points" "$shown")
    printf '%s\t%s\t%s\n' "$idx" "$status" "$line" >>"$work/out.$stream"
    echo "$line"
}

# The mutants to grade, in order: "INDEX CHAPTER KIND PATCH".
idx=0
for ch in "$@"; do
    dir=tests/$ch/mutants
    if [ ! -d "$dir" ]; then
        idx=$((idx + 1))
        printf '%s\tmissed\t%s\n' "$idx" "$(row "$ch" "(none)" - - "no mutants in $dir")" >>"$work/out.0"
        continue
    fi
    # Every test of the chapter, and which are performance tests.
    make -s --no-print-directory BUILD="$top" "$top/sol/$ch/check" >/dev/null 2>&1 ||
        { echo "$ch: the reference test program does not build" >&2; exit 1; }
    "$top/sol/$ch/check" --list > "$work/list.$ch"
    for patch in "$dir"/*.patch; do
        [ -e "$patch" ] || continue
        kind=$(field "$patch" Kind)
        [ "$kind_wanted" = all ] || [ "$kind_wanted" = "$kind" ] || continue
        idx=$((idx + 1))
        echo "$idx $ch $kind $patch" >>"$work/todo"
    done
done
touch "$work/todo"

row chapter mutant kind points "caught by"
# Wrong mutants: $jobs streams, mutant i in stream i mod jobs.
grep ' wrong ' "$work/todo" | awk -v n="$jobs" -v w="$work" '{ print > (w "/wrong." (NR - 1) % n) }'
s=0
while [ "$s" -lt "$jobs" ]; do
    if [ -s "$work/wrong.$s" ]; then
        mkdir -p "$work/s$s"
        ( while read -r i ch kind patch; do grade_one "$i" "$ch" "$patch" "$s"; done <"$work/wrong.$s" ) &
    fi
    s=$((s + 1))
done
wait
# Slow mutants (and any other kind): one at a time, the machine to themselves.
mkdir -p "$work/s0"
grep -v ' wrong ' "$work/todo" | while read -r i ch kind patch; do
    grade_one "$i" "$ch" "$patch" 0
done

# The table, in the mutants' order, and the totals.
cat "$work"/out.* 2>/dev/null | sort -n -k1,1 >"$work/all"
{ row chapter mutant kind points "caught by"; cut -f3- "$work/all"; } >"$table"
total=$(wc -l <"$work/all")
caught=$(awk -F '\t' '$2 == "ok"' "$work/all" | wc -l)
unproven=$(awk -F '\t' '$2 == "unproven"' "$work/all" | wc -l)
missed=$(awk -F '\t' '$2 == "missed" { split($3, f, " "); printf " %s/%s", f[1], f[2] }' "$work/all")
echo "mutants: $caught of $total caught$( [ "$unproven" -gt 0 ] && echo ", $unproven not proven (machine busy)")$( [ "$quick" = 1 ] && echo " (quick mode: only the catching tests ran)")$( [ "$jobs" -gt 1 ] && echo "; wrong ones in $jobs streams")" | tee -a "$table"
if [ -n "$missed" ]; then
    echo "mutants not caught:$missed (logs in $build/)" | tee -a "$table"
    exit 1
fi
