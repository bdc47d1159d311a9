/* media_tap: a box-shrunk copy of an image taken while its pixels stream through a sink, so that
 * one decode feeds the full-size save and the previews (services/media_image.c) */
#ifndef ATRIUM_MEDIA_TAP_H
#define ATRIUM_MEDIA_TAP_H

#include <vips/vips.h>

struct media_tap;

/* The shrink factor for a tap that a size-down thumbnail to a px x px box can be made from: the
 * largest (up to 16) that keeps the shrunk image at least as large as that thumbnail, 1 when the
 * image fits the box. Pure. */
int media_tap_factor(int width, int height, int px);

/* A tap on in (uchar, any bands) shrinking by f (1-16): *out passes in's pixels through unchanged, and
 * every full-width strip a sink computes of it is averaged in f x f blocks into the tap. NULL
 * (vips error set) when it cannot be built. Free with media_tap_free once *out is gone. */
struct media_tap *media_tap_new(VipsImage *in, int f, VipsImage **out);

/* The shrunk image once the sink has finished, as a new memory image of in's bands and
 * interpretation; NULL when some strip was never seen whole (the sink asked for pixels in
 * another shape), and the caller must make its previews another way. */
VipsImage *media_tap_image(struct media_tap *t);

void media_tap_free(struct media_tap *t);

#endif
