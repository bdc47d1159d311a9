/* test_media_pipeline: every committed fixture through the forked pipeline (final state, reason,
 * variant sizes, GPS gone), the decoding child's failures, the clamd protocol against a fake clamd,
 * the HLS-as-.mp4 refusal inside libavformat, and the document helpers */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "media_pipeline.h"

static char outdir[256];

static const char *fixture(const char *name)
{
	static char path[512];
	const char *dir = getenv("ATRIUM_MEDIA_FIXTURES");

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/fixtures/media", name);
	return path;
}

static void run_mem(const char *name, long long mem_mb, struct media_result *r)
{
	struct media_opts o;
	char dir[400];

	media_opts_defaults(&o);
	o.scanner = "none";
	if (mem_mb > 0)
		o.mem_bytes = mem_mb << 20;
	snprintf(dir, sizeof(dir), "%s/%s", outdir, name);
	mkdir(dir, 0700);
	assert_int_equal(media_pipeline_run(&o, fixture(name), dir, r), ERR_OK);
}

static void run(const char *name, struct media_result *r)
{
	run_mem(name, 0, r);
}

static const struct media_variant *variant(const struct media_result *r, const char *name)
{
	for (int i = 0; i < r->nvariants; i++)
		if (strcmp(r->variants[i].name, name) == 0)
			return &r->variants[i];
	fail_msg("no variant %s", name);
	return NULL;
}

/* No EXIF at all in a stored variant: no "Exif\0\0" APP1 header, no GPS IFD tag bytes. */
static void assert_no_metadata(const char *path)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 0);
	assert_null(memmem(buf, n, "Exif\0\0", 6));
	assert_null(memmem(buf, n, "iPhone", 6));
}

static void assert_ready_image(const struct media_result *r, int w, int h)
{
	const struct media_variant *orig, *thumb, *prev;

	assert_int_equal(r->outcome, MEDIA_READY);
	assert_string_equal(r->kind, "image");
	assert_int_equal(r->width, w);
	assert_int_equal(r->height, h);
	orig = variant(r, "original");
	thumb = variant(r, "thumb");
	prev = variant(r, "preview");
	assert_int_equal(orig->width, w);
	assert_int_equal(orig->height, h);
	assert_true(thumb->width <= 256 && thumb->height <= 256);
	assert_true(thumb->width == 256 || thumb->height == 256 || (w < 256 && h < 256));
	assert_true(prev->width <= 1280 && prev->height <= 1280);
	assert_int_equal(r->color[0], '#');
	for (int i = 0; i < r->nvariants; i++)
		assert_no_metadata(r->variants[i].path);
}

static void test_jpeg_exif_rotation_applied_gps_stripped(void **state)
{
	struct media_result r;

	(void)state;
	run("rotated.jpg", &r);
	/* stored 640x480 with orientation 6: displayed portrait */
	assert_ready_image(&r, 480, 640);
	assert_int_equal(variant(&r, "thumb")->width, 192);
	assert_int_equal(variant(&r, "thumb")->height, 256);
	assert_string_equal(variant(&r, "original")->mime, "image/jpeg");
}

static void test_heic_becomes_jpeg_without_gps(void **state)
{
	struct media_result r;

	(void)state;
	run("iphone.heic", &r);
	assert_string_equal(r.mime, "image/heic");
	/* the HEIF transform (irot) is applied by libheif; EXIF orientation is ignored in HEIF */
	assert_ready_image(&r, 384, 512);
	assert_string_equal(variant(&r, "original")->mime, "image/jpeg");
	assert_non_null(strstr(variant(&r, "original")->path, ".jpg"));
}

static void test_png_webp_gif(void **state)
{
	struct media_result r;

	(void)state;
	run("plain.png", &r);
	assert_ready_image(&r, 400, 300);
	run("still.webp", &r);
	assert_ready_image(&r, 320, 240);
	run("animated.gif", &r);
	assert_ready_image(&r, 160, 120);
	assert_int_equal(r.frames, 6);
	assert_string_equal(variant(&r, "original")->mime, "image/gif");
}

