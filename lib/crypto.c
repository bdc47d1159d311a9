/* crypto: ids, hashes, MACs, randomness and encodings on OpenSSL 3 */
#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "log.h"

int crypto_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	int chunk;

	while (n > 0) {
		chunk = n > INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, chunk) != 1)
			return -1;
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

static const char hexdigits[] = "0123456789abcdef";

void crypto_hex(const void *p, size_t n, char *out)
{
	const unsigned char *u = p;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[u[i] >> 4];
		out[2 * i + 1] = hexdigits[u[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* Monotonic within a process (RFC 9562 §6.2, method 1): within one millisecond the 12-bit rand_a
 * is a counter started at a random value below 2^11; when it overflows the timestamp moves on by
 * one millisecond. rand_b stays random, so ids from different processes do not collide. */
static struct {
	uint64_t ms;
	uint16_t seq;
} uuid_last;

void crypto_uuid7(char out[UUID_STRLEN])
{
	unsigned char u[16], r[10];
	struct timespec ts;
	uint64_t ms;
	uint16_t seq;
	char hex[33];

	if (crypto_random(r, sizeof(r)) != 0)
		log_fatal("crypto_random_failed", "RAND_bytes");
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (ms > uuid_last.ms) {
		seq = (uint16_t)(((r[0] << 8) | r[1]) & 0x7ff);
	} else {
		ms = uuid_last.ms;
		seq = (uint16_t)(uuid_last.seq + 1);
		if (seq > 0xfff) {
			ms++;
			seq = (uint16_t)(((r[0] << 8) | r[1]) & 0x7ff);
		}
	}
	uuid_last.ms = ms;
	uuid_last.seq = seq;
	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(ms >> (40 - 8 * i));
	u[6] = (unsigned char)(0x70 | (seq >> 8));
	u[7] = (unsigned char)(seq & 0xff);
	memcpy(u + 8, r + 2, 8);
	u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));   /* variant 10 */
	crypto_hex(u, 16, hex);
	memcpy(out, hex, 8);
	out[8] = '-';
	memcpy(out + 9, hex + 8, 4);
	out[13] = '-';
	memcpy(out + 14, hex + 12, 4);
	out[18] = '-';
	memcpy(out + 19, hex + 16, 4);
	out[23] = '-';
	memcpy(out + 24, hex + 20, 12);
	out[36] = '\0';
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool crypto_uuid_valid(const char *s)
{
	if (s == NULL)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return s[36] == '\0';
}

void crypto_sha256(const void *p, size_t n, unsigned char out[SHA256_LEN])
{
	if (EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) != 1)
		log_fatal("crypto_sha256_failed", "EVP_Digest");
}

void crypto_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			unsigned char out[SHA256_LEN])
{
	size_t outlen = 0;

	/* EVP_Q_mac takes size_t lengths (HMAC() takes an int key length) */
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, klen > 0 ? key : "", klen,
		      mlen > 0 ? msg : "", mlen, out, SHA256_LEN, &outlen) == NULL || outlen != SHA256_LEN)
		log_fatal("crypto_hmac_failed", "EVP_Q_mac");
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void crypto_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* RFC 4648 §4 (padded) or §5 (unpadded). */
ssize_t crypto_b64_encode(const void *p, size_t n, char *out, size_t outcap, bool url)
{
	const unsigned char *u = p;
	const char *alpha = url ? b64_url : b64_std;
	size_t need, o = 0, i = 0;
	uint32_t v;

	if (n > (SIZE_MAX - 4) / 4 * 3)
		return -1;
	need = url ? (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1) : (n + 2) / 3 * 4;
	if (outcap == 0 || need > outcap - 1 || need > SSIZE_MAX)
		return -1;
	for (; i + 3 <= n; i += 3) {
		v = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8 | u[i + 2];
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		out[o++] = alpha[v & 63];
	}
	if (n - i > 0) {
		v = (uint32_t)u[i] << 16 | (n - i == 2 ? (uint32_t)u[i + 1] << 8 : 0);
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		if (n - i == 2)
			out[o++] = alpha[(v >> 6) & 63];
		else if (!url)
			out[o++] = '=';
		if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
	return (ssize_t)o;
}

static int b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* The length without padding, or -1 when padding is malformed: at most two '=', only at the end,
 * and only to complete a 4-character group. */
static ssize_t b64_strip_padding(const char *s, size_t n)
{
	size_t pad = 0;

	while (pad < n && s[n - 1 - pad] == '=')
		pad++;
	if (pad == 0)
		return (ssize_t)n;
	if (pad > 2 || n % 4 != 0)
		return -1;
	return (ssize_t)(n - pad);
}

/* Strict: one alphabet, no whitespace, no stray '=', and the unused bits of the last character
 * must be zero (RFC 4648 §3.5), so that every input has exactly one encoding. */
ssize_t crypto_b64_decode(const char *s, size_t n, void *out, size_t outcap, bool url)
{
	unsigned char *o = out;
	ssize_t len = b64_strip_padding(s, n);
	size_t m, need, w = 0;
	uint32_t acc = 0;
	int v, bits = 0;

	if (len < 0 || len % 4 == 1)
		return -1;
	m = (size_t)len;
	need = m / 4 * 3 + (m % 4 == 0 ? 0 : m % 4 - 1);
	if (need > outcap || need > SSIZE_MAX)
		return -1;
	for (size_t i = 0; i < m; i++) {
		v = b64_value(s[i], url);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[w++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (ssize_t)w;
}
