#!/bin/sh
# docs-filter.sh FILE - Doxygen's input filter for the Markdown pages
# (FILTER_PATTERNS in docs/Doxyfile). It prints FILE to stdout with three
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
#     in order: the menu then holds the lessons under "Lessons", and a new
#     chapter joins the list by itself.
#
# The files on disk are not changed; a code host shows them as they are.
set -eu
# Doxygen's page name of chapters/01-threads/README.md: md_chapters_01_threads_README
lessons=$(for d in chapters/[0-9][0-9]-*/; do
    [ -f "$d/README.md" ] && printf 'md_chapters_%s_README ' "$(basename "$d" | tr '-' '_')"
done)
exec awk -v lessons="$lessons" '
function strip_ticks(line,    head, rest) {
    match(line, /^ *#+[ \t]+/)
    head = substr(line, 1, RLENGTH)
    rest = substr(line, RLENGTH + 1)
    gsub(/`/, "", rest)
    return head rest
}
# Fences: a line that opens with ``` or ~~~ (up to 3 spaces in) opens a
# block; the next line with the same kind of fence closes it.
{
    if (fence == "" && match($0, /^ ? ? ?(```|~~~)/)) {
        fence = substr($0, RSTART + RLENGTH - 3, 3)
        print; next
    }
    if (fence != "") {
        if (index($0, fence) && $0 ~ /^ ? ? ?(```|~~~)/) fence = ""
        print; next
    }
}
/^<!-- pk-lessons -->$/ {
    n = split(lessons, page, " ")
    line = "<ul class=\"pk-lessons\">"
    for (i = 1; i <= n; i++) line = line "<li>\\subpage " page[i] "</li>"
    print line "</ul>"
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
/^ ? ? ?#+[ \t]/ && /`/ { print strip_ticks($0); next }
{ print }
' "$1"
