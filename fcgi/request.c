/* request: reading what nginx passed (params, query, body) for one FastCGI request */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

const char *req_env(const struct req *r, const char *name)
{
	return FCGX_GetParam(name, r->fcgi->envp);
}

void req_header(struct req *r, const char *name, const char *value)
{
	if (r->nheaders < REQ_MAX_HEADERS)
		r->headers[r->nheaders++] = (struct header){ name, value };
}

void req_reply(struct req *r, int status, json_object *body)
{
	r->status = status;
	r->out = body;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) ('+' as space when form is true) into the arena. NULL for a bad
 * escape or an encoded NUL. */
static char *decode(arena_t *a, const char *s, size_t n, bool form)
{
	char *out = arena_alloc(a, n + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[j++] = form && s[i] == '+' ? ' ' : s[i];
			continue;
		}
		if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
			return NULL;
		out[j] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
		if (out[j++] == '\0')
			return NULL;
		i += 2;
	}
	out[j] = '\0';
	return out;
}

char *req_decode_segment(arena_t *a, const char *s, size_t n)
{
	return decode(a, s, n, false);
}

err_t req_query(struct req *r, const char *name, const char **out)
{
	size_t nlen = strlen(name);
	const char *p = r->query;

	*out = NULL;
	while (p != NULL && *p != '\0') {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;

		if (klen == nlen && memcmp(p, name, nlen) == 0) {
			const char *v = eq ? eq + 1 : p + len;
			char *d = decode(r->a, v, (size_t)(p + len - v), true);

			if (d == NULL)
				return err_set(&r->prob, r->a, ERR_BAD_REQUEST,
					       "query parameter %s is not validly percent-encoded", name);
			if (*out != NULL)
				return err_set(&r->prob, r->a, ERR_BAD_REQUEST,
					       "query parameter %s is given more than once", name);
			*out = d;
		}
		p = amp ? amp + 1 : NULL;
	}
	return ERR_OK;
}

err_t req_query_int(struct req *r, const char *name, int64_t min, int64_t max, int64_t def,
		    int64_t *out)
{
	const char *v;
	char *end;
	long long n;
	err_t e = req_query(r, name, &v);

	*out = def;
	if (e != ERR_OK || v == NULL)
		return e;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno == ERANGE || n < min || n > max)
		return err_field(&r->prob, r->a, name, "must be an integer from %lld to %lld",
				 (long long)min, (long long)max);
	*out = n;
	return ERR_OK;
}

err_t req_read_body(struct req *r, size_t max)
{
	size_t want = r->content_length;
	char *p;
	int got;

	r->body = "";
	r->body_len = 0;
	if (want == 0)
		return ERR_OK;
	if (want > max)
		return err_set(&r->prob, r->a, ERR_TOO_LARGE,
			       "request body is %zu bytes; this endpoint accepts at most %zu", want, max);
	p = arena_alloc(r->a, want + 1);
	while (r->body_len < want) {
		got = FCGX_GetStr(p + r->body_len, (int)(want - r->body_len), r->fcgi->in);
		if (got <= 0)
			return err_set(&r->prob, r->a, ERR_BAD_REQUEST,
				       "request body ended after %zu of %zu bytes", r->body_len, want);
		r->body_len += (size_t)got;
	}
	p[r->body_len] = '\0';
	r->body = p;
	return ERR_OK;
}
