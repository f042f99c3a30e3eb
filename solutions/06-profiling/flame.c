/* flame.c - chapter 06 reference solution, exercise 4: folded stacks drawn
 * as a flame graph in one SVG file (flame.h).
 *
 * Every function here is PK_NO_INSTRUMENT (noinstr.h): the chapter is
 * compiled with -finstrument-functions, and the profiling code must not
 * call the hooks. */
#include "flame.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "noinstr.h"

/* The folded stacks become a tree: a node per (path, name), its count the
 * samples of every stack through it. Children are kept sorted by name. */
typedef struct flame_node {
    char *name;
    uint64_t count;
    struct flame_node *child, *next;
} flame_node;

PK_NO_INSTRUMENT static void flame_free(flame_node *n)
{
    while (n != NULL) {
        flame_node *next = n->next;
        flame_free(n->child);
        free(n->name);
        free(n);
        n = next;
    }
}

/* The child called name[0..len) of parent, made if missing. */
PK_NO_INSTRUMENT static flame_node *flame_child(flame_node *parent, const char *name,
                                                size_t len)
{
    flame_node **link = &parent->child;
    while (*link != NULL) {
        int c = strncmp((*link)->name, name, len);
        if (c == 0 && (*link)->name[len] == '\0')
            return *link;
        if (c > 0 || (c == 0 && (*link)->name[len] != '\0'))
            break;
        link = &(*link)->next;
    }
    flame_node *n = calloc(1, sizeof *n);
    if (n == NULL || (n->name = strndup(name, len)) == NULL) {
        free(n);
        return NULL;
    }
    n->next = *link;
    *link = n;
    return n;
}

/* Add one line "a;b;c count". 0, or -1 with errno. */
PK_NO_INSTRUMENT static int flame_add(flame_node *root, char *line)
{
    size_t len = strcspn(line, "\r\n");
    line[len] = '\0';
    if (len == 0)
        return 0;
    char *space = strrchr(line, ' ');
    char *end;
    if (space == NULL || space == line)
        goto bad;
    errno = 0;
    unsigned long long count = strtoull(space + 1, &end, 10);
    if (errno != 0 || end == space + 1 || *end != '\0' || count == 0 ||
        space[1] == '-')
        goto bad;
    *space = '\0';
    root->count += count;
    flame_node *node = root;
    for (char *p = line; node != NULL;) {
        size_t n = strcspn(p, ";");
        node = flame_child(node, p, n);
        if (node == NULL) {
            errno = ENOMEM;
            return -1;
        }
        node->count += count;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

PK_NO_INSTRUMENT static int flame_depth(const flame_node *n)
{
    int d = 0;
    for (const flame_node *c = n->child; c != NULL; c = c->next) {
        int cd = flame_depth(c);
        d = cd > d ? cd : d;
    }
    return d + 1;
}

PK_NO_INSTRUMENT static void xml_escaped(FILE *out, const char *s, size_t max)
{
    for (size_t i = 0; s[i] != '\0' && i < max; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            /* Control characters are not allowed in XML 1.0. */
            fputc((unsigned char)s[i] < 0x20 ? '?' : s[i], out);
        }
    }
}

#define FLAME_MARGIN 10        /* pixels around the drawing */
#define FLAME_TITLE_H 30       /* pixels for the heading */
#define FLAME_CHAR_W 7.0       /* approximate width of a 12 px character */
#define FLAME_MIN_W 0.1        /* frames narrower than this are not drawn */

typedef struct flame_ctx {
    FILE *out;
    double scale;     /* pixels per sample */
    uint64_t total;
    int depth;        /* levels, for the y of level 0 */
} flame_ctx;

/* Draw the node's children from x, one level up, and recurse. */
PK_NO_INSTRUMENT static void flame_draw(const flame_ctx *c, const flame_node *n,
                                        double x, int level)
{
    for (const flame_node *k = n->child; k != NULL; k = k->next) {
        double w = (double)k->count * c->scale;
        if (w >= FLAME_MIN_W) {
            double y = FLAME_TITLE_H + (double)(c->depth - 1 - level) * FLAME_FRAME_HEIGHT;
            /* A warm colour from a hash of the name: the same function has
             * the same colour everywhere in the graph. */
            unsigned h = 2166136261u;
            for (const char *p = k->name; *p; p++)
                h = (h ^ (unsigned char)*p) * 16777619u;
            fprintf(c->out, "<g><title>");
            xml_escaped(c->out, k->name, SIZE_MAX);
            fprintf(c->out, " (%llu samples, %.2f%%)</title>",
                    (unsigned long long)k->count,
                    100.0 * (double)k->count / (double)c->total);
            fprintf(c->out, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" "
                    "fill=\"rgb(%u,%u,%u)\" rx=\"2\"/>", FLAME_MARGIN + x, y, w,
                    FLAME_FRAME_HEIGHT - 1, 205 + h % 50, 80 + (h >> 8) % 130,
                    40 + (h >> 16) % 50);
            size_t fit = (size_t)((w - 6) / FLAME_CHAR_W);
            if (fit >= 3) {
                fprintf(c->out, "<text x=\"%.2f\" y=\"%.1f\">", FLAME_MARGIN + x + 3,
                        y + FLAME_FRAME_HEIGHT - 4);
                size_t len = strlen(k->name);
                xml_escaped(c->out, k->name, len <= fit ? len : fit - 2);
                if (len > fit)
                    fputs("..", c->out);
                fputs("</text>", c->out);
            }
            fputs("</g>\n", c->out);
            flame_draw(c, k, x, level + 1);
        }
        x += w;
    }
}

PK_NO_INSTRUMENT int flame_svg(FILE *folded, FILE *svg, const char *title)
{
    if (folded == NULL || svg == NULL) {
        errno = EINVAL;
        return -1;
    }
    flame_node root = {.name = NULL};
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (getline(&line, &cap, folded) >= 0)
        if (flame_add(&root, line) != 0) {
            rc = -1;
            break;
        }
    free(line);
    if (rc != 0) {
        int e = errno;
        flame_free(root.child);
        errno = e;
        return -1;
    }

    int depth = root.child ? flame_depth(&root) - 1 : 0;
    int height = FLAME_TITLE_H + depth * FLAME_FRAME_HEIGHT + 2 * FLAME_MARGIN;
    int width = FLAME_WIDTH + 2 * FLAME_MARGIN;
    fprintf(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"monospace\" font-size=\"12\">\n", width, height,
            width, height);
    fprintf(svg, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fdfdf5\"/>\n",
            width, height);
    fprintf(svg, "<text x=\"%d\" y=\"20\" text-anchor=\"middle\" font-size=\"16\">",
            width / 2);
    xml_escaped(svg, title ? title : "Flame graph", SIZE_MAX);
    if (root.count == 0)
        fputs(" (no samples)", svg);
    fputs("</text>\n", svg);
    if (root.count > 0) {
        flame_ctx c = {svg, (double)FLAME_WIDTH / (double)root.count, root.count, depth};
        flame_draw(&c, &root, 0, 0);
    }
    fputs("</svg>\n", svg);
    flame_free(root.child);
    if (fflush(svg) != 0 || ferror(svg)) {
        errno = EIO;
        return -1;
    }
    return 0;
}
