/* test_json: strict parsing (every abuse refused) and each validator, with exact paths and messages */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

static const char *const field_types[] = { "text", "number", "choice", NULL };
static const char *const kinds[] = { "a", "b", NULL };

static const struct jv_field field_fields[] = {
	{ .name = "key", .type = JV_STRING, .required = true, .min = 1, .max = 64 },
	{ .name = "type", .type = JV_ENUM, .required = true, .choices = field_types },
	{ .name = "max", .type = JV_INT, .nullable = true, .min = 0, .max = 1000 },
	{ .name = NULL },
};
static const struct jv_field field_item = { .name = "field", .type = JV_OBJECT, .fields = field_fields };
static const struct jv_field step_fields[] = {
	{ .name = "key", .type = JV_STRING, .required = true, .min = 1, .max = 64 },
	{ .name = "fields", .type = JV_ARRAY, .min = 0, .max = 10, .item = &field_item },
	{ .name = NULL },
};
static const struct jv_field step_item = { .name = "step", .type = JV_OBJECT, .fields = step_fields };
static const struct jv_field label_item = { .name = "label", .type = JV_STRING, .max = 20 };
static const struct jv_field upload_fields[] = {
	{ .name = "max_files", .type = JV_INT, .required = true, .min = 1, .max = 10 },
	{ .name = NULL },
};
static const struct jv_field schema[] = {
	{ .name = "name", .type = JV_STRING, .required = true, .min = 1, .max = 10 },
	{ .name = "description", .type = JV_TEXT, .nullable = true, .max = 100 },
	{ .name = "count", .type = JV_INT, .min = -5, .max = 100 },
	{ .name = "big", .type = JV_INT, .min = INT64_MIN, .max = INT64_MAX },
	{ .name = "active", .type = JV_BOOL },
	{ .name = "id", .type = JV_UUID },
	{ .name = "email", .type = JV_EMAIL },
	{ .name = "url", .type = JV_URL, .max = 60 },
	{ .name = "at", .type = JV_TIME },
	{ .name = "kind", .type = JV_ENUM, .choices = kinds },
	{ .name = "steps", .type = JV_ARRAY, .min = 0, .max = 3, .item = &step_item },
	{ .name = "labels", .type = JV_MAP, .max = 3, .item = &label_item },
	{ .name = "uploads", .type = JV_OBJECT, .fields = upload_fields },
	{ .name = NULL },
};

static arena_t *arena;
static struct problem prob;

static int setup(void **state)
{
	(void)state;
	arena = arena_new(4096);
	err_clear(&prob);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(arena);
	return 0;
}

static err_t parse_n(const char *s, size_t n, json_object **o)
{
	err_clear(&prob);
	return json_parse(s, n, o, arena, &prob);
}

static err_t parse(const char *s, json_object **o)
{
	return parse_n(s, strlen(s), o);
}

/* Parses (must succeed) and validates against schema. */
static err_t check(const char *body)
{
	json_object *o;

	if (parse(body, &o) != ERR_OK)
		fail_msg("body did not parse: %s (%s)", body, prob.detail);
	return json_validate(o, schema, "", &prob, arena);
}

/* Exactly one field error, at path with detail. */
static void expect_one(const char *body, const char *path, const char *detail)
{
	err_t e = check(body);

	if (e != ERR_VALIDATION || prob.nfields != 1)
		fail_msg("%s: expected one error, got code %d with %zu fields", body, e, prob.nfields);
	assert_int_equal(prob.code, ERR_VALIDATION);
	if (strcmp(prob.fields[0].field, path) != 0 || strcmp(prob.fields[0].detail, detail) != 0)
		fail_msg("%s: got %s: %s; want %s: %s", body, prob.fields[0].field, prob.fields[0].detail,
			 path, detail);
}

static void expect_ok(const char *body)
{
	err_t e = check(body);

	if (e != ERR_OK)
		fail_msg("%s: refused: %s: %s", body, prob.nfields ? prob.fields[0].field : "",
			 prob.nfields ? prob.fields[0].detail : "");
}

