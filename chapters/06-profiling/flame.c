/* flame.c - chapter 06, exercise 4: the flame graph. Replace each PK_TODO
 * with real code; flame.h says exactly what each function must do, and
 * `make grade CH=06-profiling` tells you how far you are.
 *
 * Every function here must be PK_NO_INSTRUMENT (noinstr.h): the chapter is
 * compiled with -finstrument-functions, and the profiling code must not call
 * the hooks. Keep it on every function you add. */
#include "flame.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "noinstr.h"
#include "pk/todo.h"

/* A plan: read the lines with getline(); split "stack count" at the last
 * space; walk the stack's names down a tree (children sorted by name),
 * adding count to every node on the path. Then draw: a node at depth d is
 * a rectangle at y = top + (depth_max - 1 - d) * FLAME_FRAME_HEIGHT, as
 * wide as count * FLAME_WIDTH / total, its children side by side starting
 * at its own x. Escape & < > " ' in every name. */

PK_NO_INSTRUMENT int flame_svg(FILE *folded, FILE *svg, const char *title)
{
    (void)folded, (void)svg, (void)title;
    PK_TODO("parse the folded lines into a tree, then write the SVG");
    return -1;
}
