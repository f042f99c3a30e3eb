#!/bin/sh
# dist-check.sh TARBALL - unpack the student handout in a temporary folder and
# check that it has no solutions, builds, grades every chapter to 0, and that
# every command the lessons give works there too (make lesson-check in the
# handout: a lesson command that needs solutions/ fails it).
set -eu
tarball=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$tarball"
cd "$tmp"/pk-course
unset MAKEFLAGS MAKELEVEL MFLAGS BUILD CH SUBMISSION
if [ -e solutions ]; then
    echo "dist-check: the handout contains solutions/" >&2
    exit 1
fi
NO_COLOR=1 make grade >grade.out 2>&1 || { cat grade.out; exit 1; }
tail -n 3 grade.out
if ! grep -q '"score": 0.00,' build/grade/results.json; then
    echo "dist-check: the untouched handout should score 0" >&2
    exit 1
fi
if grep -q 'did not compile\|did not build' grade.out; then
    echo "dist-check: a skeleton does not compile in the handout" >&2
    exit 1
fi
make test | tail -n 2
if [ "${PK_DIST_LESSONS:-1}" = 1 ]; then
    make lesson-check > lesson-check.out 2>&1 || {
        grep -v '^ok ' lesson-check.out | tail -n 60
        echo "dist-check: a lesson command fails in the student handout" >&2
        exit 1
    }
    tail -n 1 lesson-check.out
fi
echo "dist-check: ok (no solutions, builds, grades to 0, every lesson command runs)"
