#!/bin/sh
# watch.sh CHAPTER - re-grade a chapter every time a file in it is saved,
# like rustlings' watch mode. Uses inotifywait (inotify-tools) when present,
# else polls once a second. Ctrl-C stops it.
set -u
ch=${1:-}
if [ -z "$ch" ] || [ ! -d "chapters/$ch" ]; then
    echo "usage: make watch CH=NN-topic   (one of: $(ls chapters | tr '\n' ' '))" >&2
    exit 2
fi
stamp=$(mktemp)
trap 'rm -f "$stamp"; exit 0' INT TERM
while :; do
    clear 2>/dev/null || true
    make --no-print-directory grade CH="$ch" 2>&1 | grep -v '^make'
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
