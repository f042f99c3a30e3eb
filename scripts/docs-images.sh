#!/bin/sh
# docs-images.sh HTMLDIR - make the lessons' images work in the HTML site.
#
# Lessons link images by relative paths that work on a code host
# (../../docs/images/x.svg); Doxygen copies those paths into the HTML as they
# are. Copy every image of docs/images next to the HTML pages and point the
# img tags at those copies.
set -eu
html=$1
find docs/images -type f \( -name '*.svg' -o -name '*.png' \) -exec cp {} "$html"/ \;
find "$html" -maxdepth 1 -name '*.html' -exec \
    sed -i -E 's#src="([.][.]/)*docs/images/(plots/)?([^"/]+)"#src="\3"#g' {} +
