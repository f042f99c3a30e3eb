#!/bin/sh
# docs-check.sh HTMLDIR OUTDIR SERVE - test the docs site in a real browser.
#
# Serves HTMLDIR on 127.0.0.1 (with SERVE, the course's pk-serve), opens the
# main page and every lesson page in headless Chromium, and checks that each
# renders its title and its images, that the browser console stays silent,
# and that no internal link of the site is broken. Screenshots go to
# OUTDIR/screenshots/. Exit status 1 on any failure.
set -eu
html=$(readlink -f "$1")
out=$(readlink -f "$2")
serve=$3
command -v chromium >/dev/null 2>&1 || { echo "docs-check: chromium is missing (make docs-check installs it)" >&2; exit 1; }
mkdir -p "$out/screenshots"
tmp=$(mktemp -d)
"$serve" "$html" >"$tmp/port" 2>"$tmp/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$tmp/port" ] && break; sleep 0.2; done
port=$(cat "$tmp/port")
base="http://127.0.0.1:$port"

# Flags from this machine's notes: no sandbox as root, no background traffic.
browser() {
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 \
        --virtual-time-budget=3000 "$@"
}

fail=0
bad() { echo "  FAIL $*"; fail=1; }

pages="index.html $(cd "$html" && ls md_chapters_*_README.html md_docs_pages_*.html 2>/dev/null | sort)"
echo "docs-check: $(echo $pages | wc -w) pages at $base"
for page in $pages; do
    name=${page%.html}
    browser --dump-dom "$base/$page" >"$tmp/$name.dom" 2>"$tmp/$name.log" || true
    browser --screenshot="$out/screenshots/$name.png" --window-size=1280,1600 \
        "$base/$page" >/dev/null 2>>"$tmp/$name.log" || true
    title=$(grep -o '<div class="title">[^<]*' "$tmp/$name.dom" | head -n 1 | sed 's/.*">//')
    [ -n "$title" ] || bad "$page: no title rendered"
    case "$page" in
        md_chapters_*) case "$title" in Chapter*) ;; *) bad "$page: title '$title' is not 'Chapter NN: ...'";; esac ;;
    esac
    nimg=0
    for src in $(grep -o '<img[^>]* src="[^"]*"' "$tmp/$name.dom" | sed 's/.* src="//; s/"$//'); do
        case "$src" in http*|data:*) continue;; esac
        nimg=$((nimg + 1))
        code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' "$base/$src")
        [ "$code" = 200 ] || bad "$page: image $src answers $code"
    done
    if grep -q ':CONSOLE' "$tmp/$name.log"; then
        bad "$page: console messages:"
        grep ':CONSOLE' "$tmp/$name.log" | sed 's/^/      /' | head -n 5
    fi
    [ -s "$out/screenshots/$name.png" ] || bad "$page: no screenshot"
    echo "  ok   $page: \"$title\", $nimg images"
done

# Internal links of every page of the site: each relative target must exist.
links=0
for f in "$html"/*.html; do
    for href in $(grep -o 'href="[^"#][^"]*"' "$f" | sed 's/^href="//; s/"$//; s/#.*//' | sort -u); do
        case "$href" in http:*|https:*|mailto:*|javascript:*|"") continue;; esac
        links=$((links + 1))
        [ -e "$html/$href" ] || bad "$(basename "$f"): broken link $href"
    done
done
echo "docs-check: $links internal links checked, screenshots in $out/screenshots"
[ "$fail" -eq 0 ] && echo "docs-check: ok"
exit "$fail"
