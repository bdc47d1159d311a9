/* sigv4: AWS Signature Version 4 canonicalisation and signing (docs.aws.amazon.com sigv4 tasks 1-4) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sigv4.h"

#define SIGV4_ALG "AWS4-HMAC-SHA256"
#define SIGV4_MAX_PARAMS 64
#define SIGV4_ITEM_MAX 8192

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

int sigv4_uri_encode(buf_t *b, const char *s, size_t n, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (unreserved(c) || (keep_slash && c == '/')) {
			if (buf_putc(b, (char)c) < 0)
				return -1;
		} else if (buf_append(b, esc, 3) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Appends the path with dot segments and empty segments removed (RFC 3986 5.2.4, as the
 * non-S3 services do), each segment encoded; a trailing slash is kept. */
static int canonical_path_normalized(buf_t *b, const char *path)
{
	const char *seg[128];
	size_t segn[128], n = 0, plen = strlen(path);
	const char *p = path, *end = path + plen;

	while (p < end) {
		const char *q = memchr(p, '/', (size_t)(end - p));
		size_t len = q ? (size_t)(q - p) : (size_t)(end - p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (n > 0)
				n--;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (n == NELEM(seg))
				return -1;
			seg[n] = p;
			segn[n++] = len;
		}
		p += len + 1;
	}
	for (size_t i = 0; i < n; i++)
		if (buf_putc(b, '/') < 0 || sigv4_uri_encode(b, seg[i], segn[i], false) < 0)
			return -1;
	if (n == 0 || (plen > 1 && path[plen - 1] == '/'))
		return buf_putc(b, '/');
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Appends s[0..n) percent-decoded and then encoded again strictly. */
static int reencode(buf_t *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		if (sigv4_uri_encode(b, &c, 1, false) < 0)
			return -1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the canonical query: each name=value re-encoded, sorted by name then value. */
static int canonical_query(buf_t *b, const char *query)
{
	buf_t items[SIGV4_MAX_PARAMS];
	char *ptrs[SIGV4_MAX_PARAMS];
	size_t n = 0;
	int rc = -1;
	const char *p = query;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t nlen = eq ? (size_t)(eq - p) : len;

		if (len > 0) {
			if (n == SIGV4_MAX_PARAMS)
				goto out_release;
			buf_init(&items[n], SIGV4_ITEM_MAX);
			n++;
			if (reencode(&items[n - 1], p, nlen) < 0 || buf_putc(&items[n - 1], '=') < 0 ||
			    (eq && reencode(&items[n - 1], eq + 1, len - nlen - 1) < 0))
				goto out_release;
			ptrs[n - 1] = items[n - 1].data;
		}
		p = amp ? amp + 1 : NULL;
	}
	/* "name=value" strings sort as (name, value) because '=' sorts below every encoded byte */
	qsort(ptrs, n, sizeof(ptrs[0]), cmp_str);
	for (size_t i = 0; i < n; i++)
		if ((i > 0 && buf_putc(b, '&') < 0) || buf_puts(b, ptrs[i]) < 0)
			goto out_release;
	rc = 0;
out_release:
	for (size_t i = 0; i < n; i++)
		buf_release(&items[i]);
	return rc;
}

struct hdr {
	char name[128];
	const char *value;
	size_t order;
};

static int cmp_hdr(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends a header value trimmed, with runs of spaces collapsed to one. */
static int trimmed_value(buf_t *b, const char *v)
{
	bool space = false, started = false;

	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = started;
			continue;
		}
		if (space && buf_putc(b, ' ') < 0)
			return -1;
		if (buf_putc(b, *v) < 0)
			return -1;
		space = false;
		started = true;
	}
	return 0;
}

static int canonical_headers(const struct sigv4_request *r, buf_t *creq, buf_t *signed_headers)
{
	struct hdr h[SIGV4_MAX_HEADERS];

	if (r->nheaders > SIGV4_MAX_HEADERS)
		return -1;
	for (size_t i = 0; i < r->nheaders; i++) {
		size_t len = strlen(r->headers[i].name);

		if (len == 0 || len >= sizeof(h[i].name))
			return -1;
		for (size_t k = 0; k <= len; k++)
			h[i].name[k] = (char)tolower((unsigned char)r->headers[i].name[k]);
		h[i].value = r->headers[i].value;
		h[i].order = i;
	}
	qsort(h, r->nheaders, sizeof(h[0]), cmp_hdr);
	for (size_t i = 0; i < r->nheaders; i++) {
		bool same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;

		if (same) {
			if (buf_putc(creq, ',') < 0)
				return -1;
		} else {
			if ((i > 0 && buf_putc(creq, '\n') < 0) || buf_puts(creq, h[i].name) < 0 ||
			    buf_putc(creq, ':') < 0)
				return -1;
			if ((i > 0 && buf_putc(signed_headers, ';') < 0) ||
			    buf_puts(signed_headers, h[i].name) < 0)
				return -1;
		}
		if (trimmed_value(creq, h[i].value) < 0)
			return -1;
	}
	return r->nheaders > 0 ? buf_putc(creq, '\n') : 0;
}

