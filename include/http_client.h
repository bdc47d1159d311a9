/* http_client: outbound HTTP to tenant-supplied URLs (webhooks, integrations) on libcurl, behind an
 * SSRF guard that checks the address actually connected to (research/webhooks-secrets.md §SSRF) */
#ifndef ATRIUM_HTTP_CLIENT_H
#define ATRIUM_HTTP_CLIENT_H

#include <sys/socket.h>

#include <curl/curl.h>

#include "arena.h"
#include "common.h"
#include "config.h"
#include "err.h"

#define HTTP_ALLOW_MAX 16
#define HTTP_EXCERPT_MAX 4096

/* One allowlisted network: family AF_INET or AF_INET6, the address bytes and the prefix length. */
struct http_cidr {
	int family;
	unsigned char addr[16];
	int prefix;
};

/* What outbound requests may do; read-only after http_policy_from_config. */
struct http_policy {
	bool allow_http;               /* plain http:// URLs (dev and test stacks only) */
	struct http_cidr allow[HTTP_ALLOW_MAX];
	size_t nallow;                 /* networks allowed although in a refused range */
	long connect_timeout_ms;
	long timeout_ms;
	size_t response_max;           /* body bytes kept; the transfer stops past it */
};

/* Parses "10.1.0.0/16" or "::1/128" (a bare address is a /32 or /128). 0 or -1. */
int http_cidr_parse(const char *s, struct http_cidr *out) MUSTCHECK;
/* Fills p from ATRIUM_HTTP_* settings. 0, or -1 with a message in err (a bad CIDR). */
int http_policy_from_config(const struct config *cfg, struct http_policy *p, char *err,
			    size_t errlen) MUSTCHECK;

/* Pure: NULL when p allows connecting to sa, else the reason ("loopback address 127.0.0.1 is not
 * allowed"), in a. IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry. */
const char *http_addr_refused(const struct http_policy *p, arena_t *a, const struct sockaddr *sa);
/* The URL check done when an endpoint is saved: scheme (https, or http when allowed), a host,
 * no credentials, and every address the host resolves to (numeric forms such as 2130706433
 * included) passes http_addr_refused. ERR_OK or ERR_VALIDATION with the reason in *why. */
err_t http_url_check(const struct http_policy *p, arena_t *a, const char *url,
		     const char **why) MUSTCHECK;

struct http_request {
	const char *method;             /* "POST" */
	const char *url;
	const char *const *headers;     /* "Name: value" lines, NULL-terminated; may be NULL */
	const char *body;
	size_t body_len;
};

struct http_response {
	int status;                     /* 0 when no response arrived */
	char *body;                     /* NUL-terminated excerpt (at most response_max), in the arena */
	size_t len;
	bool refused;                   /* the guard refused the address: error says why */
	const char *error;              /* transport failure or refusal, NULL when a response arrived */
	long long retry_after_ms;       /* Retry-After in seconds (0 when absent) */
	long long duration_ms;
};

/* One transfer, for libcurl multi users: http_xfer_new configures an easy handle (guard, no
 * redirects, no proxy, timeouts, capped sink) owned by the arena; add http_xfer_easy(x) to a multi
 * handle, and when it is done call http_xfer_finish with its CURLcode. The arena must outlive the
 * transfer; the easy handle is cleaned up with the arena (remove it from the multi first). */
struct http_xfer;
struct http_xfer *http_xfer_new(const struct http_policy *p, arena_t *a, const struct http_request *rq);
CURL *http_xfer_easy(struct http_xfer *x);
void *http_xfer_data(struct http_xfer *x);
void http_xfer_set_data(struct http_xfer *x, void *data);
void http_xfer_finish(struct http_xfer *x, CURLcode rc, struct http_response *out);

/* A blocking request (curl easy). ERR_OK when a response arrived, whatever its status;
 * ERR_VALIDATION when the guard refused the address; ERR_RETRY for transport failures. */
err_t http_perform(const struct http_policy *p, arena_t *a, const struct http_request *rq,
		   struct http_response *out) MUSTCHECK;

#endif
