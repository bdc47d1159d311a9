/* test_secrets: AES-256-GCM sealing bound to its owner, master key loading, data key wrap and rotation.
 * Includes services/secrets.c to reach its file-local functions; the database paths are covered by
 * tests/api/test_secrets*.py against the real stack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../services/secrets.c"

static const char *T1 = "0192f0c4-0000-7000-8000-000000000001";
static const char *T2 = "0192f0c4-0000-7000-8000-000000000002";
static const char *R1 = "0192f0c4-0000-7000-8000-0000000000a1";

static char keydir[64];

static void write_key(const char *name, const char *content)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void remove_key(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	unlink(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(keydir, sizeof(keydir), "/tmp/atrium-test-keys-XXXXXX");
	return mkdtemp(keydir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	remove_key("1.key");
	remove_key("2.key");
	remove_key("README");
	return rmdir(keydir);
}

#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void load_ok(void)
{
	char err[200] = "";

	assert_int_equal(secrets_load_keys(keydir, err, sizeof(err)), 0);
}

/* A sealed value opens only with the same owner; any other tenant, table, row or field fails. */
static void test_aad_binds_owner(void **state)
{
	unsigned char key[KEY_LEN] = { 7 }, out[64], back[64];
	arena_t *a = arena_new(4096);
	struct secret_owner o = { T1, "integrations", R1, "api_token" };
	struct secret_owner others[] = {
		{ T2, "integrations", R1, "api_token" },
		{ T1, "webhook_endpoints", R1, "api_token" },
		{ T1, "integrations", T2, "api_token" },
		{ T1, "integrations", R1, "headers.X-Key" },
	};

	(void)state;
	assert_int_equal(gcm_seal(key, secret_aad(a, &o, 1), "hunter2-token", 13, out), 0);
	assert_int_equal(gcm_open(key, secret_aad(a, &o, 1), out, 13 + 28, back), 0);
	assert_memory_equal(back, "hunter2-token", 13);
	for (size_t i = 0; i < NELEM(others); i++) {
		memset(back, 'x', sizeof(back));
		assert_int_equal(gcm_open(key, secret_aad(a, &others[i], 1), out, 13 + 28, back), -1);
		assert_memory_not_equal(back, "hunter2-token", 13);
	}
	/* another data key version is another AAD too */
	assert_int_equal(gcm_open(key, secret_aad(a, &o, 2), out, 13 + 28, back), -1);
	arena_free(a);
}

/* Length prefixes keep a delimiter inside a value from imitating another split. */
static void test_aad_canonical(void **state)
{
	arena_t *a = arena_new(4096);
	struct secret_owner x = { T1, "t", R1, "a|1:b" }, y = { T1, "t", R1, "a" };

	(void)state;
	assert_string_not_equal(secret_aad(a, &x, 1), secret_aad(a, &y, 1));
	assert_string_equal(secret_aad(a, &y, 1),
			    "secrets/v1|36:0192f0c4-0000-7000-8000-000000000001|1:t|"
			    "36:0192f0c4-0000-7000-8000-0000000000a1|1:a|kv=1");
	arena_free(a);
}

/* Any flipped bit (nonce, ciphertext, tag) fails; two seals of one value differ (random nonce). */
static void test_tamper_and_nonce(void **state)
{
	unsigned char key[KEY_LEN] = { 1 }, a1[64], a2[64], back[64];

	(void)state;
	assert_int_equal(gcm_seal(key, "aad", "secret", 6, a1), 0);
	assert_int_equal(gcm_seal(key, "aad", "secret", 6, a2), 0);
	assert_memory_not_equal(a1, a2, 6 + 28);
	for (size_t i = 0; i < 6 + 28; i++) {
		a1[i] ^= 0x01;
		assert_int_equal(gcm_open(key, "aad", a1, 6 + 28, back), -1);
		a1[i] ^= 0x01;
	}
	assert_int_equal(gcm_open(key, "aad", a1, 6 + 28, back), 0);
	assert_int_equal(gcm_open(key, "aad", a1, 27, back), -1);   /* shorter than nonce + tag */
}

