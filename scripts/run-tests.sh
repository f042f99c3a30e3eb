#!/bin/sh
# run-tests.sh LOGDIR PROGRAM... - run Check test programs, keep their logs,
# print a closing total. Exit status 1 if any test failed.
#
# Performance tests print "PK-PERF test: figures" (shown here), or
# "PK-SKIP test: why" when speed could not be measured (a busy machine, a
# sanitizer, valgrind, PK_PERF=0): such a test passed its correctness checks
# and is counted as skipped, not as passed.
#
# Each program is one chapter's suite (see tests/grader/check_main.c). Check's
# TAP and XML logs go to LOGDIR/<name>.tap and .xml. With PK_VALGRIND=1 each
# runs under valgrind memcheck in Check's no-fork mode, one log per process
# (LOGDIR/<name>.vg.<pid>): any error or leak in the test program fails it,
# and so does any memory error in a process it forks. (A forked child's leak
# report is meaningless: it exits holding blocks that only its parent's other
# threads pointed to.)
set -u
logdir=$1
shift
mkdir -p "$logdir"
passed=0
failed=0
skipped=0
broken=""
for prog in "$@"; do
    name=$(basename "$(dirname "$prog")")
    echo "== $name"
    out="$logdir/$name.out"
    if [ "${PK_VALGRIND:-}" = 1 ]; then
        rm -f "$logdir/$name".vg.*
        CK_FORK=no CK_DEFAULT_TIMEOUT=600 CK_TIMEOUT_MULTIPLIER=20 \
        PK_UNDER_VALGRIND=1 \
        valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect \
            --log-file="$logdir/$name.vg.%p" "$prog" >"$out" 2>&1 &
        main=$!            # valgrind runs the program under its own pid
        wait "$main"
        rc=$?
        # -q: a log holds nothing but errors ("==PID==" lines) and
        # valgrind's own notes ("--PID--" lines, such as "unhandled syscall
        # 434": valgrind 3.19 does not know pidfd_open, which returns ENOSYS
        # under it, and libpk falls back to waitpid).
        for vg in "$logdir/$name".vg.*; do
            [ -s "$vg" ] || continue
            if [ "$vg" = "$logdir/$name.vg.$main" ]; then
                bad=$(grep -c '^==' "$vg")
            else
                bad=$(grep -c 'Invalid read\|Invalid write\|uninitialised\|Invalid free\|Mismatched' "$vg")
            fi
            if [ "$bad" -ne 0 ]; then
                echo "valgrind found errors, see $vg"
                sed -n '1,60p' "$vg"
                [ "$rc" -eq 0 ] && rc=99
            fi
        done
    else
        CK_TAP_LOG_FILE_NAME="$logdir/$name.tap" \
        CK_XML_LOG_FILE_NAME="$logdir/$name.xml" \
        "$prog" >"$out" 2>&1
        rc=$?
    fi
    # Show failures and the summary, not every "Running suite" line.
    grep -v '^Running suite' "$out" | grep -v '^[0-9]*%: Checks' | tail -n 40
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    s=$(grep -c '^PK-SKIP ' "$out")
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
        passed=$((passed + p - s))
        failed=$((failed + f))
        skipped=$((skipped + s))
    fi
    if [ "$rc" -ne 0 ]; then
        broken="$broken $name(exit $rc)"
        [ -z "$line" ] && failed=$((failed + 1))
    fi
done
echo "== total"
[ -n "$broken" ] && echo "failing programs:$broken (logs in $logdir)"
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped performance tests skipped (speed not measured: see the PK-SKIP lines)"
else
    echo "$passed passed, $failed failed"
fi
[ -z "$broken" ]
