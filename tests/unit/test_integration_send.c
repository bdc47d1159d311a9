/* test_integration_send: redaction of run excerpts (secrets, emails), path escaping. The address
 * rules of the outbound guard are lib/http_client's (tests/unit/test_http_client.c).
 * Includes the source to reach its file-local functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../services/integration_run.c"

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
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_escape),
	};

	log_init("test_integration_send", LL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
