#!/bin/sh
# lesson-commands.sh [README ...] - run every command the lessons tell a
# student to run, exactly as written, and fail if any of them fails.
#
# A command is a line of a ```sh block (docs/pages/authoring.md asks authors
# to put every command there). The lessons are read in course order, and each
# lesson's commands run in order from the top of the repository with
# `sh -c`, as a student would paste them: a later command may use what an
# earlier one built (perf report reads the perf.data that perf record wrote).
# A command passes when it exits with status 0 within its time limit; its
# output goes to build/lesson-check/, and the tail is shown on failure.
#
# Five kinds of command cannot simply be run and waited for; each is still
# run as written, and checked for what it is meant to do:
#   /path/to/...     a placeholder for the reader's own folder: replaced by a
#                    real one made here (a copy of chapters/, which is what a
#                    student submits), and the command is run
#   make watch       runs until Ctrl-C: it must print a grade table, then
#                    print a second one after a file in the chapter is saved
#   build/bin/pk-httpd
#                    a server: started in the background, it must answer on
#                    its port; the lesson's next commands (curl) talk to it;
#                    it is stopped at the end of the lesson
#   gdb              interactive: its standard input says run, bt, quit,
#                    and the program must have run to its end
#   ... MINE=1, build/grade/NN-topic/check
#                    test the student's own code, which here is the untouched
#                    skeleton: the command must build and run the tests and
#                    report their failures (a build error, or a run that does
#                    not reach its summary, still fails it; what valgrind or
#                    a sanitizer says of the skeleton is expected: a leak
#                    where a free is still a TODO)
# Every other command gets /dev/null as standard input.
#
# PK_LESSON_TIMEOUT (seconds, default 1800) bounds each command.
# PK_LESSON_QUICK=1 (CI) skips the whole-course runs that CI makes as steps
# of their own (make test, make check-skeletons, make sanitize, make
# valgrind, make perf-series, make robustness, each without CH=; make
# mutants and make perf-selftest with or without it; make grade-all, which
# grade-all-check runs; make bench without CH=, whose chapters each lesson
# benchmarks with CH=), and a command that already ran word for word
# (nothing a lesson check does changes what it would do): running them
# again proves nothing more. Every other command with CH=, the first make
# grade, every bench with CH=, watch, server and tool still runs.
set -u
[ $# -gt 0 ] || set -- README.md chapters/*/README.md
unset CH SUBMISSION SUBMISSIONS # the commands say what they need
limit=${PK_LESSON_TIMEOUT:-1800}
logs=build/lesson-check
mkdir -p "$logs"
work=$(mktemp -d)
bg_pids=""
cleanup() {
    for p in $bg_pids; do kill -TERM "-$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The folders the placeholders stand for: one student's chapters/, and a
# folder of submissions holding one student.
mkdir -p "$work/student" "$work/submissions/student"
cp -r chapters "$work/student/chapters"
cp -r chapters/. "$work/submissions/student/"

fail=0
total=0
started=$(date +%s)

# wait_for FILE PATTERN COUNT SECONDS: until FILE has COUNT lines matching
# PATTERN; 0 if it happened in time.
wait_for() {
    i=0
    while [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -lt "$3" ]; do
        i=$((i + 1))
        [ "$i" -le $(($4 * 10)) ] || return 1
        sleep 0.1
    done
}

# Start a command in the background, in a process group of its own, so that
# stopping it stops whatever it started.
start_bg() {
    setsid sh -c "$1" </dev/null >"$2" 2>&1 &
    bg_pids="$bg_pids $!"
    last_bg=$!
}

stop_bg() {
    kill -TERM "-$1" 2>/dev/null
    wait "$1" 2>/dev/null
    bg_pids=$(echo "$bg_pids" | sed "s/ $1\$//; s/ $1 / /")
}

# run_watch CMD LOG: make watch must grade, then re-grade after a save.
run_watch() {
    ch=$(echo "$1" | sed -n 's/.*CH=\([^ ]*\).*/\1/p')
    start_bg "$1" "$2"
    w=$last_bg
    ok=0
    file="(no file: the first table never came)"
    if wait_for "$2" '^watching chapters/' 1 600; then
        file=$(ls chapters/"$ch"/*.c | head -n 1)
        : >>"$file" # opened and closed for writing: a save, same content
        wait_for "$2" '^watching chapters/' 2 600 && ok=1
    fi
    stop_bg "$w"
    if [ "$ok" -eq 1 ] && [ "$(grep -c 'Total' "$2")" -ge 2 ]; then
        return 0
    fi
    echo "(expected two grade tables, one before and one after saving $file)" >>"$2"
    return 1
}

# run_server CMD LOG: the server must come up and answer on its port.
run_server() {
    port=$(echo "$1" | sed -n 's/.*--port \([0-9]*\).*/\1/p')
    if curl -s -o /dev/null --noproxy '*' "http://127.0.0.1:$port/"; then
        echo "(something already answers on 127.0.0.1:$port: stop it first)" >"$2"
        return 1
    fi
    start_bg "$1" "$2"
    lesson_bg="$lesson_bg $last_bg"
    i=0
    while ! curl -s -o /dev/null --noproxy '*' "http://127.0.0.1:$port/stats"; do
        i=$((i + 1))
        if [ "$i" -gt 100 ] || ! kill -0 "$last_bg" 2>/dev/null; then
            echo "(the server did not answer on 127.0.0.1:$port within 10 s)" >>"$2"
            return 1
        fi
        sleep 0.1
    done
}

for f in "$@"; do
    lesson=$(basename "$(dirname "$f")")
    [ "$f" = README.md ] && lesson=README
    awk '/^```(sh|bash|shell)[[:space:]]*$/ { inb = 1; next } /^```/ { inb = 0; next } inb' "$f" |
    sed 's/\(^\|[[:space:]]\)#.*$//; s/^\$ //; s/[[:space:]]*$//' | grep -v '^[[:space:]]*$' >"$work/cmds" || true
    lesson_bg=""
    k=0
    while IFS= read -r cmd; do
        total=$((total + 1))
        k=$((k + 1))
        log="$logs/$lesson-$k.log"
        run=$(echo "$cmd" | sed "s#/path/to/student/chapters#$work/student/chapters#g;
                                  s#/path/to/submissions#$work/submissions#g")
        if [ "${PK_LESSON_QUICK:-}" = 1 ]; then
            case "$run" in
                "make test"|"make check-skeletons"|"make sanitize"|"make valgrind"|\
                "make mutants"|"make mutants "*|"make perf-selftest"*|\
                "make perf-series"*|"make robustness")
                    printf 'skip %-28s        %s (quick: CI runs it as a step of its own)\n' "$lesson" "$cmd"
                    continue ;;
                "make grade-all "*|"make bench")
                    printf 'skip %-28s        %s (quick: CI checks it as a step of its own, or chapter by chapter)\n' "$lesson" "$cmd"
                    continue ;;
            esac
            if grep -qxF -- "$run" "$work/ran" 2>/dev/null; then
                printf 'skip %-28s        %s (quick: the same command already ran)\n' "$lesson" "$cmd"
                continue
            fi
            echo "$run" >>"$work/ran"
        fi
        t0=$(date +%s)
        case "$run" in
            *make\ watch*) run_watch "$run" "$log" ;;
            build/bin/pk-httpd*) run_server "$run" "$log" ;;
            *gdb\ *) printf 'run\nbt\nquit\n' |
                     timeout -k 10 "$limit" sh -c "$run" >"$log" 2>&1 &&
                     grep -q '^\[Inferior 1 (process [0-9]*) exited' "$log" ;;
            *) timeout -k 10 "$limit" sh -c "$run" </dev/null >"$log" 2>&1 ;;
        esac
        rc=$?
        dt=$(($(date +%s) - t0))
        # On the skeleton the tests fail: that, and only that, may fail.
        case "$run" in
            *MINE=1*)
                if [ "$rc" -ne 0 ] && grep -q '^[0-9]* passed, [1-9][0-9]* failed' "$log"; then
                    rc=0
                fi ;;
            build/grade/*/check*)
                if [ "$rc" -ne 0 ] && grep -q '^[0-9]*%: Checks: [0-9]*, Failures: [0-9]*, Errors: [0-9]*$' "$log" &&
                   ! grep -q '^[0-9]*%: Checks: [0-9]*, Failures: 0, Errors: 0$' "$log"; then
                    rc=0
                fi ;;
        esac
        if [ "$rc" -ne 0 ]; then
            echo "FAIL $f: '$cmd' (exit $rc after ${dt}s; log $log):"
            tail -n 20 "$log" | sed 's/^/    /'
            fail=1
        else
            printf 'ok   %-28s %4ss  %s\n' "$lesson" "$dt" "$cmd"
        fi
    done <"$work/cmds"
    for p in $lesson_bg; do stop_bg "$p"; done
done
echo "lesson-commands: $total commands run in $(($(date +%s) - started)) s, $([ "$fail" -eq 0 ] && echo all passed || echo some FAILED)"
exit "$fail"
