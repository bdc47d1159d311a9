/* integrations: the type registry and tenant integrations whose secret fields are sealed references (DESIGN §5) */
#include <string.h>

#include "audit.h"
#include "crypto.h"
#include "integrations.h"
#include "log.h"
#include "rows.h"
#include "secrets.h"

#define SECRET_MAX 10000
#define PLACEHOLDER "********"

/* ---- the registry ------------------------------------------------------------------------ */

static const struct jv_field header_value = { "", JV_STRING, false, false, 1, 2000, NULL, NULL, NULL };

static const struct jv_field sheets_fields[] = {
	{ "service_account", JV_TEXT, true, false, 2, SECRET_MAX, NULL, NULL, NULL },
	{ "spreadsheet_id", JV_STRING, true, false, 1, 200, NULL, NULL, NULL },
	{ "range", JV_STRING, true, false, 1, 200, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL },
};
static const struct jv_field intercom_fields[] = {
	{ "access_token", JV_STRING, true, false, 1, 2000, NULL, NULL, NULL },
	{ "event_name", JV_STRING, true, false, 1, 100, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL },
};
static const struct jv_field canvas_fields[] = {
	{ "base_url", JV_URL, true, false, 0, 500, NULL, NULL, NULL },
	{ "api_token", JV_STRING, true, false, 1, 2000, NULL, NULL, NULL },
	{ "course_id", JV_STRING, true, false, 1, 40, NULL, NULL, NULL },
	{ "assignment_id", JV_STRING, true, false, 1, 40, NULL, NULL, NULL },
	{ "posted_grade", JV_STRING, false, false, 1, 40, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL },
};
static const struct jv_field http_fields[] = {
	{ "url", JV_URL, true, false, 0, 2000, NULL, NULL, NULL },
	{ "headers", JV_MAP, false, false, 0, 20, NULL, NULL, &header_value },
	{ "secret_headers", JV_MAP, false, false, 0, 20, NULL, NULL, &header_value },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL },
};

static const struct integration_secret sheets_secrets[] = { { "service_account", false }, { NULL, false } };
static const struct integration_secret intercom_secrets[] = { { "access_token", false }, { NULL, false } };
static const struct integration_secret canvas_secrets[] = { { "api_token", false }, { NULL, false } };
static const struct integration_secret http_secrets[] = { { "secret_headers", true }, { NULL, false } };

static const char *const submission_events[] = { "submission.created", NULL };
static const char *const http_events[] = { "submission.created", "flow.published", NULL };

static const struct integration_type types[] = {
	{ "google_sheets", "Google Sheets: append a row", sheets_fields, sheets_secrets,
	  submission_events, integration_google_sheets },
	{ "intercom", "Intercom: upsert a contact and record an event", intercom_fields,
	  intercom_secrets, submission_events, integration_intercom },
	{ "canvas", "Canvas LMS: post a grade for an assignment", canvas_fields, canvas_secrets,
	  submission_events, integration_canvas },
	{ "http", "HTTP: POST the event as JSON", http_fields, http_secrets, http_events,
	  integration_http },
};

const char *const integrations_type_names[] = { "google_sheets", "intercom", "canvas", "http", NULL };

const struct integration_type *integrations_types(size_t *n)
{
	*n = NELEM(types);
	return types;
}

const struct integration_type *integrations_type(const char *name)
{
	for (size_t i = 0; name != NULL && i < NELEM(types); i++)
		if (strcmp(types[i].type, name) == 0)
			return &types[i];
	return NULL;
}

static const struct integration_secret *secret_of(const struct integration_type *t, const char *field)
{
	for (const struct integration_secret *s = t->secrets; s->name != NULL; s++)
		if (strcmp(s->name, field) == 0)
			return s;
	return NULL;
}

static const char *const jv_names[] = {
	[JV_STRING] = "string", [JV_TEXT] = "text", [JV_INT] = "integer", [JV_BOOL] = "boolean",
	[JV_UUID] = "uuid", [JV_EMAIL] = "email", [JV_ENUM] = "enum", [JV_URL] = "url",
	[JV_TIME] = "time", [JV_OBJECT] = "object", [JV_MAP] = "map", [JV_ARRAY] = "array",
};

