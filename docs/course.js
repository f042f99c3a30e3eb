/* course.js - the course site's own behaviour, on top of doxygen-awesome-css.
 *
 * - The search box: Pagefind's UI (full text of every lesson and of the API
 *   pages; scripts/docs-post.sh builds the index into pagefind/). Its
 *   results open in a panel over the page. "/" or "s" puts the cursor in it,
 *   Escape closes the panel.
 * - The theme's dark-mode toggle, placed beside the search box (the theme's
 *   own init() looks for Doxygen's search box, which this site replaces).
 * - A diagram that had to shrink to fit the column opens at full size when
 *   clicked.
 */
(function () {
    'use strict';

    function darkModeToggle(parent) {
        /* A class declaration is global but not a property of window. */
        if (typeof DoxygenAwesomeDarkModeToggle === 'undefined')
            return;
        const toggle = document.createElement('doxygen-awesome-dark-mode-toggle');
        toggle.title = DoxygenAwesomeDarkModeToggle.title;
        toggle.updateIcon();
        window.matchMedia('(prefers-color-scheme: dark)')
            .addEventListener('change', function () { toggle.updateIcon(); });
        parent.appendChild(toggle);
    }

    function search(box) {
        if (location.protocol === 'file:' || typeof window.PagefindUI !== 'function') {
            /* Pagefind fetches its index: it needs the site served over HTTP. */
            box.innerHTML = '<p class="pk-search-off">Search works when the site is served ' +
                'over HTTP, e.g. <code>python3 -m http.server -d build/docs/html</code>.</p>';
            return;
        }
        new window.PagefindUI({
            element: '#pk-search',
            showSubResults: true,
            showImages: false,
            excerptLength: 24,
            translations: { placeholder: 'Search the course' },
            /* Lessons are long and the API pages short: with Pagefind's
             * default length penalty (0.75) a header that names a word once
             * beats the lesson that explains it. */
            ranking: { pageLength: 0.1 },
            /* Result links relative to this page's folder (Doxygen's pages
             * are all in one), so the site works under any path. */
            baseUrl: new URL('./', location.href).pathname,
        });
        const input = function () { return box.querySelector('input'); };
        const open = function () {
            const i = input();
            document.body.classList.toggle('pk-search-open', !!(i && i.value.trim()));
        };
        box.addEventListener('input', open);
        box.addEventListener('click', function (e) {
            if (e.target.closest('.pagefind-ui__search-clear')) setTimeout(open, 0);
        });
        document.addEventListener('keydown', function (e) {
            const i = input();
            if (!i) return;
            const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
            if (!typing && (e.key === '/' || e.key === 's') && !e.ctrlKey && !e.metaKey && !e.altKey) {
                e.preventDefault();
                i.focus();
                i.select();
            } else if (e.key === 'Escape' && document.body.classList.contains('pk-search-open')) {
                document.body.classList.remove('pk-search-open');
                i.blur();
            }
        });
        /* A click outside the search box and its results closes the panel. */
        document.addEventListener('click', function (e) {
            if (!e.target.closest('#pk-searchbar'))
                document.body.classList.remove('pk-search-open');
        });
        box.addEventListener('focusin', open);
    }

    /* A diagram scaled down to the column opens at full size on a click
     * (Doxygen turns pointer events off on images; they come back here). */
    function zoomableImages() {
        const ZOOM_RATIO = 1.15;   /* scaled to less than 1/1.15 of its size */
        document.querySelectorAll('div.contents img').forEach(function (img) {
            const mark = function () {
                if (img.naturalWidth > ZOOM_RATIO * img.clientWidth && img.clientWidth > 0) {
                    img.classList.add('pk-zoomable');
                    img.title = 'Open the full-size image';
                }
            };
            if (img.complete) mark(); else img.addEventListener('load', mark);
            img.addEventListener('click', function () {
                if (img.classList.contains('pk-zoomable')) window.open(img.src, '_blank');
            });
        });
    }

    window.addEventListener('DOMContentLoaded', function () {
        zoomableImages();
        const bar = document.getElementById('pk-searchbar');
        const box = document.getElementById('pk-search');
        if (!bar || !box) return;
        search(box);
        darkModeToggle(bar);
    });
})();
