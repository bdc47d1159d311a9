/* integration_send: an action's outbound request, on libcurl with an SSRF guard on the connected address.
 * Interim: lib/http_client (the webhooks work) will replace the transport and guard below; the
 * contract in include/integrations.h stays. Rules here: http and https only, no redirects, no proxy,
 * connect 5 s / total 20 s, response capped at 64 KiB, and the address actually connected to must
 * not be private, loopback, link-local, CGNAT, multicast, ULA or metadata — except loopback in the
 * dev and test profiles, where the fake providers live on 127.0.0.1. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "integrations.h"
#include "log.h"

#define RESPONSE_MAX (64 * 1024)

struct sink {
	arena_t *a;
	char *data;
	size_t len;
	bool over;
};

struct guard {
	bool allow_loopback;
	bool refused;
};

static bool v4_refused(uint32_t ip, bool allow_loopback)
{
	static const struct { uint32_t net, mask; } ranges[] = {
		{ 0x00000000, 0xff000000 }, { 0x0a000000, 0xff000000 }, { 0x64400000, 0xffc00000 },
		{ 0xa9fe0000, 0xffff0000 }, { 0xac100000, 0xfff00000 }, { 0xc0000000, 0xffffff00 },
		{ 0xc0a80000, 0xffff0000 }, { 0xc6120000, 0xfffe0000 }, { 0xe0000000, 0xe0000000 },
	};

	if ((ip & 0xff000000) == 0x7f000000)
		return !allow_loopback;
	for (size_t i = 0; i < NELEM(ranges); i++)
		if ((ip & ranges[i].mask) == ranges[i].net)
			return true;
	return false;
}

static bool v6_refused(const struct in6_addr *a, bool allow_loopback)
{
	const unsigned char *b = a->s6_addr;

	if (IN6_IS_ADDR_V4MAPPED(a))
		return v4_refused((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15],
				  allow_loopback);
	if (IN6_IS_ADDR_LOOPBACK(a))
		return !allow_loopback;
	return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
	       (b[0] & 0xfe) == 0xfc || IN6_IS_ADDR_SITELOCAL(a);
}

/* CURLOPT_OPENSOCKETFUNCTION: sees the address libcurl is about to connect to. */
static curl_socket_t open_guarded(void *data, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct guard *g = data;
	bool refused = true;

	(void)purpose;
	if (addr->family == AF_INET)
		refused = v4_refused(ntohl(((struct sockaddr_in *)(void *)&addr->addr)->sin_addr.s_addr),
				     g->allow_loopback);
	else if (addr->family == AF_INET6)
		refused = v6_refused(&((struct sockaddr_in6 *)(void *)&addr->addr)->sin6_addr, g->allow_loopback);
	if (refused) {
		g->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static size_t on_data(char *p, size_t size, size_t n, void *data)
{
	struct sink *s = data;
	size_t len = size * n;

	if (len > RESPONSE_MAX - s->len) {
		s->over = true;
		return 0;
	}
	memcpy(s->data + s->len, p, len);
	s->len += len;
	return len;
}

static struct curl_slist *header_list(const struct integration_request *rq)
{
	struct curl_slist *h = NULL;
	char ct[128];

	for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
		h = curl_slist_append(h, rq->headers[i]);
	snprintf(ct, sizeof(ct), "Content-Type: %s", rq->content_type ? rq->content_type : "application/json");
	h = curl_slist_append(h, ct);
	return curl_slist_append(h, "Expect:");
}

static void setup(CURL *h, const struct integration_request *rq, struct curl_slist *hdrs,
		  struct guard *g, struct sink *s)
{
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "atrium-integrations/1");
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, g);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
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

static void record(struct integration_ctx *c, const struct integration_request *rq, const struct sink *s)
{
	c->call.request = arena_printf(c->a, "%s %s\n%.*s", rq->method, rq->url,
				       (int)(rq->body_len > 600 ? 600 : rq->body_len), rq->body ? rq->body : "");
	c->call.response = s->len > 0 ? arena_strndup(c->a, s->data, s->len > 600 ? 600 : s->len) : NULL;
}

err_t integration_send(struct integration_ctx *c, const struct integration_request *rq,
		       struct integration_response *rs)
{
	struct guard g = { .allow_loopback = strcmp(c->cfg->env, "production") != 0 };
	struct sink s = { .a = c->a, .data = arena_alloc(c->a, RESPONSE_MAX + 1) };
	struct curl_slist *hdrs = header_list(rq);
	CURL *h = curl_easy_init();
	CURLcode rc;
	long status = 0;
	err_t e = ERR_OK;

	memset(rs, 0, sizeof(*rs));
	if (h == NULL)
		log_fatal("integrations.curl", "curl_easy_init failed");
	setup(h, rq, hdrs, &g, &s);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	record(c, rq, &s);
	if (g.refused) {
		e = integration_fail(c, "the destination address is not allowed (private, loopback, "
				     "link-local or metadata range)");
	} else if (rc != CURLE_OK && !(s.over && status > 0)) {
		c->call.error = arena_printf(c->a, "request failed: %s", curl_easy_strerror(rc));
		e = ERR_RETRY;
	} else {
		rs->status = (int)status;
		rs->body = s.data;
		rs->len = s.len;
		rs->retry_after_ms = retry_after_ms(h);
		c->call.http_status = (int)status;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return e;
}