static json_object *type_json(const struct integration_type *t)
{
	json_object *o = json_object_new_object(), *fields = json_object_new_array();
	json_object *events = json_object_new_array();

	for (const struct jv_field *f = t->fields; f->name != NULL; f++) {
		json_object *jf = json_object_new_object();

		json_object_object_add(jf, "name", json_object_new_string(f->name));
		json_object_object_add(jf, "type", json_object_new_string(jv_names[f->type]));
		json_object_object_add(jf, "required", json_object_new_boolean(f->required));
		json_object_object_add(jf, "secret", json_object_new_boolean(secret_of(t, f->name) != NULL));
		if (f->max > 0)
			json_object_object_add(jf, "max", json_object_new_int64(f->max));
		json_object_array_add(fields, jf);
	}
	for (const char *const *e = t->events; *e != NULL; e++)
		json_object_array_add(events, json_object_new_string(*e));
	json_object_object_add(o, "type", json_object_new_string(t->type));
	json_object_object_add(o, "title", json_object_new_string(t->title));
	json_object_object_add(o, "fields", fields);
	json_object_object_add(o, "events", events);
	return o;
}

json_object *integrations_types_json(arena_t *a)
{
	json_object *out = json_new_object(a), *items = json_object_new_array();

	for (size_t i = 0; i < NELEM(types); i++)
		json_object_array_add(items, type_json(&types[i]));
	json_object_object_add(out, "items", items);
	return out;
}

/* ---- validation ---------------------------------------------------------------------------- */

static bool header_name_ok(const char *k)
{
	static const char *const refused[] = { "host", "content-length", "content-type", "connection",
		"transfer-encoding", "expect", "te", "upgrade", "proxy-authorization", "keep-alive", NULL };
	size_t n = strlen(k);

	if (n == 0 || n > 100 || strspn(k, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n)
		return false;
	for (size_t i = 0; refused[i] != NULL; i++)
		if (strcasecmp(k, refused[i]) == 0)
			return false;
	return true;
}

static void check_header_names(arena_t *a, json_object *map, const char *path, struct problem *p)
{
	if (map == NULL || !json_object_is_type(map, json_type_object))
		return;
	json_object_object_foreach(map, k, v) {
		(void)v;
		if (!header_name_ok(k))
			(void)err_field(p, a, arena_printf(a, "%s.%s", path, k),
					"must be an HTTP header name other than Host, Content-Type, "
					"Content-Length and hop-by-hop headers");
	}
}

/* Validates config (secrets as given, or as placeholders on PATCH) and events for type t. */
static err_t validate(arena_t *a, const struct integration_type *t, json_object *config,
		      json_object *events, struct problem *p)
{
	size_t n = events != NULL ? json_object_array_length(events) : 0;

	(void)!json_validate(config, t->fields, "config", p, a);
	if (strcmp(t->type, "http") == 0) {
		check_header_names(a, json_get(config, "headers"), "config.headers", p);
		check_header_names(a, json_get(config, "secret_headers"), "config.secret_headers", p);
	}
	for (size_t i = 0; i < n; i++) {
		const char *ev = json_object_get_string(json_object_array_get_idx(events, i));
		bool ok = false;

		for (const char *const *e = t->events; *e != NULL && !ok; e++)
			ok = strcmp(*e, ev) == 0;
		if (!ok)
			(void)err_field(p, a, arena_printf(a, "events[%zu]", i),
					"%s integrations react to: %s", t->type, t->events[0]);
	}
	return p->nfields > 0 ? ERR_VALIDATION : ERR_OK;
}

/* ---- sealing secret fields ------------------------------------------------------------------- */

static json_object *ref_json(const char *ref)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "secret_ref", json_object_new_string(ref));
	return o;
}

static const char *ref_of(json_object *v)
{
	return v != NULL && json_object_is_type(v, json_type_object) ? json_get_str(v, "secret_ref") : NULL;
}

struct sealing {
	db_t *db;
	arena_t *a;
	const struct principal *who;
	const char *id;
	struct problem *p;
};

/* Seals value for field (replacing old_ref's value when there is one); the reference goes to *ref. */
static err_t seal_one(struct sealing *s, const char *field, const char *value, const char *old_ref,
		      const char **ref)
{
	struct secret_owner o = { s->who->tenant_id, "integrations", s->id, field };
	size_t n = strlen(value);
	char *buf;
	err_t e;

	if (old_ref != NULL) {
		*ref = old_ref;
		e = secrets_replace(s->db, s->a, &o, old_ref, value, n, s->who->key_id, s->p);
	} else {
		buf = arena_alloc(s->a, UUID_STRLEN);
		*ref = buf;
		e = secrets_seal(s->db, s->a, &o, value, n, s->who->key_id, buf, s->p);
	}
	if (e == ERR_OK)
		crypto_wipe((char *)value, n);   /* the request's parsed copy: sealed, needed no more */
	return e;
}

