#!/bin/sh
# docs-post.sh HTMLDIR NODEDIR - finish the HTML that Doxygen wrote (after
# scripts/docs-images.sh), then build the full-text search index.
#
#  1. Lessons: the previous / course map / next line that docs-filter.sh
#     wrapped in <div class="pk-lesson-nav"> at the foot of each lesson is
#     repeated at the top of the page, so a reader can move on from either end.
#  2. Search: the text of each page (div.contents) is marked as what
#     Pagefind indexes, the page title (div.title) as the result's title,
#     and each heading gets an id of its own (Doxygen puts the id on an
#     anchor inside it), so a result also lists the sections that match;
#     the lists of pages, files and symbols are left out, so a search for a
#     word lands on the lesson that explains it. Pagefind (NODEDIR, installed
#     by scripts/docs-deps.sh) writes the index into HTMLDIR/pagefind/, which
#     the search box (docs/course.js) reads.
set -eu
html=${1:?usage: docs-post.sh HTMLDIR NODEDIR}
node_dir=${2:?usage: docs-post.sh HTMLDIR NODEDIR}
pagefind=$node_dir/node_modules/.bin/pagefind
[ -x "$pagefind" ] || { echo "docs-post: $pagefind is missing (scripts/docs-deps.sh installs it)" >&2; exit 1; }

# Doxygen does not notice when an input filter fails: it documents an empty
# page, titled after its file. Stop here instead.
empty=$(grep -l '<div class="title">README' "$html"/md_*.html 2>/dev/null || true)
[ -z "$empty" ] || { echo "docs-post: empty lesson pages (did scripts/docs-filter.sh fail?):" $empty >&2; exit 1; }

# 1. The lesson navigation, again at the top. Doxygen keeps the div on one
# line (followed by the closing tags of the page); the copy opens the
# lesson's text block (div.contents is a flex row in the theme: a child of
# its own would stand beside the text).
for f in "$html"/md_*.html; do
    grep -q '^<div class="pk-lesson-nav">' "$f" || continue
    awk '
        NR == FNR {
            # The div alone: Doxygen ends the line with the closing tags of the page.
            if (!nav && /^<div class="pk-lesson-nav">/) nav = substr($0, 1, index($0, "</div>") + 5)
            next
        }
        /^<div class="contents">$/ { contents = 1 }
        contents && nav && !done && /^<div class="textblock">/ {
            top = nav
            sub(/class="pk-lesson-nav"/, "class=\"pk-lesson-nav pk-lesson-nav-top\"", top)
            sub(/^<div class="textblock">/, "&" top)
            done = 1
        }
        { print }
    ' "$f" "$f" >"$f.tmp"
    mv "$f.tmp" "$f"
done

# 2. What the search index holds.
find "$html" -maxdepth 1 -name '*.html' -exec sed -i -E \
    -e 's/^<div class="contents">/<div class="contents" data-pagefind-body="">/' \
    -e 's/<div class="title">/<div class="title" data-pagefind-meta="title">/' \
    -e 's#<h([1-6])><a class="anchor" id="([^"]+)"></a>#<h\1 id="pf-\2"><a class="anchor" id="\2"></a>#' {} +
# Lists of other pages (the lessons, files, types, members, folders), the
# headers' source listings, Doxygen's graph legend and the page about this
# site (it names the words that docs-check searches for) are not where a word
# is explained: not indexed.
for f in "$html"/pages.html "$html"/lessons.html "$html"/site.html "$html"/annotated.html "$html"/classes.html \
         "$html"/files.html "$html"/globals*.html "$html"/functions*.html "$html"/dir_*.html \
         "$html"/*_source.html "$html"/graph_legend.html; do
    [ -f "$f" ] && sed -i 's/<div class="contents" data-pagefind-body="">/<div class="contents">/' "$f"
done
# The lessons explain; the API reference documents, a report template asks,
# the authors' page describes: a word that both use should find the lesson
# first, so every page but the lessons and the course map counts half.
for f in "$html"/*.html; do
    case "$(basename "$f")" in index.html|md_chapters_*_README.html) continue ;; esac
    sed -i 's/<div class="contents" data-pagefind-body="">/<div class="contents" data-pagefind-body="" data-pagefind-weight="0.5">/' "$f"
done
rm -rf "$html/pagefind"
# --include-characters: "W^X" and "vm_run" are words of the course.
"$pagefind" --site "$html" --silent --force-language en \
    --exclude-selectors '.pk-lesson-nav, .toc, .navpath, #nav-path' \
    --include-characters '^_'
[ -f "$html/pagefind/pagefind-ui.js" ] || { echo "docs-post: pagefind wrote no index into $html/pagefind" >&2; exit 1; }
