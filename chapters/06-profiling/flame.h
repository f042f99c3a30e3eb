/**
 * @file flame.h
 * @brief Chapter 06, exercise 4: a flame graph.
 *
 * The sampler's folded stacks (samp_write_folded() in sampler.h) drawn as
 * one self-contained SVG file.
 *
 * Conventions: 0 on success, -1 with errno on failure. Every function of an
 * implementation of this header carries #PK_NO_INSTRUMENT.
 */
#ifndef FLAME_H
#define FLAME_H

#include <stdio.h>

/** Width of the drawing in pixels. */
#define FLAME_WIDTH 1200
/** Height of one frame in pixels. */
#define FLAME_FRAME_HEIGHT 16

/**
 * @brief Draw folded stacks as a flame graph in one self-contained SVG.
 * @param folded lines `a;b;c count` (samp_write_folded()'s format); empty
 *        lines are skipped; not NULL.
 * @param svg where the SVG goes; not NULL.
 * @param title the heading (escaped for XML); NULL gives "Flame graph".
 * @return 0, or -1 with errno EINVAL (NULL stream, a line without a
 *         positive count at its end), ENOMEM or EIO.
 *
 * Roots at the bottom, each level of callees #FLAME_FRAME_HEIGHT pixels
 * above its callers and inside their x range, each frame
 * #FLAME_WIDTH * samples / all samples pixels wide (so the bottom row spans
 * #FLAME_WIDTH), siblings side by side in alphabetical order (a flame
 * graph's x axis is not time). Each frame is a `<g>` holding `<title>` (the tooltip:
 * name, samples, percent), a `<rect>` and, when wide enough, a `<text>`
 * label. No scripts, no external files: a browser opens it as it is.
 */
int flame_svg(FILE *folded, FILE *svg, const char *title);

#endif /* FLAME_H */
