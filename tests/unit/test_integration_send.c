/* test_integration_send: the SSRF guard's address rules, redaction of excerpts, path escaping.
 * Includes the sources to reach their file-local functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../services/integration_send.c"
#include "../../services/integration_run.c"

static uint32_t v4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return ntohl(a.s_addr);
}

static bool v6(const char *s, bool loop)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return v6_refused(&a, loop);
}

static void test_v4_rules(void **state)
{
	static const char *const refused[] = { "0.0.0.0", "10.1.2.3", "100.64.0.1", "169.254.169.254",
		"172.16.0.1", "172.31.255.255", "192.0.0.1", "192.168.1.1", "198.18.0.1", "224.0.0.1",
		"255.255.255.255", "127.0.0.1" };
	static const char *const allowed[] = { "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1",
		"198.20.0.1", "93.184.216.34" };

	(void)state;
	for (size_t i = 0; i < NELEM(refused); i++)
		assert_true(v4_refused(v4(refused[i]), false));
	for (size_t i = 0; i < NELEM(allowed); i++)
		assert_false(v4_refused(v4(allowed[i]), false));
	assert_false(v4_refused(v4("127.0.0.1"), true));      /* dev/test: the fakes on loopback */
	assert_true(v4_refused(v4("10.0.0.1"), true));        /* but nothing else private */
}

static void test_v6_rules(void **state)
{
	(void)state;
	assert_true(v6("::1", false));
	assert_false(v6("::1", true));
	assert_true(v6("::", false));
	assert_true(v6("fe80::1", false));
	assert_true(v6("fc00::1", false));
	assert_true(v6("fd12:3456::1", false));
	assert_true(v6("ff02::1", false));
	assert_true(v6("::ffff:169.254.169.254", true));      /* IPv4-mapped: the v4 rules apply */
	assert_true(v6("::ffff:10.0.0.1", false));
	assert_false(v6("::ffff:8.8.8.8", false));
	assert_false(v6("2606:4700::1111", false));
}

static void test_redaction(void **state)
{
	arena_t *a = arena_new(4096);
	struct integration_ctx c = { .a = a };
	const char *in = "Authorization: Bearer tok-SECRET-1234 and tok-SECRET-1234 again, key=abc";
	const char *out;
	char big[3000];

	(void)state;
	integration_remember(&c, "tok-SECRET-1234");
	integration_remember(&c, "abc");                     /* under 4 bytes: not tracked */
	out = integration_redact(&c, in, strlen(in));
	assert_string_equal(out, "Authorization: Bearer [redacted] and [redacted] again, key=abc");
	memset(big, 'x', sizeof(big));
	memcpy(big + sizeof(big) - 20, "tok-SECRET-1234", 15);
	out = integration_redact(&c, big, sizeof(big));
	assert_int_equal(strlen(out), INTEGRATION_EXCERPT_MAX);
	assert_null(strstr(out, "tok-SECRET"));
	assert_null(integration_redact(&c, NULL, 0));
	out = integration_redact(&c, "{\"email\":\"lea.b@example.com\",\"x\":\"@\"}", 37);
	assert_string_equal(out, "{\"email\":\"l****@example.com\",\"x\":\"@\"}");
	arena_free(a);
}

static void test_escape(void **state)
{
	arena_t *a = arena_new(4096);

	(void)state;
	assert_string_equal(integration_escape(a, "Sheet 1!A1:B2"), "Sheet%201%21A1%3AB2");
	assert_string_equal(integration_escape(a, "../x?y#z"), "..%2Fx%3Fy%23z");
	assert_string_equal(integration_escape(a, "sis_user_id:12-a.b~"), "sis_user_id%3A12-a.b~");
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_rules),
		cmocka_unit_test(test_v6_rules),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_escape),
	};

	log_init("test_integration_send", LL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
