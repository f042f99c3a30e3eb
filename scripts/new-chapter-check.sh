#!/bin/sh
# new-chapter-check.sh - scaffold a chapter in a copy of the course and check
# that it builds, grades 0 on its skeleton and passes its tests, skeleton
# check and mutant on its solution (docs/pages/authoring.md's promise).
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git ls-files -z --cached | xargs -0 -I{} cp --parents {} "$tmp/" 2>/dev/null || true
cd "$tmp"
unset MAKEFLAGS MAKELEVEL MFLAGS BUILD CH SUBMISSION
make -s new-chapter NAME=09-example
NO_COLOR=1 make -s grade CH=09-example > grade.out 2>&1 || { cat grade.out; exit 1; }
grep -q '09-example .*  0/2 ' grade.out || { cat grade.out; echo "new-chapter-check: the skeleton should grade 0 of 2 tests" >&2; exit 1; }
make -s test CH=09-example > test.out 2>&1 || { cat test.out; exit 1; }
make -s check-skeletons CH=09-example
make -s mutants CH=09-example
make -s bench CH=09-example > bench.out 2>&1 || { cat bench.out; exit 1; }
grep -q 'not written yet' bench.out && grep -q 'reference' bench.out || { cat bench.out; exit 1; }
echo "new-chapter-check: ok (09-example builds, grades 0, passes its tests, catches its mutant, benchmarks)"
