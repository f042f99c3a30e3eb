#!/bin/sh
# docs-deps.sh NODEDIR - install what the docs site needs (make docs,
# make docs-check, make docs-instructor call it).
#
# From Debian (through scripts/install-deps.sh, so only what is missing):
#   doxygen-awesome-css  the theme; Debian ships the release made for its
#                        Doxygen (bookworm: 2.1.0 with Doxygen 1.9.4). The
#                        theme is not on the npm registry.
#   nodejs, npm          only when `node` or `npm` is missing.
# From the npm registry, at the pinned versions below, into NODEDIR (under
# build/, never into the repository):
#   pagefind             the full-text search index (ships its binary)
#   playwright-core      drives Chromium for scripts/docs-check.js (no browser
#                        download: the check uses Debian's chromium)
# A stamp file makes a second run free.
set -eu
PAGEFIND_VERSION=1.4.0
PLAYWRIGHT_VERSION=1.61.1   # the last release that runs on Debian 12's Node 18
node_dir=${1:?usage: docs-deps.sh NODEDIR}
here=$(dirname "$0")

debs="doxygen-awesome-css"
command -v node >/dev/null 2>&1 || debs="$debs nodejs"
command -v npm >/dev/null 2>&1 || debs="$debs npm"
# shellcheck disable=SC2086
"$here/install-deps.sh" $debs

# The theme release the site was made and checked with.
THEME_VERSION=2.1.0
have=$(dpkg-query -W -f='${Version}' doxygen-awesome-css 2>/dev/null || true)
case "$have" in
    "$THEME_VERSION"*) ;;
    *) echo "docs-deps: warning: doxygen-awesome-css $have, the site was checked with $THEME_VERSION" >&2 ;;
esac

want="pagefind@$PAGEFIND_VERSION playwright-core@$PLAYWRIGHT_VERSION"
stamp="$node_dir/.pk-docs-deps"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
   [ -x "$node_dir/node_modules/.bin/pagefind" ] &&
   [ -f "$node_dir/node_modules/playwright-core/package.json" ]; then
    exit 0
fi
mkdir -p "$node_dir"
echo "docs-deps: npm install $want into $node_dir"
# shellcheck disable=SC2086
npm install --prefix "$node_dir" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error $want >/dev/null
echo "$want" >"$stamp"