static void expect_bad_json(const char *s, size_t n, const char *detail_part)
{
	json_object *o = (json_object *)1;

	if (parse_n(s, n, &o) != ERR_INVALID_JSON)
		fail_msg("parsed bad JSON #%.*s#", (int)n, s);
	assert_null(o);
	assert_int_equal(prob.code, ERR_INVALID_JSON);
	if (strstr(prob.detail, detail_part) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", prob.detail, detail_part);
}

/* ---- parsing ---- */

static void test_parse_valid(void **state)
{
	json_object *o;

	(void)state;
	assert_int_equal(parse("{\"a\": [1, 2, {\"b\": null}], \"c\": \"\xc3\xa9\"}", &o), ERR_OK);
	assert_true(json_object_is_type(o, json_type_object));
	assert_int_equal(parse("42", &o), ERR_OK);
	assert_int_equal(json_object_get_int64(o), 42);
	assert_int_equal(parse(" [true] \n", &o), ERR_OK);
	assert_int_equal(parse("\"x\"", &o), ERR_OK);
}

static void test_parse_refusals(void **state)
{
	(void)state;
	expect_bad_json("", 0, "empty");
	expect_bad_json("{} x", 4, "byte 3");
	expect_bad_json("{}{}", 4, "byte 2");
	expect_bad_json("[1]]", 4, "byte 3");
	expect_bad_json("{\"a\":1", 6, "invalid JSON");
	expect_bad_json("{\"a\":1,}", 8, "invalid JSON");
	expect_bad_json("{\"a\":NaN}", 9, "invalid JSON");
	expect_bad_json("{\"a\":-Infinity}", 15, "invalid JSON");
	expect_bad_json("{\"a\":nan}", 9, "invalid JSON");
	expect_bad_json("[Infinity]", 10, "invalid JSON");
	expect_bad_json("[01]", 4, "invalid JSON");
	expect_bad_json("/*c*/{}", 7, "invalid JSON");
	expect_bad_json("{\"a\":\"b\tc\"}", 11, "invalid JSON");   /* raw control character */
	expect_bad_json("null", 4, "null");
	expect_bad_json("tru", 3, "invalid JSON");
	/* json-c 0.16's strict mode accepts these: caught by our own scan */
	expect_bad_json("{'a':1}", 7, "single quotes");
	expect_bad_json("[1.]", 4, "decimal point");
	expect_bad_json("[1.e2]", 6, "decimal point");
}

/* A raw NUL byte anywhere is refused before json-c sees the text (it would stop there). */
static void test_parse_raw_nul(void **state)
{
	(void)state;
	expect_bad_json("{\"a\":\"x\0y\"}", 11, "NUL byte");
	expect_bad_json("{}\0", 3, "byte 2: NUL byte");
}

/* Invalid UTF-8: lone continuation, overlong, surrogate half, truncated, above U+10FFFF. */
static void test_parse_bad_utf8(void **state)
{
	(void)state;
	expect_bad_json("{\"a\":\"\x80\"}", 9, "utf-8");
	expect_bad_json("{\"a\":\"\xc0\xaf\"}", 10, "utf-8");
	expect_bad_json("{\"a\":\"\xed\xa0\x80\"}", 11, "utf-8");
	expect_bad_json("{\"a\":\"\xe2\x82\"}", 10, "utf-8");
	expect_bad_json("{\"a\":\"\xf4\x90\x80\x80\"}", 12, "utf-8");
	expect_bad_json("{\"\xff\":1}", 7, "utf-8");
}

static void test_parse_depth(void **state)
{
	char deep[200];
	json_object *o;
	int d;

	(void)state;
	for (d = 0; d < 31; d++)
		deep[d] = '[';
	for (int i = 0; i < 31; i++)
		deep[d++] = ']';
	assert_int_equal(parse_n(deep, (size_t)d, &o), ERR_OK);
	for (d = 0; d < 100; d++)
		deep[d] = '[';
	for (int i = 0; i < 100; i++)
		deep[d++] = ']';
	expect_bad_json(deep, (size_t)d, "nesting too deep");
}

/* json-c would read {"name\u0000x": ...} as "name": refused outright. */
static void test_parse_nul_in_key(void **state)
{
	json_object *o;

	(void)state;
	expect_bad_json("{\"name\\u0000x\":\"v\"}", 19, "object key contains");
	/* an escaped backslash followed by the text u0000 is not a NUL */
	assert_int_equal(parse("{\"a\\\\u0000\":1}", &o), ERR_OK);
	/* a NUL in a value parses; the validators refuse it (see test_strings) */
	assert_int_equal(parse("{\"a\":\"x\\u0000\"}", &o), ERR_OK);
}

/* ---- validation ---- */

static void test_valid_body(void **state)
{
	(void)state;
	expect_ok("{\"name\":\"flow\"}");
	expect_ok("{\"name\":\"flow\",\"description\":\"line 1\\nline 2\\ttab\",\"count\":-5,\"active\":false,"
		  "\"id\":\"0190a6f4-3b1e-7c2a-9d4e-1234567890ab\",\"email\":\"jane@example.com\","
		  "\"url\":\"https://example.com:8443/hook?x=1\",\"at\":\"2024-02-29T23:59:59.123+02:00\","
		  "\"kind\":\"b\",\"steps\":[{\"key\":\"s1\",\"fields\":[{\"key\":\"f\",\"type\":\"text\","
		  "\"max\":null}]}],\"labels\":{\"x\":\"y\"},\"uploads\":{\"max_files\":10}}");
	expect_ok("{\"name\":\"flow\",\"description\":null}");
}

static void test_body_not_object(void **state)
{
	json_object *o;

	(void)state;
	assert_int_equal(parse("[1]", &o), ERR_OK);
	assert_int_equal(json_validate(o, schema, "", &prob, arena), ERR_VALIDATION);
	assert_string_equal(prob.fields[0].field, "");
	assert_string_equal(prob.fields[0].detail, "body must be a JSON object");
}

static void test_required_unknown_null(void **state)
{
	(void)state;
	expect_one("{}", "name", "is required");
	expect_one("{\"name\":\"x\",\"nmae\":1}", "nmae", "unknown field");
	expect_one("{\"name\":null}", "name", "must not be null");
	expect_one("{\"name\":\"x\",\"count\":null}", "count", "must not be null");
	/* several problems are all reported */
	assert_int_equal(check("{\"extra\":1,\"count\":\"x\"}"), ERR_VALIDATION);
	assert_int_equal(prob.nfields, 3);
}

static void test_strings(void **state)
{
	(void)state;
	expect_one("{\"name\":5}", "name", "must be a string");
	expect_one("{\"name\":\"\"}", "name", "must not be empty");
	expect_one("{\"name\":\"12345678901\"}", "name", "must be at most 10 bytes long");
	expect_ok("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");   /* 10 bytes */
	expect_one("{\"name\":\"a\\u0000b\"}", "name", "must not contain NUL characters");
	expect_one("{\"name\":\"a\\nb\"}", "name", "must not contain control characters");
	expect_one("{\"name\":\"a\\u001fb\"}", "name", "must not contain control characters");
	expect_one("{\"name\":\"a\\u007fb\"}", "name", "must not contain control characters");
	expect_one("{\"name\":\"x\",\"description\":\"a\\u0007\"}", "description",
		   "must not contain control characters");
	expect_one("{\"name\":\"x\",\"description\":\"\\u0000\"}", "description",
		   "must not contain NUL characters");
}

static void test_integers(void **state)
{
	static const char *const bad[] = {
		"1.0", "1e3", "1E2", "-6", "101", "\"5\"", "true", "1e400", "-1e400", "99999999999999999999",
		"-99999999999999999999", "18446744073709551616", "9223372036854775808", "0.5",
	};
	char body[128];

	(void)state;
	expect_ok("{\"name\":\"x\",\"count\":-5}");
	expect_ok("{\"name\":\"x\",\"count\":100}");
	expect_ok("{\"name\":\"x\",\"count\":-0}");
	for (size_t i = 0; i < NELEM(bad); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"x\",\"count\":%s}", bad[i]);
		expect_one(body, "count", "must be an integer from -5 to 100");
	}
}

