/* http_client: outbound HTTP behind an SSRF guard on the connected address (include/http_client.h) */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "log.h"

/* Refused IPv4 ranges (RFC 6890 special purpose, plus multicast and reserved). */
static const struct { uint32_t net, mask; const char *what; } v4_refused[] = {
	{ 0x00000000, 0xff000000, "unspecified" },  { 0x0a000000, 0xff000000, "private" },
	{ 0x64400000, 0xffc00000, "CGNAT" },        { 0x7f000000, 0xff000000, "loopback" },
	{ 0xa9fe0000, 0xffff0000, "link-local or metadata" },
	{ 0xac100000, 0xfff00000, "private" },      { 0xc0000000, 0xffffff00, "IETF protocol" },
	{ 0xc0000200, 0xffffff00, "documentation" }, { 0xc0a80000, 0xffff0000, "private" },
	{ 0xc6120000, 0xfffe0000, "benchmarking" }, { 0xc6336400, 0xffffff00, "documentation" },
	{ 0xcb007100, 0xffffff00, "documentation" }, { 0xe0000000, 0xf0000000, "multicast" },
	{ 0xf0000000, 0xf0000000, "reserved" },
};

struct http_xfer {
	const struct http_policy *p;
	arena_t *a;
	CURL *h;
	struct curl_slist *hdrs;
	const char *refused;       /* the guard's reason, NULL when it allowed the connection */
	char *data;
	size_t len;
	bool over;
	struct timespec start;
	void *user;
};

static bool prefix_match(const unsigned char *a, const unsigned char *net, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static bool allowlisted(const struct http_policy *p, int family, const unsigned char *addr)
{
	for (size_t i = 0; i < p->nallow; i++)
		if (p->allow[i].family == family && prefix_match(addr, p->allow[i].addr, p->allow[i].prefix))
			return true;
	return false;
}

static const char *v4_reason(const struct http_policy *p, arena_t *a, const unsigned char b[4])
{
	uint32_t ip = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	char txt[INET_ADDRSTRLEN];

	if (allowlisted(p, AF_INET, b))
		return NULL;
	for (size_t i = 0; i < NELEM(v4_refused); i++) {
		if ((ip & v4_refused[i].mask) != v4_refused[i].net)
			continue;
		inet_ntop(AF_INET, b, txt, sizeof(txt));
		return arena_printf(a, "%s address %s is not allowed", v4_refused[i].what, txt);
	}
	return NULL;
}

/* The IPv6 category of b, or NULL for a global unicast address. */
static const char *v6_category(const unsigned char *b)
{
	static const unsigned char zero[16];

	if (memcmp(b, zero, 15) == 0)
		return b[15] == 1 ? "loopback" : b[15] == 0 ? "unspecified" : "reserved";
	if (b[0] == 0xff)
		return "multicast";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "site-local";
	if ((b[0] & 0xfe) == 0xfc)
		return "unique local (ULA) or metadata";
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return "documentation";
	if (b[0] == 0 || b[0] == 0x01)
		return "reserved";
	return NULL;
}

static const char *v6_reason(const struct http_policy *p, arena_t *a, const unsigned char *b)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
	const char *what;
	char txt[INET6_ADDRSTRLEN];

	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
		return v4_reason(p, a, b + 12);
	if (b[0] == 0x20 && b[1] == 0x02)       /* 6to4: judge the embedded IPv4 address */
		return v4_reason(p, a, b + 2);
	if (allowlisted(p, AF_INET6, b) || (what = v6_category(b)) == NULL)
		return NULL;
	inet_ntop(AF_INET6, b, txt, sizeof(txt));
	return arena_printf(a, "%s address %s is not allowed", what, txt);
}

const char *http_addr_refused(const struct http_policy *p, arena_t *a, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_reason(p, a, (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return v6_reason(p, a, ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
	return arena_strdup(a, "address family is not allowed");
}

int http_cidr_parse(const char *s, struct http_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	long prefix;
	char *end;

	if (n == 0 || n >= INET6_ADDRSTRLEN)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	out->prefix = out->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		return 0;
	prefix = strtol(slash + 1, &end, 10);
	if (end == slash + 1 || *end != '\0' || prefix < 0 || prefix > out->prefix)
		return -1;
	out->prefix = (int)prefix;
	return 0;
}

int http_policy_from_config(const struct config *cfg, struct http_policy *p, char *err, size_t errlen)
{
	char list[1024], *save = NULL;
	size_t n = strlen(cfg->http_allow_cidrs);

	memset(p, 0, sizeof(*p));
	p->allow_http = cfg->http_allow_http != 0;
	p->connect_timeout_ms = cfg->http_connect_timeout_ms;
	p->timeout_ms = cfg->http_timeout_ms;
	p->response_max = HTTP_EXCERPT_MAX;
	if (n >= sizeof(list)) {
		snprintf(err, errlen, "ATRIUM_HTTP_ALLOW_CIDRS: too long");
		return -1;
	}
	memcpy(list, cfg->http_allow_cidrs, n + 1);
	for (char *t = strtok_r(list, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		if (p->nallow == HTTP_ALLOW_MAX || http_cidr_parse(t, &p->allow[p->nallow]) != 0) {
			snprintf(err, errlen, "ATRIUM_HTTP_ALLOW_CIDRS: bad or too many CIDRs at \"%s\"", t);
			return -1;
		}
		p->nallow++;
	}
	return 0;
}

/* Scheme, host and credentials of url; *host gets the host without IPv6 brackets. */
static const char *url_parts(const struct http_policy *p, arena_t *a, const char *url, char **host)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL, *user = NULL;
	const char *why = NULL;

	if (u == NULL)
		log_fatal("http_client.oom", "curl_url failed");
	if (strlen(url) > 2000 || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		why = "the URL is not a valid absolute URL";
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "https") != 0 && !(p->allow_http && strcmp(scheme, "http") == 0)))
		why = p->allow_http ? "the URL must use https or http" : "the URL must use https";
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		why = "the URL must not carry credentials";
	else if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h[0] == '\0')
		why = "the URL has no host";
	if (why == NULL) {
		size_t n = strlen(h);

		*host = h[0] == '[' && n > 2 ? arena_strndup(a, h + 1, n - 2) : arena_strdup(a, h);
	}
	curl_free(scheme);
	curl_free(h);
	curl_free(user);
	curl_url_cleanup(u);
	return why;
}