static void test_polyglot_is_reencoded_without_payload(void **state)
{
	struct media_result r;
	static char buf[1 << 20];
	FILE *f;
	size_t n;

	(void)state;
	run("polyglot.jpg", &r);
	assert_ready_image(&r, 640, 480);
	f = fopen(variant(&r, "original")->path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_null(memmem(buf, n, "<script>", 8));
}

static void test_rejections(void **state)
{
	static const struct { const char *file, *reason; } cases[] = {
		{ "truncated.jpg", "corrupt" },
		{ "bomb.png", "too_many_pixels" },
		{ "script.svg", "unsupported_type" },
		{ "hls.mp4", "unsupported_type" },
		{ "long.mp4", "too_long" },
		{ "eicar.com", "unsupported_type" },   /* scanner none: the type check catches it */
	};
	struct media_result r;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		run(cases[i].file, &r);
		if (r.outcome != MEDIA_REJECTED || strcmp(r.reason, cases[i].reason) != 0)
			fail_msg("%s: outcome %d reason %s (%s), want rejected %s", cases[i].file, r.outcome,
				 r.reason, r.detail, cases[i].reason);
		assert_string_equal(r.scanner, "none");
	}
}

static void test_bomb_never_decoded(void **state)
{
	struct media_result r;

	(void)state;
	run("bomb.png", &r);
	assert_int_equal(r.outcome, MEDIA_REJECTED);
	/* 30000x30000 would be 900 MB decoded: the header check stops it far below that */
	assert_true(r.peak_rss_kb < 100 * 1024);
}

static void test_audio_video_document(void **state)
{
	struct media_result r;

	(void)state;
	run("short.mp4", &r);
	assert_int_equal(r.outcome, MEDIA_READY);
	assert_string_equal(r.kind, "video");
	assert_int_equal(r.width, 320);
	assert_int_equal(r.height, 240);
	assert_true(r.duration_s > 1.5 && r.duration_s < 2.5);
	assert_string_equal(r.codecs, "h264,aac");
	assert_true(r.bitrate > 0);
	assert_int_equal(variant(&r, "thumb")->width, 256);
	assert_int_equal(variant(&r, "thumb")->height, 192);
	/* a MediaRecorder-style WebM (live: no duration in the header): measured from the packets */
	run("recorded.webm", &r);
	assert_int_equal(r.outcome, MEDIA_READY);
	assert_string_equal(r.kind, "video");
	assert_string_equal(r.codecs, "vp8,opus");
	assert_true(r.duration_s > 1.5 && r.duration_s < 2.5);
	assert_int_equal(variant(&r, "thumb")->width, 160);
	run("short.mp3", &r);
	assert_int_equal(r.outcome, MEDIA_READY);
	assert_string_equal(r.kind, "audio");
	assert_string_equal(r.codecs, "mp3");
	assert_int_equal(r.nvariants, 0);
	run("doc.pdf", &r);
	assert_int_equal(r.outcome, MEDIA_READY);
	assert_string_equal(r.kind, "document");
	assert_int_equal(r.page_count, 2);
	assert_int_equal(r.nvariants, 0);
}

/* Each configured limit, just below what a fixture needs: the reason names the limit. */
static void test_limits_from_options(void **state)
{
	static const struct { const char *file, *reason; int which; } cases[] = {
		{ "animated.gif", "too_many_frames", 0 },      /* 6 frames, limit 5 */
		{ "short.mp3", "too_long", 1 },                /* 2 s of audio, limit 1 s */
		{ "short.mp4", "resolution_too_high", 2 },     /* 320x240, limit one pixel less */
		{ "plain.png", "too_many_pixels", 3 },         /* 400x300, limit one pixel less */
		{ "animated.gif", "too_many_pixels", 4 },      /* 6 x 160x120 = 115200 */
	};
	struct media_result r;
	struct media_opts o;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		media_opts_defaults(&o);
		o.scanner = "none";
		o.max_frames = cases[i].which == 0 ? 5 : o.max_frames;
		o.max_audio_s = cases[i].which == 1 ? 1 : o.max_audio_s;
		o.max_video_pixels = cases[i].which == 2 ? 320 * 240 - 1 : o.max_video_pixels;
		o.max_pixels = cases[i].which == 3 ? 400 * 300 - 1 : o.max_pixels;
		o.max_pixels = cases[i].which == 4 ? 6 * 160 * 120 - 1 : o.max_pixels;
		assert_int_equal(media_pipeline_run(&o, fixture(cases[i].file), outdir, &r), ERR_OK);
		if (r.outcome != MEDIA_REJECTED || strcmp(r.reason, cases[i].reason) != 0)
			fail_msg("%s: outcome %d reason %s, want %s", cases[i].file, r.outcome, r.reason,
				 cases[i].reason);
	}
}

