/* media_orient: EXIF orientation for a full-size image at the memory cost of a few strips.
 *
 * vips_rot of a sequential decode needs the whole image in memory (an output strip of a 90-degree
 * rotation is a full-height column of its input; of a 180, its last rows): 36 MB for a 12 MP JPEG,
 * which took a rotated phone photo's decoding child to twice vipsthumbnail's peak RSS. Here the
 * input is read once, top to bottom, in blocks of B rows; each block is oriented in a buffer and
 * written where it came from in an unlinked file (a block of rows becomes a full-height band of
 * columns, or a band of rows from the bottom); the output image reads its strips back with pread,
 * one contiguous piece per block. Only the page cache holds the whole image. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "media_orient.h"

#define BLOCK_BYTES (4u << 20)    /* one block of input rows, oriented, before it is written */

struct orient {
	int o, w, h, bands;           /* the input's size; o as EXIF */
	int rows;                     /* B: input rows per block (the last one may be shorter) */
	int fd;
	VipsPel *tile;                /* the block being filled, in its oriented layout */
};

void media_orient_size(int o, int w, int h, int *ow, int *oh)
{
	*ow = o >= 5 ? h : w;
	*oh = o >= 5 ? w : h;
}

static bool swaps(const struct orient *t)
{
	return t->o >= 5;
}

/* Input rows in block k, and the bytes of one in the file (blocks sit in input order). */
static int block_rows(const struct orient *t, int k)
{
	return VIPS_MIN(t->rows, t->h - k * t->rows);
}

static off_t block_offset(const struct orient *t, int k)
{
	return (off_t)k * t->rows * t->w * t->bands;
}

/* Where block k's rows land: the first output column (swapping) or row (not) it covers. */
static int block_first(const struct orient *t, int k)
{
	bool reversed = t->o == 3 || t->o == 4 || t->o == 6 || t->o == 7;

	return reversed ? t->h - k * t->rows - block_rows(t, k) : k * t->rows;
}

/* The input row that output column (swapping) or row (not) i shows. */
static int source_row(const struct orient *t, int i)
{
	bool reversed = t->o == 3 || t->o == 4 || t->o == 6 || t->o == 7;

	return reversed ? t->h - 1 - i : i;
}

/* Pixels [x0, x1) of input row y (in block k) into the tile: part of a column of it when
 * swapping, of a row otherwise; running backwards where the orientation mirrors them.
 * source_row is its own inverse: row y lands at output column (or row) source_row(y). */
static void place_run(struct orient *t, int k, int y, int x0, int x1, const VipsPel *src)
{
	int n = block_rows(t, k), nb = t->bands, w = t->w;
	int at = source_row(t, y) - block_first(t, k);
	bool mirrored = t->o == 2 || t->o == 3 || t->o == 7 || t->o == 8;
	ptrdiff_t step = swaps(t) ? n : 1;
	ptrdiff_t i = swaps(t) ? at : (ptrdiff_t)at * w;
	VipsPel *dst;

	i += (ptrdiff_t)(mirrored ? w - 1 - x0 : x0) * step;
	if (mirrored)
		step = -step;
	dst = t->tile + i * nb;
	step *= nb;
	if (nb == 3) {                /* the usual case, with the copy unrolled */
		for (int x = x0; x < x1; x++, src += 3, dst += step) {
			dst[0] = src[0];
			dst[1] = src[1];
			dst[2] = src[2];
		}
		return;
	}
	for (int x = x0; x < x1; x++, src += nb, dst += step)
		for (int b = 0; b < nb; b++)
			dst[b] = src[b];
}

/* Rows [y0, y1) of block k into its tile. Swapping, each input row is written down a column of
 * the tile; in squares of SQUARE pixels the tile rows being written stay in the cache (a whole
 * row at a time took 20 % of a rotated photo's CPU time). */
#define SQUARE 64
static void place_rows(struct orient *t, int k, VipsRegion *region, int y0, int y1)
{
	int sq = swaps(t) ? SQUARE : t->w;

	for (int x0 = 0; x0 < t->w; x0 += sq)
		for (int y = y0; y < y1; y++)
			place_run(t, k, y, x0, VIPS_MIN(t->w, x0 + sq), VIPS_REGION_ADDR(region, x0, y));
}

/* vips_sink_disc's callback: full-width strips, in order, from one thread. A block is written
 * once its last row is in. */
static int write_strip(VipsRegion *region, VipsRect *area, void *a)
{
	struct orient *t = a;

	for (int y = area->top; y < VIPS_RECT_BOTTOM(area);) {
		int k = y / t->rows, end = k * t->rows + block_rows(t, k);
		int y1 = VIPS_MIN(end, VIPS_RECT_BOTTOM(area));

		place_rows(t, k, region, y, y1);
		if (y1 == end && files_pwrite_all(t->fd, t->tile, (size_t)block_rows(t, k) * t->w * t->bands,
					    block_offset(t, k)) != 0) {
			vips_error_system(errno, "media_orient", "%s", "cannot write the temporary file");
			return -1;
		}
		y = y1;
	}
	return 0;
}

