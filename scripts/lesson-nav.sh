#!/bin/sh
# lesson-nav.sh - write the previous / course map / next line at the foot of
# every lesson (chapters/NN-topic/README.md), between two markers, so the
# lessons read in order on a code host and in the docs site alike. Run it
# after adding or renaming a chapter; it is idempotent. With arguments
# (chapter names), only those lessons are rewritten.
#
# The docs site shows the same line at the top and at the foot of each lesson
# (scripts/docs-filter.sh reads it after the marker, in the format written
# below: "Previous: [..](..) · [The course map](..) · Next: [..](..)", and
# scripts/docs-post.sh repeats it on top): keep the two in step.
set -eu
only="$*"
chapters=$(ls -d chapters/[0-9][0-9]-* | sort)
title() { sed -n '1s/^# *//p' "$1/README.md" | sed 's/ *{#.*}$//'; }
prev=""
set -- $chapters
while [ $# -gt 0 ]; do
    cur=$1
    shift
    next=${1:-}
    f=$cur/README.md
    [ -f "$f" ] || { prev=$cur; continue; }
    if [ -n "$only" ] && ! echo " $only " | grep -q " $(basename "$cur") "; then
        prev=$cur
        continue
    fi
    line=""
    [ -n "$prev" ] && line="Previous: [$(title "$prev")](../$(basename "$prev")/README.md) · "
    line="$line[The course map](../../README.md)"
    [ -n "$next" ] && [ -f "$next/README.md" ] && line="$line · Next: [$(title "$next")](../$(basename "$next")/README.md)"
    # Drop an old footer, then append the new one.
    awk '/^<!-- pk-nav -->$/ { exit } { print }' "$f" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$f.tmp"
    printf '\n<!-- pk-nav -->\n\n---\n\n%s\n' "$line" >>"$f.tmp"
    mv "$f.tmp" "$f"
    prev=$cur
done