/* libavformat itself, given the playlist directly: the allowlist refuses the hls demuxer. */
static void test_hls_refused_by_libavformat(void **state)
{
	struct media_result r = { 0 };
	struct media_opts o;

	(void)state;
	media_opts_defaults(&o);
	media_av(&o, fixture("hls.mp4"), outdir, &r);
	assert_int_equal(r.outcome, MEDIA_REJECTED);
	assert_int_equal(r.nvariants, 0);
}

/* A child that runs out of its memory budget fails (to be retried, then processing_failed), and
 * the next asset in the same process is processed as usual — under the same budget, so the
 * budget is about the file, not a broken child. exhaust.png is a 49 MP interlaced PNG (under
 * the pixel limit) that needs 196 MB decoded. */
static void test_exhausted_child_costs_only_its_asset(void **state)
{
	struct media_result r;

	(void)state;
#ifdef __SANITIZE_ADDRESS__
	skip();   /* SKIPPED under ASan: no RLIMIT_AS there (see set_limits) */
#endif
	run_mem("exhaust.png", 448, &r);
	assert_int_equal(r.outcome, MEDIA_FAILED);
	assert_string_equal(r.reason, "processing_failed");
	run_mem("photo12mp.jpg", 448, &r);
	assert_int_equal(r.outcome, MEDIA_READY);
}

/* A wall-clock limit of 0 s kills the child at once: failed, and the parent goes on. */
static void test_killed_child_is_a_failure(void **state)
{
	struct media_opts o;
	struct media_result r;

	(void)state;
	media_opts_defaults(&o);
	o.scanner = "none";
	o.timeout_s = 0;
	assert_int_equal(media_pipeline_run(&o, fixture("photo12mp.jpg"), outdir, &r), ERR_OK);
	assert_int_equal(r.outcome, MEDIA_FAILED);
	assert_non_null(strstr(r.detail, "killed"));
}

/* --- clamd, faked: one connection, reads the stream to its end, answers reply ----------------- */

