/* integration_intercom: create or update a contact by email, then record an event on it (Intercom API) */
#include <string.h>
#include <time.h>

#include "integrations.h"

struct intercom {
	struct integration_ctx *c;
	const char *headers[4];
	const char *base;
};

static void put_json(void *o)
{
	json_object_put(o);
}

static err_t call(struct intercom *ic, const char *method, const char *path, json_object *body,
		  const char *what, json_object **out)
{
	struct integration_ctx *c = ic->c;
	struct integration_request rq = { .method = method, .headers = ic->headers,
					  .content_type = "application/json" };
	struct integration_response rs;
	err_t e;

	rq.url = arena_printf(c->a, "%s%s", ic->base, path);
	rq.body = json_str(body);
	rq.body_len = strlen(rq.body);
	if ((e = integration_send(c, &rq, &rs)) != ERR_OK || (e = integration_status(c, &rs, what)) != ERR_OK)
		return e;
	*out = NULL;
	if (rs.len > 0 && (*out = json_tokener_parse(rs.body)) != NULL)
		arena_cleanup_add(c->a, put_json, *out);
	return ERR_OK;
}

/* The contact id for email, searching first and creating when there is none. */
static err_t upsert_contact(struct intercom *ic, const char *email, const char **id)
{
	arena_t *a = ic->c->a;
	json_object *q = json_new_object(a), *cond = json_object_new_object(), *res, *found, *body;
	const char *name = json_get_str(ic->c->data, "name");
	err_t e;

	json_object_object_add(cond, "field", json_object_new_string("email"));
	json_object_object_add(cond, "operator", json_object_new_string("="));
	json_object_object_add(cond, "value", json_object_new_string(email));
	json_object_object_add(q, "query", cond);
	if ((e = call(ic, "POST", "/contacts/search", q, "contact search", &res)) != ERR_OK)
		return e;
	found = json_object_array_get_idx(json_get(res, "data"), 0);
	body = json_new_object(a);
	json_object_object_add(body, "email", json_object_new_string(email));
	if (name != NULL)
		json_object_object_add(body, "name", json_object_new_string(name));
	if (found != NULL && json_get_str(found, "id") != NULL) {
		*id = json_get_str(found, "id");
		return call(ic, "PUT", arena_printf(a, "/contacts/%s", integration_escape(a, *id)), body,
			    "contact update", &res);
	}
	json_object_object_add(body, "role", json_object_new_string("user"));
	if ((e = call(ic, "POST", "/contacts", body, "contact create", &res)) != ERR_OK)
		return e;
	if ((*id = json_get_str(res, "id")) == NULL)
		return integration_fail(ic->c, "contact create: the answer has no contact id");
	return ERR_OK;
}

err_t integration_intercom(struct integration_ctx *c)
{
	struct intercom ic = { .c = c, .base = c->cfg->intercom_base_url };
	const char *token, *email = json_get_str(c->data, "email"), *contact;
	json_object *ev = json_new_object(c->a), *meta = json_object_new_object(), *res;
	err_t e;

	if (email == NULL || strchr(email, '@') == NULL || strlen(email) > 254)
		return integration_fail(c, "the event data has no email");
	if ((e = integration_secret(c, "access_token", &token)) != ERR_OK)
		return e;
	ic.headers[0] = arena_printf(c->a, "Authorization: Bearer %s", token);
	ic.headers[1] = "Accept: application/json";
	ic.headers[2] = "Intercom-Version: 2.11";
	ic.headers[3] = NULL;
	if ((e = upsert_contact(&ic, email, &contact)) != ERR_OK)
		return e;
	json_object_object_add(meta, "atrium_event_id", json_object_new_string(c->event_id));
	json_object_object_add(meta, "atrium_event_type", json_object_new_string(c->event_type));
	json_object_object_add(ev, "event_name", json_object_new_string(json_get_str(c->config, "event_name")));
	json_object_object_add(ev, "created_at", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(ev, "id", json_object_new_string(contact));
	json_object_object_add(ev, "metadata", meta);
	return call(&ic, "POST", "/events", ev, "event", &res);
}