/* Key files: "<n>.key" with 64 hex characters (a final newline allowed); others ignored. */
static void test_load_keys(void **state)
{
	char err[200] = "";

	(void)state;
	assert_int_equal(secrets_load_keys(keydir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no master key"));
	write_key("README", "not a key");
	write_key("1.key", K1 "\n");
	load_ok();
	assert_int_equal(secrets_newest_key(), 1);
	write_key("2.key", "abc");
	err[0] = '\0';
	assert_int_equal(secrets_load_keys(keydir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "64 hex"));
	write_key("2.key", K2);
	load_ok();
	assert_int_equal(secrets_newest_key(), 2);
	assert_memory_equal(master_key(1), "\x00\x01\x02\x03", 4);
	assert_int_equal(secrets_load_keys("/nonexistent/keys", err, sizeof(err)), -1);
	remove_key("2.key");
	remove_key("README");
}

/* Rotation: a data key wrapped under v1 unwraps after v2 is added, is rewrapped under v2, and
 * then unwraps with v1 removed; a data key bound to one tenant does not unwrap for another. */
static void test_wrap_rotate(void **state)
{
	unsigned char dek[KEY_LEN], back[KEY_LEN], w[WRAPPED_LEN];
	arena_t *a = arena_new(4096);
	char *wrapped, hex[2 * WRAPPED_LEN + 1];
	int kv;

	(void)state;
	write_key("1.key", K1);
	load_ok();
	memset(dek, 0x5a, sizeof(dek));
	assert_int_equal(wrap_dek(a, T1, 1, dek, &kv, &wrapped), ERR_OK);
	assert_int_equal(kv, 1);
	assert_int_equal(strlen(wrapped), 2 + 2 * WRAPPED_LEN);
	snprintf(hex, sizeof(hex), "%s", wrapped + 2);
	assert_int_equal(unwrap_dek(a, T2, 1, 1, hex, back), ERR_INTERNAL);

	write_key("2.key", K2);
	load_ok();
	assert_int_equal(unwrap_dek(a, T1, 1, 1, hex, back), ERR_OK);
	assert_memory_equal(back, dek, KEY_LEN);
	assert_int_equal(wrap_dek(a, T1, 1, back, &kv, &wrapped), ERR_OK);
	assert_int_equal(kv, 2);
	snprintf(hex, sizeof(hex), "%s", wrapped + 2);

	remove_key("1.key");
	load_ok();
	assert_int_equal(unwrap_dek(a, T1, 1, 1, hex, back), ERR_INTERNAL);   /* v1 is gone */
	memset(back, 0, sizeof(back));
	assert_int_equal(unwrap_dek(a, T1, 1, 2, hex, back), ERR_OK);
	assert_memory_equal(back, dek, KEY_LEN);
	assert_true(unhex(hex, strlen(hex), w, sizeof(w)));
	remove_key("2.key");
	arena_free(a);
}

/* Signing keys derived from the newest master key: HMAC-SHA256(master, purpose), deterministic,
 * different per purpose, never the master itself, and changed by a rotation. */
static void test_derive_key(void **state)
{
	unsigned char k1[32], again[32], other[32], want[32], k2[32];

	(void)state;
	write_key("1.key", K1);
	load_ok();
	assert_int_equal(secrets_derive_key("atrium-upload-session-token-v1", k1), 0);
	crypto_hmac_sha256(master_key(1), KEY_LEN, "atrium-upload-session-token-v1",
			   strlen("atrium-upload-session-token-v1"), want);
	assert_memory_equal(k1, want, 32);
	assert_memory_not_equal(k1, master_key(1), 32);
	assert_int_equal(secrets_derive_key("atrium-upload-session-token-v1", again), 0);
	assert_memory_equal(k1, again, 32);
	assert_int_equal(secrets_derive_key("atrium-download-url-v1", other), 0);
	assert_memory_not_equal(k1, other, 32);
	write_key("2.key", K2);
	load_ok();
	assert_int_equal(secrets_derive_key("atrium-upload-session-token-v1", k2), 0);
	assert_memory_not_equal(k1, k2, 32);
	remove_key("1.key");
	remove_key("2.key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aad_binds_owner),
		cmocka_unit_test(test_aad_canonical),
		cmocka_unit_test(test_tamper_and_nonce),
		cmocka_unit_test(test_load_keys),
		cmocka_unit_test(test_wrap_rotate),
		cmocka_unit_test(test_derive_key),
	};

	log_init("test_secrets", LL_ERROR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
