#!/bin/sh
# docs-filter.sh FILE - Doxygen's input filter for the Markdown pages
# (FILTER_PATTERNS in docs/Doxyfile). It prints FILE to stdout with four
# changes, and never adds or removes a line, so Doxygen's warnings keep the
# file's own line numbers:
#
#  1. Heading lines (# ... to ###### ...) lose their backticks. Doxygen 1.9.4
#     shows code spans in headings as a literal "<tt>...</tt>" in the page and
#     in the menu; plain text reads right in both. Lines inside fenced code
#     blocks (``` or ~~~) are left alone, so a shell comment stays a comment.
#  2. The lesson's previous / course map / next line (written by
#     scripts/lesson-nav.sh under "<!-- pk-nav -->") becomes
#     <div class="pk-lesson-nav"> with a span for each link (pk-nav-prev,
#     pk-nav-map, pk-nav-next), so the site can lay it out and
#     scripts/docs-post.sh can repeat it at the top of the page.
#  3. The line "<!-- pk-lessons -->" (in docs/pages/lessons.md) becomes a
#     one-line list with a "\subpage" item per chapters/NN-topic/README.md,
#     in order, each followed by the chapter's other Markdown pages (07's
#     REPORT.md): the menu then holds them under "Lessons", and a new chapter
#     joins the list by itself.
#  4. In-page links written for a code host, [the results](#results-on-this-machine),
#     work in the site too: the heading they name gets a Doxygen label
#     (" {#sec-07-capstone-results-on-this-machine}", unique across the site)
#     and the link points at it. Headings with a {#label} of their own and
#     links to other labels are left alone.
#
# The files on disk are not changed; a code host shows them as they are.
set -eu
# Doxygen's page name of chapters/01-threads/README.md: md_chapters_01_threads_README
# A chapter's other Markdown pages (07-capstone/REPORT.md) follow its lesson.
# (A chapter folder without a lesson yet is skipped.)
page_name() {   # chapters/07-capstone/REPORT.md -> md_chapters_07_capstone_REPORT, or its {#label}
    label=$(sed -n '1s/.*{#\([A-Za-z0-9_-]*\)} *$/\1/p' "$1")
    if [ -n "$label" ]; then echo "$label"; else echo "md_${1%.md}" | tr '/-' '__'; fi
}
lessons=""
grep -q '^<!-- pk-lessons -->$' "$1" && lessons=$(for d in chapters/[0-9][0-9]-*; do
    [ -f "$d/README.md" ] || continue
    printf '%s ' "$(page_name "$d/README.md")"
    for f in "$d"/*.md; do
        if [ "$f" != "$d/README.md" ]; then printf '+%s ' "$(page_name "$f")"; fi
    done
done)
# Labels made for headings get a prefix of the file's own (labels are global
# in Doxygen, and every lesson has a "Results on this machine").
case "$1" in
    chapters/*/README.md|*/chapters/*/README.md) prefix=$(basename "$(dirname "$1")") ;;
    *) prefix=$(basename "$1" .md | tr -c 'A-Za-z0-9_\n-' '-') ;;
esac
exec awk -v lessons="$lessons" -v prefix="sec-$prefix-" '
function strip_ticks(line,    head, rest) {
    match(line, /^ *#+[ \t]+/)
    head = substr(line, 1, RLENGTH)
    rest = substr(line, RLENGTH + 1)
    gsub(/`/, "", rest)
    return head rest
}
# A heading as GitHub names its anchor: lower case, punctuation dropped,
# spaces made hyphens ("## Results on this machine" -> results-on-this-machine).
function slug(line) {
    sub(/^ *#+[ \t]+/, "", line)
    sub(/[ \t]+#+[ \t]*$/, "", line)
    line = tolower(line)
    gsub(/[^a-z0-9 _-]/, "", line)
    gsub(/ /, "-", line)
    return line
}
# Fences: a line that opens with ``` or ~~~ (up to 3 spaces in) opens a
# block; the next line with the same kind of fence closes it.
function in_fence(line) {
    if (fence == "" && match(line, /^ ? ? ?(```|~~~)/)) {
        fence = substr(line, RSTART + RLENGTH - 3, 3)
        return 1
    }
    if (fence != "") {
        if (index(line, fence) && line ~ /^ ? ? ?(```|~~~)/) fence = ""
        return 1
    }
    return 0
}
# First pass: the headings of the file and the in-page links (#anchor).
NR == FNR {
    if (in_fence($0)) next
    if ($0 ~ /^ ? ? ?#+[ \t]/ && $0 !~ /\{#[^}]*\}[ \t]*$/) heading[slug($0)] = 1
    rest = $0
    while (match(rest, /\]\(#[a-z0-9_-]+\)/)) {
        linked[substr(rest, RSTART + 3, RLENGTH - 4)] = 1
        rest = substr(rest, RSTART + RLENGTH)
    }
    next
}
FNR == 1 { fence = "" }
in_fence($0) { print; next }
/^<!-- pk-lessons -->$/ {
    n = split(lessons, page, " ")
    line = "<ul class=\"pk-lessons\">"
    for (i = 1; i <= n; i++) {
        if (substr(page[i], 1, 1) == "+")   # a page of the chapter before
            line = line "<ul class=\"pk-lesson-pages\"><li>\\subpage " substr(page[i], 2) "</li></ul>"
        else
            line = line (i > 1 ? "</li>" : "") "<li>\\subpage " page[i]
    }
    print line (n ? "</li>" : "") "</ul>"
    next
}
/^<!-- pk-nav -->$/ { nav = 1; print; next }
nav && /^(Previous: )?\[/ {
    # "Previous: [..](..) · [The course map](..) · Next: [..](..)": one span each.
    n = split($0, part, / · /)
    line = ""
    for (i = 1; i <= n; i++) {
        kind = part[i] ~ /^Previous: / ? "prev" : part[i] ~ /^Next: / ? "next" : "map"
        sub(/^(Previous|Next): /, "", part[i])
        line = line "<span class=\"pk-nav-" kind "\">" part[i] "</span>"
    }
    print "<div class=\"pk-lesson-nav\">" line "</div>"
    nav = 0
    next
}
{
    line = $0
    if (line ~ /^ ? ? ?#+[ \t]/) {
        if (line ~ /`/) line = strip_ticks(line)
        s = slug(line)
        if (line !~ /\{#[^}]*\}[ \t]*$/ && (s in linked)) line = line " {#" prefix s "}"
    }
    # In-page links to those headings follow their labels.
    out = ""
    while (match(line, /\]\(#[a-z0-9_-]+\)/)) {
        s = substr(line, RSTART + 3, RLENGTH - 4)
        out = out substr(line, 1, RSTART - 1) ((s in heading) ? "](#" prefix s ")" : substr(line, RSTART, RLENGTH))
        line = substr(line, RSTART + RLENGTH)
    }
    print out line
}
' "$1" "$1"