static err_t destroy_one(struct sealing *s, const char *field, const char *ref)
{
	struct secret_owner o = { s->who->tenant_id, "integrations", s->id, field };

	return secrets_destroy(s->db, s->a, &o, ref, s->who->key_id, s->p);
}

/* A secret map (secret_headers): old entries are destroyed, every given value sealed anew. */
static err_t seal_map(struct sealing *s, const char *name, json_object *given, json_object *old,
		      json_object **out)
{
	const char *ref;
	err_t e = ERR_OK;

	if (old != NULL && json_object_is_type(old, json_type_object)) {
		json_object_object_foreach(old, k, v) {
			if (e == ERR_OK && ref_of(v) != NULL)
				e = destroy_one(s, arena_printf(s->a, "%s.%s", name, k), ref_of(v));
		}
	}
	*out = json_object_new_object();
	json_object_object_foreach(given, k, v) {
		if (e == ERR_OK &&
		    (e = seal_one(s, arena_printf(s->a, "%s.%s", name, k), json_object_get_string(v),
				  NULL, &ref)) == ERR_OK)
			json_object_object_add(*out, k, ref_json(ref));
	}
	if (e != ERR_OK) {
		json_object_put(*out);
		*out = NULL;
	}
	return e;
}

/* Applies the given config fields onto stored (the record's config, refs for secrets): plain
 * values are copied, secret values sealed, null removes a field (and destroys its secret). */
static err_t apply_config(struct sealing *s, const struct integration_type *t, json_object *given,
			  json_object *stored)
{
	err_t e = ERR_OK;

	json_object_object_foreach(given, k, v) {
		const struct integration_secret *sec = secret_of(t, k);
		json_object *old = json_get(stored, k), *nv = NULL;
		const char *ref;

		if (e != ERR_OK)
			break;
		if (sec != NULL && sec->map) {
			/* a null map destroys each of its entries */
			e = seal_map(s, k, v != NULL ? v : json_new_object(s->a), old, &nv);
			if (v == NULL && nv != NULL) {
				json_object_put(nv);
				nv = NULL;
			}
		} else if (sec != NULL && v != NULL && (e = seal_one(s, k, json_object_get_string(v),
								  ref_of(old), &ref)) == ERR_OK)
			nv = ref_json(ref);
		else if (sec != NULL && v == NULL && ref_of(old) != NULL)
			e = destroy_one(s, k, ref_of(old));
		else if (sec == NULL && v != NULL)
			nv = json_object_get(v);
		if (e == ERR_OK && nv != NULL)
			json_object_object_add(stored, k, nv);
		else if (e == ERR_OK && v == NULL)
			json_object_object_del(stored, k);
	}
	return e;
}

/* The stored config as a validator sees it: every secret reference becomes a placeholder. */
static json_object *validation_view(arena_t *a, json_object *stored)
{
	json_object *v = json_new_object(a);

	json_object_object_foreach(stored, k, val) {
		json_object *m;

		if (ref_of(val) != NULL) {
			json_object_object_add(v, k, json_object_new_string(PLACEHOLDER));
			continue;
		}
		if (val != NULL && json_object_is_type(val, json_type_object) && ref_of(val) == NULL &&
		    json_object_object_length(val) > 0) {
			bool refs = true;

			json_object_object_foreach(val, mk, mv) {
				(void)mk;
				refs = refs && ref_of(mv) != NULL;
			}
			if (refs) {
				m = json_object_new_object();
				json_object_object_foreach(val, mk2, mv2) {
					(void)mv2;
					json_object_object_add(m, mk2, json_object_new_string(PLACEHOLDER));
				}
				json_object_object_add(v, k, m);
				continue;
			}
		}
		json_object_object_add(v, k, json_object_get(val));
	}
	return v;
}

/* ---- presenting ---------------------------------------------------------------------------- */

#define INTEGRATION_JSON \
	"json_build_object('id', i.id, 'type', i.type, 'name', i.name, 'config', i.config, " \
	"'events', to_json(i.events), 'flow_id', i.flow_id, 'active', i.active, " \
	"'created_at', i.created_at, 'updated_at', i.updated_at, 'created_by', i.created_by, " \
	"'updated_by', i.updated_by, 'last_used_at', i.last_used_at, 'last_used_by', i.last_used_by, " \
	"'_secrets', (SELECT coalesce(json_object_agg(s.id, s.updated_at), '{}') FROM secrets s " \
	"WHERE s.tenant_id = i.tenant_id AND s.owner_table = 'integrations' AND s.owner_id = i.id))"