/* json-c clamps integers past 64 bits to the boundaries without an error: never accept them. */
static void test_integer_clamping(void **state)
{
	(void)state;
	expect_ok("{\"name\":\"x\",\"big\":9223372036854775806}");
	expect_ok("{\"name\":\"x\",\"big\":-9223372036854775807}");
	expect_one("{\"name\":\"x\",\"big\":99999999999999999999}", "big",
		   "must be an integer from -9223372036854775808 to 9223372036854775807");
	expect_one("{\"name\":\"x\",\"big\":-99999999999999999999}", "big",
		   "must be an integer from -9223372036854775808 to 9223372036854775807");
	expect_one("{\"name\":\"x\",\"big\":9223372036854775807}", "big",
		   "must be an integer from -9223372036854775808 to 9223372036854775807");
}

static void test_bool_uuid_email(void **state)
{
	(void)state;
	expect_one("{\"name\":\"x\",\"active\":1}", "active", "must be a boolean");
	expect_one("{\"name\":\"x\",\"active\":\"true\"}", "active", "must be a boolean");
	expect_ok("{\"name\":\"x\",\"id\":\"0190A6F4-3B1E-7C2A-9D4E-1234567890AB\"}");
	expect_one("{\"name\":\"x\",\"id\":\"0190a6f4-3b1e-7c2a-9d4e\"}", "id", "must be a UUID");
	expect_one("{\"name\":\"x\",\"id\":7}", "id", "must be a string");
	static const char *const bad_emails[] = {
		"jane", "jane@", "@example.com", "jane@example", "jane@@example.com", "ja ne@example.com",
		"jane@.example.com", "jane@example.com.", "jane@example..com", "a@b@c.com",
	};
	char body[512];

	for (size_t i = 0; i < NELEM(bad_emails); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"x\",\"email\":\"%s\"}", bad_emails[i]);
		expect_one(body, "email", "must be an email address");
	}
	char local[300];

	memset(local, 'a', 250);
	local[250] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"x\",\"email\":\"%s@example.com\"}", local);
	expect_one(body, "email", "must be an email address");
}

