/* test_media_tap: the tap's shrink factor, its box average against one computed here (odd sizes,
 * every factor shape, alpha), its refusal to guess when it saw no whole strips, and the previews
 * the pipeline makes from it against libvips' own thumbnails of the same file (upright, close) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <vips/vips.h>

#include "media_orient.h"
#include "media_pipeline.h"
#include "media_tap.h"

static char outdir[64];

static void test_factor(void **state)
{
	(void)state;
	assert_int_equal(media_tap_factor(4000, 3000, 1280), 3);     /* 1333 x 1000 >= 1280 x 960 */
	assert_int_equal(media_tap_factor(4000, 3000, 256), 15);     /* 266 x 200 >= 256 x 192 */
	assert_int_equal(media_tap_factor(3000, 4000, 1280), 3);
	assert_int_equal(media_tap_factor(2560, 1920, 1280), 2);
	assert_int_equal(media_tap_factor(2559, 1919, 1280), 1);
	assert_int_equal(media_tap_factor(640, 480, 1280), 1);       /* fits: no resize at all */
	assert_int_equal(media_tap_factor(30000, 30000, 256), 16);   /* at most 16 */
	assert_int_equal(media_tap_factor(0, 10, 256), 0);
	assert_int_equal(media_tap_factor(10, 10, 0), 0);
}

/* A w x h image of nb bands whose pixels are a function of their position. */
static VipsImage *pattern(int w, int h, int nb, VipsPel **pixels)
{
	VipsPel *p = g_malloc((size_t)w * h * nb);
	VipsImage *im;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int b = 0; b < nb; b++)
				p[((size_t)y * w + x) * nb + b] = (VipsPel)((x * 7 + y * 13 + b * 50 + x * y) & 0xff);
	im = vips_image_new_from_memory(p, (size_t)w * h * nb, w, h, nb, VIPS_FORMAT_UCHAR);
	assert_non_null(im);
	*pixels = p;
	return im;
}

/* The f x f block average (rounded) at shrunk (sx, sy), blocks cut short at the edges. */
static int expected(const VipsPel *p, int w, int h, int nb, int f, int sx, int sy, int b)
{
	unsigned s = 0, n = 0;

	for (int y = sy * f; y < sy * f + f && y < h; y++)
		for (int x = sx * f; x < sx * f + f && x < w; x++, n++)
			s += p[((size_t)y * w + x) * nb + b];
	return (int)((s + n / 2) / n);
}

/* in through a tap of factor f into a PNG (a sink that pulls full-width strips, as the
 * pipeline's savers do); the tap's image compared with the average computed here. */
static void check_tap(int w, int h, int nb, int f)
{
	VipsPel *p;
	VipsImage *in = pattern(w, h, nb, &p), *out = NULL, *small;
	struct media_tap *t = media_tap_new(in, f, &out);
	void *png = NULL;
	size_t len = 0;

	assert_non_null(t);
	assert_int_equal(vips_pngsave_buffer(out, &png, &len, "compression", 1, NULL), 0);
	small = media_tap_image(t);
	assert_non_null(small);
	assert_int_equal(small->Xsize, (w + f - 1) / f);
	assert_int_equal(small->Ysize, (h + f - 1) / f);
	assert_int_equal(small->Bands, nb);
	for (int sy = 0; sy < small->Ysize; sy++)
		for (int sx = 0; sx < small->Xsize; sx++)
			for (int b = 0; b < nb; b++)
				if (VIPS_IMAGE_ADDR(small, sx, sy)[b] != expected(p, w, h, nb, f, sx, sy, b))
					fail_msg("%dx%dx%d f=%d: (%d,%d) band %d is %d, expected %d", w, h, nb, f,
						 sx, sy, b, VIPS_IMAGE_ADDR(small, sx, sy)[b],
						 expected(p, w, h, nb, f, sx, sy, b));
	g_object_unref(small);
	g_object_unref(out);
	media_tap_free(t);
	g_object_unref(in);
	g_free(png);
	g_free(p);
}

static void test_box_average(void **state)
{
	(void)state;
	check_tap(101, 53, 3, 3);        /* neither side a multiple: short blocks on both edges */
	check_tap(64, 48, 3, 2);
	check_tap(97, 131, 4, 5);        /* alpha; groups of 5 rows straddle the sink's strips */
	check_tap(40, 30, 1, 16);
	check_tap(33, 17, 2, 1);         /* a plain copy */
	check_tap(300, 200, 3, 7);
}

/* A sink that never asks for whole rows leaves the tap without an image: the caller must not
 * get a half-filled one. */
