/* media_image: libvips decoding of untrusted images — one loader, fail_on, limits, sRGB, stripped variants */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <vips/vips.h>

#include "media_pipeline.h"

#define THUMB_PX 256
#define PREVIEW_PX 1280

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

/* Starts libvips in the child: no cache (every file is new), untrusted operations blocked and
 * every loader but the expected one blocked. Returns the expected loader's nickname or NULL. */
static const char *vips_start(const char *mime)
{
	size_t i;

	for (i = 0; i < NELEM(loaders); i++)
		if (strcmp(loaders[i].mime, mime) == 0)
			break;
	if (i == NELEM(loaders) || VIPS_INIT("atrium-media") != 0)
		return NULL;
	vips_cache_set_max(0);
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
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
	if (strcmp(ext, "jpg") == 0)
		rc = vips_jpegsave(im, v->path, "strip", TRUE, "Q", 85, NULL);
	else if (strcmp(ext, "png") == 0)
		rc = vips_pngsave(im, v->path, "strip", TRUE, NULL);
	else if (strcmp(ext, "gif") == 0)
		rc = vips_gifsave(im, v->path, "strip", TRUE, NULL);
	else
		rc = vips_webpsave(im, v->path, "strip", TRUE, "Q", 85, NULL);
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

/* The dominant colour: the mean of each band of the thumb. */
static void mean_colour(VipsImage *im, char color[8])
{
	double m[3] = { 0, 0, 0 };
	VipsImage *b;

	for (int i = 0; i < 3 && i < vips_image_get_bands(im); i++) {
		if (vips_extract_band(im, &b, i, NULL) != 0)
			return;
		if (vips_avg(b, &m[i], NULL) != 0)
			m[i] = 0;
		g_object_unref(b);
	}
	if (vips_image_get_bands(im) < 3)
		m[1] = m[2] = m[0];
	snprintf(color, 8, "#%02x%02x%02x", (unsigned)m[0] & 0xff, (unsigned)m[1] & 0xff,
		 (unsigned)m[2] & 0xff);
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

/* preview (1280) from pv, already sized, oriented and sRGB; thumb (256) from the preview. */
static int save_previews(VipsImage *pv, const char *out_dir, VipsObject *scope,
			 struct media_result *out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 4);

	if (flatten_white(pv, &t[0]) != 0 || vips_cast_uchar(t[0], &t[1], NULL) != 0 ||
	    (t[2] = vips_image_copy_memory(t[1])) == NULL ||
	    save_jpeg_or_png(t[2], out_dir, "preview", false, "", &out->variants[out->nvariants]) != 0)
		return -1;
	out->nvariants++;
	if (vips_thumbnail_image(t[2], &t[3], THUMB_PX, "height", THUMB_PX, "size", VIPS_SIZE_DOWN,
				 NULL) != 0 ||
	    save_jpeg_or_png(t[3], out_dir, "thumb", false, "", &out->variants[out->nvariants]) != 0)
		return -1;
	out->nvariants++;
	mean_colour(t[3], out->color);
	return 0;
}

/* preview and thumb with shrink-on-load (JPEG, WebP): a second, cheap decode of the file. */
static int make_previews(const char *path, const char *out_dir, VipsObject *scope,
			 struct media_result *out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 1);

	if (vips_thumbnail(path, &t[0], PREVIEW_PX, "height", PREVIEW_PX, "size", VIPS_SIZE_DOWN,
			   "export_profile", "srgb", "fail_on", VIPS_FAIL_ON_ERROR, NULL) != 0)
		return -1;
	return save_previews(t[0], out_dir, scope, out);
}

/* The original re-encoded for display: whole frames (all of them when animated), EXIF
 * orientation applied, sRGB, metadata stripped. Random access only when it must rotate. */
