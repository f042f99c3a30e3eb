#!/bin/sh
# lesson-lint.sh [MARKDOWN ...] - what a lesson must not say. Fails when a
# lesson (default: README.md and every chapters/*/README.md)
#   - speaks of "the issue" or cites DESIGN.md (authoring leftovers:
#     lessons speak to students, who have neither; "issues" as the verb, a
#     CPU that issues instructions, is fine);
#   - names a file of the course that does not exist: a path that starts
#     with one of the course's folders (chapters/, common/, tests/,
#     scripts/, docs/, solutions/ where it exists), or a `file.c`, `file.h`
#     or `file.mk` in backquotes that is nowhere in the course, nor a
#     system header (a line about another project's file names the project:
#     see EXTERNAL below);
#   - still holds an authoring placeholder for a figure: {{NAME}}, or a
#     line that is one capitalised WORD alone, or a word such as
#     ALPHA_SHM or COMM10 in a sentence or a table (capitals with an
#     underscore, or four capitals and digits) that no course file, system
#     header or Open MPI header defines.
# Placeholders (NN-topic, FILE) and generated paths (build/...) are not
# checked; neither is text inside code blocks. Run by make lesson-check.
set -u
[ $# -gt 0 ] || set -- README.md chapters/*/README.md
# Words that mark a line as being about another project's files.
EXTERNAL='http|libuv|Redis|CPython|Lua|LLVM|glibc|Linux|PyPy|MIR|Numba|Cython|HotSpot|OpenJDK|isolate|kilo|libgit2|OpenBLAS|BLIS|Open MPI|mpi4py|FlameGraph|tracemalloc|LuaJIT|V8|musl|the kernel'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{ git ls-files 2>/dev/null || find . -type f | sed 's#^\./##'; } | sed 's#.*/##' | sort -u > "$tmp/names"

status=0
for f in "$@"; do
    [ -f "$f" ] || continue
    awk -v file="$f" -v ext="$EXTERNAL" -v names="$tmp/names" '
        BEGIN { while ((getline n < names) > 0) known[n] = 1 }
        /^```/ { inb = !inb; next }
        inb { next }
        {
            line = $0
            l = tolower(line)
            if (l ~ /(the|this|an|open|chapter.s) issue|issue.s|issue that|issues? (asked|said|wanted)/)
                printf "%s:%d: speaks of an issue (lessons speak to students): %s\n", file, FNR, line
            if (line ~ /DESIGN\.md/)
                printf "%s:%d: cites DESIGN.md, which students do not have\n", file, FNR
            if (line ~ /\{\{[A-Za-z0-9_]+\}\}/ || line ~ /^[A-Z][A-Z0-9_]+$/)
                printf "%s:%d: an authoring placeholder is left: %s\n", file, FNR, line
            rest = line ~ /^[A-Z][A-Z0-9_]+$/ ? "" : line
            while (match(rest, /(^|[^A-Za-z0-9_`])([A-Z]+(_[A-Z0-9]+)+|[A-Z][A-Z][A-Z][A-Z]+[0-9]+)([^A-Za-z0-9_`(]|$)/)) {
                w = substr(rest, RSTART, RLENGTH)
                rest = substr(rest, RSTART + RLENGTH)
                gsub(/^[^A-Z]|[^A-Z0-9_]$/, "", w)
                printf "CAPS %s %d %s\n", file, FNR, w
            }
            rest = line
            while (match(rest, /(^|[^A-Za-z0-9_.\/-])(chapters|common|tests|scripts|docs|solutions)\/[A-Za-z0-9_.\/*-]*[A-Za-z0-9_*]/)) {
                p = substr(rest, RSTART, RLENGTH)
                sub(/^[^a-z]/, "", p)
                rest = substr(rest, RSTART + RLENGTH)
                if (p ~ /NN|FILE|\*/) continue
                printf "PATH %s %d %s\n", file, FNR, p
            }
            if (line ~ ext) next
            rest = line
            while (match(rest, /`[A-Za-z0-9_-]+\.(c|h|mk)`/)) {
                b = substr(rest, RSTART + 1, RLENGTH - 2)
                rest = substr(rest, RSTART + RLENGTH)
                if (!(b in known))
                    printf "NAME %s %d %s\n", file, FNR, b
            }
        }' "$f" > "$tmp/out"
    grep -v '^PATH \|^NAME \|^CAPS ' "$tmp/out" && status=1
    dir=$(dirname "$f")
    while read -r kind src n p; do
        case "$kind" in
            PATH)
                case "$p" in solutions/*) [ -d solutions ] || continue ;; esac
                [ -e "$p" ] || [ -e "$dir/$p" ] || {
                    echo "$src:$n: names $p, which does not exist"
                    status=1
                } ;;
            NAME)
                # A system header (<stdatomic.h>, <immintrin.h>) is fine.
                [ -n "$(find /usr/include /usr/lib/gcc -name "$p" -print -quit 2>/dev/null)" ] || {
                    echo "$src:$n: names \`$p\`, which is nowhere in the course"
                    status=1
                } ;;
            CAPS)
                # A macro, constant or API name defined somewhere in the
                # course, the system's headers or Open MPI's is fine.
                grep -rqw --exclude="*.md" -- "$p" chapters common tests 2>/dev/null && continue
                grep -rqw -- "$p" /usr/include /usr/lib/x86_64-linux-gnu/openmpi/include 2>/dev/null && continue
                echo "$src:$n: an authoring placeholder is left: $p"
                status=1 ;;
        esac
    done <<EOF
$(grep '^PATH \|^NAME \|^CAPS ' "$tmp/out")
EOF
done
exit $status
