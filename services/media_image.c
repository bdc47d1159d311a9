/* media_image: libvips decoding of untrusted images — one loader, fail_on, limits, sRGB, stripped variants */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <vips/vips.h>

#include "media_pipeline.h"
#include "media_orient.h"
#include "media_tap.h"

#define THUMB_PX 256
#define PREVIEW_PX 1280
#define JPEG_Q 85                 /* every JPEG and WebP variant */

static const struct {
	const char *mime;
	const char *loader;       /* the only VipsForeignLoad subclass left unblocked */
	const char *nick;         /* what vips-loader must say */
} loaders[] = {
	{ "image/jpeg", "VipsForeignLoadJpeg", "jpegload" },
	{ "image/png", "VipsForeignLoadPng", "pngload" },
	{ "image/gif", "VipsForeignLoadNsgif", "gifload" },
	{ "image/webp", "VipsForeignLoadWebp", "webpload" },
	{ "image/heic", "VipsForeignLoadHeif", "heifload" },
	{ "image/heif", "VipsForeignLoadHeif", "heifload" },
	{ "image/avif", "VipsForeignLoadHeif", "heifload" },
};

/* libvips with its cache off (every file is new) and untrusted operations and every loader
 * blocked. Once per process: the worker calls it before its first fork (media_image_preload), so
 * that a child does not load the library's modules again (25-50 ms of each asset, measured). */
static int vips_ready(void)
{
	static bool ready;

	if (ready)
		return 0;
	if (VIPS_INIT("atrium-media") != 0)
		return -1;
	vips_cache_set_max(0);
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
	ready = true;
	return 0;
}

int media_image_preload(void)
{
	return vips_ready();
}

/* In the child: only the expected loader unblocked. Returns its nickname or NULL. */
static const char *vips_start(const char *mime)
{
	size_t i;

	for (i = 0; i < NELEM(loaders); i++)
		if (strcmp(loaders[i].mime, mime) == 0)
			break;
	if (i == NELEM(loaders) || vips_ready() != 0)
		return NULL;
	vips_operation_block_set(loaders[i].loader, FALSE);
	return loaders[i].nick;
}

/* A vips failure: out of memory (the child's budget) is a failure to retry, anything else means
 * the file is corrupt or lies about itself. */
static void vips_failed(struct media_result *out, const char *what)
{
	const char *e = vips_error_buffer();
	char line[120];
	size_t n = strcspn(e, "\n");

	snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) - 1 ? n : sizeof(line) - 1), e);
	if (errno == ENOMEM || strstr(e, "memory") != NULL)
		media_fail(out, "%s: out of memory in the decoding child", what);
	else
		media_reject(out, "corrupt", "%s: %s", what, line);
	vips_error_clear();
}

static int check_header(const struct media_opts *o, VipsImage *in, const char *nick,
			struct media_result *out)
{
	const char *loader = NULL;
	long long w = vips_image_get_width(in), h = vips_image_get_height(in);
	int pages = vips_image_get_n_pages(in);

	if (vips_image_get_string(in, "vips-loader", &loader) != 0 || strcmp(loader, nick) != 0) {
		media_reject(out, "unsupported_type", "decoded by an unexpected loader");
		return -1;
	}
	if (w * h > o->max_pixels) {
		media_reject(out, "too_many_pixels", "%lldx%lld is over the %lld pixel limit", w, h,
			     o->max_pixels);
		return -1;
	}
	if (pages > o->max_frames) {
		media_reject(out, "too_many_frames", "%d frames is over the limit of %d", pages,
			     o->max_frames);
		return -1;
	}
	/* an animation is decoded whole for its display copy: the limit holds for all frames */
	if (w * h * pages > o->max_pixels) {
		media_reject(out, "too_many_pixels", "%d frames of %lldx%lld are over the %lld pixel limit",
			     pages, w, h, o->max_pixels);
		return -1;
	}
	out->frames = pages;
	return 0;
}

static int save_jpeg_or_png(VipsImage *im, const char *out_dir, const char *name, bool animated,
			    const char *mime, struct media_variant *v)
{
	const char *ext = "jpg";
	struct stat st;
	int rc;

	if (animated)
		ext = strcmp(mime, "image/gif") == 0 ? "gif" : "webp";
	else if (vips_image_hasalpha(im))
		ext = "png";
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->path, sizeof(v->path), "%s/%s.%s", out_dir, name, ext);
	snprintf(v->mime, sizeof(v->mime), "image/%s", strcmp(ext, "jpg") == 0 ? "jpeg" : ext);
	/* baseline Huffman tables (optimize_coding costs a second pass for a few per cent of
	 * size), not progressive, no metadata */
	if (strcmp(ext, "jpg") == 0)
		rc = vips_jpegsave(im, v->path, "strip", TRUE, "Q", JPEG_Q, "optimize_coding", FALSE,
				   "interlace", FALSE, NULL);
	else if (strcmp(ext, "png") == 0)
		rc = vips_pngsave(im, v->path, "strip", TRUE, NULL);
	else if (strcmp(ext, "gif") == 0)
		rc = vips_gifsave(im, v->path, "strip", TRUE, NULL);
	else
		rc = vips_webpsave(im, v->path, "strip", TRUE, "Q", JPEG_Q, NULL);
	if (rc != 0)
		return -1;
	v->width = vips_image_get_width(im);
	v->height = animated ? vips_image_get_page_height(im) : vips_image_get_height(im);
	v->bytes = stat(v->path, &st) == 0 ? (long long)st.st_size : 0;
	return 0;
}