static void test_partial_sink_gives_nothing(void **state)
{
	VipsPel *p;
	VipsImage *in = pattern(300, 200, 3, &p), *out = NULL, *crop = NULL, *small;
	struct media_tap *t = media_tap_new(in, 3, &out);
	void *png = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(t);
	assert_int_equal(vips_crop(out, &crop, 10, 0, 100, 200, NULL), 0);
	assert_int_equal(vips_pngsave_buffer(crop, &png, &len, NULL), 0);
	small = media_tap_image(t);
	assert_null(small);
	g_object_unref(crop);
	g_object_unref(out);
	media_tap_free(t);
	g_object_unref(in);
	g_free(png);
	g_free(p);
}

static void test_refuses_other_formats(void **state)
{
	VipsImage *black = NULL, *in = NULL, *out = NULL;

	(void)state;
	assert_int_equal(vips_black(&black, 10, 10, "bands", 3, NULL), 0);
	assert_int_equal(vips_cast(black, &in, VIPS_FORMAT_FLOAT, NULL), 0);
	assert_null(media_tap_new(in, 2, &out));
	assert_null(out);
	vips_error_clear();
	g_object_unref(in);
	g_object_unref(black);
}

/* media_orient against vips_autorot, byte for byte, for every EXIF orientation: an image of
 * several 4 MB blocks plus a short one (3001 x 2003 x 3: blocks of 465 rows), and a small one
 * with alpha that fits one block. */
static void check_orient(int w, int h, int nb)
{
	VipsPel *p;
	VipsImage *in = pattern(w, h, nb, &p);

	for (int o = 1; o <= 8; o++) {
		VipsImage *tagged = NULL, *ref = NULL, *ours = NULL;
		size_t nref = 0, nours = 0;
		void *a, *b;
		int ow, oh;

		assert_int_equal(vips_copy(in, &tagged, NULL), 0);
		vips_image_set_int(tagged, VIPS_META_ORIENTATION, o);
		assert_int_equal(vips_autorot(tagged, &ref, NULL), 0);
		assert_int_equal(media_orient_through_file(in, o, outdir, &ours), 0);
		media_orient_size(o, w, h, &ow, &oh);
		assert_int_equal(ours->Xsize, ow);
		assert_int_equal(ours->Ysize, oh);
		assert_int_equal(ref->Xsize, ow);
		assert_int_equal(ref->Ysize, oh);
		assert_int_equal(vips_image_get_typeof(ours, VIPS_META_ORIENTATION), 0);
		a = vips_image_write_to_memory(ref, &nref);
		b = vips_image_write_to_memory(ours, &nours);
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(nref, nours);
		if (memcmp(a, b, nref) != 0)
			fail_msg("%dx%dx%d orientation %d: pixels differ from vips_autorot", w, h, nb, o);
		g_free(a);
		g_free(b);
		g_object_unref(ours);
		g_object_unref(ref);
		g_object_unref(tagged);
	}
	g_object_unref(in);
	g_free(p);
}

static void test_orient_matches_autorot(void **state)
{
	(void)state;
	check_orient(3001, 2003, 3);
	check_orient(97, 131, 4);
	check_orient(1, 5, 1);
}

/* The file stays for the image's lifetime only, and nothing is left in the directory. */
static void test_orient_leaves_no_file(void **state)
{
	VipsPel *p;
	VipsImage *in = pattern(50, 40, 3, &p), *out = NULL;
	char cmd[160];

	(void)state;
	assert_int_equal(media_orient_through_file(in, 6, outdir, &out), 0);
	g_object_unref(out);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s' | grep orient)\"", outdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(media_orient_through_file(in, 9, outdir, &out), -1);
	assert_null(out);
	vips_error_clear();
	g_object_unref(in);
	g_free(p);
}

/* mean |a - b| over two images of the same size and bands */
static double mean_abs_diff(VipsImage *a, VipsImage *b)
{
	VipsImage *d = NULL, *ad = NULL;
	double m = 1e9;

	assert_int_equal(vips_subtract(a, b, &d, NULL), 0);
	assert_int_equal(vips_abs(d, &ad, NULL), 0);
	assert_int_equal(vips_avg(ad, &m, NULL), 0);
	g_object_unref(ad);
	g_object_unref(d);
	return m;
}

/* A 3000 x 2000 photo-like JPEG stored on its side (EXIF orientation 6), as phones write them.
 * Made in a child: libvips operations start worker threads, and a process that forks the
 * pipeline's children must not have any (a child would wait for threads it does not have). */
