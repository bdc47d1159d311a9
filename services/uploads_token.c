/* uploads_token: upload session tokens and download URL signatures, HMAC-SHA256 with the URL
 * signing key (not the secrets KEKs), expiring, compared in constant time */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "uploads.h"

#define TOKEN_VERSION "u1"
#define TOKEN_CLAIMS_MAX 200

static void mac(const unsigned char key[UPLOAD_KEY_LEN], const char *msg, size_t n,
		unsigned char out[SHA256_LEN])
{
	crypto_hmac_sha256(key, UPLOAD_KEY_LEN, msg, n, out);
}

int upload_token_sign(const unsigned char key[UPLOAD_KEY_LEN], const struct upload_claims *c,
		      buf_t *b)
{
	char claims[TOKEN_CLAIMS_MAX], enc[TOKEN_CLAIMS_MAX * 2], sig[64];
	unsigned char d[SHA256_LEN];
	int n = snprintf(claims, sizeof(claims), TOKEN_VERSION "|%s|%s|%d|%s|%lld", c->tenant_id,
			 c->flow_id, c->version, c->session_id, (long long)c->expires);
	ssize_t el, sl;

	if (n < 0 || (size_t)n >= sizeof(claims))
		return -1;
	el = crypto_b64_encode(claims, (size_t)n, enc, sizeof(enc), true);
	if (el < 0)
		return -1;
	mac(key, enc, (size_t)el, d);
	sl = crypto_b64_encode(d, sizeof(d), sig, sizeof(sig), true);
	if (sl < 0 || buf_append(b, enc, (size_t)el) < 0 || buf_putc(b, '.') < 0 ||
	    buf_append(b, sig, (size_t)sl) < 0)
		return -1;
	return 0;
}

/* Copies a canonical UUID field of the claims; 0 or -1. */
static int uuid_field(const char *s, size_t n, char out[UUID_STRLEN])
{
	if (n != UUID_STRLEN - 1)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return crypto_uuid_valid(out) ? 0 : -1;
}

/* "u1|tenant|flow|version|session|expires" into c; 0 or -1. */
static int parse_claims(const char *s, struct upload_claims *c)
{
	const char *f[6];
	size_t fl[6], k = 0;
	char num[24];
	char *end;

	for (const char *p = s; k < 6; k++) {
		const char *bar = strchr(p, '|');

		f[k] = p;
		fl[k] = bar ? (size_t)(bar - p) : strlen(p);
		if (!bar) {
			k++;
			break;
		}
		p = bar + 1;
	}
	if (k != 6 || fl[0] != 2 || memcmp(f[0], TOKEN_VERSION, 2) != 0 || fl[3] == 0 || fl[3] > 9 ||
	    fl[5] == 0 || fl[5] > 19 || strchr(f[5], '|'))
		return -1;
	if (uuid_field(f[1], fl[1], c->tenant_id) < 0 || uuid_field(f[2], fl[2], c->flow_id) < 0 ||
	    uuid_field(f[4], fl[4], c->session_id) < 0)
		return -1;
	snprintf(num, sizeof(num), "%.*s", (int)fl[3], f[3]);
	long v = strtol(num, &end, 10);

	if (*end || v < 1 || num[0] == '0')
		return -1;
	c->version = (int)v;
	snprintf(num, sizeof(num), "%.*s", (int)fl[5], f[5]);
	long long e = strtoll(num, &end, 10);

	if (*end || e < 0 || num[0] == '-')
		return -1;
	c->expires = (time_t)e;
	return 0;
}

int upload_token_verify(const unsigned char key[UPLOAD_KEY_LEN], const char *token, time_t now,
			struct upload_claims *c)
{
	const char *dot = strchr(token, '.');
	unsigned char d[SHA256_LEN], got[SHA256_LEN + 3];
	char claims[TOKEN_CLAIMS_MAX + 1];
	ssize_t n;

	if (!dot || strlen(token) > 2 * TOKEN_CLAIMS_MAX + 64)
		return -1;
	mac(key, token, (size_t)(dot - token), d);
	n = crypto_b64_decode(dot + 1, strlen(dot + 1), got, sizeof(got), true);
	if (n != SHA256_LEN || !crypto_equal(d, got, SHA256_LEN))
		return -1;
	n = crypto_b64_decode(token, (size_t)(dot - token), claims, TOKEN_CLAIMS_MAX, true);
	if (n <= 0)
		return -1;
	claims[n] = '\0';
	if (memchr(claims, '\0', (size_t)n) || parse_claims(claims, c) < 0)
		return -1;
	return now > c->expires ? -2 : 0;
}

void upload_url_sign(const unsigned char key[UPLOAD_KEY_LEN], const char *method, const char *path,
		     const char *variant, time_t expires, char out[65])
{
	buf_t b;
	unsigned char d[SHA256_LEN];

	buf_init(&b, 8192);
	if (buf_printf(&b, "%s\n%s\n%s\n%lld", method, path, variant, (long long)expires) < 0)
		memset(d, 0, sizeof(d));   /* an over-long path never verifies: see verify */
	else
		mac(key, b.data, b.len, d);
	crypto_hex(d, sizeof(d), out);
	buf_release(&b);
}

int upload_url_verify(const unsigned char key[UPLOAD_KEY_LEN], const char *method, const char *path,
		      const char *variant, time_t expires, const char *sig, time_t now)
{
	char want[65];

	if (strlen(sig) != 64 || strlen(path) > 4096 || now > expires)
		return -1;
	upload_url_sign(key, method, path, variant, expires, want);
	return crypto_equal(want, sig, 64) ? 0 : -1;
}