/* sRGB 8-bit, so that stripping the profile loses nothing. t: 2 free slots. */
static int to_srgb(VipsImage *in, VipsImage **t, VipsImage **out)
{
	if (vips_image_get_typeof(in, VIPS_META_ICC_NAME) != 0) {
		if (vips_icc_transform(in, &t[0], "srgb", "embedded", TRUE, "depth", 8, NULL) != 0)
			return -1;
	} else if (vips_colourspace(in, &t[0], VIPS_INTERPRETATION_sRGB, NULL) != 0) {
		return -1;
	}
	if (vips_cast_uchar(t[0], &t[1], NULL) != 0)
		return -1;
	*out = t[1];
	return 0;
}

/* The dominant colour: the mean of each band of the thumb, a uchar memory image (one pass over
 * its pixels; vips_avg per band would evaluate a pipeline once per band). */
static void mean_colour(VipsImage *im, char color[8])
{
	unsigned long long sum[3] = { 0, 0, 0 };
	int nb = im->Bands, use = nb < 3 ? 1 : 3;
	double n = (double)im->Xsize * im->Ysize;
	unsigned c[3];

	for (int y = 0; y < im->Ysize; y++) {
		const VipsPel *p = VIPS_IMAGE_ADDR(im, 0, y);

		for (int x = 0; x < im->Xsize; x++, p += nb)
			for (int b = 0; b < use; b++)
				sum[b] += p[b];
	}
	for (int b = 0; b < 3; b++)
		c[b] = n > 0 ? (unsigned)(sum[b < use ? b : 0] / n) & 0xff : 0;
	snprintf(color, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* JPEG variants have no alpha: transparent parts become white. *out is a new reference. */
static int flatten_white(VipsImage *in, VipsImage **out)
{
	VipsArrayDouble *white;
	int rc;

	if (!vips_image_hasalpha(in))
		return vips_copy(in, out, NULL);
	white = vips_array_double_newv(3, 255.0, 255.0, 255.0);
	rc = vips_flatten(in, out, "background", white, NULL);
	vips_area_unref(VIPS_AREA(white));
	return rc;
}

/* preview (1280) from pv, already sized, oriented and sRGB, kept in memory; the thumb (256) and
 * the dominant colour from the preview. */
static int save_previews(VipsImage *pv, const char *out_dir, VipsObject *scope,
			 struct media_result *out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 5);

	if (flatten_white(pv, &t[0]) != 0 || vips_cast_uchar(t[0], &t[1], NULL) != 0 ||
	    (t[2] = vips_image_copy_memory(t[1])) == NULL ||
	    save_jpeg_or_png(t[2], out_dir, "preview", false, "", &out->variants[out->nvariants]) != 0)
		return -1;
	out->nvariants++;
	/* harmless on a memory image, and vips_shrinkv then caches its input strips instead of
	 * recomputing them: 12 ms instead of 35 for this resize (measured on libvips 8.14) */
	vips_image_set_int(t[2], VIPS_META_SEQUENTIAL, 1);
	if (vips_thumbnail_image(t[2], &t[3], THUMB_PX, "height", THUMB_PX, "size", VIPS_SIZE_DOWN,
				 NULL) != 0 ||
	    (t[4] = vips_image_copy_memory(t[3])) == NULL ||
	    save_jpeg_or_png(t[4], out_dir, "thumb", false, "", &out->variants[out->nvariants]) != 0)
		return -1;
	out->nvariants++;
	mean_colour(t[4], out->color);
	return 0;
}

/* im fitted into a px x px box the way the full-size w x h image would be (never enlarged): a
 * box shrink by the whole part of the factor (cheap), then lanczos3 for the rest (which costs by
 * the size of its output, so it should only be the last small step). */
static int fit_box(VipsImage *im, int w, int h, int px, VipsObject *scope, VipsImage **out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 2);
	double s = VIPS_MIN(1.0, VIPS_MIN((double)px / w, (double)px / h));
	int tw = VIPS_MAX(1, (int)VIPS_RINT(w * s)), th = VIPS_MAX(1, (int)VIPS_RINT(h * s));
	int k = VIPS_MIN(im->Xsize / tw, im->Ysize / th);

	if (k >= 2 ? vips_shrink(im, &t[0], k, k, NULL) != 0 : vips_copy(im, &t[0], NULL) != 0)
		return -1;
	if (t[0]->Xsize == tw && t[0]->Ysize == th) {
		*out = t[0];
		return 0;
	}
	if (vips_resize(t[0], &t[1], (double)tw / t[0]->Xsize, "vscale", (double)th / t[0]->Ysize,
			NULL) != 0)
		return -1;
	*out = t[1];
	return 0;
}

