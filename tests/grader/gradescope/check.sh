#!/bin/sh
# check.sh ZIP - run the Gradescope package against a fake /autograder tree:
# unpack it as Gradescope would, submit the reference solutions (a chapters/
# folder inside the upload, as a student's zip often has), and check that
# results.json gives full marks and follows the schema's required fields.
export PK_PERF=0 # the package is checked, not speed
set -eu
zip=$(readlink -f "$1")
solutions=$(readlink -f solutions)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/source" "$root/submission/upload" "$root/results"
(cd "$root/source" && unzip -q "$zip")
[ -x "$root/source/run_autograder" ] && [ -x "$root/source/setup.sh" ] || {
    echo "gradescope-check: setup.sh or run_autograder missing or not executable" >&2; exit 1; }
[ ! -e "$root/source/solutions" ] || { echo "gradescope-check: solutions/ in the zip" >&2; exit 1; }
cp -r "$solutions" "$root/submission/upload/chapters"
unset MAKEFLAGS MAKELEVEL MFLAGS BUILD CH SUBMISSION
AUTOGRADER_ROOT=$root PK_GRADE_BUILD=$root/build "$root/source/run_autograder" | tail -n 2
r=$root/results/results.json
for key in '"score"' '"max_score"' '"tests"' '"status"' '"output"' '"execution_time"'; do
    grep -q "$key" "$r" || { echo "gradescope-check: $key missing from results.json" >&2; exit 1; }
done
score=$(sed -n 's/^  "score": \([0-9.]*\),$/\1/p' "$r")
max=$(sed -n 's/^  "max_score": \([0-9.]*\),$/\1/p' "$r")
if [ -z "$score" ] || [ "$(awk -v a="$score" -v b="$max" 'BEGIN { print (a == b) }')" != 1 ]; then
    echo "gradescope-check: the solutions scored $score of $max" >&2
    exit 1
fi
echo "gradescope-check: ok (solutions score $score of $max through run_autograder)"
