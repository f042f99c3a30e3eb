#!/bin/sh
# plots.sh CSVDIR OUTDIR - turn every benchmark CSV (make bench writes them
# to build/bench/) into SVG bar charts, one per benchmark table with two or
# more variants: OUTDIR/<chapter>-<k>.svg, where k counts the tables of that
# chapter from 1 in CSV order. Each chart names the machine and the date the
# CSV was measured, so committed plots say where their numbers come from.
set -eu
csvdir=${1:-build/bench}
out=${2:-docs/images/plots}
command -v gnuplot >/dev/null 2>&1 || { echo "plots: gnuplot is missing (make deps installs it)" >&2; exit 1; }
mkdir -p "$out"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
machine="${cpu:-unknown CPU}, $(nproc) cores"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# PK_PLOT_FORMAT=png previews a chart as PNG (an image viewer shows it).
if [ "${PK_PLOT_FORMAT:-svg}" = png ]; then term=pngcairo; ext=png; else term="svg dynamic"; ext=svg; fi
n=0
for csv in "$csvdir"/*.csv; do
    [ -f "$csv" ] || continue
    chapter=$(basename "$csv" .csv)
    date=$(date -u -r "$csv" +%Y-%m-%d)
    # Split into one data file per benchmark: variant<TAB>speedup<TAB>median.
    awk -v dir="$tmp" -v ch="$chapter" '
        function field(s,   f) { gsub(/^"|"$/, "", s); return s }
        NR == 1 { next }
        {
            # benchmark and variant are quoted and may hold commas
            line = $0
            match(line, /^"[^"]*"/); b = substr(line, 2, RLENGTH - 2); line = substr(line, RLENGTH + 2)
            match(line, /^"[^"]*"/); v = substr(line, 2, RLENGTH - 2); line = substr(line, RLENGTH + 2)
            split(line, rest, ",")
            if (!(b in idx)) { idx[b] = ++k; print b > (dir "/" ch "-" k ".title") }
            printf "%s\t%s\t%s\n", v, rest[5], rest[2] > (dir "/" ch "-" idx[b] ".dat")
        }' "$csv"
    for dat in "$tmp/$chapter"-*.dat; do
        [ -f "$dat" ] || continue
        base=$(basename "$dat" .dat)
        [ "$(wc -l <"$dat")" -ge 2 ] || { rm -f "$dat"; continue; }
        title=$(sed 's/"/\\"/g' "$tmp/$base.title")
        rows=$(wc -l <"$dat")
        logscale=$(awk -F'\t' 'NR == 1 || $2 < mn { mn = $2 } NR == 1 || $2 > mx { mx = $2 }
                               END { print (mn > 0 && mx / mn > 30) ? "set logscale y" : "" }' "$dat")
        width=$((300 + rows * 90)); [ "$width" -lt 640 ] && width=640
        gnuplot <<GP
set terminal $term size $width,460 noenhanced font "sans,11" background "white"
set output "$out/$base.$ext"
set title "$title\n$machine, measured $date" font "sans,12"
set datafile separator "\t"
set style fill solid 0.85 border -1
set boxwidth 0.6
set ylabel "speedup over the first variant (x)"
set xtics rotate by -25 scale 0 font "sans,10"
set grid ytics
set yrange [0:*]
$logscale
set offsets 0.5, 0.5, 0, 0
set bmargin 9
plot "$dat" using 0:2:xtic(1) with boxes lc rgb "#3b7dd8" notitle, \
     "" using 0:2:(\$2 < 1000 ? sprintf("%.2fx", \$2) : sprintf("%.3gx", \$2)) with labels offset 0,0.8 notitle
GP
        n=$((n + 1))
        echo "  $out/$base.$ext  ($title)"
    done
done
echo "plots: $n charts in $out"
