// docs-check.js - the docs site as a reader sees it, in headless Chromium.
//
// Run by scripts/docs-check.sh, which serves the site on 127.0.0.1 and passes
//   node scripts/docs-check.js HTMLDIR SHOTDIR BASEURL NODEDIR
// (NODEDIR holds node_modules/playwright-core, installed by docs-deps.sh).
//
// Every lesson page (the main page, chapters/*/README.md, docs/pages/*.md) is
// opened at a desktop width and a phone width and must pass:
//   - no horizontal overflow: the page never scrolls sideways, no image is
//     wider than its column, only code blocks and tables may scroll, and only
//     inside their own box;
//   - code lines never wrap (a phone must not show one token per line);
//   - at phone width the menu leaves the text the screen;
//   - no markup as text (<tt>, &lt;) in a heading, the title or the menu;
//   - every image loaded with a non-zero natural size;
//   - the menu says "Lessons", lessons have previous/next links at the top
//     and at the bottom;
//   - the browser console stays silent, no request fails.
// Then the site's search box must put the lesson that explains a word first,
// the menu's data must be clean and every internal link must lead to a file.
// Screenshots of each page at each width go to SHOTDIR: NAME-WIDTH.png (the
// first screen), NAME-WIDTH-figure.png and NAME-WIDTH-code.png (scrolled to
// the first image and the first code block).
// Exit status 1 on any failure, each one naming the page, the width and what
// went wrong.
'use strict';
const fs = require('fs');
const path = require('path');

const [htmlDir, shotDir, base, nodeDir] = process.argv.slice(2);
if (!nodeDir) {
    console.error('usage: node docs-check.js HTMLDIR SHOTDIR BASEURL NODEDIR');
    process.exit(2);
}
const { chromium } = require(path.join(path.resolve(nodeDir), 'node_modules', 'playwright-core'));

const WIDTHS = [1280, 420];          /* a laptop, a phone (px) */
const HEIGHT = 900;                  /* window height (px) */
const PHONE_TEXT_SHARE = 0.75;       /* at phone width the text gets >= 75% of the screen */
const WRAP_FACTOR = 1.6;             /* a code line taller than 1.6 lines has wrapped */
const SEARCH_TIMEOUT_MS = 20000;     /* time for the search index to answer */
const NAV_TIMEOUT_MS = 30000;        /* time for a page to load (a busy machine is slow) */
/* Markup that shows as text when Doxygen escapes it (a heading's code span). */
const RAW_MARKUP = /<\/?(tt|code|b|em)>|&lt;|&gt;|&amp;/;
/* Which lesson really explains each word (see the lessons): */
const SEARCHES = [
    ['GIL', '01-threads'],           /* "Threads and the GIL": the whole lesson */
    ['false sharing', '01-threads'], /* "False sharing." paragraph and its benchmark row */
    ['W^X', '04-jit'],               /* "W^X, write xor execute" in the JIT's mmap section */
    ['Amdahl', '07-capstone'],       /* section "Amdahl, the ceiling, and where the time goes" */
];
/* Chromium's flags for this machine: no sandbox as root, no network but loopback. */
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let failures = 0;
function fail(where, what) {
    failures++;
    console.log(`  FAIL ${where}: ${what}`);
}

/* The HTML page of each Markdown source, with a short name for messages and
 * screenshots: README.md -> index.html (index); chapters/01-threads/README.md
 * -> md_chapters_01_threads_README.html (01-threads, a lesson); another page
 * of a chapter, chapters/07-capstone/REPORT.md (07-capstone-REPORT);
 * docs/pages/x.md (x). A page whose title carries {#LABEL} is LABEL.html. */