static void test_enum(void **state)
{
	(void)state;
	expect_one("{\"name\":\"x\",\"kind\":\"c\"}", "kind", "must be one of a, b");
	expect_one("{\"name\":\"x\",\"kind\":\"A\"}", "kind", "must be one of a, b");
	expect_one("{\"name\":\"x\",\"kind\":1}", "kind", "must be a string");
}

static void test_url(void **state)
{
	(void)state;
	expect_ok("{\"name\":\"x\",\"url\":\"http://localhost\"}");
	expect_one("{\"name\":\"x\",\"url\":\"ftp://example.com/\"}", "url", "must be an absolute http or https URL");
	expect_one("{\"name\":\"x\",\"url\":\"/relative\"}", "url", "must be an absolute http or https URL");
	expect_one("{\"name\":\"x\",\"url\":\"https://\"}", "url", "must be an absolute http or https URL");
	expect_one("{\"name\":\"x\",\"url\":\"https:///path\"}", "url", "must be an absolute http or https URL");
	expect_one("{\"name\":\"x\",\"url\":\"https://user:pw@example.com/\"}", "url", "must not contain credentials");
	expect_one("{\"name\":\"x\",\"url\":\"https://example.com/#frag\"}", "url", "must not contain a fragment");
	expect_one("{\"name\":\"x\",\"url\":\"https://exa mple.com/\"}", "url",
		   "must not contain spaces or unsafe characters");
	expect_one("{\"name\":\"x\",\"url\":\"https://example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
		   "url", "must be at most 60 bytes long");
	/* an @ after the authority is not a credential */
	expect_ok("{\"name\":\"x\",\"url\":\"https://example.com/a@b\"}");
}

static void test_time(void **state)
{
	static const char *const good[] = {
		"2024-01-31T09:00:00Z", "2024-02-29T00:00:00z", "2023-12-31t23:59:59.999999999-12:30",
		"2024-06-01T12:00:00+00:00",
	};
	static const char *const bad[] = {
		"2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-32T00:00:00Z", "2024-01-01T24:00:00Z",
		"2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00",
		"2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z", "2024-01-01T00:00:00+0100",
		"2024-01-01T00:00:00+24:00", "0000-01-01T00:00:00Z", "2024-1-01T00:00:00Z", "2024-01-01",
		"2024-01-01T00:00:00ZZ",
	};
	char body[128];

	(void)state;
	for (size_t i = 0; i < NELEM(good); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"x\",\"at\":\"%s\"}", good[i]);
		expect_ok(body);
	}
	for (size_t i = 0; i < NELEM(bad); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"x\",\"at\":\"%s\"}", bad[i]);
		expect_one(body, "at", "must be an RFC 3339 timestamp such as 2024-01-31T09:00:00Z");
	}
}

