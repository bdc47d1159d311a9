/* integration_http: POST the event as JSON to the tenant's URL, with plain and secret headers */
#include <string.h>

#include "integrations.h"

#define MAX_HEADERS 42

/* Adds "Name: value" for every entry of the plain map, and of the secret map (values opened). */
static err_t add_headers(struct integration_ctx *c, const char **lines, size_t *n)
{
	json_object *plain = json_get(c->config, "headers"), *sealed = json_get(c->config, "secret_headers");
	const char *v;
	err_t e;

	if (plain == NULL)
		plain = json_new_object(c->a);
	if (sealed == NULL)
		sealed = json_new_object(c->a);
	json_object_object_foreach(plain, k, val) {
		if (*n < MAX_HEADERS - 1)
			lines[(*n)++] = arena_printf(c->a, "%s: %s", k, json_object_get_string(val));
	}
	json_object_object_foreach(sealed, sk, sval) {
		(void)sval;
		if ((e = integration_secret(c, arena_printf(c->a, "secret_headers.%s", sk), &v)) != ERR_OK)
			return e;
		if (*n < MAX_HEADERS - 1)
			lines[(*n)++] = arena_printf(c->a, "%s: %s", sk, v);
	}
	return ERR_OK;
}

err_t integration_http(struct integration_ctx *c)
{
	const char **lines = arena_alloc(c->a, MAX_HEADERS * sizeof(*lines));
	json_object *body = json_new_object(c->a);
	struct integration_request rq = { .method = "POST", .url = json_get_str(c->config, "url"),
					  .headers = lines, .content_type = "application/json",
					  .tenant_url = true };
	struct integration_response rs;
	size_t n = 0;
	err_t e;

	if ((e = add_headers(c, lines, &n)) != ERR_OK)
		return e;
	lines[n++] = arena_printf(c->a, "Idempotency-Key: %s", c->event_id);
	json_object_object_add(body, "id", json_object_new_string(c->event_id));
	json_object_object_add(body, "type", json_object_new_string(c->event_type));
	json_object_object_add(body, "data", json_object_get(c->data));
	rq.body = json_str(body);
	rq.body_len = strlen(rq.body);
	if ((e = integration_send(c, &rq, &rs)) != ERR_OK)
		return e;
	return integration_status(c, &rs, "POST");
}
