/* test_log: one valid JSON line per call with escaped fields, level filter, truncation, PII masks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "log.h"

static char out[65536];

/* Runs fn with stderr redirected to a pipe and returns what it wrote (NUL-terminated in out). */
static size_t capture(void (*fn)(void))
{
	int fds[2], saved;
	ssize_t r;
	size_t n = 0;

	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	close(fds[1]);
	fn();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	while ((r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	close(fds[0]);
	out[n] = '\0';
	return n;
}

static json_object *parse_line(void)
{
	size_t n = strlen(out);
	json_object *o;

	assert_true(n > 0);
	assert_int_equal(out[n - 1], '\n');
	assert_null(memchr(out, '\n', n - 1));   /* exactly one line */
	o = json_tokener_parse(out);
	assert_non_null(o);
	return o;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static void emit_basic(void)
{
	log_init("unit", LL_DEBUG);
	log_set_request_id("req-1");
	log_info("thing_done", LF_STR("name", "a\"b\\c\n\x01"), LF_INT("n", -42), LF_BOOL("ok", 1),
		 LF_STR("none", NULL));
}

/* The line carries the fixed fields first and every field escaped so that it parses back. */
static void test_line_shape(void **state)
{
	json_object *o, *v;

	(void)state;
	capture(emit_basic);
	assert_true(strncmp(out, "{\"time\":\"", 9) == 0);
	o = parse_line();
	assert_string_equal(str_of(o, "level"), "info");
	assert_string_equal(str_of(o, "program"), "unit");
	assert_string_equal(str_of(o, "request_id"), "req-1");
	assert_string_equal(str_of(o, "event"), "thing_done");
	assert_string_equal(str_of(o, "name"), "a\"b\\c\n\x01");
	assert_true(json_object_object_get_ex(o, "n", &v));
	assert_int_equal(json_object_get_int64(v), -42);
	assert_true(json_object_object_get_ex(o, "ok", &v));
	assert_true(json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(o, "none", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(o, "pid", &v));
	assert_int_equal(json_object_get_int64(v), getpid());
	json_object_put(o);
}

/* RFC 3339 UTC with milliseconds: 2024-01-02T03:04:05.678Z */
static void test_time_format(void **state)
{
	json_object *o;
	const char *t;

	(void)state;
	capture(emit_basic);
	o = parse_line();
	t = str_of(o, "time");
	assert_int_equal(strlen(t), 24);
	assert_true(t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' && t[16] == ':' &&
		    t[19] == '.' && t[23] == 'Z');
	json_object_put(o);
}

static void emit_filtered(void)
{
	log_init("unit", LL_WARN);
	log_set_request_id(NULL);
	log_info("dropped");
	log_debug("dropped");
	log_warn("kept");
}

/* Lines below the level are dropped; a cleared request id is left out. */
static void test_level_filter(void **state)
{
	json_object *o;

	(void)state;
	capture(emit_filtered);
	o = parse_line();
	assert_string_equal(str_of(o, "event"), "kept");
	assert_string_equal(str_of(o, "level"), "warn");
	assert_null(str_of(o, "request_id"));
	json_object_put(o);
}

static void emit_huge(void)
{
	static char big[10000];

	memset(big, 'x', sizeof(big) - 1);
	memcpy(big + 100, "\xe2\x82\xac", 3);
	log_init("unit", LL_INFO);
	log_error("huge", LF_STR("a", "short"), LF_STR("big", big), LF_INT("after", 1));
}

/* A line too long for one pipe write is cut (still valid JSON, marked truncated). */
static void test_truncation(void **state)
{
	json_object *o, *v;
	size_t n;

	(void)state;
	n = capture(emit_huge);
	assert_true(n <= 4096);
	o = parse_line();
	assert_string_equal(str_of(o, "a"), "short");
	assert_true(json_object_object_get_ex(o, "truncated", &v));
	assert_true(json_object_get_boolean(v));
	assert_null(str_of(o, "after"));
	json_object_put(o);
}

static void emit_bad_utf8(void)
{
	log_init("unit", LL_INFO);
	log_info("bad", LF_STR("v", "a\xff\xc0z"));
}

/* Invalid UTF-8 in a field is replaced, so the line stays valid JSON (and valid UTF-8). */
static void test_invalid_utf8(void **state)
{
	json_object *o;

	(void)state;
	capture(emit_bad_utf8);
	o = parse_line();
	assert_string_equal(str_of(o, "v"), "a\xef\xbf\xbd\xef\xbf\xbdz");
	json_object_put(o);
}

static void test_mask_email(void **state)
{
	char b[64];

	(void)state;
	log_mask_email("jane.doe@example.com", b, sizeof(b));
	assert_string_equal(b, "j***@example.com");
	log_mask_email("not-an-email", b, sizeof(b));
	assert_string_equal(b, "***");
	log_mask_email("@example.com", b, sizeof(b));
	assert_string_equal(b, "***");
	log_mask_email(NULL, b, sizeof(b));
	assert_string_equal(b, "***");
	log_mask_email("jane@example.com", b, 6);
	assert_string_equal(b, "j***@");
	assert_null(strstr(b, "jane"));
}

static void test_mask_ip(void **state)
{
	char b[64];

	(void)state;
	log_mask_ip("203.0.113.77", b, sizeof(b));
	assert_string_equal(b, "203.0.113.0/24");
	log_mask_ip("2001:db8:abcd:12:1:2:3:4", b, sizeof(b));
	assert_string_equal(b, "2001:db8:abcd::/48");
	log_mask_ip("::ffff:198.51.100.9", b, sizeof(b));
	assert_string_equal(b, "198.51.100.0/24");
	log_mask_ip("1.2.3", b, sizeof(b));
	assert_string_equal(b, "invalid");
	log_mask_ip("", b, sizeof(b));
	assert_string_equal(b, "invalid");
}

static void die(void)
{
	log_init("unit", LL_ERROR);
	if (fork() == 0)
		log_fatal("out_of_memory", "test");
	(void)wait(NULL);
}

/* log_fatal writes its line even below the level filter, then exits (70, see test_arena). */
static void test_fatal(void **state)
{
	json_object *o;

	(void)state;
	capture(die);
	o = parse_line();
	assert_string_equal(str_of(o, "level"), "fatal");
	assert_string_equal(str_of(o, "detail"), "test");
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_shape),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_mask_email),
		cmocka_unit_test(test_mask_ip),
		cmocka_unit_test(test_fatal),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
