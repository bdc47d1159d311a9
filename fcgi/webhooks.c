/* webhooks: /v1/webhooks — endpoints, signing secrets, tests, the delivery log, retry and replay */
#include <string.h>

#include "crypto.h"
#include "handlers.h"
#include "webhooks.h"

static const struct jv_field type_item = { "", JV_ENUM, false, false, 0, 0, webhooks_event_types, NULL, NULL };
static const struct jv_field header_value = { "", JV_STRING, false, false, 1, 2000, NULL, NULL, NULL };

const struct jv_field webhook_body[] = {
	{ "url",         JV_URL,    true,  false, 0, 2000, NULL, NULL, NULL },
	{ "description", JV_STRING, false, false, 0, 500,  NULL, NULL, NULL },
	{ "event_types", JV_ARRAY,  false, false, 0, 50,   NULL, NULL, &type_item },
	{ "active",      JV_BOOL,   false, false, 0, 0,    NULL, NULL, NULL },
	{ "headers",     JV_MAP,    false, false, 0, 20,   NULL, NULL, &header_value },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

const struct jv_field webhook_patch_body[] = {
	{ "url",         JV_URL,    false, false, 0, 2000, NULL, NULL, NULL },
	{ "description", JV_STRING, false, false, 0, 500,  NULL, NULL, NULL },
	{ "event_types", JV_ARRAY,  false, false, 0, 50,   NULL, NULL, &type_item },
	{ "active",      JV_BOOL,   false, false, 0, 0,    NULL, NULL, NULL },
	{ "headers",     JV_MAP,    false, false, 0, 20,   NULL, NULL, &header_value },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

const struct jv_field webhook_replay_body[] = {
	{ "since", JV_TIME, false, true, 0, 0, NULL, NULL, NULL },
	{ "until", JV_TIME, false, true, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

static const char *const states[] = { "pending", "succeeded", "dead", NULL };

static err_t reply(struct req *r, err_t e, int status, json_object *out)
{
	if (e == ERR_OK)
		req_reply(r, status, out);
	return e;
}

err_t h_webhook_event_types(struct req *r)
{
	return reply(r, ERR_OK, 200, webhooks_event_types_json(r->a));
}

err_t h_webhooks_list(struct req *r)
{
	json_object *out = NULL;
	const char *cursor;
	int limit;
	err_t e = page_params(r, &limit, &cursor);

	if (e == ERR_OK)
		e = webhooks_list(r->app->db, r->a, r->who.tenant_id, limit, cursor, &out, &r->prob);
	return reply(r, e, 200, out);
}

err_t h_webhooks_create(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_create(r->app->db, r->a, r->app->cfg, &r->who, r->json, &out, &r->prob);

	if (e == ERR_OK)
		req_header(r, "Location", arena_printf(r->a, "/v1/webhooks/endpoints/%s", json_get_str(out, "id")));
	return reply(r, e, 201, out);
}

err_t h_webhooks_get(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_get(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_webhooks_update(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_update(r->app->db, r->a, r->app->cfg, &r->who, r->params[0], r->json, &out,
				  &r->prob);

	return reply(r, e, 200, out);
}

err_t h_webhooks_delete(struct req *r)
{
	return reply(r, webhooks_delete(r->app->db, r->a, &r->who, r->params[0], &r->prob), 204, NULL);
}

err_t h_webhooks_rotate(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_rotate(r->app->db, r->a, &r->who, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_webhooks_secret(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_reveal(r->app->db, r->a, &r->who, r->params[0], &out, &r->prob);

	if (e == ERR_OK)
		req_header(r, "Cache-Control", "no-store");
	return reply(r, e, 200, out);
}

err_t h_webhooks_test(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_test(r->app->db, r->a, &r->who, r->params[0], &out, &r->prob);

	return reply(r, e, 202, out);
}

err_t h_webhooks_replay(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_replay(r->app->db, r->a, r->who.tenant_id, r->params[0],
				  json_get_str(r->json, "since"), json_get_str(r->json, "until"), &out, &r->prob);

	return reply(r, e, 202, out);
}

static bool one_of(const char *s, const char *const *choices)
{
	for (size_t i = 0; choices[i] != NULL; i++)
		if (strcmp(s, choices[i]) == 0)
			return true;
	return false;
}

/* since and until through the same validator as bodies (RFC 3339). */
static err_t times_valid(struct req *r, const struct webhook_filter *f)
{
	json_object *o = json_new_object(r->a);

	if (f->since != NULL)
		json_object_object_add(o, "since", json_object_new_string(f->since));
	if (f->until != NULL)
		json_object_object_add(o, "until", json_object_new_string(f->until));
	return json_validate(o, webhook_replay_body, "", &r->prob, r->a);
}

/* ?endpoint_id= ?state= ?event_type= ?since= ?until= */
static err_t filter_params(struct req *r, struct webhook_filter *f)
{
	err_t e;

	if ((e = req_query(r, "endpoint_id", &f->endpoint_id)) != ERR_OK ||
	    (e = req_query(r, "state", &f->state)) != ERR_OK ||
	    (e = req_query(r, "event_type", &f->event_type)) != ERR_OK ||
	    (e = req_query(r, "since", &f->since)) != ERR_OK ||
	    (e = req_query(r, "until", &f->until)) != ERR_OK)
		return e;
	if (f->endpoint_id != NULL && !crypto_uuid_valid(f->endpoint_id))
		return err_field(&r->prob, r->a, "endpoint_id", "must be a UUID");
	if (f->state != NULL && !one_of(f->state, states))
		return err_field(&r->prob, r->a, "state", "must be pending, succeeded or dead");
	if (f->event_type != NULL && !one_of(f->event_type, webhooks_event_types))
		return err_field(&r->prob, r->a, "event_type", "unknown event type");
	return times_valid(r, f);
}

err_t h_webhook_deliveries(struct req *r)
{
	struct webhook_filter f = { 0 };
	json_object *out = NULL;
	const char *cursor;
	int limit;
	err_t e = page_params(r, &limit, &cursor);

	if (e == ERR_OK)
		e = filter_params(r, &f);
	if (e == ERR_OK)
		e = webhooks_deliveries(r->app->db, r->a, r->who.tenant_id, &f, limit, cursor, &out, &r->prob);
	return reply(r, e, 200, out);
}

err_t h_webhook_delivery(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_delivery(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_webhook_delivery_retry(struct req *r)
{
	json_object *out = NULL;
	err_t e = webhooks_retry(r->app->db, r->a, r->who.tenant_id, r->params[0], &r->prob);

	if (e == ERR_OK)
		e = webhooks_delivery(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);
	return reply(r, e, 202, out);
}
