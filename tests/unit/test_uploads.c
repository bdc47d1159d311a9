/* test_uploads: file-name rules, RFC 6266 Content-Disposition, and the acceptance verdict
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
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
