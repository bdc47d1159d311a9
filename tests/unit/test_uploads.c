/* test_uploads: tus header parsing, session tokens and URL signatures, file-name rules, RFC 6266 Content-Disposition, and the acceptance verdict
 * (extension, libmagic, signature, Office zip directory, accept lists) on files made here —
 * including the abuse cases: an image extension on HTML or PHP, a PNG that is a zip,
 * double extensions, path traversal and bidi characters in names */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "secrets.h"
#include "uploads.h"

static char dir[64];
static magic_t mg;

static const unsigned char png1x1[] =
	"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
	"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9c" "c\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
	"\x00\x00IEND\xae" "B`\x82";
static const unsigned char jpeg[] =
	"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9";

static const char *file_of(const char *name, const void *data, size_t n)
{
	static char path[8][256];
	static int k;
	FILE *f;

	k = (k + 1) % 8;
	snprintf(path[k], sizeof(path[k]), "%s/%s", dir, name);
	f = fopen(path[k], "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
	return path[k];
}

/* A zip made by python's zipfile with the given members in that order. */
static const char *zip_of(const char *name, const char *members)
{
	static char path[256];
	char cmd[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w');"
		 "[z.writestr(m,'<x/>') for m in sys.argv[2].split(',')]; z.close()\" '%s' '%s'",
		 path, members);
	assert_int_equal(system(cmd), 0);
	return path;
}

static int64_t size_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static const char *check(const char *path, const char *name, const char *const *accept, size_t n)
{
	static struct upload_verdict v;

	uploads_validate(mg, path, size_of(path), name, accept, n, 0, &v);
	return v.reason ? v.reason : "ok";
}

static void test_filenames(void **state)
{
	(void)state;
	assert_null(uploads_filename_problem("photo.jpg", 9));
	assert_null(uploads_filename_problem("résumé 2024.pdf", strlen("résumé 2024.pdf")));
	assert_null(uploads_filename_problem("archive.v2.png", 14));
	assert_string_equal(uploads_filename_problem("../../etc/passwd", 16), "filename_path");
	assert_string_equal(uploads_filename_problem("a/b.png", 7), "filename_path");
	assert_string_equal(uploads_filename_problem("a\\b.png", 7), "filename_path");
	assert_string_equal(uploads_filename_problem("a..png", 6), "filename_path");
	assert_string_equal(uploads_filename_problem("..", 2), "filename_invalid");
	assert_string_equal(uploads_filename_problem(".htaccess", 9), "filename_invalid");
	assert_string_equal(uploads_filename_problem("", 0), "filename_invalid");
	/* NUL inside the name (decoded from Upload-Metadata) */
	assert_string_equal(uploads_filename_problem("a.png\0.php", 10), "filename_invalid");
	assert_string_equal(uploads_filename_problem("a\tb.png", 7), "filename_invalid");
	assert_string_equal(uploads_filename_problem("a\xc2\x85" "b.png", 7), "filename_invalid");
	/* U+202E RIGHT-TO-LEFT OVERRIDE: "invoice\u202Egnp.exe" shows as "invoiceexe.png" */
	assert_string_equal(uploads_filename_problem("invoice\xe2\x80\xaegnp.exe", 17), "filename_bidi");
	assert_string_equal(uploads_filename_problem("a\xe2\x81\xa6" "b.png", 8), "filename_bidi");
	/* invalid UTF-8 and overlong '/' */
	assert_string_equal(uploads_filename_problem("a\xff.png", 6), "filename_invalid");
	assert_string_equal(uploads_filename_problem("a\xc0\xaf" "b.png", 7), "filename_invalid");
	/* double extensions hiding something executable or rendered */
	assert_string_equal(uploads_filename_problem("shell.php.jpg", 13), "double_extension");
	assert_string_equal(uploads_filename_problem("page.HTML.png", 13), "double_extension");
	char long_name[300];

	memset(long_name, 'a', sizeof(long_name));
	memcpy(long_name + 296, ".png", 4);
	assert_string_equal(uploads_filename_problem(long_name, 300), "filename_invalid");
}

static void test_content_disposition(void **state)
{
	buf_t b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(uploads_content_disposition(&b, "attachment", "résumé \"x\".pdf"), 0);
	assert_string_equal(buf_cstr(&b), "attachment; filename=\"r__sum__ _x_.pdf\"; "
					   "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.pdf");
	buf_release(&b);
	assert_true(uploads_inline_type("image/png"));
	assert_true(uploads_inline_type("video/mp4"));
	assert_false(uploads_inline_type("application/pdf"));
	assert_false(uploads_inline_type("text/html"));
}

static void test_images(void **state)
{
	const char *png = file_of("a.png", png1x1, sizeof(png1x1) - 1);
	const char *jpg = file_of("a.jpg", jpeg, sizeof(jpeg) - 1);
	const char *const images[] = { "image/*" };
	const char *const pdf_only[] = { "application/pdf" };
	const char *const dot_png[] = { ".png" };

	(void)state;
	assert_string_equal(check(png, "photo.png", NULL, 0), "ok");
	assert_string_equal(check(jpg, "photo.JPEG", NULL, 0), "ok");
	assert_string_equal(check(png, "photo.png", images, 1), "ok");
	assert_string_equal(check(png, "photo.png", dot_png, 1), "ok");
	assert_string_equal(check(jpg, "photo.jpg", dot_png, 1), "type_not_accepted");
	assert_string_equal(check(png, "photo.png", pdf_only, 1), "type_not_accepted");
	/* the right content under another image's extension */
	assert_string_equal(check(png, "photo.jpg", NULL, 0), "type_mismatch");
	/* too large for the field, and empty */
	struct upload_verdict v;

	uploads_validate(mg, png, size_of(png), "p.png", NULL, 0, 10, &v);
	assert_string_equal(v.reason, "too_large");
	assert_string_equal(check(file_of("e.png", "", 0), "e.png", NULL, 0), "empty");
}

static void test_abuse(void **state)
{
	const char *html = "<!DOCTYPE html><html><script>alert(1)</script></html>\n";
	const char *php = "<?php system($_GET['c']); ?>\n";

	(void)state;
	/* an image extension on HTML or PHP content */
	assert_string_equal(check(file_of("x.jpg", html, strlen(html)), "x.jpg", NULL, 0), "type_mismatch");
	assert_string_equal(check(file_of("y.png", php, strlen(php)), "y.png", NULL, 0), "type_mismatch");
	/* extensions that are never accepted */
	assert_string_equal(check(file_of("z.html", html, strlen(html)), "z.html", NULL, 0),
			    "extension_not_allowed");
	assert_string_equal(check(file_of("noext", html, strlen(html)), "noext", NULL, 0),
			    "extension_not_allowed");
	/* a PNG that is a zip */
	assert_string_equal(check(zip_of("zip.png", "a.txt"), "zip.png", NULL, 0), "type_mismatch");
	/* a JPEG signature missing where libmagic still says JPEG is impossible to make cheaply;
	 * a PNG whose name is fine but whose bytes were cut before the signature: */
	assert_string_equal(check(file_of("cut.png", png1x1 + 1, sizeof(png1x1) - 2), "cut.png", NULL, 0),
			    "type_mismatch");
	/* names */
	assert_string_equal(check(file_of("ok.png", png1x1, sizeof(png1x1) - 1), "shell.php.png", NULL, 0),
			    "double_extension");
	assert_string_equal(check(file_of("ok2.png", png1x1, sizeof(png1x1) - 1), "../ok.png", NULL, 0),
			    "filename_path");
	assert_string_equal(check(file_of("ok3.png", png1x1, sizeof(png1x1) - 1),
				  "x\xe2\x80\xae" "gnp.png", NULL, 0), "filename_bidi");
}

/* libmagic calls a DOCX "application/zip" unless [Content_Types].xml comes first; the central
 * directory decides. */
static void test_office(void **state)
{
	const char *const docx[] = { ".docx" };
	const char *const word[] = { "application/vnd.openxmlformats-officedocument.wordprocessingml.document" };

	(void)state;
	assert_string_equal(check(zip_of("a.docx", "[Content_Types].xml,_rels/.rels,word/document.xml"),
				  "a.docx", docx, 1), "ok");
	assert_string_equal(check(zip_of("b.docx", "_rels/.rels,word/document.xml,[Content_Types].xml"),
				  "b.docx", word, 1), "ok");
	/* a zip without the parts, named .docx */
	assert_string_equal(check(zip_of("c.docx", "a.txt,b.txt"), "c.docx", docx, 1), "office_invalid");
	/* a docx is not on the safe list of a field without accept */
	assert_string_equal(check(zip_of("d.docx", "[Content_Types].xml,word/document.xml"), "d.docx",
				  NULL, 0), "type_not_accepted");
	/* the right parts under the wrong Office extension */
	assert_string_equal(check(zip_of("e.xlsx", "[Content_Types].xml,word/document.xml"), "e.xlsx",
				  NULL, 0), "office_invalid");
}

/* --- tus headers ------------------------------------------------------------------------------ */

static void test_tus_size(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(tus_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(tus_parse_size("67108864", &v), 0);
	assert_int_equal(v, 67108864);
	assert_int_equal(tus_parse_size("1099511627776", &v), 0);
	assert_int_equal(tus_parse_size("1099511627777", &v), -1);
	assert_int_equal(tus_parse_size("", &v), -1);
	assert_int_equal(tus_parse_size(NULL, &v), -1);
	assert_int_equal(tus_parse_size("-1", &v), -1);
	assert_int_equal(tus_parse_size("+1", &v), -1);
	assert_int_equal(tus_parse_size("01", &v), -1);
	assert_int_equal(tus_parse_size(" 1", &v), -1);
	assert_int_equal(tus_parse_size("1e3", &v), -1);
	assert_int_equal(tus_parse_size("99999999999999999999", &v), -1);
}

static void test_tus_metadata(void **state)
{
	arena_t *a = arena_new(4096);
	struct tus_meta m;

	(void)state;
	/* filename "résumé.pdf", filetype "application/pdf", a flag without value */
	assert_int_equal(tus_parse_metadata("filename csOpc3Vtw6kucGRm,filetype YXBwbGljYXRpb24vcGRm,"
					    "is_confidential", a, &m), 0);
	assert_string_equal(m.filename, "résumé.pdf");
	assert_int_equal(m.filename_len, strlen("résumé.pdf"));
	assert_string_equal(m.filetype, "application/pdf");
	assert_null(m.field);
	assert_int_equal(tus_parse_metadata("", a, &m), 0);
	assert_null(m.filename);
	/* a NUL inside a value is kept, with its length, for the name check to refuse */
	assert_int_equal(tus_parse_metadata("filename YS5wbmcALnBocA==", a, &m), 0);
	assert_int_equal(m.filename_len, 10);
	assert_string_equal(uploads_filename_problem(m.filename, m.filename_len), "filename_invalid");
	/* malformed: duplicate key, bad base64, empty key, two spaces, trailing comma */
	assert_int_equal(tus_parse_metadata("field YQ==,field Yg==", a, &m), -1);
	assert_int_equal(tus_parse_metadata("filename !!!!", a, &m), -1);
	assert_int_equal(tus_parse_metadata("filename YQ=", a, &m), -1);
	assert_int_equal(tus_parse_metadata(" YQ==", a, &m), -1);
	assert_int_equal(tus_parse_metadata("filename  YQ==", a, &m), -1);
	assert_int_equal(tus_parse_metadata("filename YQ==,", a, &m), -1);
	arena_free(a);
}

static void test_tus_checksum(void **state)
{
	struct tus_checksum c;
	const char *p = file_of("chunk", "hello world", 11);

	(void)state;
	/* sha1("hello world") = 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed */
	assert_int_equal(tus_parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", &c), 0);
	assert_true(tus_checksum_matches(p, &c));
	c.digest[0] ^= 1;
	assert_false(tus_checksum_matches(p, &c));
	assert_int_equal(tus_parse_checksum("sha256 uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=", &c), 0);
	assert_true(tus_checksum_matches(p, &c));
	assert_int_equal(tus_parse_checksum("md5 XrY7u+Ae7tCTyyK7j1rNww==", &c), -2);
	assert_int_equal(tus_parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7o", &c), -1);
	assert_int_equal(tus_parse_checksum("sha1", &c), -1);
}

/* --- tokens ---------------------------------------------------------------------------------- */

static const unsigned char key[UPLOAD_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static void test_token(void **state)
{
	struct upload_claims c = { "0190a5b2-0000-7000-8000-000000000001",
				   "0190a5b2-0000-7000-8000-0000000000f1", 3,
				   "0190a5b2-0000-7000-8000-0000000000c1", 2000000000 }, got;
	unsigned char other[UPLOAD_KEY_LEN];
	buf_t b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(upload_token_sign(key, &c, &b), 0);
	assert_int_equal(upload_token_verify(key, buf_cstr(&b), 1999999999, &got), 0);
	assert_string_equal(got.tenant_id, c.tenant_id);
	assert_string_equal(got.flow_id, c.flow_id);
	assert_string_equal(got.session_id, c.session_id);
	assert_int_equal(got.version, 3);
	/* expired */
	assert_int_equal(upload_token_verify(key, buf_cstr(&b), 2000000001, &got), -2);
	/* another key */
	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	assert_int_equal(upload_token_verify(other, buf_cstr(&b), 0, &got), -1);
	/* every single changed character is refused */
	for (size_t i = 0; i < b.len; i++) {
		char *t = strdup(buf_cstr(&b));

		t[i] = t[i] == 'A' ? 'B' : 'A';
		assert_int_not_equal(upload_token_verify(key, t, 0, &got), 0);
		free(t);
	}
	assert_int_equal(upload_token_verify(key, "", 0, &got), -1);
	assert_int_equal(upload_token_verify(key, "abc", 0, &got), -1);
	assert_int_equal(upload_token_verify(key, ".", 0, &got), -1);
	buf_release(&b);
}

static void test_url_signature(void **state)
{
	char sig[65];
	const char *path = "/v1/media/0190a5b2-0000-7000-8000-0000000000a1/download";

	(void)state;
	upload_url_sign(key, "GET", path, "original", 1000, sig);
	assert_int_equal(upload_url_verify(key, "GET", path, "original", 1000, sig, 999), 0);
	assert_int_equal(upload_url_verify(key, "GET", path, "original", 1000, sig, 1001), -1);
	assert_int_equal(upload_url_verify(key, "GET", path, "thumb", 1000, sig, 999), -1);
	assert_int_equal(upload_url_verify(key, "HEAD", path, "original", 1000, sig, 999), -1);
	assert_int_equal(upload_url_verify(key, "GET", path, "original", 1001, sig, 999), -1);
	sig[10] = sig[10] == '0' ? '1' : '0';
	assert_int_equal(upload_url_verify(key, "GET", path, "original", 1000, sig, 999), -1);
	assert_int_equal(upload_url_verify(key, "GET", path, "original", 1000, "short", 999), -1);
}

/* Signed upload URLs (services/uploads_single.c): the key is derived from the master key; the
 * signature binds PUT, the path (tenant and URL id), the max size and the expiry. */
static void test_upload_url(void **state)
{
	const char *t = "0190a5b2-0000-7000-8000-0000000000a1", *id = "0190a5b2-0000-7000-8000-0000000000b2";
	char kd[160], kf[200], err[200], sig[65], path[128];
	unsigned char k[UPLOAD_KEY_LEN], k2[UPLOAD_KEY_LEN];
	int64_t max = 0;
	FILE *f;

	(void)state;
	assert_int_equal(uploads_url_verify(t, id, "100", "2000", "00", 1000, &max), -1);  /* no key */
	snprintf(kd, sizeof(kd), "%s/keys", dir);
	mkdir(kd, 0700);
	snprintf(kf, sizeof(kf), "%s/1.key", kd);
	f = fopen(kf, "w");
	assert_non_null(f);
	fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", f);
	fclose(f);
	assert_int_equal(secrets_load_keys(kd, err, sizeof(err)), 0);
	assert_int_equal(secrets_derive_key("upload-url", k), 0);
	assert_int_equal(secrets_derive_key("download-url", k2), 0);
	assert_memory_not_equal(k, k2, UPLOAD_KEY_LEN);      /* one key per purpose */
	snprintf(path, sizeof(path), "/v1/media/signed-uploads/%s/%s", t, id);
	upload_url_sign(k, "PUT", path, "max=100", 2000, sig);
	assert_int_equal(uploads_url_verify(t, id, "100", "2000", sig, 1000, &max), 0);
	assert_int_equal(max, 100);
	assert_int_equal(uploads_url_verify(t, id, "100", "2000", sig, 2001, &max), -1);   /* expired */
	assert_int_equal(uploads_url_verify(t, id, "101", "2000", sig, 1000, &max), -1);   /* size */
	assert_int_equal(uploads_url_verify(t, id, "100", "2001", sig, 1000, &max), -1);   /* expiry */
	assert_int_equal(uploads_url_verify(id, t, "100", "2000", sig, 1000, &max), -1);   /* ids */
	assert_int_equal(uploads_url_verify(t, id, "0100", "2000", sig, 1000, &max), -1);  /* strict */
	assert_int_equal(uploads_url_verify(t, id, "0", "2000", sig, 1000, &max), -1);
	assert_int_equal(uploads_url_verify(t, "x", "100", "2000", sig, 1000, &max), -1);
	assert_int_equal(uploads_url_verify(t, id, "100", "2000", NULL, 1000, &max), -1);
	for (int i = 0; i < 64; i++) {                        /* every single-character tamper */
		char bad[65];

		memcpy(bad, sig, sizeof(bad));
		bad[i] = bad[i] == 'a' ? 'b' : 'a';
		assert_int_equal(uploads_url_verify(t, id, "100", "2000", bad, 1000, &max), -1);
	}
	/* a download-style signature (GET) over the same path does not pass as an upload URL */
	upload_url_sign(k, "GET", path, "max=100", 2000, sig);
	assert_int_equal(uploads_url_verify(t, id, "100", "2000", sig, 1000, &max), -1);
}

/* atrium-media's first step: parts named by offset become one file, each byte copied once */
static void test_job_input(void **state)
{
	char d[128], p0[256], p1[256], json[512], buf[32];
	arena_t *a = arena_new(4096);
	const char *out;
	json_object *pl;
	FILE *f;

	(void)state;
	snprintf(d, sizeof(d), "%s/job", dir);
	mkdir(d, 0700);
	snprintf(p0, sizeof(p0), "%s/%020d", d, 0);
	snprintf(p1, sizeof(p1), "%s/%020d", d, 5);
	file_of("job/00000000000000000000", "hello", 5);
	file_of("job/00000000000000000005", " world", 6);
	snprintf(json, sizeof(json), "{\"asset_id\": \"x\", \"dir\": \"%s\", \"parts\": 2, \"length\": 11}", d);
	pl = json_tokener_parse(json);
	assert_int_equal(uploads_job_input(a, pl, &out), ERR_OK);
	f = fopen(out, "rb");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof(buf), f), 11);
	fclose(f);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_not_equal(access(p0, F_OK), 0);
	assert_int_not_equal(access(p1, F_OK), 0);
	/* a retried run reuses the assembled file */
	assert_int_equal(uploads_job_input(a, pl, &out), ERR_OK);
	json_object_put(pl);
	/* a one-piece upload names its path; a payload without either is refused */
	pl = json_tokener_parse("{\"path\": \"/x/y\"}");
	assert_int_equal(uploads_job_input(a, pl, &out), ERR_OK);
	assert_string_equal(out, "/x/y");
	json_object_put(pl);
	pl = json_tokener_parse("{\"dir\": \"/tmp/../etc\", \"parts\": 2, \"length\": 3}");
	assert_int_not_equal(uploads_job_input(a, pl, &out), ERR_OK);
	json_object_put(pl);
	arena_free(a);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/atrium-uploads-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	mg = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
	return mg && magic_load(mg, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	magic_close(mg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filenames),
		cmocka_unit_test(test_content_disposition),
		cmocka_unit_test(test_images),
		cmocka_unit_test(test_abuse),
		cmocka_unit_test(test_office),
		cmocka_unit_test(test_tus_size),
		cmocka_unit_test(test_tus_metadata),
		cmocka_unit_test(test_tus_checksum),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_url_signature),
		cmocka_unit_test(test_upload_url),
		cmocka_unit_test(test_job_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
