/* integration_send: an action's outbound request through lib/http_client (SSRF guard on the
 * connected address, https unless allowed, no redirects or proxy, timeouts, capped response) */
#include <string.h>

#include "http_client.h"
#include "integrations.h"

#define MAX_HEADERS 48

/* The action's header lines plus Content-Type, NULL-terminated. */
static const char *const *header_lines(arena_t *a, const struct integration_request *rq)
{
	const char **h = arena_alloc(a, (MAX_HEADERS + 2) * sizeof(*h));
	size_t n = 0;

	for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL && n < MAX_HEADERS; i++)
		h[n++] = rq->headers[i];
	h[n++] = arena_printf(a, "Content-Type: %s", rq->content_type ? rq->content_type : "application/json");
	h[n] = NULL;
	return h;
}

static void record(struct integration_ctx *c, const struct integration_request *rq,
		   const struct http_response *out)
{
	c->call.request = arena_printf(c->a, "%s %s\n%.*s", rq->method, rq->url,
				       (int)(rq->body_len > 600 ? 600 : rq->body_len), rq->body ? rq->body : "");
	c->call.response = out->len > 0 ? arena_strndup(c->a, out->body, out->len > 600 ? 600 : out->len) : NULL;
	c->call.http_status = out->status;
}

err_t integration_send(struct integration_ctx *c, const struct integration_request *rq,
		       struct integration_response *rs)
{
	struct http_request hr = { .method = rq->method, .url = rq->url, .body = rq->body,
				   .body_len = rq->body ? rq->body_len : 0 };
	struct http_response out = { 0 };
	struct http_policy policy;
	char err[256];
	err_t e;

	memset(rs, 0, sizeof(*rs));
	if (http_policy_from_config(c->cfg, &policy, err, sizeof(err)) != 0)
		return integration_fail(c, arena_strdup(c->a, err));
	hr.headers = header_lines(c->a, rq);
	e = http_perform(&policy, c->a, &hr, &out);
	record(c, rq, &out);
	if (e == ERR_VALIDATION)
		return integration_fail(c, out.error ? out.error : "the destination address is not allowed");
	if (e != ERR_OK) {
		c->call.error = out.error ? out.error : "the request failed";
		return ERR_RETRY;
	}
	rs->status = out.status;
	rs->body = out.body;
	rs->len = out.len;
	rs->retry_after_ms = out.retry_after_ms;
	return ERR_OK;
}
