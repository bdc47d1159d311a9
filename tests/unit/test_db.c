/* test_db: the pure part of lib/db — the text form of array parameters (db_array), which carries
 * untrusted text (response excerpts, JSON payloads) into batch statements */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "db.h"

static void test_array_quotes_every_element(void **state)
{
	static const char *const v[] = { "0190f7b2-0000-7000-8000-000000000001", "12", "" };
	arena_t *a = arena_new(1024);

	(void)state;
	assert_string_equal(db_array(a, v, 3), "{\"0190f7b2-0000-7000-8000-000000000001\",\"12\",\"\"}");
	assert_string_equal(db_array(a, v, 0), "{}");
	arena_free(a);
}

/* Quotes and backslashes are escaped; braces, commas and spaces stay inside the quotes, so no
 * element can end itself early or add another. */
static void test_array_escapes_what_could_break_out(void **state)
{
	static const char *const v[] = { "a\"b", "c\\d", "},{\"x\"", " NULL ", "{\"k\": \"v\\\"\"}" };
	arena_t *a = arena_new(1024);

	(void)state;
	assert_string_equal(db_array(a, v, 5),
			    "{\"a\\\"b\",\"c\\\\d\",\"},{\\\"x\\\"\",\" NULL \",\"{\\\"k\\\": \\\"v\\\\\\\"\\\"}\"}");
	arena_free(a);
}

static void test_array_null_elements_are_sql_null(void **state)
{
	static const char *const v[] = { "x", NULL, "NULL" };
	arena_t *a = arena_new(1024);

	(void)state;
	assert_string_equal(db_array(a, v, 3), "{\"x\",NULL,\"NULL\"}");
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array_quotes_every_element),
		cmocka_unit_test(test_array_escapes_what_could_break_out),
		cmocka_unit_test(test_array_null_elements_are_sql_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
