/* check_flame.c - chapter 06, exercise 4 (stretch): the flame graph of
 * flame.h, folded stacks drawn as one SVG file. */
#include <stdio.h>
#include <unistd.h>

#include "flame.h"
#include "profiling_test.h"

/* A minimal XML well-formedness check: one root element, tags balanced and
 * properly nested, attributes quoted, no bare '<' or '&' in text or values.
 * Returns NULL if well-formed, else what is wrong. */
PK_NO_INSTRUMENT static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':' || c == '.';
}

PK_NO_INSTRUMENT static const char *check_entity(const char **pp)
{
    static const char *const ok[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    const char *p = *pp;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(p, ok[i], strlen(ok[i])) == 0) {
            *pp = p + strlen(ok[i]);
            return NULL;
        }
    if (p[1] == '#') {
        const char *q = p + 2;
        while (name_char(*q))
            q++;
        if (*q == ';' && q > p + 2) {
            *pp = q + 1;
            return NULL;
        }
    }
    return "an '&' that is not an entity";
}

PK_NO_INSTRUMENT static const char *xml_wellformed(const char *p)
{
    enum { MAXD = 256 };
    const char *stack[MAXD];
    size_t len[MAXD], depth = 0;
    int roots = 0;

    while (*p) {
        if (*p == '&') {
            const char *e = check_entity(&p);
            if (e)
                return e;
            continue;
        }
        if (*p != '<') {
            if (depth == 0 && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
                return "text outside the root element";
            p++;
            continue;
        }
        if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!--", 4) == 0) {
            const char *end = strstr(p, p[1] == '?' ? "?>" : "-->");
            if (end == NULL)
                return "unterminated <? or <!--";
            p = end + (p[1] == '?' ? 2 : 3);
            continue;
        }
        if (p[1] == '/') { /* end tag */
            const char *n = p + 2, *q = n;
            while (name_char(*q))
                q++;
            if (depth == 0 || (size_t)(q - n) != len[depth - 1] ||
                strncmp(n, stack[depth - 1], len[depth - 1]) != 0)
                return "an end tag that does not match its start tag";
            depth--;
            while (*q == ' ')
                q++;
            if (*q != '>')
                return "junk in an end tag";
            p = q + 1;
            continue;
        }
        const char *n = p + 1, *q = n; /* start tag */
        while (name_char(*q))
            q++;
        if (q == n)
            return "a '<' that starts no tag";
        size_t nlen = (size_t)(q - n);
        for (;;) {
            while (*q == ' ' || *q == '\n' || *q == '\t')
                q++;
            if (*q == '>' || (q[0] == '/' && q[1] == '>'))
                break;
            const char *a = q;
            while (name_char(*q))
                q++;
            if (q == a || *q != '=' || (q[1] != '"' && q[1] != '\''))
                return "an attribute without a quoted value";
            char quote = q[1];
            q += 2;
            while (*q && *q != quote) {
                if (*q == '<')
                    return "'<' inside an attribute value";
                if (*q == '&') {
                    const char *e = check_entity(&q);
                    if (e)
                        return e;
                    continue;
                }
                q++;
            }
            if (*q != quote)
                return "unterminated attribute value";
            q++;
        }
        if (depth == 0 && roots++ > 0)
            return "more than one root element";
        if (*q == '/') {
            p = q + 2;
            continue;
        }
        if (depth == MAXD)
            return "nesting too deep";
        stack[depth] = n;
        len[depth++] = nlen;
        p = q + 1;
    }
    if (depth != 0)
        return "an element left open";
    return roots == 1 ? NULL : "no root element";
}

/* Run the folded text through flame_svg(); the SVG in a malloc'd string. */
PK_NO_INSTRUMENT static char *render(const char *folded, const char *title, int *rc)
{
    char *svg = NULL;
    size_t len = 0;
    FILE *in = fmemopen((void *)(uintptr_t)folded, strlen(folded), "r");
    FILE *out = open_memstream(&svg, &len);
    ck_assert_msg(in != NULL && out != NULL, "fmemopen/open_memstream failed "
                  "(a test problem)");
    *rc = flame_svg(in, out, title);
    int saved = errno; /* fclose may change errno; the test reads it */
    fclose(in);
    fclose(out);
    errno = saved;
    return svg;
}