/* Output rows [top, top + height) x columns [left, right) when swapping: from each block the
 * columns it covers, its tile rows being output rows. */
static int read_columns(struct orient *t, VipsRegion *or, const VipsRect *r)
{
	int nb = t->bands, right = VIPS_RECT_RIGHT(r);

	for (int x = r->left; x < right;) {
		int k = source_row(t, x) / t->rows, n = block_rows(t, k), c0 = block_first(t, k);
		int x1 = VIPS_MIN(right, c0 + n);
		size_t len = (size_t)r->height * n * nb;
		VipsPel *buf = g_try_malloc(len);

		if (buf == NULL || files_pread_all(t->fd, buf, len, block_offset(t, k) +
					     (off_t)r->top * n * nb) != 0) {
			g_free(buf);
			return -1;
		}
		for (int y = 0; y < r->height; y++)
			memcpy(VIPS_REGION_ADDR(or, x, r->top + y), buf + ((size_t)y * n + (x - c0)) * nb,
			       (size_t)(x1 - x) * nb);
		g_free(buf);
		x = x1;
	}
	return 0;
}

/* Output rows when not swapping: each a piece of one tile row. */
static int read_rows(struct orient *t, VipsRegion *or, const VipsRect *r)
{
	int nb = t->bands;

	for (int y = r->top; y < VIPS_RECT_BOTTOM(r); y++) {
		int k = source_row(t, y) / t->rows, r0 = block_first(t, k);
		off_t off = block_offset(t, k) + ((off_t)(y - r0) * t->w + r->left) * nb;

		if (files_pread_all(t->fd, VIPS_REGION_ADDR(or, r->left, y), (size_t)r->width * nb, off) != 0)
			return -1;
	}
	return 0;
}

static int read_gen(VipsRegion *or, void *seq, void *a, void *b, gboolean *stop)
{
	struct orient *t = a;

	(void)seq;
	(void)b;
	(void)stop;
	if ((swaps(t) ? read_columns(t, or, &or->valid) : read_rows(t, or, &or->valid)) != 0) {
		vips_error("media_orient", "%s", "cannot read the temporary file");
		return -1;
	}
	return 0;
}

static void orient_free(VipsImage *im, struct orient *t)
{
	(void)im;
	if (t->fd >= 0)
		close(t->fd);
	g_free(t->tile);
	g_free(t);
}

/* An unlinked file in dir: nothing is left behind, whatever happens to the process. */
static int temp_file(const char *dir)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/.orient-XXXXXX", dir) >= (int)sizeof(path))
		return -1;
	if ((fd = mkstemp(path)) >= 0)
		unlink(path);
	return fd;
}

int media_orient_through_file(VipsImage *in, int o, const char *dir, VipsImage **out)
{
	struct orient *t;
	size_t row;
	int ow, oh;

	*out = NULL;
	if (in->BandFmt != VIPS_FORMAT_UCHAR || in->Coding != VIPS_CODING_NONE || o < 1 || o > 8) {
		vips_error("media_orient", "%s", "uchar images and orientations 1 to 8 only");
		return -1;
	}
	t = g_new0(struct orient, 1);
	t->o = o;
	t->w = in->Xsize;
	t->h = in->Ysize;
	t->bands = in->Bands;
	row = (size_t)t->w * t->bands;
	t->rows = (int)VIPS_CLIP(1, BLOCK_BYTES / row, (size_t)t->h);
	t->fd = temp_file(dir);
	t->tile = g_try_malloc(row * t->rows);
	if (t->fd < 0 || t->tile == NULL) {
		vips_error("media_orient", "%s", "no temporary file or buffer");
		orient_free(NULL, t);
		return -1;
	}
	if (vips_sink_disc(in, write_strip, t) != 0) {
		orient_free(NULL, t);
		return -1;
	}
	VIPS_FREE(t->tile);           /* the reads need no buffer of this size */
	media_orient_size(o, t->w, t->h, &ow, &oh);
	*out = vips_image_new();
	vips_image_init_fields(*out, ow, oh, t->bands, VIPS_FORMAT_UCHAR, VIPS_CODING_NONE, in->Type,
			       o >= 5 ? in->Yres : in->Xres, o >= 5 ? in->Xres : in->Yres);
	g_signal_connect(*out, "postclose", G_CALLBACK(orient_free), t);
	if (vips_image_pipelinev(*out, VIPS_DEMAND_STYLE_THINSTRIP, NULL) != 0 ||
	    vips_image_generate(*out, NULL, read_gen, NULL, t, NULL) != 0) {
		VIPS_UNREF(*out);
		return -1;
	}
	return 0;
}
