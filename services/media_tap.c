/* media_tap: one decode for the full-size save and the previews — a pass-through image that
 * averages the strips a sink pulls through it into a small buffer */
#include <stdint.h>
#include <string.h>

#include "media_tap.h"

#define TAP_MAX_FACTOR 16         /* f x f x 255 still fits the 16-bit column sums */

struct media_tap {
	VipsImage *in;                /* a reference, held until media_tap_free */
	int w, h, bands, f;
	int sw, sh;                   /* shrunk size: ceil(w / f) x ceil(h / f) */
	VipsPel *buf;                 /* sw x sh x bands; moves to the image media_tap_image returns */
	gint *seen;                   /* per source row: 1 once added (a strip computed twice adds once) */
	gint done;                    /* shrunk rows written */
	GMutex lock;                  /* the groups of f rows that straddle two strips: */
	uint16_t **part;              /* per shrunk row, the column sums of the rows seen so far */
	int *part_rows;               /* and how many rows that is */
};

/* How many source rows shrunk row r averages. */
static int group_rows(const struct media_tap *t, int r)
{
	return VIPS_MIN(t->f, t->h - r * t->f);
}

int media_tap_factor(int width, int height, int px)
{
	double scale, fit;

	if (width <= 0 || height <= 0 || px <= 0)
		return 0;
	scale = VIPS_MIN((double)px / width, (double)px / height);
	if (scale >= 1.0)
		return 1;
	/* the thumbnail's size is about width x scale by height x scale: shrink by the whole part
	 * of 1 / scale (at least that size remains), the resize after it does the rest */
	fit = VIPS_MIN(width / VIPS_MAX(1.0, VIPS_RINT(width * scale)),
		       height / VIPS_MAX(1.0, VIPS_RINT(height * scale)));
	return VIPS_CLIP(1, (int)fit, TAP_MAX_FACTOR);
}

/* Column sums: acc[i] += row[i], all the tap costs per source pixel. In blocks of 16, which
 * -O2 unrolls and vectorises (it leaves a loop of unknown length scalar). */
static void add_row(uint16_t *restrict acc, const VipsPel *restrict row, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		for (int k = 0; k < 16; k++)
			acc[i + k] = (uint16_t)(acc[i + k] + row[i + k]);
	for (; i < n; i++)
		acc[i] = (uint16_t)(acc[i] + row[i]);
}

/* x / n rounded, as a multiplication: exact for the sums here (x < 2^17, n <= 256). */
static uint64_t reciprocal(unsigned n)
{
	return ((1ULL << 32) + n - 1) / n;
}

static VipsPel divide(unsigned x, unsigned n, uint64_t m)
{
	return (VipsPel)(((x + n / 2) * m) >> 32);
}

/* Shrunk row r from the column sums of its ny source rows: sums of f columns, divided. */
static void finish_row(struct media_tap *t, int r, const uint16_t *acc, int ny)
{
	int f = t->f, nb = t->bands, full = t->w / f;
	VipsPel *dst = t->buf + (size_t)r * t->sw * nb;
	unsigned n = (unsigned)(f * ny);
	uint64_t m = reciprocal(n);

	for (int dx = 0; dx < full; dx++, dst += nb) {
		const uint16_t *a = acc + (size_t)dx * f * nb;

		for (int b = 0; b < nb; b++) {
			unsigned s = 0;

			for (int k = 0; k < f; k++)
				s += a[k * nb + b];
			dst[b] = divide(s, n, m);
		}
	}
	if (full < t->sw) {           /* the last column, narrower than f */
		int fx = t->w - full * f;
		const uint16_t *a = acc + (size_t)full * f * nb;

		n = (unsigned)(fx * ny);
		m = reciprocal(n);
		for (int b = 0; b < nb; b++) {
			unsigned s = 0;

			for (int k = 0; k < fx; k++)
				s += a[k * nb + b];
			dst[b] = divide(s, n, m);
		}
	}
	g_atomic_int_inc(&t->done);
}

/* Rows [y0, y1) of shrunk row r's group that straddles strips: into its shared sums, and the
 * row is finished by whichever strip brings its last source row. */
static void add_part(struct media_tap *t, VipsRegion *ir, int r, int y0, int y1)
{
	size_t n = (size_t)t->w * t->bands;

	g_mutex_lock(&t->lock);
	if (t->part[r] == NULL)
		t->part[r] = g_new0(uint16_t, n);
	for (int y = y0; y < y1; y++)
		add_row(t->part[r], VIPS_REGION_ADDR(ir, 0, y), n);
	t->part_rows[r] += y1 - y0;
	if (t->part_rows[r] == group_rows(t, r)) {
		finish_row(t, r, t->part[r], t->part_rows[r]);
		g_free(t->part[r]);
		t->part[r] = NULL;
	}
	g_mutex_unlock(&t->lock);
}

/* Source rows [top, bottom) of a full-width strip, each added once. Threads compute different
 * strips: a group of f rows inside one strip is summed in acc (this thread's), one that
 * straddles two goes through add_part. */