/* If xmllint is installed, it has the last word. */
PK_NO_INSTRUMENT static int xmllint_accepts(const char *svg)
{
    if (access("/usr/bin/xmllint", X_OK) != 0)
        return 1;
    char path[] = "/tmp/pk-flame-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    FILE *f = fdopen(fd, "w");
    fputs(svg, f);
    fclose(f);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "/usr/bin/xmllint --noout %s 2>/dev/null", path);
    int st = system(cmd);
    unlink(path);
    return st == 0;
}

static const char folded_demo[] =
    "main;run;parse 30\n"
    "main;run;compute;inner 50\n"
    "main;run;compute 10\n"
    "main;idle 10\n";

START_TEST(test_flame_wellformed)
{
    int rc;
    errno = 0;
    char *svg = render(folded_demo, "demo", &rc);
    ck_assert_msg(rc == 0, "flame_svg(folded, svg, \"demo\") returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    const char *why = xml_wellformed(svg);
    int names = strstr(svg, "<svg") && strstr(svg, "compute") &&
                strstr(svg, "inner") && strstr(svg, "idle") &&
                strstr(svg, "<rect");
    int lint = xmllint_accepts(svg);
    char head[300];
    snprintf(head, sizeof head, "%s", svg);
    free(svg);
    ck_assert_msg(why == NULL, "flame_svg() wrote SVG that is not well-formed "
                  "XML: %s. It starts:\n%s", why, head);
    ck_assert_msg(lint, "xmllint --noout rejects the SVG flame_svg() wrote; "
                  "it starts:\n%s", head);
    ck_assert_msg(names, "flame_svg() should write an <svg> with a <rect> and "
                  "a label per frame (main, run, compute, inner, idle...); it "
                  "starts:\n%s", head);
}
END_TEST

START_TEST(test_flame_escapes_names)
{
    int rc;
    errno = 0;
    char *svg = render("main;operator<<&\"x\" 5\nmain;a>b 5\n", "a < b & c", &rc);
    ck_assert_msg(rc == 0, "flame_svg() of names with < & \" returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    const char *why = xml_wellformed(svg);
    int escaped = strstr(svg, "operator&lt;&lt;&amp;") != NULL;
    free(svg);
    ck_assert_msg(why == NULL, "names with <, & and \" must be escaped for XML "
                  "(&lt; &amp; &quot;), but the SVG is not well-formed: %s", why);
    ck_assert_msg(escaped, "the name operator<<&\"x\" should appear escaped as "
                  "operator&lt;&lt;&amp;...");
}
END_TEST

/* One frame as drawn: the name and samples of its <title>, then its <rect>. */
typedef struct frame {
    char name[16];
    unsigned long samples;
    double x, y, w;
} frame;

/* Every "<title>name (N samples" followed by a <rect x y width>; the number
 * of frames read, at most max. */
PK_NO_INSTRUMENT static size_t frames_of(const char *svg, frame *f, size_t max)
{
    size_t n = 0;
    for (const char *p = svg; n < max && (p = strstr(p, "<title>")) != NULL;) {
        p += 7;
        const char *open = strstr(p, " (");
        const char *rect = strstr(p, "<rect");
        if (open == NULL || rect == NULL)
            break;
        size_t len = (size_t)(open - p) < sizeof f[n].name ?
                     (size_t)(open - p) : sizeof f[n].name - 1;
        memcpy(f[n].name, p, len);
        f[n].name[len] = '\0';
        f[n].samples = strtoul(open + 2, NULL, 10);
        const char *x = strstr(rect, " x=\""), *y = strstr(rect, " y=\""),
                   *w = strstr(rect, " width=\"");
        f[n].x = x ? strtod(x + 4, NULL) : -1;
        f[n].y = y ? strtod(y + 4, NULL) : -1;
        f[n].w = w ? strtod(w + 8, NULL) : -1;
        n++;
        p = rect;
    }
    return n;
}

PK_NO_INSTRUMENT static const frame *frame_named(const frame *f, size_t n,
                                                 const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return &f[i];
    return NULL;
}

#define FLAME_EPS 0.02 /* the SVG's numbers have two decimals */

/* Seven samples: 1200 / 7 pixels each, a width no whole number gives. */
static const char folded_tree[] =
    "main;a;x 2\n"
    "main;a;y 1\n"
    "main;b 2\n"
    "main 1\n"
    "other;z 1\n";

START_TEST(test_flame_geometry)
{
    static const struct { const char *name, *parent; unsigned long samples; } want[] = {
        {"main", NULL, 6}, {"other", NULL, 1}, {"a", "main", 3}, {"b", "main", 2},
        {"x", "a", 2}, {"y", "a", 1}, {"z", "other", 1},
    };
    enum { NWANT = sizeof want / sizeof want[0] };
    frame f[16];
    int rc;

    errno = 0;
    char *svg = render(folded_tree, "tree", &rc);
    ck_assert_msg(rc == 0, "flame_svg() returned %d (errno = %s), expected 0",
                  rc, pk_errno_name(errno));
    size_t n = frames_of(svg, f, 16);
    free(svg);
    ck_assert_msg(n == NWANT, "7 frames (main, a, x, y, b, other, z) should each "
                  "be a <g><title>name (N samples, P%%)</title><rect x y width "
                  ".../>; found %zu", n);
    const double px = (double)FLAME_WIDTH / 7;
    double roots = 0;
    for (size_t i = 0; i < NWANT; i++) {
        const frame *k = frame_named(f, n, want[i].name);
        ck_assert_msg(k != NULL && k->samples == want[i].samples,
                      "frame %s should say %lu samples in its title, says %lu",
                      want[i].name, want[i].samples, k ? k->samples : 0ul);
        double w = (double)want[i].samples * px;
        ck_assert_msg(k->w > w - FLAME_EPS && k->w < w + FLAME_EPS,
                      "frame %s has %lu of 7 samples: width %.2f expected "
                      "(FLAME_WIDTH * %lu / 7), the SVG says %.2f; compute "
                      "widths in floating point from the samples, so that "
                      "they add up", k->name, k->samples, w, k->samples, k->w);
        if (want[i].parent == NULL) {
            roots += k->w;
            continue;
        }
        const frame *p = frame_named(f, n, want[i].parent);
        ck_assert_msg(k->x > p->x - FLAME_EPS &&
                      k->x + k->w < p->x + p->w + FLAME_EPS &&
                      k->y > p->y - FLAME_FRAME_HEIGHT - FLAME_EPS &&
                      k->y < p->y - FLAME_FRAME_HEIGHT + FLAME_EPS,
                      "frame %s (x %.2f to %.2f, y %.1f) should lie on its "
                      "caller %s (x %.2f to %.2f, y %.1f): within its x range, "
                      "FLAME_FRAME_HEIGHT = %d pixels higher", k->name, k->x,
                      k->x + k->w, k->y, p->name, p->x, p->x + p->w, p->y,
                      FLAME_FRAME_HEIGHT);
    }
    ck_assert_msg(roots > FLAME_WIDTH - FLAME_EPS && roots < FLAME_WIDTH + FLAME_EPS,
                  "the bottom frames (main, other) hold every sample: their "
                  "widths add up to %.2f, expected FLAME_WIDTH = %d", roots,
                  FLAME_WIDTH);
    const frame *a = frame_named(f, n, "a"), *b = frame_named(f, n, "b"),
                *x = frame_named(f, n, "x"), *y = frame_named(f, n, "y"),
                *m = frame_named(f, n, "main"), *o = frame_named(f, n, "other");
    ck_assert_msg(a->x + a->w < b->x + FLAME_EPS && x->x + x->w < y->x + FLAME_EPS &&
                  m->x + m->w < o->x + FLAME_EPS,
                  "siblings go left to right in alphabetical order, side by "
                  "side: a (%.2f to %.2f) before b (%.2f), x (%.2f to %.2f) "
                  "before y (%.2f), main before other", a->x, a->x + a->w,
                  b->x, x->x, x->x + x->w, y->x);
}
END_TEST

START_TEST(test_flame_bad_input)
{
    int rc;
    char *svg;

    PK_EXPECT_EINVAL(flame_svg(NULL, stdout, "x"), "flame_svg(NULL, stdout, \"x\")");
    errno = 0;
    svg = render("main;run\n", "x", &rc);
    int e = errno;
    free(svg);
    ck_assert_msg(rc == -1 && e == EINVAL, "flame_svg() of the line \"main;run\" "
                  "(no count) returned %d (errno = %s), expected -1 with EINVAL",
                  rc, pk_errno_name(e));
    errno = 0;
    svg = render("main;run -4\n", "x", &rc);
    e = errno;
    free(svg);
    ck_assert_msg(rc == -1 && e == EINVAL, "flame_svg() of the line \"main;run "
                  "-4\" returned %d (errno = %s), expected -1 with EINVAL",
                  rc, pk_errno_name(e));
    svg = render("", "empty", &rc);
    const char *why = rc == 0 && svg != NULL ? xml_wellformed(svg) : "failed";
    free(svg);
    ck_assert_msg(rc == 0 && why == NULL, "flame_svg() of no samples at all "
                  "returned %d, expected 0 and a well-formed SVG (%s)", rc,
                  why ? why : "it is");
}
END_TEST

/* Spin under the sampler in one function, for the flame graph. */
WORK void flame_spin(void)
{
    uint64_t x = sink, end = pk_now_ns() + 20000000000u;
    while (samp_count() < 50 && pk_now_ns() < end) {
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005u + 1;
        sink = x;
    }
}

START_TEST(test_flame_from_sampler)
{
    char *folded = NULL, *svg = NULL;
    size_t flen = 0, slen = 0;

    quiet();
    PK_EXPECT_INT("samp_start(1000)", samp_start(1000), 0);
    flame_spin();
    PK_EXPECT_INT("samp_stop()", samp_stop(), 0);
    FILE *f = open_memstream(&folded, &flen);
    ck_assert_msg(f != NULL, "open_memstream failed (a test problem)");
    PK_EXPECT_INT("samp_write_folded(f)", samp_write_folded(f), 0);
    fclose(f);
    samp_free();
    FILE *in = fmemopen(folded, flen, "r");
    FILE *out = open_memstream(&svg, &slen);
    int rc = flame_svg(in, out, "flame_spin");
    fclose(in);
    fclose(out);
    const char *why = rc == 0 ? xml_wellformed(svg) : "flame_svg failed";
    int has = rc == 0 && strstr(svg, "flame_spin") != NULL;
    free(folded);
    free(svg);
    ck_assert_msg(why == NULL, "the sampler's folded stacks should draw as a "
                  "well-formed SVG: %s", why);
    ck_assert_msg(has, "the flame graph of the spin should show flame_spin");
}
END_TEST

void add_flame_tests(Suite *s)
{
    pk_test_add_timeout(s, test_flame_wellformed, 3, 10,
                        "build a tree from the folded lines; each node is a "
                        "<g> with <title>, <rect> and <text>");
    pk_test_add_timeout(s, test_flame_escapes_names, 2, 5,
                        "escape & < > \" ' in names and the title");
    pk_test_add_timeout(s, test_flame_geometry, 4, 5,
                        "width = samples * FLAME_WIDTH / total samples, in "
                        "double; children start at their parent's x, one "
                        "level higher");
    pk_test_add_timeout(s, test_flame_bad_input, 2, 5,
                        "each line must end in ' <positive count>'; EINVAL "
                        "otherwise");
    pk_test_add_timeout(s, test_flame_from_sampler, 1, 30,
                        "samp_write_folded() output feeds flame_svg() as is");
}