err_t http_url_check(const struct http_policy *p, arena_t *a, const char *url, const char **why)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	char *host = NULL;
	int rc;

	if ((*why = url_parts(p, a, url, &host)) != NULL)
		return ERR_VALIDATION;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		*why = arena_printf(a, "the host %s does not resolve", host);
		return ERR_VALIDATION;
	}
	for (struct addrinfo *ai = res; ai != NULL && *why == NULL; ai = ai->ai_next) {
		const char *r = http_addr_refused(p, a, ai->ai_addr);

		if (r != NULL)
			*why = arena_printf(a, "the host %s resolves to a refused address: %s", host, r);
	}
	freeaddrinfo(res);
	return *why != NULL ? ERR_VALIDATION : ERR_OK;
}

/* CURLOPT_OPENSOCKETFUNCTION: sees the address libcurl is about to connect to, after DNS. */
static curl_socket_t open_guarded(void *data, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct http_xfer *x = data;
	const char *why;

	(void)purpose;
	why = http_addr_refused(x->p, x->a, (const struct sockaddr *)&addr->addr);
	if (why != NULL) {
		x->refused = why;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static size_t on_data(char *ptr, size_t size, size_t n, void *data)
{
	struct http_xfer *x = data;
	size_t len = size * n;

	if (len > x->p->response_max - x->len) {
		memcpy(x->data + x->len, ptr, x->p->response_max - x->len);
		x->len = x->p->response_max;
		x->over = true;
		return 0;
	}
	memcpy(x->data + x->len, ptr, len);
	x->len += len;
	return len;
}

static void xfer_cleanup(void *data)
{
	struct http_xfer *x = data;

	curl_easy_cleanup(x->h);
	curl_slist_free_all(x->hdrs);
}

static void xfer_setopts(struct http_xfer *x, const struct http_request *rq)
{
	CURL *h = x->h;

	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body != NULL ? rq->body : "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body != NULL ? rq->body_len : 0));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, x->p->allow_http ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, x->p->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x->p->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "Atrium-Webhooks/1");
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
}

struct http_xfer *http_xfer_new(const struct http_policy *p, arena_t *a, const struct http_request *rq)
{
	struct http_xfer *x = arena_alloc(a, sizeof(*x));

	x->p = p;
	x->a = a;
	x->data = arena_alloc(a, p->response_max + 1);
	if ((x->h = curl_easy_init()) == NULL)
		log_fatal("http_client.oom", "curl_easy_init failed");
	for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
		x->hdrs = curl_slist_append(x->hdrs, rq->headers[i]);
	x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json");
	x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	arena_cleanup_add(a, xfer_cleanup, x);
	xfer_setopts(x, rq);
	clock_gettime(CLOCK_MONOTONIC, &x->start);
	return x;
}

CURL *http_xfer_easy(struct http_xfer *x)
{
	return x->h;
}

void *http_xfer_data(struct http_xfer *x)
{
	return x->user;
}

void http_xfer_set_data(struct http_xfer *x, void *data)
{
	x->user = data;
}

static long long retry_after_ms(CURL *h)
{
	struct curl_header *hd;
	char *end;
	long v;

	if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return 0;
	v = strtol(hd->value, &end, 10);
	return end != hd->value && *end == '\0' && v > 0 && v < 86400 ? (long long)v * 1000 : 0;
}

void http_xfer_finish(struct http_xfer *x, CURLcode rc, struct http_response *out)
{
	struct timespec now;
	long status = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	memset(out, 0, sizeof(*out));
	out->duration_ms = (now.tv_sec - x->start.tv_sec) * 1000LL + (now.tv_nsec - x->start.tv_nsec) / 1000000;
	x->data[x->len] = '\0';
	out->body = x->data;
	out->len = x->len;
	if (x->refused != NULL) {
		out->refused = true;
		out->error = arena_printf(x->a, "refused by the SSRF guard: %s", x->refused);
		return;
	}
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK && !(x->over && status > 0)) {
		out->error = arena_printf(x->a, "request failed: %s", curl_easy_strerror(rc));
		return;
	}
	out->status = (int)status;
	out->retry_after_ms = retry_after_ms(x->h);
}

err_t http_perform(const struct http_policy *p, arena_t *a, const struct http_request *rq,
		   struct http_response *out)
{
	struct http_xfer *x = http_xfer_new(p, a, rq);

	http_xfer_finish(x, curl_easy_perform(x->h), out);
	if (out->refused)
		return ERR_VALIDATION;
	return out->error != NULL ? ERR_RETRY : ERR_OK;
}
