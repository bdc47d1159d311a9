/* integrations: /v1/integration-types, /v1/integrations CRUD, test runs and the runs list */
#include "crypto.h"
#include "handlers.h"
#include "integrations.h"

/* The raw body held plaintext secrets: wipe it once they are sealed or refused (not when the
 * dispatcher may still retry the request after a reconnect). */
static void wipe_body(struct req *r, err_t e)
{
	if (r->body != NULL && e != ERR_UNAVAILABLE)
		crypto_wipe((char *)r->body, r->body_len);
}

static const struct jv_field event_item = { "", JV_STRING, false, false, 1, 100, NULL, NULL, NULL };

/* config is checked against the type's own schema by the service (per-field errors there). */
const struct jv_field integration_body[] = {
	{ "type",    JV_ENUM,   true,  false, 0, 0,   integrations_type_names, NULL, NULL },
	{ "name",    JV_STRING, true,  false, 1, 200, NULL, NULL, NULL },
	{ "config",  JV_MAP,    true,  false, 0, 32,  NULL, NULL, NULL },
	{ "events",  JV_ARRAY,  false, false, 0, 10,  NULL, NULL, &event_item },
	{ "flow_id", JV_UUID,   false, true,  0, 0,   NULL, NULL, NULL },
	{ "active",  JV_BOOL,   false, false, 0, 0,   NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

const struct jv_field integration_patch_body[] = {
	{ "type",    JV_ENUM,   false, false, 0, 0,   integrations_type_names, NULL, NULL },
	{ "name",    JV_STRING, false, false, 1, 200, NULL, NULL, NULL },
	{ "config",  JV_MAP,    false, false, 0, 32,  NULL, NULL, NULL },
	{ "events",  JV_ARRAY,  false, false, 0, 10,  NULL, NULL, &event_item },
	{ "flow_id", JV_UUID,   false, true,  0, 0,   NULL, NULL, NULL },
	{ "active",  JV_BOOL,   false, false, 0, 0,   NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

const struct jv_field integration_test_body[] = {
	{ "data", JV_MAP, false, true, 0, 100, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

static err_t reply(struct req *r, err_t e, int status, json_object *out)
{
	if (e == ERR_OK)
		req_reply(r, status, out);
	return e;
}

err_t h_integration_types(struct req *r)
{
	return reply(r, ERR_OK, 200, integrations_types_json(r->a));
}

err_t h_integrations_list(struct req *r)
{
	json_object *out = NULL;
	const char *cursor;
	int limit;
	err_t e = page_params(r, &limit, &cursor);

	if (e == ERR_OK)
		e = integrations_list(r->app->db, r->a, r->who.tenant_id, limit, cursor, &out, &r->prob);
	return reply(r, e, 200, out);
}

err_t h_integrations_create(struct req *r)
{
	json_object *out = NULL;
	err_t e = integrations_create(r->app->db, r->a, &r->who, r->json, &out, &r->prob);

	wipe_body(r, e);
	if (e == ERR_OK)
		req_header(r, "Location", arena_printf(r->a, "/v1/integrations/%s", json_get_str(out, "id")));
	return reply(r, e, 201, out);
}

err_t h_integrations_get(struct req *r)
{
	json_object *out = NULL;
	err_t e = integrations_get(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_integrations_update(struct req *r)
{
	json_object *out = NULL;
	err_t e = integrations_update(r->app->db, r->a, &r->who, r->params[0], r->json, &out, &r->prob);

	wipe_body(r, e);
	return reply(r, e, 200, out);
}

err_t h_integrations_delete(struct req *r)
{
	err_t e = integrations_delete(r->app->db, r->a, &r->who, r->params[0], &r->prob);

	return reply(r, e, 204, NULL);
}

err_t h_integrations_test(struct req *r)
{
	json_object *out = NULL;
	err_t e = integrations_test(r->app->db, r->a, &r->who, r->params[0], json_get(r->json, "data"),
				    &out, &r->prob);

	return reply(r, e, 202, out);
}

err_t h_integrations_runs(struct req *r)
{
	json_object *out = NULL;
	const char *cursor;
	int limit;
	err_t e = page_params(r, &limit, &cursor);

	if (e == ERR_OK)
		e = integrations_runs(r->app->db, r->a, r->who.tenant_id, r->params[0], limit, cursor,
				      &out, &r->prob);
	return reply(r, e, 200, out);
}