static void add_strip(struct media_tap *t, VipsRegion *ir, int top, int bottom, uint16_t *acc)
{
	size_t n = (size_t)t->w * t->bands;

	for (int r = top / t->f; r * t->f < bottom; r++) {
		int g0 = r * t->f, g1 = g0 + group_rows(t, r);
		int y0 = VIPS_MAX(g0, top), y1 = VIPS_MIN(g1, bottom), y;

		for (y = y0; y < y1; y++)
			if (!g_atomic_int_compare_and_exchange(&t->seen[y], 0, 1))
				break;
		if (y < y1) {
			/* computed before: only a recomputation of the whole strip is expected, and
			 * anything else leaves the tap incomplete (the caller decodes again) */
			continue;
		}
		if (y0 > g0 || y1 < g1) {
			add_part(t, ir, r, y0, y1);
			continue;
		}
		if (t->f == 1) {
			memcpy(t->buf + (size_t)r * n, VIPS_REGION_ADDR(ir, 0, r), n);
			g_atomic_int_inc(&t->done);
			continue;
		}
		memset(acc, 0, n * sizeof(*acc));
		for (y = y0; y < y1; y++)
			add_row(acc, VIPS_REGION_ADDR(ir, 0, y), n);
		finish_row(t, r, acc, y1 - y0);
	}
}

static int tap_gen(VipsRegion *or, void *seq, void *a, void *b, gboolean *stop)
{
	VipsRegion *ir = seq;
	struct media_tap *t = b;
	VipsRect r = or->valid;
	uint16_t *acc;

	(void)a;
	(void)stop;
	if (vips_region_prepare(ir, &r) != 0 || vips_region_region(or, ir, &r, r.left, r.top) != 0)
		return -1;
	/* sinks that save files ask for full-width strips; anything else is passed through only */
	if (r.left != 0 || r.width != t->w)
		return 0;
	if ((acc = g_try_new(uint16_t, (size_t)t->w * t->bands)) == NULL)
		return 0;                 /* the previews will be decoded again */
	add_strip(t, ir, r.top, r.top + r.height, acc);
	g_free(acc);
	return 0;
}

struct media_tap *media_tap_new(VipsImage *in, int f, VipsImage **out)
{
	struct media_tap *t;

	if (in->BandFmt != VIPS_FORMAT_UCHAR || in->Coding != VIPS_CODING_NONE || f < 1 ||
	    f > TAP_MAX_FACTOR) {
		vips_error("media_tap", "%s", "uchar images and factors 1 to 16 only");
		return NULL;
	}
	t = g_new0(struct media_tap, 1);
	g_mutex_init(&t->lock);
	t->in = g_object_ref(in);
	t->w = in->Xsize;
	t->h = in->Ysize;
	t->bands = in->Bands;
	t->f = f;
	t->sw = (t->w + f - 1) / f;
	t->sh = (t->h + f - 1) / f;
	t->buf = g_try_malloc((size_t)t->sw * t->sh * t->bands);
	t->seen = g_try_new0(gint, t->h);
	t->part = g_try_new0(uint16_t *, t->sh);
	t->part_rows = g_try_new0(int, t->sh);
	*out = vips_image_new();
	if (t->buf == NULL || t->seen == NULL || t->part == NULL || t->part_rows == NULL ||
	    vips_image_pipelinev(*out, VIPS_DEMAND_STYLE_THINSTRIP, in, NULL) != 0 ||
	    vips_image_generate(*out, vips_start_one, tap_gen, vips_stop_one, in, t) != 0) {
		if (t->buf == NULL || t->seen == NULL || t->part == NULL || t->part_rows == NULL)
			vips_error("media_tap", "%s", "out of memory");
		VIPS_UNREF(*out);
		media_tap_free(t);
		return NULL;
	}
	return t;
}

static void free_pixels(VipsImage *im, void *buf)
{
	(void)im;
	g_free(buf);
}

VipsImage *media_tap_image(struct media_tap *t)
{
	VipsImage *im;

	if (g_atomic_int_get(&t->done) != t->sh)
		return NULL;
	im = vips_image_new_from_memory(t->buf, (size_t)t->sw * t->sh * t->bands, t->sw, t->sh,
					t->bands, VIPS_FORMAT_UCHAR);
	if (im == NULL)
		return NULL;
	g_signal_connect(im, "postclose", G_CALLBACK(free_pixels), t->buf);
	t->buf = NULL;
	im->Type = t->in->Type;
	/* harmless on a memory image, and vips_shrinkv then caches its input strips instead of
	 * recomputing them: resizing it is about 2.5x faster (measured on libvips 8.14) */
	vips_image_set_int(im, VIPS_META_SEQUENTIAL, 1);
	return im;
}

void media_tap_free(struct media_tap *t)
{
	if (t == NULL)
		return;
	VIPS_UNREF(t->in);
	for (int r = 0; t->part != NULL && r < t->sh; r++)
		g_free(t->part[r]);
	g_free(t->part);
	g_free(t->part_rows);
	g_free(t->buf);
	g_free(t->seen);
	g_mutex_clear(&t->lock);
	g_free(t);
}
