/* test_err: the error table (every code mapped, statuses as agreed) and problem building */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"

/* The agreed mapping, written out independently of lib/err.c. */
static const struct { err_t e; int status; const char *slug; } want[] = {
	{ ERR_BAD_REQUEST, 400, "bad-request" },
	{ ERR_INVALID_JSON, 400, "invalid-json" },
	{ ERR_VALIDATION, 422, "validation" },
	{ ERR_UNAUTHENTICATED, 401, "unauthenticated" },
	{ ERR_FORBIDDEN, 403, "forbidden" },
	{ ERR_NOT_FOUND, 404, "not-found" },
	{ ERR_METHOD_NOT_ALLOWED, 405, "method-not-allowed" },
	{ ERR_CONFLICT, 409, "conflict" },
	{ ERR_GONE, 410, "gone" },
	{ ERR_PRECONDITION, 412, "precondition-failed" },
	{ ERR_TOO_LARGE, 413, "too-large" },
	{ ERR_UNSUPPORTED_MEDIA, 415, "unsupported-media-type" },
	{ ERR_RATE_LIMITED, 429, "rate-limited" },
	{ ERR_CHECKSUM, 460, "checksum-mismatch" },
	{ ERR_UNAVAILABLE, 503, "unavailable" },
	{ ERR_INSUFFICIENT_STORAGE, 507, "insufficient-storage" },
	{ ERR_INTERNAL, 500, "internal" },
	{ ERR_RETRY, 500, "retry" },
};

static void test_mapping(void **state)
{
	(void)state;
	assert_int_equal(NELEM(want), ERR__COUNT - 1);
	for (size_t i = 0; i < NELEM(want); i++) {
		const struct err_info *ei = err_info(want[i].e);

		assert_int_equal(ei->status, want[i].status);
		assert_string_equal(ei->slug, want[i].slug);
	}
}

/* No gap in the table: every code has a slug and a title, and slugs are unique. */
static void test_table_complete(void **state)
{
	(void)state;
	for (int e = 0; e < ERR__COUNT; e++) {
		const struct err_info *ei = err_info((err_t)e);

		assert_non_null(ei->slug);
		assert_non_null(ei->title);
		assert_true(ei->title[0] != '\0');
		for (int f = 0; f < e; f++)
			assert_string_not_equal(ei->slug, err_info((err_t)f)->slug);
	}
}

/* An out-of-range code is treated as internal, never as success. */
static void test_unknown_is_internal(void **state)
{
	(void)state;
	assert_int_equal(err_info(ERR__COUNT)->status, 500);
	assert_int_equal(err_info((err_t)-1)->status, 500);
	assert_string_equal(err_info((err_t)1000)->slug, "internal");
}

static void test_problem(void **state)
{
	arena_t *a = arena_new(1024);
	struct problem p;
	char name[8] = "tmp";

	(void)state;
	err_clear(&p);
	assert_int_equal(err_set(&p, a, ERR_CONFLICT, "flow %s is %s", "x", "published"), ERR_CONFLICT);
	assert_int_equal(p.code, ERR_CONFLICT);
	assert_string_equal(p.detail, "flow x is published");
	err_clear(&p);
	assert_int_equal(p.code, ERR_OK);
	assert_null(p.detail);
	assert_int_equal(p.nfields, 0);
	/* the field path is copied: the caller's buffer may change */
	assert_int_equal(err_field(&p, a, name, "must be a %s", "string"), ERR_VALIDATION);
	memcpy(name, "zzz", 4);
	assert_int_equal(p.code, ERR_VALIDATION);
	assert_int_equal(p.nfields, 1);
	assert_string_equal(p.fields[0].field, "tmp");
	assert_string_equal(p.fields[0].detail, "must be a string");
	assert_non_null(p.detail);
	arena_free(a);
}

/* Past PROBLEM_MAX_FIELDS, field errors are dropped without overflow. */
static void test_field_limit(void **state)
{
	arena_t *a = arena_new(1024);
	struct problem p;

	(void)state;
	err_clear(&p);
	for (int i = 0; i < PROBLEM_MAX_FIELDS + 10; i++)
		assert_int_equal(err_field(&p, a, "f", "bad %d", i), ERR_VALIDATION);
	assert_int_equal(p.nfields, PROBLEM_MAX_FIELDS);
	assert_string_equal(p.fields[PROBLEM_MAX_FIELDS - 1].detail, "bad 31");
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_unknown_is_internal),
		cmocka_unit_test(test_problem),
		cmocka_unit_test(test_field_limit),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
