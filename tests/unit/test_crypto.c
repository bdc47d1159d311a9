/* test_crypto: SHA-256 and HMAC (RFC 4231) vectors, base64 (RFC 4648), UUIDv7, Standard Webhooks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto.h"

static void hex_of(const unsigned char *p, size_t n, char *out)
{
	crypto_hex(p, n, out);
}

static void test_sha256(void **state)
{
	unsigned char d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];

	(void)state;
	crypto_sha256("abc", 3, d);
	hex_of(d, sizeof(d), h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	crypto_sha256("", 0, d);
	hex_of(d, sizeof(d), h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void check_hmac(const void *key, size_t klen, const void *msg, size_t mlen, const char *want)
{
	unsigned char d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];

	crypto_hmac_sha256(key, klen, msg, mlen, d);
	hex_of(d, sizeof(d), h);
	assert_string_equal(h, want);
}

/* RFC 4231 test cases 1, 2, 3 and 6 (a key longer than the block size). */
static void test_hmac_rfc4231(void **state)
{
	unsigned char k[131], m[50];

	(void)state;
	memset(k, 0x0b, 20);
	check_hmac(k, 20, "Hi There", 8,
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	check_hmac("Jefe", 4, "what do ya want for nothing?", 28,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(k, 0xaa, 20);
	memset(m, 0xdd, 50);
	check_hmac(k, 20, m, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	memset(k, 0xaa, 131);
	check_hmac(k, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
		   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* RFC 4648 §10 vectors, padded and unpadded, both directions. */
static void test_b64_rfc4648(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	static const char *const url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	char out[32];
	unsigned char dec[32];

	(void)state;
	for (size_t i = 0; i < NELEM(plain); i++) {
		size_t n = strlen(plain[i]);

		assert_int_equal(crypto_b64_encode(plain[i], n, out, sizeof(out), false), strlen(enc[i]));
		assert_string_equal(out, enc[i]);
		assert_int_equal(crypto_b64_encode(plain[i], n, out, sizeof(out), true), strlen(url[i]));
		assert_string_equal(out, url[i]);
		assert_int_equal(crypto_b64_decode(enc[i], strlen(enc[i]), dec, sizeof(dec), false), n);
		assert_memory_equal(dec, plain[i], n);
		assert_int_equal(crypto_b64_decode(url[i], strlen(url[i]), dec, sizeof(dec), true), n);
		assert_memory_equal(dec, plain[i], n);
		/* padding is optional on decode in both alphabets */
		assert_int_equal(crypto_b64_decode(url[i], strlen(url[i]), dec, sizeof(dec), false), n);
		assert_int_equal(crypto_b64_decode(enc[i], strlen(enc[i]), dec, sizeof(dec), true), n);
	}
}

/* The alphabets differ only in 62 and 63. */
static void test_b64_alphabets(void **state)
{
	const unsigned char v[] = { 0xfb, 0xff, 0xbf };
	char out[8];
	unsigned char dec[8];

	(void)state;
	assert_int_equal(crypto_b64_encode(v, 3, out, sizeof(out), false), 4);
	assert_string_equal(out, "+/+/");
	assert_int_equal(crypto_b64_encode(v, 3, out, sizeof(out), true), 4);
	assert_string_equal(out, "-_-_");
	assert_int_equal(crypto_b64_decode("-_-_", 4, dec, sizeof(dec), true), 3);
	assert_memory_equal(dec, v, 3);
	assert_int_equal(crypto_b64_decode("-_-_", 4, dec, sizeof(dec), false), -1);
	assert_int_equal(crypto_b64_decode("+/+/", 4, dec, sizeof(dec), true), -1);
}

/* Bad characters, whitespace, bad padding, impossible lengths and non-zero pad bits are refused. */
static void test_b64_refusals(void **state)
{
	static const char *const bad[] = {
		"Zm9v YmFy", "Zm9v\nYmFy", " Zm9v", "Zm9v\t", "Zm9*", "Zm9v=", "Zm9vY===", "Z===",
		"Zg=", "Zg=a", "=Zm9", "Zm=9v", "Z", "Zm9vY", "Zh==", "Zm9=", "Zm\0v",
	};
	unsigned char dec[32];

	(void)state;
	for (size_t i = 0; i < NELEM(bad); i++) {
		size_t n = strlen(bad[i]);

		if (i == NELEM(bad) - 1)
			n = 4;   /* an embedded NUL */
		if (crypto_b64_decode(bad[i], n, dec, sizeof(dec), false) != -1)
			fail_msg("decoded bad base64 #%zu \"%s\"", i, bad[i]);
	}
}

static void test_b64_capacity(void **state)
{
	char out[8];
	unsigned char dec[2];

	(void)state;
	/* "foobar" needs 8 characters plus the NUL */
	assert_int_equal(crypto_b64_encode("foobar", 6, out, 8, false), -1);
	assert_int_equal(crypto_b64_encode("foobar", 6, out, 8, true), -1);   /* 8 characters, no room for the NUL */
	assert_int_equal(crypto_b64_encode("fooba", 5, out, 8, true), 7);
	assert_int_equal(crypto_b64_encode("x", 1, out, 0, false), -1);
	assert_int_equal(crypto_b64_decode("Zm9v", 4, dec, sizeof(dec), false), -1);
	assert_int_equal(crypto_b64_decode("Zm8=", 4, dec, sizeof(dec), false), 2);
}

/* Version 7, variant 10, canonical lowercase, the timestamp is now, and ids sort in creation order. */
static void test_uuid7(void **state)
{
	char prev[UUID_STRLEN] = "", u[UUID_STRLEN];
	unsigned long long ms;
	char tsx[13], *end;

	(void)state;
	for (int i = 0; i < 10000; i++) {
		crypto_uuid7(u);
		assert_int_equal(strlen(u), 36);
		assert_true(crypto_uuid_valid(u));
		assert_int_equal(u[14], '7');
		assert_non_null(strchr("89ab", u[19]));
		for (int k = 0; k < 36; k++)
			assert_false(u[k] >= 'A' && u[k] <= 'F');
		if (prev[0] != '\0' && strcmp(prev, u) >= 0)
			fail_msg("uuid7 not increasing: %s then %s", prev, u);
		memcpy(prev, u, sizeof(u));
	}
	memcpy(tsx, u, 8);
	memcpy(tsx + 8, u + 9, 4);
	tsx[12] = '\0';
	ms = strtoull(tsx, &end, 16);
	assert_int_equal(*end, '\0');
	assert_true(ms > 1700000000000ULL);   /* after November 2023 */
	assert_true(ms < 4102444800000ULL);   /* before 2100 */
}

static void test_uuid_valid(void **state)
{
	(void)state;
	assert_true(crypto_uuid_valid("0190a6f4-3b1e-7c2a-9d4e-1234567890ab"));
	assert_true(crypto_uuid_valid("0190A6F4-3B1E-4C2A-9D4E-1234567890AB"));
	assert_false(crypto_uuid_valid("0190a6f4-3b1e-7c2a-9d4e-1234567890a"));
	assert_false(crypto_uuid_valid("0190a6f4-3b1e-7c2a-9d4e-1234567890abc"));
	assert_false(crypto_uuid_valid("0190a6f43b1e7c2a9d4e1234567890ab"));
	assert_false(crypto_uuid_valid("0190a6f4-3b1e-7c2a-9d4e_1234567890ab"));
	assert_false(crypto_uuid_valid("0190a6g4-3b1e-7c2a-9d4e-1234567890ab"));
	assert_false(crypto_uuid_valid("{0190a6f4-3b1e-7c2a-9d4e-1234567890a}"));
	assert_false(crypto_uuid_valid(""));
	assert_false(crypto_uuid_valid(NULL));
}

static void test_equal_random_wipe(void **state)
{
	unsigned char a[32], b[32], z[32] = { 0 };

	(void)state;
	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(b, sizeof(b)), 0);
	assert_false(crypto_equal(a, b, sizeof(a)));   /* 2^-256 chance of a false failure */
	memcpy(b, a, sizeof(a));
	assert_true(crypto_equal(a, b, sizeof(a)));
	b[31] ^= 1;
	assert_false(crypto_equal(a, b, sizeof(a)));
	crypto_wipe(a, sizeof(a));
	assert_memory_equal(a, z, sizeof(z));
}

/* The Standard Webhooks vector: read from ../shared/testdata/README.md (ATRIUM_TESTDATA overrides),
 * the backquoted values after "Standard Webhooks vector", in order. */
static int read_webhook_vector(char vals[6][128])
{
	const char *dir = getenv("ATRIUM_TESTDATA");
	char path[512], text[16384], *p, *e;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/README.md", dir != NULL ? dir : "../shared/testdata");
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	p = strstr(text, "Standard Webhooks vector");
	assert_non_null(p);
	for (int i = 0; i < 6; i++) {
		p = strchr(p, '`');
		assert_non_null(p);
		e = strchr(p + 1, '`');
		assert_non_null(e);
		assert_true((size_t)(e - p - 1) < 128);
		memcpy(vals[i], p + 1, (size_t)(e - p - 1));
		vals[i][e - p - 1] = '\0';
		p = e + 1;
	}
	return 0;
}

/* webhook-signature = "v1," + base64(HMAC-SHA256(base64-decoded whsec key, "id.timestamp.body")) */
static void test_standard_webhooks(void **state)
{
	char v[6][128], msg[512], sig[64], out[80];
	unsigned char key[64], mac[SHA256_LEN];
	ssize_t klen;

	(void)state;
	if (read_webhook_vector(v) != 0) {
		fprintf(stderr, "SKIPPED: Standard Webhooks vector: ../shared/testdata/README.md not found "
			"(run from the project root or set ATRIUM_TESTDATA)\n");
		skip();
	}
	assert_true(strncmp(v[0], "whsec_", 6) == 0);
	klen = crypto_b64_decode(v[0] + 6, strlen(v[0] + 6), key, sizeof(key), false);
	assert_true(klen > 0);
	snprintf(msg, sizeof(msg), "%s.%s.%s", v[1], v[2], v[3]);
	crypto_hmac_sha256(key, (size_t)klen, msg, strlen(msg), mac);
	assert_int_equal(crypto_b64_encode(mac, sizeof(mac), sig, sizeof(sig), false), 44);
	snprintf(out, sizeof(out), "v1,%s", sig);
	assert_string_equal(out, v[4]);
	assert_string_not_equal(out, v[5]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_b64_rfc4648),
		cmocka_unit_test(test_b64_alphabets),
		cmocka_unit_test(test_b64_refusals),
		cmocka_unit_test(test_b64_capacity),
		cmocka_unit_test(test_uuid7),
		cmocka_unit_test(test_uuid_valid),
		cmocka_unit_test(test_equal_random_wipe),
		cmocka_unit_test(test_standard_webhooks),
	};

	return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