static void make_sideways_jpeg_here(const char *path)
{
	VipsImage *n[3], *rgb = NULL, *u = NULL, *blur = NULL, *c = NULL;

	for (int i = 0; i < 3; i++)
		assert_int_equal(vips_gaussnoise(&n[i], 3000, 2000, "sigma", 40.0, "mean", 128.0, NULL), 0);
	assert_int_equal(vips_bandjoin(n, &rgb, 3, NULL), 0);
	assert_int_equal(vips_gaussblur(rgb, &blur, 3.0, NULL), 0);
	assert_int_equal(vips_cast_uchar(blur, &u, NULL), 0);
	assert_int_equal(vips_copy(u, &c, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
	vips_image_set_int(c, VIPS_META_ORIENTATION, 6);
	assert_int_equal(vips_jpegsave(c, path, "Q", 90, NULL), 0);
	for (int i = 0; i < 3; i++)
		g_object_unref(n[i]);
	g_object_unref(c);
	g_object_unref(u);
	g_object_unref(blur);
	g_object_unref(rgb);
}

static void make_sideways_jpeg(const char *path)
{
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		make_sideways_jpeg_here(path);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* dst: the first half of src */
static void truncated_copy(const char *src, char *dst, size_t len)
{
	FILE *in = fopen(src, "rb"), *out;
	static char data[8 << 20];
	size_t n;

	assert_non_null(in);
	n = fread(data, 1, sizeof(data), in);
	fclose(in);
	assert_true(n > 1000 && n < sizeof(data));
	snprintf(dst, len, "%s.cut.jpg", src);
	out = fopen(dst, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(data, 1, n / 2, out), n / 2);
	fclose(out);
}

/* The pipeline's preview and thumb of a large rotated JPEG (made from the tap) against libvips'
 * thumbnails of the file: same size, upright, and nearly the same pixels. */
static void test_previews_match_vips_thumbnails(void **state)
{
	char src[128], dir[128], path[256];
	struct media_opts o;
	struct media_result r;
	const struct {
		const char *name;
		int px, w, h;
	} v[] = { { "preview", 1280, 853, 1280 }, { "thumb", 256, 171, 256 } };

	(void)state;
	snprintf(src, sizeof(src), "%s/sideways.jpg", outdir);
	snprintf(dir, sizeof(dir), "%s/out", outdir);
	mkdir(dir, 0700);
	make_sideways_jpeg(src);
	media_opts_defaults(&o);
	o.scanner = "none";
	assert_int_equal(media_pipeline_run(&o, src, dir, &r), ERR_OK);
	assert_int_equal(r.outcome, MEDIA_READY);
	assert_int_equal(r.width, 2000);
	assert_int_equal(r.height, 3000);
	/* the same file cut short: fail_on holds on the way through media_orient's file */
	truncated_copy(src, path, sizeof(path));
	assert_int_equal(media_pipeline_run(&o, path, dir, &r), ERR_OK);
	assert_int_equal(r.outcome, MEDIA_REJECTED);
	assert_string_equal(r.reason, "corrupt");
	/* the pipeline left every loader blocked in this process (as in the worker); the
	 * comparison below reads JPEGs */
	vips_operation_block_set("VipsForeignLoadJpeg", FALSE);
	for (size_t i = 0; i < NELEM(v); i++) {
		VipsImage *ours, *ref = NULL;
		double d;

		snprintf(path, sizeof(path), "%s/%s.jpg", dir, v[i].name);
		ours = vips_image_new_from_file(path, NULL);
		assert_non_null(ours);
		assert_int_equal(vips_thumbnail(src, &ref, v[i].px, "height", v[i].px, NULL), 0);
		assert_int_equal(ours->Xsize, v[i].w);
		assert_int_equal(ours->Ysize, v[i].h);
		assert_int_equal(ref->Xsize, ours->Xsize);
		assert_int_equal(ref->Ysize, ours->Ysize);
		d = mean_abs_diff(ours, ref);
		printf("%s: mean |ours - vips_thumbnail| = %.2f\n", v[i].name, d);
		assert_true(d < 4.0);
		g_object_unref(ref);
		g_object_unref(ours);
	}
}

static int setup(void **state)
{
	(void)state;
	if (VIPS_INIT("test_media_tap") != 0)
		return -1;
	vips_cache_set_max(0);
	snprintf(outdir, sizeof(outdir), "/tmp/test_media_tap_XXXXXX");
	return mkdtemp(outdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", outdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: it forks the pipeline's child, before this process has run any libvips
		 * operation (and so has no libvips threads) */
		cmocka_unit_test(test_previews_match_vips_thumbnails),
		cmocka_unit_test(test_factor),
		cmocka_unit_test(test_box_average),
		cmocka_unit_test(test_partial_sink_gives_nothing),
		cmocka_unit_test(test_refuses_other_formats),
		cmocka_unit_test(test_orient_matches_autorot),
		cmocka_unit_test(test_orient_leaves_no_file),
	};

	return cmocka_run_group_tests_name("media_tap", tests, setup, teardown);
}
