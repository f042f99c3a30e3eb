#!/bin/sh
# race-rates.sh [RUNS] [CHAPTER...] - how often the tests catch the mutants
# whose catch depends on timing or on an interleaving (a "Race:" line in the
# mutant's header), and that they never fail the reference solution.
#
# For each such mutant, the test that its Caught-by line names first runs
# RUNS times (default 100) on the mutant and RUNS times on the reference,
# alternately: the catch rate must be at least 99%, and the reference must
# never fail. Speed is not measured (PK_PERF=0). Run it on a quiet machine
# for the figures, and under `make robustness`'s load for the reference's
# side. Exits 1 if a rate is under 99% or the reference failed.
set -u
runs=${1:-100}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- $(ls -d tests/[0-9][0-9]-*/mutants | cut -d/ -f2)
top=${PK_BUILD:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bad=0
for ch in "$@"; do
    make -s --no-print-directory BUILD="$top" "$top/sol/$ch/check" >/dev/null 2>&1 ||
        { echo "$ch: the reference test program does not build" >&2; exit 1; }
    for patch in tests/"$ch"/mutants/*.patch; do
        grep -q '^Race:' "$patch" || continue
        name=$(basename "$patch" .patch)
        test=$(sed -n 's/^Caught-by: *//p' "$patch" | head -n 1 | cut -d' ' -f1)
        rm -rf "$work/sub" && mkdir -p "$work/sub/$ch"
        cp -R solutions/"$ch"/. "$work/sub/$ch/"
        patch -s -p1 -d "$work/sub/$ch" <"$patch" || { echo "$ch/$name: does not apply"; bad=1; continue; }
        NO_COLOR=1 PK_PERF=0 make -s --no-print-directory grade CH="$ch" \
            SUBMISSION="$work/sub" BUILD="$work/b" GRADE_ONLY="$test" >/dev/null 2>&1
        prog=$work/b/grade/$ch/check
        caught=0 failed=0 i=0
        while [ "$i" -lt "$runs" ]; do
            PK_PERF=0 timeout 60 "$prog" --run "$test" >/dev/null 2>&1 || caught=$((caught + 1))
            PK_PERF=0 timeout 60 "$top/sol/$ch/check" --run "$test" >/dev/null 2>&1 || failed=$((failed + 1))
            i=$((i + 1))
        done
        verdict=ok
        [ $((caught * 100)) -ge $((runs * 99)) ] || { verdict="CATCH RATE UNDER 99%"; bad=1; }
        [ "$failed" -eq 0 ] || { verdict="THE REFERENCE FAILED"; bad=1; }
        printf '%-14s %-28s %-40s caught %3d/%d, reference failed %d/%d  %s\n' \
            "$ch" "$name" "$test" "$caught" "$runs" "$failed" "$runs" "$verdict"
    done
done
exit "$bad"
