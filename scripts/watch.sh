#!/bin/sh
# watch.sh CHAPTER - re-grade a chapter every time a file in it is saved,
# like rustlings' watch mode. Uses inotifywait (inotify-tools) when present,
# else polls once a second. Ctrl-C stops it.
#
# Each round grades until the chapter's first failing test (make
# grade-watch), so the next step shows within seconds. The table keeps its
# colours. When a save does not compile, the last table that did stays on
# the screen, with the compiler's error beneath it, so the score never
# seems to drop to zero while the student is typing.
set -u
ch=${1:-}
if [ -z "$ch" ] || [ ! -d "chapters/$ch" ]; then
    echo "usage: make watch CH=NN-topic   (one of: $(ls chapters | tr '\n' ' '))" >&2
    exit 2
fi
stamp=$(mktemp)
out=$(mktemp)
last=$(mktemp)
trap 'rm -f "$stamp" "$out" "$last"; exit 0' INT TERM
colour=""
[ -t 1 ] && [ -z "${NO_COLOR:-}" ] && colour=1
while :; do
    PK_FORCE_COLOR=$colour make -s --no-print-directory grade-watch CH="$ch" >"$out" 2>&1
    clear 2>/dev/null || true
    if grep -q 'FAILED to build\|did not compile' "$out" && [ -s "$last" ]; then
        cat "$last"
        echo
        echo "Your last save of chapters/$ch does not compile (the table above is from the"
        echo "last version that did):"
        sed -n '/did not compile/,/^Total:/p' "$out" | sed '/^Total:/d'
    else
        cat "$out"
        grep -q 'FAILED to build\|did not compile' "$out" || cp "$out" "$last"
    fi
    echo
    echo "watching chapters/$ch for changes (Ctrl-C to stop) ..."
    touch "$stamp"
    if command -v inotifywait >/dev/null 2>&1; then
        inotifywait -qq -r -e close_write,moved_to,create "chapters/$ch" || sleep 1
    else
        while [ -z "$(find "chapters/$ch" -newer "$stamp" -type f | head -n 1)" ]; do
            sleep 1
        done
    fi
    sleep 0.2 # let the editor finish writing
done
