/* uploads_tus: the tus 1.0 request headers (Upload-Length/Offset, Upload-Metadata, Upload-Checksum),
 * parsed strictly: they come from the network */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "uploads.h"

#define TUS_META_PAIRS 32

int tus_parse_size(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 14 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > TUS_MAX_LENGTH)
		return -1;
	*out = v;
	return 0;
}

static bool key_char(char c)
{
	return c > ' ' && c < 0x7f && c != ',';
}

/* Decodes one base64 value of n chars into the arena (NUL-terminated); its length, or -1. */
static ssize_t meta_value(const char *s, size_t n, arena_t *a, const char **out)
{
	char *v = arena_alloc(a, n / 4 * 3 + 4);
	ssize_t got;

	if (n % 4 != 0)
		return -1;
	got = n == 0 ? 0 : crypto_b64_decode(s, n, v, n / 4 * 3 + 3, false);
	if (got < 0)
		return -1;
	v[got] = '\0';
	*out = v;
	return got;
}

/* One "key value" or "key" pair of length n at s; stores the keys tus clients use. */
static int meta_pair(const char *s, size_t n, arena_t *a, struct tus_meta *m, char seen[][64],
		     size_t nseen)
{
	size_t kl = 0;
	const char *val;
	ssize_t vl;

	while (kl < n && key_char(s[kl]))
		kl++;
	if (kl == 0 || kl >= 64 || (kl < n && s[kl] != ' '))
		return -1;
	for (size_t i = 0; i < nseen; i++)
		if (strlen(seen[i]) == kl && memcmp(seen[i], s, kl) == 0)
			return -1;
	memcpy(seen[nseen], s, kl);
	seen[nseen][kl] = '\0';
	size_t off = kl < n ? kl + 1 : n;

	vl = meta_value(s + off, n - off, a, &val);
	if (vl < 0)
		return -1;
	if (kl == 8 && memcmp(s, "filename", 8) == 0)
		m->filename = val, m->filename_len = (size_t)vl;
	else if (kl == 8 && memcmp(s, "filetype", 8) == 0)
		m->filetype = val, m->filetype_len = (size_t)vl;
	else if (kl == 5 && memcmp(s, "field", 5) == 0)
		m->field = val, m->field_len = (size_t)vl;
	return 0;
}

int tus_parse_metadata(const char *s, arena_t *a, struct tus_meta *m)
{
	char seen[TUS_META_PAIRS][64];
	size_t nseen = 0, n = strlen(s);

	memset(m, 0, sizeof(*m));
	if (n > TUS_META_MAX)
		return -1;
	if (n == 0)
		return 0;
	for (const char *p = s;; ) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (nseen == TUS_META_PAIRS || meta_pair(p, len, a, m, seen, nseen) < 0)
			return -1;
		nseen++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

int tus_parse_checksum(const char *s, struct tus_checksum *c)
{
	const char *sp = s ? strchr(s, ' ') : NULL;
	size_t want;
	ssize_t got;
	unsigned char d[48];

	if (!sp)
		return -1;
	if ((size_t)(sp - s) == 4 && memcmp(s, "sha1", 4) == 0)
		c->alg = TUS_SHA1, want = 20;
	else if ((size_t)(sp - s) == 6 && memcmp(s, "sha256", 6) == 0)
		c->alg = TUS_SHA256, want = 32;
	else
		return -2;
	got = crypto_b64_decode(sp + 1, strlen(sp + 1), d, sizeof(d), false);
	if (got != (ssize_t)want)
		return -1;
	memcpy(c->digest, d, want);
	c->len = want;
	return 0;
}

bool tus_checksum_matches(const char *path, const struct tus_checksum *c)
{
	static unsigned char b[1 << 16];
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;
	ssize_t n;

	if (fd < 0 || !ctx ||
	    !EVP_DigestInit_ex(ctx, c->alg == TUS_SHA1 ? EVP_sha1() : EVP_sha256(), NULL))
		goto out_free;
	while ((n = read(fd, b, sizeof(b))) > 0)
		if (!EVP_DigestUpdate(ctx, b, (size_t)n))
			goto out_free;
	if (n == 0 && EVP_DigestFinal_ex(ctx, d, &dl) && dl == c->len)
		ok = crypto_equal(d, c->digest, c->len);
out_free:
	EVP_MD_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return ok;
}
