#!/bin/sh
# robustness.sh RUNS - run the solutions' full test suite RUNS times in a row
# while two busy processes keep both cores loaded, and count the clean runs.
# A flaky test shows up here long before it shows up in CI.
set -u
runs=${1:-20}
make --no-print-directory all >/dev/null || exit 1
busy() { while :; do :; done; }
busy & b1=$!
busy & b2=$!
trap 'kill $b1 $b2 2>/dev/null' EXIT INT TERM
clean=0
for i in $(seq 1 "$runs"); do
    start=$(date +%s)
    if make --no-print-directory test >"build/robustness-$i.log" 2>&1; then
        clean=$((clean + 1))
        verdict=ok
    else
        verdict="FAILED (build/robustness-$i.log)"
    fi
    echo "run $i: $verdict, $(tail -n 1 "build/robustness-$i.log"), $(( $(date +%s) - start )) s"
done
echo "robustness: $clean of $runs runs clean with both cores busy"
[ "$clean" -eq "$runs" ]
