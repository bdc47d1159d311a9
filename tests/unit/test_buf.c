/* test_buf: bounds (max is a hard limit, failure leaves the buffer unchanged) and JSON escaping */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void test_append_and_cstr(void **state)
{
	buf_t b;

	(void)state;
	buf_init(&b, 100);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_puts(&b, "hello"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(buf_printf(&b, "%d-%s", 7, "x"), 0);
	assert_string_equal(buf_cstr(&b), "hello 7-x");
	assert_int_equal(b.len, 9);
	buf_reset(&b);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

/* len may reach max exactly; one byte more fails and changes nothing. */
static void test_max_is_enforced(void **state)
{
	buf_t b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "12345678", 8), 0);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_putc(&b, '9'), -1);
	assert_int_equal(buf_printf(&b, "%s", "x"), -1);
	assert_int_equal(b.len, 8);
	assert_string_equal(buf_cstr(&b), "12345678");
	buf_reset(&b);
	assert_int_equal(buf_append(&b, "123456789", 9), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -1);
	buf_release(&b);
}

/* Growth across many appends keeps the data intact and NUL-terminated. */
static void test_growth(void **state)
{
	buf_t b;

	(void)state;
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 10000);
	assert_int_equal(strlen(buf_cstr(&b)), 10000);
	assert_int_equal(b.data[9999], 'a' + 9999 % 26);
	assert_true(b.cap <= b.max + 1);
	buf_release(&b);
}

/* buf_new's storage goes with the arena: the ASan build (LeakSanitizer) fails on a leak. */
static void test_arena_buf(void **state)
{
	arena_t *a = arena_new(1024);
	buf_t *b = buf_new(a, 64);

	(void)state;
	assert_int_equal(buf_puts(b, "in arena"), 0);
	assert_string_equal(buf_cstr(b), "in arena");
	assert_int_equal(buf_append(b, "", 0), 0);
	assert_int_equal(buf_puts(b, "0123456789012345678901234567890123456789012345678901234567890"), -1);
	assert_string_equal(buf_cstr(b), "in arena");
	arena_free(a);
}

static void check_json(const char *in, size_t n, const char *want)
{
	buf_t b;

	buf_init(&b, 1024);
	assert_int_equal(buf_json_str(&b, in, n), 0);
	assert_string_equal(buf_cstr(&b), want);
	buf_release(&b);
}

/* RFC 8259 §7: quote, backslash and every control character escaped; UTF-8 passed through. */
static void test_json_escaping(void **state)
{
	(void)state;
	check_json("plain", 5, "\"plain\"");
	check_json("", 0, "\"\"");
	check_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	check_json("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
	check_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
	check_json("a\0b", 3, "\"a\\u0000b\"");
	check_json("/", 1, "\"/\"");
	check_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

/* Invalid UTF-8 (lone continuation, overlong, surrogate, truncated) becomes U+FFFD per byte. */
static void test_json_invalid_utf8(void **state)
{
	(void)state;
	check_json("\x80", 1, "\"\xef\xbf\xbd\"");
	check_json("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	check_json("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	check_json("a\xe2\x82", 3, "\"a\xef\xbf\xbd\xef\xbf\xbd\"");
	check_json("\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

/* A string that does not fit fails whole: no half-written literal is left behind. */
static void test_json_bounded(void **state)
{
	buf_t b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "ab"), 0);
	assert_int_equal(buf_json_str(&b, "\n\n\n\n", 4), -1);
	assert_string_equal(buf_cstr(&b), "ab");
	assert_int_equal(b.len, 2);
	assert_int_equal(buf_json_str(&b, "xyzw", 4), 0);
	assert_string_equal(buf_cstr(&b), "ab\"xyzw\"");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_cstr),
		cmocka_unit_test(test_max_is_enforced),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_arena_buf),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_invalid_utf8),
		cmocka_unit_test(test_json_bounded),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
