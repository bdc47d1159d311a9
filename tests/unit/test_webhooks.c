/* test_webhooks: Standard Webhooks signing against the spec's own vector (and a wrong signature
 * that must differ), malformed secrets, and redaction of sensitive keys at any depth */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "webhooks.h"

static const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char *msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char *body = "{\"test\": 2432232314}";

static void test_sign_vector(void **state)
{
	char sig[200];

	(void)state;
	assert_int_equal(webhooks_sign(secret, msg_id, "1614265330", body, strlen(body), sig, sizeof(sig)), 0);
	assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	assert_string_not_equal(sig, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=");
	/* another timestamp or one more byte of body gives another signature */
	assert_int_equal(webhooks_sign(secret, msg_id, "1614265331", body, strlen(body), sig, sizeof(sig)), 0);
	assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void test_sign_refuses_bad_secrets(void **state)
{
	char sig[200];

	(void)state;
	assert_int_equal(webhooks_sign("whsec_!!!not base64", msg_id, "1", body, 4, sig, sizeof(sig)), -1);
	assert_int_equal(webhooks_sign("whsec_", msg_id, "1", body, 4, sig, sizeof(sig)), -1);
	assert_int_equal(webhooks_sign(secret, msg_id, "1", body, 4, sig, 10), -1);   /* too small */
}

static void test_redact(void **state)
{
	arena_t *a = arena_new(4096);
	json_object *in = json_tokener_parse(
		"{\"email\":\"a@b.c\",\"name\":\"Ann\",\"nested\":{\"Phone\":\"1\",\"user_password\":\"x\","
		"\"list\":[{\"token\":\"t\"},2]},\"answers\":{\"q7\":\"secret answer\"},\"n\":3}");
	const char *const sensitive[] = { "q7", NULL };
	json_object *out = webhooks_redact(a, in, sensitive);

	(void)state;
	assert_string_equal(json_str(out),
		"{\"email\":\"[redacted]\",\"name\":\"Ann\",\"nested\":{\"Phone\":\"[redacted]\","
		"\"user_password\":\"[redacted]\",\"list\":[{\"token\":\"[redacted]\"},2]},"
		"\"answers\":{\"q7\":\"[redacted]\"},\"n\":3}");
	assert_string_equal(json_object_get_string(json_get(in, "email")), "a@b.c");   /* input untouched */
	json_object_put(in);
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_vector),
		cmocka_unit_test(test_sign_refuses_bad_secrets),
		cmocka_unit_test(test_redact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
