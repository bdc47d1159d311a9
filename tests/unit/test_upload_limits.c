/* test_upload_limits: the free-space floor (507) judged by statvfs on the upload directory — no
 * floor, a floor below what the disk has, a floor above it, a directory that does not exist — and
 * the accept entries flows may use */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <cmocka.h>

#include "upload_sessions.h"

static void test_space_floor(void **state)
{
	arena_t *a = arena_new(4096);
	struct problem p = { 0 };
	struct statvfs st;
	long long free_mb;

	(void)state;
	assert_int_equal(statvfs("/tmp", &st), 0);
	free_mb = (long long)st.f_bavail * (long long)st.f_frsize / (1024 * 1024);
	assert_true(free_mb > 2);   /* the host has room for this test's own judgement */
	assert_int_equal(upload_space_check("/tmp", 0, a, &p), ERR_OK);
	assert_int_equal(upload_space_check("/tmp", 1, a, &p), ERR_OK);
	assert_int_equal(upload_space_check("/tmp", (int)(free_mb / 2 > 0 ? free_mb / 2 : 1), a, &p), ERR_OK);
	/* a floor above what is free: 507 with a reason and a Retry-After */
	assert_int_equal(upload_space_check("/tmp", 1073741824, a, &p), ERR_INSUFFICIENT_STORAGE);
	assert_non_null(p.detail);
	assert_non_null(strstr(p.detail, "low on upload space"));
	assert_true(p.retry_after > 0);
	err_clear(&p);
	/* a floor just above the free space also refuses (the comparison is in bytes, not rounded) */
	if (free_mb + 2 < 1073741824)
		assert_int_equal(upload_space_check("/tmp", (int)(free_mb + 2), a, &p), ERR_INSUFFICIENT_STORAGE);
	err_clear(&p);
	/* an upload area that cannot be inspected is refused, not waved through */
	assert_int_equal(upload_space_check("/nonexistent/atrium-incoming", 1, a, &p), ERR_INSUFFICIENT_STORAGE);
	arena_free(a);
}

static void test_accept_entries(void **state)
{
	(void)state;
	assert_true(uploads_accept_entry_valid("image/png"));
	assert_true(uploads_accept_entry_valid("IMAGE/JPEG"));
	assert_true(uploads_accept_entry_valid("image/*"));
	assert_true(uploads_accept_entry_valid("application/pdf"));
	assert_true(uploads_accept_entry_valid(".docx"));
	assert_true(uploads_accept_entry_valid(".jpeg"));
	assert_false(uploads_accept_entry_valid("text/html"));
	assert_false(uploads_accept_entry_valid("text/*"));
	assert_false(uploads_accept_entry_valid(".php"));
	assert_false(uploads_accept_entry_valid("."));
	assert_false(uploads_accept_entry_valid("*/*"));
	assert_false(uploads_accept_entry_valid(".jpg,php"));
	assert_false(uploads_accept_entry_valid(""));
}

static void test_safe_list(void **state)
{
	const char *t[32];
	size_t n = uploads_safe_types(t, 32);
	bool pdf = false;

	(void)state;
	assert_true(n >= 10);
	for (size_t i = 0; i < n; i++) {
		assert_null(strstr(t[i], "html"));
		assert_null(strstr(t[i], "officedocument"));
		pdf = pdf || strcmp(t[i], "application/pdf") == 0;
	}
	assert_true(pdf);
	assert_int_equal(uploads_safe_types(t, 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_space_floor),
		cmocka_unit_test(test_accept_entries),
		cmocka_unit_test(test_safe_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
