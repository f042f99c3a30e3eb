#!/bin/sh
# perf-series.sh RUNS [busy] - grade the reference solutions' performance
# tests RUNS times (make grade SUBMISSION=solutions, performance tests only)
# and count, per run and per test, full points, partial points and "too
# busy". With "busy", two busy loops keep both cores loaded meanwhile (as
# make robustness does): then every test must either earn its points or say
# the machine was too busy, never a low score with the ceiling at or above
# 1.5x. Prints a table and a summary; writes $PK_BUILD/perf-series-MODE.txt
# and one log per run, perf-series-MODE-N.log (an idle and a busy series
# keep their own files).
set -u
runs=${1:-20}
mode=${2:-idle}
top=${PK_BUILD:-build}
out=$top/perf-series-$mode.txt
mkdir -p "$top"
make --no-print-directory -s BUILD="$top" all >/dev/null || exit 1
# The performance tests of every chapter, from the reference test programs.
only=""
for prog in "$top"/sol/*/check; do
    case "$prog" in */common/check|*/grader/check) continue ;; esac
    t=$("$prog" --list | awk -F '\t' '$4 == "perf" { print $1 }' | paste -sd, -)
    [ -n "$t" ] && only="$only${only:+,}$t"
done
[ -n "$only" ] || { echo "perf-series: no performance tests found" >&2; exit 1; }
if [ "$mode" = busy ]; then
    busy() { while :; do :; done; }
    busy & b1=$!
    busy & b2=$!
    trap 'kill $b1 $b2 2>/dev/null' EXIT INT TERM
fi
: > "$out"
full=0
for i in $(seq 1 "$runs"); do
    NO_COLOR=1 make --no-print-directory -s grade SUBMISSION=solutions BUILD="$top" \
        GRADE_ONLY="$only" > "$top/perf-series-$mode-$i.log" 2>&1
    # One line per performance test: run, test, score, max, busy?
    awk -v run="$i" '
        /"name": "/ {
            line = $0
            sub(/.*"name": "/, "", line); name = line; sub(/".*/, "", name)
            s = $0; sub(/.*"score": /, "", s); sub(/,.*/, "", s)
            m = $0; sub(/.*"max_score": /, "", m); sub(/,.*/, "", m)
            if (m + 0 == 0) next
            busy = index($0, "too busy") > 0
            out = $0; sub(/.*"output": "/, "", out); sub(/".*/, "", out)
            printf "%s\t%s\t%s\t%s\t%d\t%s\n", run, name, s, m, busy, out
        }' "$top/grade/results.json" >> "$out"
    lost=$(awk -F '\t' -v run="$i" '$1 == run && $5 == 0 && $3 < $4 - 0.0001' "$out" | wc -l)
    withheld=$(awk -F '\t' -v run="$i" '$1 == run && $5 == 1' "$out" | wc -l)
    [ "$lost" -eq 0 ] && [ "$withheld" -eq 0 ] && full=$((full + 1))
    echo "run $i: $lost tests below full points with a quiet-enough machine, $withheld too busy"
done
echo
echo "per test: runs at full points / partial (machine not busy) / too busy; the lowest partial"
awk -F '\t' '
    { n[$2]++; if ($5 == 1) b[$2]++; else if ($3 < $4 - 0.0001) { p[$2]++; if (!($2 in lo) || $3 / $4 < lo[$2]) { lo[$2] = $3 / $4; why[$2] = $6 } } else f[$2]++ }
    END { for (t in n) printf "  %-55s %3d / %3d / %3d  %s\n", t, f[t], p[t], b[t], (t in lo) ? sprintf("%.0f%%: %s", 100 * lo[t], why[t]) : "" }' "$out" | sort
echo "perf-series ($mode): every performance point in $full of $runs runs"