int sigv4_canonical_request(const struct sigv4_request *r, buf_t *creq, buf_t *signed_headers)
{
	if (r->path[0] != '/')
		return -1;
	if (buf_puts(creq, r->method) < 0 || buf_putc(creq, '\n') < 0)
		return -1;
	if (r->normalize_path ? canonical_path_normalized(creq, r->path) < 0
			      : sigv4_uri_encode(creq, r->path, strlen(r->path), true) < 0)
		return -1;
	if (buf_putc(creq, '\n') < 0 || (r->query && canonical_query(creq, r->query) < 0) ||
	    buf_putc(creq, '\n') < 0)
		return -1;
	if (canonical_headers(r, creq, signed_headers) < 0)
		return -1;
	if (buf_putc(creq, '\n') < 0 || buf_puts(creq, buf_cstr(signed_headers)) < 0 ||
	    buf_putc(creq, '\n') < 0 || buf_puts(creq, r->payload_hash) < 0)
		return -1;
	return 0;
}

static int scope(buf_t *b, const char *amz_date, const struct sigv4_credentials *c)
{
	return buf_printf(b, "%.8s/%s/%s/aws4_request", amz_date, c->region, c->service);
}

int sigv4_string_to_sign(const char *amz_date, const struct sigv4_credentials *c,
			 const char *creq, buf_t *sts)
{
	unsigned char d[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];

	if (strlen(amz_date) != SIGV4_DATE_LEN - 1)
		return -1;
	crypto_sha256(creq, strlen(creq), d);
	crypto_hex(d, sizeof(d), hex);
	if (buf_printf(sts, SIGV4_ALG "\n%s\n", amz_date) < 0 || scope(sts, amz_date, c) < 0 ||
	    buf_printf(sts, "\n%s", hex) < 0)
		return -1;
	return 0;
}

void sigv4_signature(const struct sigv4_credentials *c, const char *amz_date, const char *sts,
		     char out[2 * 32 + 1])
{
	unsigned char k[SHA256_LEN];
	char key[256];
	int n = snprintf(key, sizeof(key), "AWS4%s", c->secret_key);

	if (n < 0 || (size_t)n >= sizeof(key))
		n = (int)sizeof(key) - 1;
	crypto_hmac_sha256(key, (size_t)n, amz_date, 8, k);
	crypto_wipe(key, sizeof(key));
	crypto_hmac_sha256(k, sizeof(k), c->region, strlen(c->region), k);
	crypto_hmac_sha256(k, sizeof(k), c->service, strlen(c->service), k);
	crypto_hmac_sha256(k, sizeof(k), "aws4_request", 12, k);
	crypto_hmac_sha256(k, sizeof(k), sts, strlen(sts), k);
	crypto_hex(k, sizeof(k), out);
}

/* creq -> sts -> signature, for both the header and the presigned form. */
static int sign(const struct sigv4_request *r, const struct sigv4_credentials *c,
		const char *amz_date, buf_t *signed_headers, char sig[2 * 32 + 1])
{
	buf_t creq, sts;
	int rc = -1;

	buf_init(&creq, 64 * 1024);
	buf_init(&sts, 4096);
	if (sigv4_canonical_request(r, &creq, signed_headers) < 0 ||
	    sigv4_string_to_sign(amz_date, c, buf_cstr(&creq), &sts) < 0)
		goto out_release;
	sigv4_signature(c, amz_date, buf_cstr(&sts), sig);
	rc = 0;
out_release:
	buf_release(&creq);
	buf_release(&sts);
	return rc;
}

int sigv4_authorization(const struct sigv4_request *r, const struct sigv4_credentials *c,
			const char *amz_date, buf_t *out)
{
	buf_t sh;
	char sig[2 * 32 + 1];
	int rc = -1;

	buf_init(&sh, 4096);
	if (sign(r, c, amz_date, &sh, sig) < 0)
		goto out_release;
	if (buf_printf(out, SIGV4_ALG " Credential=%s/", c->access_key) < 0 ||
	    scope(out, amz_date, c) < 0 ||
	    buf_printf(out, ", SignedHeaders=%s, Signature=%s", buf_cstr(&sh), sig) < 0)
		goto out_release;
	rc = 0;
out_release:
	buf_release(&sh);
	return rc;
}

int sigv4_presign(const char *method, const char *path, const char *extra_query, const char *host,
		  const struct sigv4_credentials *c, const char *amz_date, long expires,
		  buf_t *query_out)
{
	struct sigv4_header h = { "host", host };
	buf_t cred, sh;
	char sig[2 * 32 + 1];
	int rc = -1;

	if (expires < 1 || expires > SIGV4_MAX_EXPIRES)
		return -1;
	buf_init(&cred, 1024);
	buf_init(&sh, 64);
	if (buf_printf(&cred, "%s/", c->access_key) < 0 || scope(&cred, amz_date, c) < 0)
		goto out_release;
	if (extra_query && *extra_query &&
	    (buf_puts(query_out, extra_query) < 0 || buf_putc(query_out, '&') < 0))
		goto out_release;
	if (buf_puts(query_out, "X-Amz-Algorithm=" SIGV4_ALG "&X-Amz-Credential=") < 0 ||
	    sigv4_uri_encode(query_out, cred.data, cred.len, false) < 0 ||
	    buf_printf(query_out, "&X-Amz-Date=%s&X-Amz-Expires=%ld&X-Amz-SignedHeaders=host",
		       amz_date, expires) < 0)
		goto out_release;
	struct sigv4_request r = { method, path, buf_cstr(query_out), &h, 1, SIGV4_UNSIGNED, false };

	if (sign(&r, c, amz_date, &sh, sig) < 0 || buf_printf(query_out, "&X-Amz-Signature=%s", sig) < 0)
		goto out_release;
	rc = 0;
out_release:
	buf_release(&cred);
	buf_release(&sh);
	return rc;
}

void sigv4_date(time_t t, char out[SIGV4_DATE_LEN])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm);
}