static pid_t fake_clamd(const char *sock, const char *reply, bool close_early)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	unlink(sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	pid = fork();
	if (pid == 0) {
		int c = accept(fd, NULL, NULL);
		unsigned char hdr[10], len[4], buf[65536];

		if (c < 0 || read(c, hdr, 10) != 10 || memcmp(hdr, "zINSTREAM", 10) != 0)
			_exit(1);
		for (;;) {
			uint32_t n;

			if (close_early || recv(c, len, 4, MSG_WAITALL) != 4)
				break;
			n = (uint32_t)len[0] << 24 | len[1] << 16 | len[2] << 8 | len[3];
			if (n == 0)
				break;
			if (n > sizeof(buf) || recv(c, buf, n, MSG_WAITALL) != (ssize_t)n)
				_exit(1);
		}
		if (write(c, reply, strlen(reply) + 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(fd);
	return pid;
}

static void test_clamd_protocol(void **state)
{
	char sock[300], sig[96];
	bool clean;
	pid_t pid;
	int st;

	(void)state;
	snprintf(sock, sizeof(sock), "%s/clamd.sock", outdir);
	pid = fake_clamd(sock, "stream: OK", false);
	assert_int_equal(media_scan_clamd(sock, fixture("photo12mp.jpg"), 5000, &clean, sig, sizeof(sig)), ERR_OK);
	assert_true(clean);
	waitpid(pid, &st, 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	pid = fake_clamd(sock, "stream: Test.EICAR.Custom.NDB.UNOFFICIAL FOUND", false);
	assert_int_equal(media_scan_clamd(sock, fixture("eicar.com"), 5000, &clean, sig, sizeof(sig)), ERR_OK);
	assert_false(clean);
	assert_string_equal(sig, "Test.EICAR.Custom.NDB.UNOFFICIAL");
	waitpid(pid, &st, 0);
	/* over clamd's limit: never clean */
	pid = fake_clamd(sock, "INSTREAM size limit exceeded. ERROR", true);
	assert_int_equal(media_scan_clamd(sock, fixture("photo12mp.jpg"), 5000, &clean, sig, sizeof(sig)), ERR_OK);
	assert_false(clean);
	assert_string_equal(sig, "size limit exceeded");
	waitpid(pid, &st, 0);
	pid = fake_clamd(sock, "UNKNOWN COMMAND", false);
	assert_int_equal(media_scan_clamd(sock, fixture("eicar.com"), 5000, &clean, sig, sizeof(sig)),
			 ERR_UNAVAILABLE);
	assert_false(clean);
	waitpid(pid, &st, 0);
	unlink(sock);
	assert_int_equal(media_scan_clamd(sock, fixture("eicar.com"), 500, &clean, sig, sizeof(sig)),
			 ERR_UNAVAILABLE);
}

/* --- pure helpers ------------------------------------------------------------------------------ */

static void test_kinds(void **state)
{
	(void)state;
	assert_string_equal(media_kind_of("image/heic"), "image");
	assert_string_equal(media_kind_of("audio/x-m4a"), "audio");
	assert_string_equal(media_kind_of("video/webm"), "video");
	assert_string_equal(media_kind_of("application/pdf"), "document");
	assert_null(media_kind_of("image/svg+xml"));
	assert_null(media_kind_of("text/html"));
	assert_null(media_kind_of("application/zip"));
}

static void test_pdf_pages(void **state)
{
	static const char two[] = "<< /Type /Pages /Count 2 >> << /Type /Page >> << /Type\n/Page>>";

	(void)state;
	assert_int_equal(media_pdf_count_pages(two, sizeof(two) - 1), 2);
	assert_int_equal(media_pdf_count_pages("/Type /Pages", 12), -1);
	assert_int_equal(media_pdf_count_pages("", 0), -1);
	assert_int_equal(media_pdf_count_pages("/Type /Page", 11), 1);
}

/* A stored zip with entries a.txt and word/document.xml, central directory and end record only
 * matter; lengths that point outside the buffer are refused. */
static size_t make_zip(unsigned char *z, const char *const *names, size_t n)
{
	size_t len = 0, cd;

	for (size_t i = 0; i < n; i++) {
		size_t fl = strlen(names[i]);

		memset(z + len, 0, 46);
		memcpy(z + len, "PK\1\2", 4);
		z[len + 28] = (unsigned char)fl;
		memcpy(z + len + 46, names[i], fl);
		len += 46 + fl;
	}
	cd = len;
	memset(z + len, 0, 22);
	memcpy(z + len, "PK\5\6", 4);
	z[len + 12] = (unsigned char)(cd & 0xff);
	z[len + 13] = (unsigned char)(cd >> 8);
	return len + 22;
}

static void test_zip_entries(void **state)
{
	static const char *const names[] = { "[Content_Types].xml", "word/document.xml" };
	unsigned char z[512];
	size_t n;

	(void)state;
	n = make_zip(z, names, 2);
	assert_true(media_zip_has(z, n, "word/document.xml"));
	assert_true(media_zip_has(z, n, "[Content_Types].xml"));
	assert_false(media_zip_has(z, n, "xl/workbook.xml"));
	z[28] = 200;                     /* first name length runs past the directory */
	assert_false(media_zip_has(z, n, "word/document.xml"));
	assert_false(media_zip_has(z, 10, "x"));
	assert_string_equal(media_ooxml_part(
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), "xl/workbook.xml");
	assert_null(media_ooxml_part("application/pdf"));
}

static int setup(void **state)
{
	(void)state;
	snprintf(outdir, sizeof(outdir), "/tmp/test_media_XXXXXX");
	return mkdtemp(outdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", outdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jpeg_exif_rotation_applied_gps_stripped),
		cmocka_unit_test(test_heic_becomes_jpeg_without_gps),
		cmocka_unit_test(test_png_webp_gif),
		cmocka_unit_test(test_polyglot_is_reencoded_without_payload),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_bomb_never_decoded),
		cmocka_unit_test(test_audio_video_document),
		cmocka_unit_test(test_limits_from_options),
		cmocka_unit_test(test_hls_refused_by_libavformat),
		cmocka_unit_test(test_exhausted_child_costs_only_its_asset),
		cmocka_unit_test(test_killed_child_is_a_failure),
		cmocka_unit_test(test_clamd_protocol),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_pdf_pages),
		cmocka_unit_test(test_zip_entries),
	};

	return cmocka_run_group_tests_name("media_pipeline", tests, setup, teardown);
}
