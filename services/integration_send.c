/* integration_send: an action's outbound request through lib/http_client (SSRF guard, limits) */
#include <string.h>

#include "integrations.h"

err_t integration_send(struct integration_ctx *c, const struct integration_request *rq,
		       struct integration_response *rs)
{
	memset(rs, 0, sizeof(*rs));
	c->call.request = arena_printf(c->a, "%s %s", rq->method, rq->url);
	c->call.error = "outbound HTTP is not available yet (lib/http_client has not landed)";
	return ERR_RETRY;
}