/* Nested arrays of objects report paths like steps[0].fields[1].key. */
static void test_nested_paths(void **state)
{
	(void)state;
	expect_one("{\"name\":\"x\",\"steps\":[{\"key\":\"a\"},{\"key\":\"b\",\"fields\":[{\"key\":\"k\",\"type\":\"text\"},"
		   "{\"key\":\"\",\"type\":\"text\"}]}]}", "steps[1].fields[1].key", "must not be empty");
	expect_one("{\"name\":\"x\",\"steps\":[{\"key\":\"a\",\"fields\":[{\"key\":\"k\",\"type\":\"date\"}]}]}",
		   "steps[0].fields[0].type", "must be one of text, number, choice");
	expect_one("{\"name\":\"x\",\"steps\":[{\"key\":\"a\",\"fields\":[{\"type\":\"text\"}]}]}",
		   "steps[0].fields[0].key", "is required");
	expect_one("{\"name\":\"x\",\"steps\":[{\"key\":\"a\",\"oops\":true}]}", "steps[0].oops", "unknown field");
	expect_one("{\"name\":\"x\",\"steps\":[5]}", "steps[0]", "must be an object");
	expect_one("{\"name\":\"x\",\"steps\":{}}", "steps", "must be an array");
	expect_one("{\"name\":\"x\",\"steps\":[{\"key\":\"a\"},{\"key\":\"a\"},{\"key\":\"a\"},{\"key\":\"a\"}]}",
		   "steps", "must have at most 3 items");
	expect_one("{\"name\":\"x\",\"steps\":[null]}", "steps[0]", "must not be null");
	expect_one("{\"name\":\"x\",\"uploads\":{\"max_files\":0}}", "uploads.max_files",
		   "must be an integer from 1 to 10");
	expect_one("{\"name\":\"x\",\"uploads\":{}}", "uploads.max_files", "is required");
	expect_one("{\"name\":\"x\",\"uploads\":[]}", "uploads", "must be an object");
}

static void test_map(void **state)
{
	(void)state;
	expect_ok("{\"name\":\"x\",\"labels\":{}}");
	expect_one("{\"name\":\"x\",\"labels\":{\"a\":1}}", "labels.a", "must be a string");
	expect_one("{\"name\":\"x\",\"labels\":{\"a\":\"123456789012345678901\"}}", "labels.a",
		   "must be at most 20 bytes long");
	expect_one("{\"name\":\"x\",\"labels\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\"}}", "labels",
		   "must have at most 3 entries");
	expect_one("{\"name\":\"x\",\"labels\":{\"\":\"1\"}}", "labels",
		   "keys must be 1 to 256 bytes without control characters");
	expect_one("{\"name\":\"x\",\"labels\":{\"a\\nb\":\"1\"}}", "labels",
		   "keys must be 1 to 256 bytes without control characters");
	expect_one("{\"name\":\"x\",\"labels\":[]}", "labels", "must be an object");
}

/* Field errors stop at PROBLEM_MAX_FIELDS without overflowing, and validation still fails. */
static void test_many_errors(void **state)
{
	char body[8192];
	size_t len;

	(void)state;
	len = (size_t)snprintf(body, sizeof(body), "{\"name\":\"x\"");
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, ",\"u%d\":%d", i, i);
	snprintf(body + len, sizeof(body) - len, "}");
	assert_int_equal(check(body), ERR_VALIDATION);
	assert_int_equal(prob.nfields, PROBLEM_MAX_FIELDS);
}

static void test_accessors(void **state)
{
	json_object *o, *n;

	(void)state;
	assert_int_equal(parse("{\"s\":\"v\",\"i\":7,\"b\":true,\"z\":null}", &o), ERR_OK);
	assert_string_equal(json_get_str(o, "s"), "v");
	assert_null(json_get_str(o, "i"));
	assert_null(json_get_str(o, "missing"));
	assert_int_equal(json_get_int(o, "i", -1), 7);
	assert_int_equal(json_get_int(o, "s", -1), -1);
	assert_true(json_get_bool(o, "b", false));
	assert_false(json_get_bool(o, "z", false));
	assert_null(json_get(o, "z"));
	assert_non_null(json_get(o, "s"));
	assert_null(json_get(NULL, "s"));
	n = json_new_object(arena);
	json_object_object_add(n, "url", json_object_new_string("https://a/b"));
	json_object_array_add(json_object_object_get(n, "url") ? json_new_array(arena) : NULL,
			      json_object_new_int(1));
	assert_string_equal(json_str(n), "{\"url\":\"https://a/b\"}");
	/* the tree is freed with the arena: LeakSanitizer (make SANITIZE=1) fails otherwise */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_raw_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_bad_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_nul_in_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_valid_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_not_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_required_unknown_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integer_clamping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bool_uuid_email, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accessors, setup, teardown),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