static json_object *configured(json_object *secrets, const char *ref)
{
	json_object *o = json_object_new_object(), *at = json_get(secrets, ref);

	json_object_object_add(o, "configured", json_object_new_boolean(at != NULL));
	json_object_object_add(o, "updated_at", json_object_get(at));
	return o;
}

/* Replaces every secret reference in item's config with {"configured", "updated_at"}. */
static void present(json_object *item)
{
	json_object *cfg = json_get(item, "config"), *secrets = json_get(item, "_secrets");

	json_object_object_foreach(cfg, k, v) {
		if (ref_of(v) != NULL) {
			json_object_object_add(cfg, k, configured(secrets, ref_of(v)));
		} else if (v != NULL && json_object_is_type(v, json_type_object)) {
			json_object_object_foreach(v, mk, mv) {
				if (ref_of(mv) != NULL)
					json_object_object_add(v, mk, configured(secrets, ref_of(mv)));
			}
		}
	}
	json_object_object_del(item, "_secrets");
}

static err_t load(db_t *db, arena_t *a, const char *tenant_id, const char *id, bool for_update,
		  json_object **out, struct problem *p)
{
	PGresult *r;
	err_t e = db_exec(db, a, &r, for_update ?
			  "SELECT " INTEGRATION_JSON " FROM integrations i WHERE i.tenant_id = $1 AND i.id = $2 FOR UPDATE" :
			  "SELECT " INTEGRATION_JSON " FROM integrations i WHERE i.tenant_id = $1 AND i.id = $2",
			  2, (const char *const[]){ tenant_id, id });

	if (e != ERR_OK)
		return err_set(p, a, e, "the integration could not be read");
	if (PQntuples(r) != 1)
		return err_set(p, a, ERR_NOT_FOUND, "no such integration");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}

err_t integrations_get(db_t *db, arena_t *a, const char *tenant_id, const char *id,
		       json_object **out, struct problem *p)
{
	err_t e = load(db, a, tenant_id, id, false, out, p);

	if (e == ERR_OK)
		present(*out);
	return e;
}

err_t integrations_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
			json_object **out, struct problem *p)
{
	json_object *items;
	err_t e = rows_keyset(db, a,
			      "SELECT " INTEGRATION_JSON ", i.id FROM integrations i WHERE i.tenant_id = $1 "
			      "AND ($2::uuid IS NULL OR i.id < $2) ORDER BY i.id DESC LIMIT $3",
			      tenant_id, limit, cursor, out);

	if (e != ERR_OK)
		return err_set(p, a, e, "the integrations could not be listed");
	items = json_get(*out, "items");
	for (size_t i = 0; i < json_object_array_length(items); i++)
		present(json_object_array_get_idx(items, i));
	return ERR_OK;
}

/* ---- writing ------------------------------------------------------------------------------- */

static err_t audit_integration(db_t *db, arena_t *a, const struct principal *who, const char *action,
			       const char *id, const char *type, struct problem *p)
{
	json_object *d = json_new_object(a);

	json_object_object_add(d, "type", json_object_new_string(type));
	return audit_record(db, a, who->tenant_id, who->key_id, action, "integration", id, json_str(d), p);
}

static err_t flow_error(arena_t *a, err_t e, struct problem *p)
{
	if (e == ERR_NOT_FOUND)
		return err_field(p, a, "flow_id", "no such flow");
	return err_set(p, a, e, "the integration could not be stored");
}

static err_t insert(db_t *db, arena_t *a, const struct principal *who, const char *id,
		    json_object *body, json_object *stored, struct problem *p)
{
	json_object *events = json_get(body, "events");
	const char *active = json_get_bool(body, "active", true) ? "true" : "false";
	PGresult *r;
	err_t e;

	e = db_q(db, a, &r,
		 "INSERT INTO integrations (tenant_id, id, type, name, config, events, flow_id, active, "
		 "created_by, updated_by) VALUES ($1, $2, $3, $4, $5, "
		 "ARRAY(SELECT jsonb_array_elements_text(coalesce($6::jsonb, '[]'))), $7, $8, $9, $9)",
		 who->tenant_id, id, json_get_str(body, "type"), json_get_str(body, "name"),
		 json_str(stored), events != NULL ? json_str(events) : NULL,
		 json_get_str(body, "flow_id"), active, who->key_id);
	return e == ERR_OK ? ERR_OK : flow_error(a, e, p);
}

