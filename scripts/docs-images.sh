#!/bin/sh
# docs-images.sh HTMLDIR - make the lessons' images work in the HTML site.
#
# Lessons link images by relative paths that work on a code host
# (../../docs/images/x.svg); Doxygen copies those paths into the HTML as they
# are. Copy every image of docs/images next to the HTML pages and point the
# img tags at those copies.
#
# Doxygen shows an SVG that it found on IMAGE_PATH as an <object> (the main
# page's diagrams): an <object> has no intrinsic size that CSS can scale, so
# it becomes an <img> too, and docs/course.css fits every image to the
# column. Its caption stays below it; alt="" keeps screen readers from
# reading the same words twice.
set -eu
html=$1
find docs/images -type f \( -name '*.svg' -o -name '*.png' \) -exec cp {} "$html"/ \;
find "$html" -maxdepth 1 -name '*.html' -exec \
    sed -i -E -e 's#src="([.][.]/)*docs/images/(plots/)?([^"/]+)"#src="\3"#g' \
    -e 's#<object type="image/svg\+xml" data="([^"]+)"[^>]*></object>#<img src="\1" alt=""/>#g' {} +
