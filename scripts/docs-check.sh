#!/bin/sh
# docs-check.sh HTMLDIR OUTDIR SERVE NODEDIR - test the docs site in a real browser.
#
# Serves HTMLDIR on 127.0.0.1 (with SERVE, the course's pk-serve) and runs
# scripts/docs-check.js: the menu's data and every internal link, then, in
# headless Chromium (driven by playwright-core from NODEDIR), every lesson
# page at 1280 px and at 420 px for overflow, images, markup shown as text,
# the lesson navigation and the console, then the search box. Screenshots go
# to OUTDIR/shots/. Exit status 1 on any failure.
set -eu
html=$(readlink -f "$1")
out=$(readlink -f "$2")
serve=$3
node_dir=$4
[ -x /usr/bin/chromium ] || { echo "docs-check: chromium is missing (make docs-check installs it)" >&2; exit 1; }
[ -f "$node_dir/node_modules/playwright-core/package.json" ] ||
    { echo "docs-check: playwright-core is missing in $node_dir (scripts/docs-deps.sh installs it)" >&2; exit 1; }
rm -rf "$out/shots" "$out/screenshots"
mkdir -p "$out/shots"
tmp=$(mktemp -d)
"$serve" "$html" >"$tmp/port" 2>"$tmp/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$tmp/port" ] && break; sleep 0.2; done
port=$(cat "$tmp/port")

fail=0
node "$(dirname "$0")/docs-check.js" "$html" "$out/shots" "http://127.0.0.1:$port" "$node_dir" || fail=1

if [ "$fail" -eq 0 ]; then echo "docs-check: ok"; else echo "docs-check: FAILED (see FAIL lines above)"; fi
exit "$fail"