err_t integrations_create(db_t *db, arena_t *a, const struct principal *who, json_object *body,
			  json_object **out, struct problem *p)
{
	const struct integration_type *t = integrations_type(json_get_str(body, "type"));
	json_object *stored = json_new_object(a);
	char id[UUID_STRLEN];
	struct sealing s = { db, a, who, id, p };
	err_t e;

	if (t == NULL)
		return err_field(p, a, "type", "unknown integration type");
	if ((e = validate(a, t, json_get(body, "config"), json_get(body, "events"), p)) != ERR_OK)
		return e;
	crypto_uuid7(id);
	if ((e = apply_config(&s, t, json_get(body, "config"), stored)) != ERR_OK ||
	    (e = insert(db, a, who, id, body, stored, p)) != ERR_OK ||
	    (e = audit_integration(db, a, who, AUDIT_CREATE, id, t->type, p)) != ERR_OK)
		return e;
	return integrations_get(db, a, who->tenant_id, id, out, p);
}

static err_t store_update(db_t *db, arena_t *a, const struct principal *who, const char *id,
			  json_object *body, json_object *stored, struct problem *p)
{
	json_object *events = json_get(body, "events");
	const char *active = NULL, *flow = json_get_str(body, "flow_id");
	PGresult *r;
	err_t e;

	if (json_get(body, "active") != NULL)
		active = json_get_bool(body, "active", true) ? "true" : "false";
	e = db_q(db, a, &r,
		 "UPDATE integrations SET config = $3, name = coalesce($4, name), "
		 "events = CASE WHEN $5::jsonb IS NULL THEN events "
		 "ELSE ARRAY(SELECT jsonb_array_elements_text($5::jsonb)) END, "
		 "flow_id = CASE WHEN $6 THEN $7::uuid ELSE flow_id END, active = coalesce($8::boolean, active), "
		 "updated_by = $9, updated_at = now() WHERE tenant_id = $1 AND id = $2",
		 who->tenant_id, id, json_str(stored), json_get_str(body, "name"),
		 events != NULL ? json_str(events) : NULL,
		 json_object_object_get_ex(body, "flow_id", NULL) ? "true" : "false", flow, active,
		 who->key_id);
	return e == ERR_OK ? ERR_OK : flow_error(a, e, p);
}

err_t integrations_update(db_t *db, arena_t *a, const struct principal *who, const char *id,
			  json_object *body, json_object **out, struct problem *p)
{
	const struct integration_type *t;
	json_object *cur, *stored, *given = json_get(body, "config"), *view;
	struct sealing s = { db, a, who, id, p };
	err_t e;

	if ((e = load(db, a, who->tenant_id, id, true, &cur, p)) != ERR_OK)
		return e;
	t = integrations_type(json_get_str(cur, "type"));
	stored = json_get(cur, "config");
	if (json_get_str(body, "type") != NULL && strcmp(json_get_str(body, "type"), t->type) != 0)
		return err_field(p, a, "type", "cannot change; create a new integration instead");
	/* Validate the merged result: stored fields (secrets as placeholders) overlaid with the given. */
	view = validation_view(a, stored);
	if (given != NULL) {
		json_object_object_foreach(given, k, v) {
			if (v != NULL)
				json_object_object_add(view, k, json_object_get(v));
			else
				json_object_object_del(view, k);
		}
	}
	if ((e = validate(a, t, view, json_get(body, "events"), p)) != ERR_OK)
		return e;
	if (given != NULL && (e = apply_config(&s, t, given, stored)) != ERR_OK)
		return e;
	if ((e = store_update(db, a, who, id, body, stored, p)) != ERR_OK ||
	    (e = audit_integration(db, a, who, AUDIT_UPDATE, id, t->type, p)) != ERR_OK)
		return e;
	return integrations_get(db, a, who->tenant_id, id, out, p);
}

err_t integrations_delete(db_t *db, arena_t *a, const struct principal *who, const char *id,
			  struct problem *p)
{
	const struct integration_type *t;
	json_object *cur, *nulls;
	struct sealing s = { db, a, who, id, p };
	PGresult *r;
	err_t e;

