/* media_orient: EXIF orientation applied to a full-size image without holding it in memory — its
 * pixels go oriented into an unlinked file and are read back strip by strip (services/media_image.c) */
#ifndef ATRIUM_MEDIA_ORIENT_H
#define ATRIUM_MEDIA_ORIENT_H

#include <vips/vips.h>

/* The output size of a w x h image shown with EXIF orientation o (1-8; 5-8 swap the sides). */
void media_orient_size(int o, int w, int h, int *ow, int *oh);

/* in (uchar, any bands, read sequentially) shown upright for EXIF orientation o (1-8, as
 * vips_autorot does), through a temporary file in dir: in is computed here, once, top to bottom;
 * *out (a new reference, without the orientation tag) reads the oriented pixels back from the
 * file, which lives as long as *out. -1 with a vips error set on failure. */
int media_orient_through_file(VipsImage *in, int o, const char *dir, VipsImage **out);

#endif