static int make_original(const char *path, const char *out_dir, VipsObject *scope,
			 struct media_result *out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 6);
	bool animated = out->frames > 1;
	struct media_variant *v;
	VipsImage *srgb;
	int orientation = 1;

	t[0] = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
					VIPS_FAIL_ON_ERROR, animated ? "n" : NULL, -1, NULL);
	if (t[0] == NULL)
		return -1;
	if (vips_image_get_typeof(t[0], VIPS_META_ORIENTATION) != 0 &&
	    vips_image_get_int(t[0], VIPS_META_ORIENTATION, &orientation) == 0 && orientation > 1) {
		g_object_unref(t[0]);
		t[0] = vips_image_new_from_file(path, "access", VIPS_ACCESS_RANDOM, "fail_on",
						VIPS_FAIL_ON_ERROR, NULL);
		if (t[0] == NULL)
			return -1;
	}
	if (vips_autorot(t[0], &t[1], NULL) != 0 || to_srgb(t[1], &t[2], &srgb) != 0)
		return -1;
	if (animated)
		vips_image_set_int(srgb, "page-height", vips_image_get_page_height(t[0]));
	v = &out->variants[out->nvariants];
	if (save_jpeg_or_png(srgb, out_dir, "original", animated, out->mime, v) != 0)
		return -1;
	out->nvariants++;
	out->width = v->width;
	out->height = v->height;
	return 0;
}

/* JPEG, PNG, GIF, WebP: the original streams through (sequential), the previews come from a
 * shrink-on-load decode. Between the two, the first one's memory goes back, so that the child's
 * peak RSS is that of the larger step, not their sum. */
static int two_decodes(const char *path, const char *out_dir, VipsObject *scope,
		       struct media_result *out)
{
	if (make_previews(path, out_dir, scope, out) != 0)
		return -1;
	malloc_trim(0);
	return make_original(path, out_dir, scope, out);
}

/* HEIF/AVIF have no shrink-on-load: decoding twice would double the cost, so decode once into
 * memory (libheif applies irot/imir) and derive the original and the previews from it. */
static int single_decode(const char *path, const char *out_dir, VipsObject *scope,
			 struct media_result *out)
{
	VipsImage **t = (VipsImage **)vips_object_local_array(scope, 5);
	struct media_variant *v = &out->variants[out->nvariants];
	VipsImage *srgb;

	t[0] = vips_image_new_from_file(path, "access", VIPS_ACCESS_RANDOM, "fail_on",
					VIPS_FAIL_ON_ERROR, NULL);
	if (t[0] == NULL || vips_autorot(t[0], &t[1], NULL) != 0 || to_srgb(t[1], &t[2], &srgb) != 0 ||
	    (t[4] = vips_image_copy_memory(srgb)) == NULL ||
	    save_jpeg_or_png(t[4], out_dir, "original", false, out->mime, v) != 0)
		return -1;
	out->nvariants++;
	out->width = v->width;
	out->height = v->height;
	if (vips_thumbnail_image(t[4], &t[3], PREVIEW_PX, "height", PREVIEW_PX, "size",
				 VIPS_SIZE_DOWN, NULL) != 0)
		return -1;
	return save_previews(t[3], out_dir, scope, out);
}

void media_image(const struct media_opts *o, const char *path, const char *out_dir,
		 struct media_result *out)
{
	const char *nick = vips_start(out->mime);
	VipsImage *scope, *hdr;

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
	if (strcmp(nick, "heifload") == 0 ? single_decode(path, out_dir, VIPS_OBJECT(scope), out) != 0 :
	    two_decodes(path, out_dir, VIPS_OBJECT(scope), out) != 0)
		vips_failed(out, "decode");
	else
		out->outcome = MEDIA_READY;
	g_object_unref(scope);
}

int media_image_from_rgb(const unsigned char *rgb, int w, int h, int stride, const char *out_dir,
			 struct media_variant *v, char color[8])
{
	VipsImage *scope, **t;
	int rc = -1;

	if (VIPS_INIT("atrium-media") != 0)
		return -1;
	vips_cache_set_max(0);
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
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
