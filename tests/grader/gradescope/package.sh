#!/bin/sh
# package.sh OUTDIR - write OUTDIR/autograder.zip following Gradescope's
# autograder specification: setup.sh and run_autograder at the root of the
# zip, the course (without solutions/) beside them; Gradescope unpacks it
# into /autograder/source.
set -eu
out=$1
scripts/install-deps.sh zip unzip
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
git ls-files -z --cached | grep -zv '^solutions/' | xargs -0 -I{} cp --parents {} "$stage/"
cp tests/grader/gradescope/setup.sh tests/grader/gradescope/run_autograder "$stage/"
chmod +x "$stage/setup.sh" "$stage/run_autograder"
mkdir -p "$out"
rm -f "$out/autograder.zip"
(cd "$stage" && zip -qr "$out/autograder.zip" .)
echo "gradescope: $out/autograder.zip (upload it as the autograder of a programming assignment)"