	if ((e = load(db, a, who->tenant_id, id, true, &cur, p)) != ERR_OK)
		return e;
	t = integrations_type(json_get_str(cur, "type"));
	nulls = json_new_object(a);
	for (const struct integration_secret *sec = t->secrets; sec->name != NULL; sec++)
		json_object_object_add(nulls, sec->name, NULL);
	if ((e = apply_config(&s, t, nulls, json_get(cur, "config"))) != ERR_OK)
		return e;
	e = db_q(db, a, &r, "DELETE FROM integrations WHERE tenant_id = $1 AND id = $2",
		 who->tenant_id, id);
	if (e != ERR_OK)
		return err_set(p, a, e, "the integration could not be deleted");
	return audit_integration(db, a, who, AUDIT_DELETE, id, t->type, p);
}

/* ---- test runs, fan-out and the run record -------------------------------------------------- */

err_t integrations_test(db_t *db, arena_t *a, const struct principal *who, const char *id,
			json_object *data, json_object **out, struct problem *p)
{
	json_object *cur, *ev = json_new_object(a);
	char event_id[UUID_STRLEN];
	err_t e;

	if ((e = load(db, a, who->tenant_id, id, false, &cur, p)) != ERR_OK)
		return e;
	json_object_object_add(ev, "integration_id", json_object_new_string(id));
	json_object_object_add(ev, "data", data != NULL ? json_object_get(data) : json_object_new_object());
	if ((e = events_emit(db, a, who->tenant_id, "integration.test", ev, p, event_id)) != ERR_OK)
		return e;
	*out = json_new_object(a);
	json_object_object_add(*out, "event_id", json_object_new_string(event_id));
	json_object_object_add(*out, "integration_id", json_object_new_string(id));
	return ERR_OK;
}

static err_t enqueue_run(db_t *db, arena_t *a, const struct event *ev, const char *integration_id,
			 struct problem *p)
{
	json_object *pl = json_new_object(a), *e = json_object_new_object();
	struct job_spec spec = {
		.tenant_id = ev->tenant_id,
		.queue = INTEGRATIONS_QUEUE,
		.kind = INTEGRATIONS_KIND,
		.idempotency_key = arena_printf(a, "event:%s:%s", ev->id, integration_id),
	};
	char job_id[UUID_STRLEN];

	json_object_object_add(e, "id", json_object_new_string(ev->id));
	json_object_object_add(e, "type", json_object_new_string(ev->type));
	json_object_object_add(e, "data", json_object_get(ev->data));
	json_object_object_add(pl, "integration_id", json_object_new_string(integration_id));
	json_object_object_add(pl, "event", e);
	spec.payload = json_str(pl);
	return queue_enqueue(db, a, &spec, job_id, p);
}

err_t integrations_fanout(db_t *db, arena_t *a, const struct event *ev, struct problem *p)
{
	const char *flow = json_get_str(ev->data, "flow_id");
	PGresult *r;
	err_t e;

	if (strcmp(ev->type, "integration.test") == 0) {
		const char *id = json_get_str(ev->data, "integration_id");

		if (id == NULL || !crypto_uuid_valid(id))
			return err_set(p, a, ERR_VALIDATION, "integration.test needs data.integration_id");
		return enqueue_run(db, a, ev, id, p);
	}
	e = db_q(db, a, &r,
		 "SELECT id FROM integrations WHERE tenant_id = $1 AND active AND $2 = ANY (events) "
		 "AND (flow_id IS NULL OR flow_id::text = $3) ORDER BY id",
		 ev->tenant_id, ev->type, flow);
	for (int i = 0; e == ERR_OK && i < PQntuples(r); i++)
		e = enqueue_run(db, a, ev, db_val(r, i, 0), p);
	return e;
}

#define RUN_JSON \
	"json_build_object('id', id, 'job_id', job_id, 'attempt', attempt, 'trigger', trigger, " \
	"'status', status, 'duration_ms', duration_ms, 'http_status', http_status, " \
	"'request_excerpt', request_excerpt, 'response_excerpt', response_excerpt, 'error', error, " \
	"'created_at', created_at)"

err_t integrations_runs(db_t *db, arena_t *a, const char *tenant_id, const char *id, int limit,
			const char *cursor, json_object **out, struct problem *p)
{
	char lim[16];
	PGresult *r;
	json_object *cur;
	err_t e;

	if ((e = load(db, a, tenant_id, id, false, &cur, p)) != ERR_OK)
		return e;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	e = db_q(db, a, &r,
		 "SELECT " RUN_JSON ", id FROM integration_runs WHERE tenant_id = $1 AND integration_id = $2 "
		 "AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
		 tenant_id, id, cursor, lim);
	if (e != ERR_OK)
		return err_set(p, a, e, "the runs could not be listed");
	*out = rows_page(a, r, limit);
	return ERR_OK;
}