/* The previews from the tap's shrunk copy of the original (oriented, sRGB), both straight from
 * it: the preview is a small resize, the thumb a box shrink and a tiny one. */
static int previews_from_tap(VipsImage *small, const char *out_dir, VipsObject *scope,
			     struct media_result *out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 4);
	VipsImage *pv, *th;

	if (flatten_white(small, &t[0]) != 0 || vips_cast_uchar(t[0], &t[1], NULL) != 0 ||
	    fit_box(t[1], out->width, out->height, PREVIEW_PX, scope, &pv) != 0 ||
	    (t[2] = vips_image_copy_memory(pv)) == NULL ||
	    save_jpeg_or_png(t[2], out_dir, "preview", false, "", &out->variants[out->nvariants]) != 0)
		return -1;
	out->nvariants++;
	if (fit_box(t[1], out->width, out->height, THUMB_PX, scope, &th) != 0 ||
	    (t[3] = vips_image_copy_memory(th)) == NULL ||
	    save_jpeg_or_png(t[3], out_dir, "thumb", false, "", &out->variants[out->nvariants]) != 0)
		return -1;
	out->nvariants++;
	mean_colour(t[3], out->color);
	return 0;
}

/* The previews decoded again from the file, with shrink-on-load where the format has it (the
 * first frame of an animation; a still whose tap saw no whole strips). */
static int previews_from_file(const char *path, const char *out_dir, VipsObject *scope,
			      struct media_result *out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 1);

	if (vips_thumbnail(path, &t[0], PREVIEW_PX, "height", PREVIEW_PX, "size", VIPS_SIZE_DOWN,
			   "export_profile", "srgb", "fail_on", VIPS_FAIL_ON_ERROR, NULL) != 0)
		return -1;
	return save_previews(t[0], out_dir, scope, out);
}

static int orientation_of(VipsImage *im)
{
	int o = 1;

	if (vips_image_get_typeof(im, VIPS_META_ORIENTATION) == 0 ||
	    vips_image_get_int(im, VIPS_META_ORIENTATION, &o) != 0 || o < 1 || o > 8)
		return 1;
	return o;
}

/* Decoded for the display copy: sequential. An animation with an orientation to apply is read
 * whole (its first frame: random access). */
static VipsImage *open_whole(const char *path, bool animated)
{
	VipsImage *im = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
						 VIPS_FAIL_ON_ERROR, animated ? "n" : NULL, -1, NULL);

	if (im != NULL && animated && orientation_of(im) > 1) {
		g_object_unref(im);
		im = vips_image_new_from_file(path, "access", VIPS_ACCESS_RANDOM, "fail_on",
					      VIPS_FAIL_ON_ERROR, NULL);
	}
	return im;
}

/* The decode upright and in sRGB (uchar). A mirror (orientation 2) streams; every other
 * orientation moves pixels between rows, which vips_rot does with the whole image in memory
 * (36 MB for 12 MP), so a still goes through media_orient's file instead: the child's memory
 * holds strips and one 4 MB block. t: 4 free slots. */
static int upright_srgb(VipsImage *in, bool animated, const char *out_dir, VipsImage **t,
			VipsImage **out)
{
	int o = orientation_of(in);

	if (animated || o <= 2)
		return vips_autorot(in, &t[0], NULL) != 0 ? -1 : to_srgb(t[0], &t[1], out);
	if (to_srgb(in, &t[1], &t[2]) != 0 || media_orient_through_file(t[2], o, out_dir, &t[3]) != 0)
		return -1;
	*out = t[3];
	return 0;
}

/* The original re-encoded for display: whole frames (all of them when animated), EXIF
 * orientation applied, sRGB, metadata stripped. A still is tapped on its way to the encoder
 * (*tap), so that the previews come from this one decode. */
