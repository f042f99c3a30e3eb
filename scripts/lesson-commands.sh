#!/bin/sh
# lesson-commands.sh [README ...] - check the commands the lessons tell a
# student to run.
#
# Every line of a ```sh block in a lesson is a command. Each `make ...`
# command is checked by make itself in dry-run mode (the target exists, CH
# names a chapter, the recipe expands); `make grade CH=...` and `make hint
# CH=...` are really run, since they are quick and are the student's main
# loop. Any other command must name a program that is installed (make deps
# installs the course's). Commands that need the output of earlier ones
# (perf report on a perf.data, say) are not run here: the chapter's author
# ran them for the lesson.
set -u
[ $# -gt 0 ] || set -- README.md chapters/*/README.md
fail=0
total=0
for f in "$@"; do
    awk '/^```(sh|bash|shell)[[:space:]]*$/ { inb = 1; next } /^```/ { inb = 0; next } inb' "$f" |
    sed 's/[[:space:]]*#.*$//; s/^\$ //' | grep -v '^[[:space:]]*$' >"${TMPDIR:-/tmp}/pk-cmds.$$" || true
    while IFS= read -r cmd; do
        total=$((total + 1))
        # Strip leading VAR=value assignments to find the program.
        # (A subshell's opening parenthesis is not part of the program name.)
        prog=$(echo "$cmd" | sed 's/^[[:space:]]*(*//' |
               awk '{ for (i = 1; i <= NF; i++) if ($i !~ /^[A-Za-z_][A-Za-z0-9_]*=/) { print $i; exit } }')
        case "$prog" in
            make)
                args=$(echo "$cmd" | sed 's/^.*make //; s/|.*$//')
                case "$args" in
                    *"/path/to/"*)
                        # A placeholder for the reader's own path: dry run.
                        # shellcheck disable=SC2086
                        if ! make -n --no-print-directory $(echo "$args" | sed 's#SUBMISSION=[^ ]*##') >/dev/null 2>&1; then
                            echo "FAIL $f: '$cmd' is not a valid make command"; fail=1; continue; fi ;;
                    grade*|hint*)
                        # shellcheck disable=SC2086
                        if ! env NO_COLOR=1 make --no-print-directory $args >/dev/null 2>&1; then
                            echo "FAIL $f: '$cmd' failed"; fail=1; continue; fi ;;
                    *)
                        # shellcheck disable=SC2086
                        if ! make -n --no-print-directory $args >/dev/null 2>&1; then
                            echo "FAIL $f: '$cmd' is not a valid make command"; fail=1; continue; fi ;;
                esac ;;
            build/*|./*)
                # A program the course builds: its source must exist.
                name=$(basename "$prog")
                if ! ls tests/fixtures/bin/"$name".c chapters/*/"$name".c chapters/*/*/"$name".c >/dev/null 2>&1 &&
                   ! make -n "$prog" >/dev/null 2>&1; then
                    echo "FAIL $f: '$cmd': nothing builds $prog"; fail=1; continue
                fi ;;
            *)
                if ! command -v "$prog" >/dev/null 2>&1; then
                    echo "FAIL $f: '$cmd': $prog is not installed"; fail=1; continue
                fi ;;
        esac
        echo "ok   $f: $cmd"
    done <"${TMPDIR:-/tmp}/pk-cmds.$$"
    rm -f "${TMPDIR:-/tmp}/pk-cmds.$$"
done
echo "lesson-commands: $total commands checked"
exit "$fail"