function lessonPages() {
    const pages = [{ file: 'index.html', name: 'index' }];
    /* Doxygen's page of a Markdown file: its {#label}, or md_ and the path. */
    const page = (dir, md, name, lesson) => {
        const first = fs.readFileSync(path.join(dir, md), 'utf8').split('\n')[0];
        const label = (first.match(/\{#([\w-]+)\}\s*$/) || [])[1];
        const file = label ? `${label}.html` : `md_${path.join(dir, md).replace(/\.md$/, '').replace(/[/-]/g, '_')}.html`;
        pages.push({ file, name, lesson });
    };
    for (const ch of fs.readdirSync('chapters').sort()) {
        const dir = path.join('chapters', ch);
        if (!fs.existsSync(path.join(dir, 'README.md'))) continue;
        page(dir, 'README.md', ch, true);
        for (const md of fs.readdirSync(dir).filter(f => f.endsWith('.md') && f !== 'README.md').sort())
            page(dir, md, `${ch}-${md.replace(/\.md$/, '')}`, false);
    }
    for (const md of fs.readdirSync(path.join('docs', 'pages')).filter(f => f.endsWith('.md')).sort())
        page(path.join('docs', 'pages'), md, md.replace(/\.md$/, ''), false);
    for (const p of pages)
        if (!fs.existsSync(path.join(htmlDir, p.file)))
            fail(p.file, 'the page was not generated');
    return pages.filter(p => fs.existsSync(path.join(htmlDir, p.file)));
}

/* result link (file.html#anchor, maybe with a path) -> lesson name */
function pageName(pages, href) {
    const file = path.basename(href.split('#')[0].split('?')[0]);
    const p = pages.find(q => q.file === file);
    return p ? p.name : file;
}

/* Runs inside the page: every check that needs the rendered layout. Returns a
 * list of problems, each one sentence. */
function inspect(opts) {
    const problems = [];
    const vw = window.innerWidth;
    const name = el => {
        let s = el.tagName.toLowerCase();
        if (el.id) s += '#' + el.id;
        if (el.classList.length) s += '.' + [...el.classList].slice(0, 2).join('.');
        const src = el.getAttribute('src') || el.getAttribute('data');
        if (src) s += `[${src.split('/').pop()}]`;
        const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
        if (text && !src) s += ` "${text}"`;
        return s;
    };
    const visible = el => {
        const cs = getComputedStyle(el);
        if (cs.display === 'none' || cs.visibility === 'hidden') return false;
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0;
    };
    const scrollsX = el => /(auto|scroll)/.test(getComputedStyle(el).overflowX);
    const clipsX = el => /(auto|scroll|hidden|clip)/.test(getComputedStyle(el).overflowX);
    /* Boxes that may scroll sideways inside the text column. */
    const SCROLL_BOX = 'pre, div.fragment, table, .pk-scroll, .pagefind-ui';

    /* 1. The page itself never scrolls sideways. */
    const sw = document.documentElement.scrollWidth;
    if (sw > vw)
        problems.push(`page is ${sw} px wide in a ${vw} px window (scrolls sideways)`);

    /* 2. Nothing in the text sticks out of the window or out of the column,
     *    except inside a box that scrolls by itself. */
    const root = document.querySelector('#doc-content') || document.body;
    const column = document.querySelector('div.contents') || root;
    const colRect = column.getBoundingClientRect();
    const rootRect = root.getBoundingClientRect();
    const right = Math.min(vw, rootRect.left + root.clientLeft + root.clientWidth);
    const reported = new Set();
    for (const el of root.querySelectorAll('*')) {
        if (el.closest(SCROLL_BOX) && !el.matches('img, svg, object')) continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        if (r.right <= right + 1 && r.left >= -1) continue;
        /* Inside a box that scrolls and is itself in the window: fine. */
        const box = el.parentElement && el.parentElement.closest(SCROLL_BOX);
        if (box && scrollsX(box) && box.getBoundingClientRect().right <= right + 1 &&
            !el.matches('img, svg, object')) continue;
        let p = el.parentElement, seen = false;
        for (; p; p = p.parentElement) if (reported.has(p)) { seen = true; break; }
        if (seen) continue;
        reported.add(el);
        const clipper = (() => { for (let a = el.parentElement; a; a = a.parentElement) if (clipsX(a)) return a; return null; })();
        problems.push(`${name(el)} reaches x=${Math.round(r.right)} px, the column ends at ${Math.round(right)} px` +
            (clipper ? ` (cut off by ${name(clipper).split(' ')[0]})` : ''));
        if (reported.size >= 5) break;
    }

    /* 3. Scroll boxes that are not allowed to scroll: a whole column that
     *    scrolls sideways hides the right part of the page. */
    for (const el of [root, column, document.body]) {
        if (el && el.scrollWidth > el.clientWidth + 1 && clipsX(el))
            problems.push(`${name(el).split(' ')[0]} scrolls sideways (${el.scrollWidth} px of content in ${el.clientWidth} px)`);
    }

    /* 4. Images: loaded, non-zero, never wider than the column. */
    for (const img of document.images) {
        if (!img.complete || img.naturalWidth === 0 || img.naturalHeight === 0)
            problems.push(`image ${img.getAttribute('src')} did not load (natural size ${img.naturalWidth}x${img.naturalHeight})`);
    }
    for (const el of column.querySelectorAll('img, svg, object, embed')) {
        if (!visible(el)) continue;
        const r = el.getBoundingClientRect();
        if (r.width > colRect.width + 1)
            problems.push(`${name(el)} is ${Math.round(r.width)} px wide in a ${Math.round(colRect.width)} px column`);
    }

    /* 5. Code lines do not wrap. */
    let wrapped = 0, example = '';
    for (const line of column.querySelectorAll('div.fragment div.line, pre')) {
        if (!visible(line)) continue;
        if (line.tagName === 'PRE') {
            if (getComputedStyle(line).whiteSpace.startsWith('pre-wrap') || getComputedStyle(line).whiteSpace === 'normal') {
                wrapped++; example = example || name(line);
            }
            continue;
        }
        const lh = parseFloat(getComputedStyle(line).lineHeight) || parseFloat(getComputedStyle(line).fontSize) * 1.3;
        if (line.getBoundingClientRect().height > opts.wrap * lh) {
            wrapped++; example = example || name(line);
        }
    }
    if (wrapped)
        problems.push(`${wrapped} code line(s) wrap instead of scrolling, e.g. ${example}`);

    /* 6. At phone width the menu leaves the text the screen. */
    if (opts.phone) {
        const cw = column.getBoundingClientRect().width;
        if (cw < opts.share * vw)
            problems.push(`the text column is ${Math.round(cw)} px of a ${vw} px screen (the menu keeps the rest)`);
    }

    /* 7. No markup shown as text in headings, the title or the menu. */
    const RAW = new RegExp(opts.raw);
    const texts = [['page title', document.title]];
    for (const el of document.querySelectorAll('h1, h2, h3, h4, h5, h6, div.title, #nav-tree a, #main-menu a, .navpath a'))
        texts.push([el.tagName.toLowerCase() + (el.closest('#nav-tree') ? ' in the menu' : ''), el.textContent]);
    const shown = new Set();
    for (const [where, text] of texts) {
        if (RAW.test(text || '') && !shown.has(text)) {
            shown.add(text);
            problems.push(`${where} shows markup as text: "${text.trim().slice(0, 80)}"`);
        }
    }

    /* 8. A lesson has previous/next links at its top and at its bottom. */
    if (opts.lesson) {
        const navs = [...column.querySelectorAll('.pk-lesson-nav')];
        const firstHeading = column.querySelector('h1, h2');
        const top = navs.find(n => !firstHeading || (n.compareDocumentPosition(firstHeading) & Node.DOCUMENT_POSITION_FOLLOWING));
        const bottom = navs.find(n => n !== top);
        if (!top) problems.push('no previous/next links at the top of the lesson');
        const para = [...column.querySelectorAll('p')].find(p => !p.closest('.pk-lesson-nav'));
        if (top && para && top.getBoundingClientRect().bottom > para.getBoundingClientRect().top + 1)
            problems.push('the previous/next links at the top are not above the text (they stand beside it)');
        if (!bottom) problems.push('no previous/next links at the bottom of the lesson');
        for (const n of navs)
            if (!n.querySelector('a')) problems.push('previous/next line without links');
    }
    return problems;
}

/* The whole menu, from the files Doxygen writes for it (the tree shows only
 * what is expanded): navtreedata.js holds the top of the tree and names a
 * script for each branch (lessons.js, ...); menudata.js holds the tabs. No
 * entry may show markup as text, and the lessons are called "Lessons". */
function checkMenu() {
    const vm = require('vm');
    const load = (file, name) => {
        const f = path.join(htmlDir, file);
        if (!fs.existsSync(f)) return null;
        const ctx = {};
        vm.runInNewContext(fs.readFileSync(f, 'utf8') + `;this.__v = ${name};`, ctx);
        return ctx.__v;
    };
    const titles = [];
    const walk = (nodes, depth) => {
        for (const n of nodes || []) {
            if (!Array.isArray(n)) continue;
            titles.push(String(n[0]));
            const kids = typeof n[2] === 'string' ? load(`${n[2]}.js`, n[2]) : n[2];
            if (Array.isArray(kids) && depth < 10) walk(kids, depth + 1);
        }
    };
    const tree = load('navtreedata.js', 'NAVTREE');
    if (!tree) { fail('menu', 'navtreedata.js is missing'); return; }
    walk(tree, 0);
    const menu = load('menudata.js', 'menudata');
    const tabs = ((menu && menu.children) || []).map(c => c.text);
    let bad = 0;
    for (const t of [...new Set(titles.concat(tabs))])
        if (RAW_MARKUP.test(t) && bad++ < 10) fail('menu', `entry shows markup as text: "${t}"`);
    const top = ((tree[0] && tree[0][2]) || []).map(n => n[0]);
    for (const [where, names] of [['tree', top], ['tabs', tabs]])
        if (names.includes('Related Pages') || !names.includes('Lessons'))
            fail('menu', `the ${where} show [${names.join(', ')}]: expected "Lessons", not "Related Pages"`);
    if (!bad) console.log(`  ok   menu: ${titles.length} entries, tabs [${tabs.join(', ')}]`);
}

/* Every relative link of every page of the site must lead to a file. */
function checkLinks() {
    let links = 0;
    for (const file of fs.readdirSync(htmlDir).filter(f => f.endsWith('.html'))) {
        const text = fs.readFileSync(path.join(htmlDir, file), 'utf8');
        const seen = new Set();
        for (const m of text.matchAll(/href="([^"#][^"]*)"/g)) {
            const href = m[1].replace(/#.*$/, '');
            if (!href || seen.has(href) || /^(https?|mailto|javascript|data):/.test(href)) continue;
            seen.add(href);
            links++;
            if (!fs.existsSync(path.join(htmlDir, decodeURI(href.split('?')[0]))))
                fail(file, `broken link ${href}`);
        }
    }
    console.log(`  ok   ${links} internal links checked`);
}

async function checkPage(context, pg, width) {
    const file = pg.file;
    const where = `${file} at ${width} px`;
    const page = await context.newPage();
    const noise = [];
    page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') noise.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', e => noise.push(`script error: ${e.message}`));
    page.on('requestfailed', r => noise.push(`request failed: ${r.url()} (${r.failure() && r.failure().errorText})`));
    page.on('response', r => { if (r.status() >= 400) noise.push(`${r.status()} for ${r.url()}`); });
    try {
        await page.goto(`${base}/${file}`, { waitUntil: 'load', timeout: NAV_TIMEOUT_MS });
        await page.evaluate(() => document.fonts.ready);
        /* Doxygen's menu is built by script after load. */
        await page.waitForFunction(() => !document.querySelector('#nav-tree') ||
            document.querySelector('#nav-tree a'), null, { timeout: 5000 }).catch(() => {});
        await page.waitForTimeout(200);
        const title = await page.evaluate(() => (document.querySelector('div.title') || {}).textContent || '');
        if (!title.trim()) fail(where, 'no title rendered');
        if (pg.lesson && !/^Chapter \d\d/.test(title.trim()))
            fail(where, `title "${title.trim()}" is not "Chapter NN: ..."`);
        const problems = await page.evaluate(inspect, {
            phone: width < 768, share: PHONE_TEXT_SHARE, wrap: WRAP_FACTOR, raw: RAW_MARKUP.source, lesson: !!pg.lesson,
        });
        for (const p of problems) fail(where, p);
        for (const n of noise.slice(0, 8)) fail(where, n);
        const shot = path.join(shotDir, `${pg.name}-${width}`);
        await page.screenshot({ path: `${shot}.png` });
        /* The text scrolls inside its column, so a "full page" shot would
         * be the first screen again: show the first diagram or plot and the
         * first code block where they are, as the reader scrolls to them. */
        for (const [what, sel] of [['figure', 'div.contents img, div.contents object'], ['code', 'div.contents div.fragment']]) {
            const el = await page.$(sel);
            if (!el) continue;
            await el.evaluate(e => e.scrollIntoView({ block: 'center' }));
            await page.waitForTimeout(100);
            await page.screenshot({ path: `${shot}-${what}.png` });
        }
        if (!problems.length && !noise.length)
            console.log(`  ok   ${where}: "${title.trim()}"`);
    } catch (e) {
        fail(where, `could not check: ${e.message.split('\n')[0]}`);
    } finally {
        await page.close();
    }
}

/* Types each word into the site's search box on the main page, as a reader
 * would, and checks that the results open in view and that the first one is
 * the lesson that explains the word; then follows that first result. */
async function searches(context, pages, width) {
    const page = await context.newPage();
    const where = w => `search "${w}" at ${width} px`;
    try {
        await page.goto(`${base}/index.html`, { waitUntil: 'load', timeout: NAV_TIMEOUT_MS });
        const box = page.locator('.pagefind-ui__search-input');
        if (!(await box.count())) {
            const dx = page.locator('#MSearchField');
            let why = 'no search box on the page';
            if (await dx.count()) {   /* Doxygen's own box: it only knows symbol names */
                await dx.first().fill(SEARCHES[0][0]);
                await dx.first().press('Enter');
                await page.waitForTimeout(1500);
                const frame = page.frame({ name: 'MSearchResults' });
                const text = frame ? await frame.evaluate(() => document.body.innerText) : '';
                why = `no full-text search: Doxygen's search box says "${text.trim().split('\n')[0] || 'nothing'}"`;
            }
            for (const [word] of SEARCHES) fail(where(word), why);
            return;
        }
        if (!(await box.first().isVisible())) {
            fail(where(SEARCHES[0][0]), 'the search box is not visible');
            return;
        }
        for (const [word, want] of SEARCHES) {
            await box.first().fill(word);
            /* Pagefind says "N results for WORD" when this search is done,
             * then fills in the first page of results one by one. */
            const answered = await page.waitForFunction(w => {
                const m = document.querySelector('.pagefind-ui__message');
                /* not "Searching for WORD...", but "3 results for WORD" or "No results for WORD" */
                const done = m && m.textContent.trim().match(/^(\d+|No) results? for (.*)$/);
                if (!done || done[2] !== w) return false;
                const n = parseInt(done[1], 10) || 0;
                const shown = [...document.querySelectorAll('.pagefind-ui__result-link')]
                    .filter(a => !a.closest('.pagefind-ui__result-nested')).length;
                return shown >= Math.min(n, 5 /* Pagefind UI's page size */);
            }, word, { timeout: SEARCH_TIMEOUT_MS }).then(() => true, () => false);
            if (!answered) {
                fail(where(word), `no results shown within ${SEARCH_TIMEOUT_MS / 1000} s (is the index, pagefind/, there?)`);
                continue;
            }
            const got = await page.$$eval('.pagefind-ui__result-link', as => as
                .filter(a => !a.closest('.pagefind-ui__result-nested'))   /* not the sections of a result */
                .map(a => a.getAttribute('href')));
            const panel = await page.evaluate(() => {
                const d = document.querySelector('.pagefind-ui__drawer');
                const r = d && d.getBoundingClientRect();
                return r && { left: r.left, right: r.right, top: r.top, width: r.width, height: r.height,
                              shown: getComputedStyle(d).display !== 'none' };
            });
            await page.screenshot({ path: path.join(shotDir, `search-${word.toLowerCase().replace(/[^a-z]+/g, '-')}-${width}.png`) });
            if (!panel || !panel.shown || panel.width === 0 || panel.height === 0)
                fail(where(word), 'the results are not shown');
            else if (panel.left < -1 || panel.right > width + 1)
                fail(where(word), `the results panel spans x=${Math.round(panel.left)}..${Math.round(panel.right)} in a ${width} px window`);
            const names = got.map(h => pageName(pages, h));
            if (names[0] !== want) {
                fail(where(word), `first result is ${names[0] || 'none'}, expected ${want} (results: ${names.slice(0, 4).join(', ') || 'none'})`);
                continue;
            }
            /* The first result must lead to the lesson. */
            await Promise.all([page.waitForURL(u => u.pathname.endsWith(pages.find(p => p.name === want).file), { timeout: NAV_TIMEOUT_MS }),
                               page.locator('.pagefind-ui__result-link').first().click()])
                .then(() => console.log(`  ok   ${where(word)}: ${names[0]} first of ${names.length}, and the link opens it`))
                .catch(e => fail(where(word), `the first result's link ${got[0]} does not open ${want}: ${e.message.split('\n')[0]}`));
            await page.goto(`${base}/index.html`, { waitUntil: 'load', timeout: NAV_TIMEOUT_MS });
        }
    } catch (e) {
        fail(where('...'), `could not search: ${e.message.split('\n')[0]}`);
    } finally {
        await page.close();
    }
}

(async () => {
    fs.mkdirSync(shotDir, { recursive: true });
    const started = Date.now();
    const pages = lessonPages();
    checkMenu();
    checkLinks();
    console.log(`docs-check: ${pages.length} lesson pages at ${WIDTHS.join(' and ')} px, ${base}`);
    let browser;
    try {
        /* launch() starts Chromium with a fresh temporary --user-data-dir of
         * its own and removes it on close. */
        browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
        /* The two widths run side by side (two cores). */
        await Promise.all(WIDTHS.map(async width => {
            const context = await browser.newContext({ viewport: { width, height: HEIGHT }, colorScheme: 'light' });
            let t = Date.now();
            for (const pg of pages)
                await checkPage(context, pg, width);
            const tp = Date.now() - t;
            t = Date.now();
            await searches(context, pages, width);
            console.log(`docs-check: ${width} px: pages ${(tp / 1000).toFixed(1)} s, searches ${((Date.now() - t) / 1000).toFixed(1)} s`);
            await context.close();
        }));
    } catch (e) {
        fail('browser', e.message.split('\n')[0]);
    } finally {
        if (browser) await browser.close();
    }
    console.log(`docs-check: screenshots in ${shotDir} (${Math.round((Date.now() - started) / 1000)} s)`);
    process.exit(failures ? 1 : 0);
})();