static int make_original(const char *path, const char *out_dir, VipsObject *scope,
			 struct media_result *out, struct media_tap **tap)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 6);
	bool animated = out->frames > 1;
	struct media_variant *v;
	VipsImage *srgb;
	int f;

	if ((t[0] = open_whole(path, animated)) == NULL ||
	    upright_srgb(t[0], animated, out_dir, &t[1], &srgb) != 0)
		return -1;
	if (animated) {
		vips_image_set_int(srgb, "page-height", vips_image_get_page_height(t[0]));
	} else if ((f = media_tap_factor(srgb->Xsize, srgb->Ysize, PREVIEW_PX)) > 0) {
		if ((*tap = media_tap_new(srgb, f, &t[5])) != NULL)
			srgb = t[5];
		else
			vips_error_clear();       /* the previews are decoded again */
	}
	v = &out->variants[out->nvariants];
	if (save_jpeg_or_png(srgb, out_dir, "original", animated, out->mime, v) != 0)
		return -1;
	out->nvariants++;
	out->width = v->width;
	out->height = v->height;
	return 0;
}

/* Every variant. The original streams through the encoder with the tap taking its shrunk copy
 * on the way (one decode, and for JPEG the full-size decode replaces the half-size one the
 * previews took before); memory holds only the strips in flight and the copy (at most about
 * 2560 x 2560 px). Without a complete copy, the previews are decoded again from the file. */
static int make_variants(const char *path, const char *out_dir, VipsObject *scope,
			 struct media_result *out, struct media_tap **tap)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 1);

	if (make_original(path, out_dir, scope, out, tap) != 0)
		return -1;
	if (*tap != NULL && (t[0] = media_tap_image(*tap)) != NULL)
		return previews_from_tap(t[0], out_dir, scope, out);
	malloc_trim(0);
	return previews_from_file(path, out_dir, scope, out);
}

/* The thumb alone (bench/thumbs.sh's like-for-like comparison with vipsthumbnail): shrink-on-load
 * straight to 256 px, with the same checks, orientation, sRGB and stripping. */
static int make_thumb_only(const char *path, const char *out_dir, VipsObject *scope,
			   struct media_result *out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 4);

	if (vips_thumbnail(path, &t[0], THUMB_PX, "height", THUMB_PX, "size", VIPS_SIZE_DOWN,
			   "export_profile", "srgb", "fail_on", VIPS_FAIL_ON_ERROR, NULL) != 0 ||
	    flatten_white(t[0], &t[1]) != 0 || vips_cast_uchar(t[1], &t[2], NULL) != 0 ||
	    (t[3] = vips_image_copy_memory(t[2])) == NULL ||
	    save_jpeg_or_png(t[3], out_dir, "thumb", false, "", &out->variants[out->nvariants]) != 0)
		return -1;
	out->nvariants++;
	mean_colour(t[3], out->color);
	return 0;
}

void media_image(const struct media_opts *o, const char *path, const char *out_dir,
		 struct media_result *out)
{
	const char *nick = vips_start(out->mime);
	struct media_tap *tap = NULL;
	VipsImage *scope, *hdr;
	int rc;

	if (nick == NULL) {
		media_fail(out, "libvips could not start");
		return;
	}
	hdr = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
				       VIPS_FAIL_ON_ERROR, NULL);
	if (hdr == NULL) {
		vips_failed(out, "header");
		return;
	}
	if (check_header(o, hdr, nick, out) != 0) {
		g_object_unref(hdr);
		return;
	}
	g_object_unref(hdr);
	scope = vips_image_new();
	rc = o->thumb_only ? make_thumb_only(path, out_dir, VIPS_OBJECT(scope), out) :
	     make_variants(path, out_dir, VIPS_OBJECT(scope), out, &tap);
	if (rc != 0)
		vips_failed(out, "decode");
	else
		out->outcome = MEDIA_READY;
	g_object_unref(scope);
	media_tap_free(tap);              /* after the tapped image it computes for */
}

int media_image_from_rgb(const unsigned char *rgb, int w, int h, int stride, const char *out_dir,
			 struct media_variant *v, char color[8])
{
	VipsImage *scope, **t;
	int rc = -1;

	if (vips_ready() != 0)
		return -1;
	if (stride != w * 3)
		return -1;
	scope = vips_image_new();
	t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(scope), 3);
	t[0] = vips_image_new_from_memory(rgb, (size_t)stride * (size_t)h, w, h, 3, VIPS_FORMAT_UCHAR);
	if (t[0] == NULL)
		goto out_unref;
	t[0]->Type = VIPS_INTERPRETATION_sRGB;
	if (vips_thumbnail_image(t[0], &t[1], THUMB_PX, "height", THUMB_PX, "size", VIPS_SIZE_DOWN,
				 NULL) != 0 ||
	    (t[2] = vips_image_copy_memory(t[1])) == NULL ||
	    save_jpeg_or_png(t[2], out_dir, "thumb", false, "", v) != 0)
		goto out_unref;
	mean_colour(t[2], color);
	rc = 0;
out_unref:
	g_object_unref(scope);
	return rc;
}
