/* flows: creators' multi-step forms, their immutable published versions, and the public read */
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "events.h"
#include "flows.h"
#include "rows.h"
#include "uploads.h"

#define GIB (1024LL * 1024 * 1024)

static const char *const field_types[] = {
	"text", "long_text", "email", "phone", "number", "choice", "multi_choice", "date", "file", NULL
};

static const struct jv_field choice_item = { NULL, JV_STRING, false, false, 1, 200, NULL, NULL, NULL };
static const struct jv_field mime_item = { NULL, JV_STRING, false, false, 3, 127, NULL, NULL, NULL };

static const struct jv_field field_fields[] = {
	{ "key",        JV_STRING, true,  false, 1, 64, NULL, NULL, NULL },
	{ "label",      JV_STRING, true,  false, 1, 500, NULL, NULL, NULL },
	{ "type",       JV_ENUM,   true,  false, 0, 0, field_types, NULL, NULL },
	{ "required",   JV_BOOL,   false, false, 0, 0, NULL, NULL, NULL },
	{ "choices",    JV_ARRAY,  false, false, 1, 200, NULL, NULL, &choice_item },
	{ "min",        JV_INT,    false, true,  -1000000000000000LL, 1000000000000000LL, NULL, NULL, NULL },
	{ "max",        JV_INT,    false, true,  -1000000000000000LL, 1000000000000000LL, NULL, NULL, NULL },
	{ "max_length", JV_INT,    false, true,  1, 100000, NULL, NULL, NULL },
	{ "accept",     JV_ARRAY,  false, true,  1, 50, NULL, NULL, &mime_item },
	{ "max_size",   JV_INT,    false, true,  1, 5 * GIB, NULL, NULL, NULL },
	{ "sensitive",  JV_BOOL,   false, false, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};
static const struct jv_field field_item = { NULL, JV_OBJECT, false, false, 0, 0, NULL, field_fields, NULL };

static const struct jv_field step_fields[] = {
	{ "key",    JV_STRING, true,  false, 1, 64, NULL, NULL, NULL },
	{ "title",  JV_STRING, false, false, 0, 500, NULL, NULL, NULL },
	{ "fields", JV_ARRAY,  true,  false, 0, 100, NULL, NULL, &field_item },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};
static const struct jv_field step_item = { NULL, JV_OBJECT, false, false, 0, 0, NULL, step_fields, NULL };

static const struct jv_field uploads_fields[] = {
	{ "max_files",       JV_INT, false, true, 0, 1000, NULL, NULL, NULL },
	{ "max_total_bytes", JV_INT, false, true, 0, 100 * GIB, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

const struct jv_field flows_schema[] = {
	{ "name",    JV_STRING, true,  false, 1, 200, NULL, NULL, NULL },
	{ "uploads", JV_OBJECT, false, true,  0, 0, NULL, uploads_fields, NULL },
	{ "steps",   JV_ARRAY,  false, false, 0, 50, NULL, NULL, &step_item },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

const struct jv_field flows_patch_schema[] = {
	{ "name",    JV_STRING, false, false, 1, 200, NULL, NULL, NULL },
	{ "uploads", JV_OBJECT, false, true,  0, 0, NULL, uploads_fields, NULL },
	{ "steps",   JV_ARRAY,  false, false, 0, 50, NULL, NULL, &step_item },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

/* The JSON of a flow as every read returns it. */
#define FLOW_JSON \
	"json_build_object('id', id, 'name', name, 'uploads', definition->'uploads', " \
	"'steps', definition->'steps', 'status', CASE WHEN published_version IS NULL THEN 'draft' " \
	"ELSE 'published' END, 'published_version', published_version, 'created_at', created_at, " \
	"'updated_at', updated_at, 'created_by', created_by, 'updated_by', updated_by)"

#define VERSION_JSON \
	"json_build_object('flow_id', flow_id, 'version', version, 'name', name, " \
	"'uploads', definition->'uploads', 'steps', definition->'steps', 'published_at', published_at, " \
	"'published_by', published_by)"

static bool valid_key(const char *k)
{
	if (k == NULL || k[0] < 'a' || k[0] > 'z')
		return false;
	return strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(k);
}

static bool has(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v != NULL;
}

/* Attributes that only some field types take: {attribute, types that accept it}. */
static const struct {
	const char *attr;
	const char *types;
} attr_types[] = {
	{ "choices", " choice multi_choice " },
	{ "min", " number " },
	{ "max", " number " },
	{ "max_length", " text long_text " },
	{ "accept", " file " },
	{ "max_size", " file " },
};

/* A file field's accept entries must name types the upload check knows (services/uploads_validate.c),
 * or a session would promise what every upload then fails. */
static void check_accept(json_object *acc, const char *path, struct problem *p, arena_t *a)
{
	for (size_t i = 0; acc != NULL && json_object_is_type(acc, json_type_array) &&
			   i < json_object_array_length(acc); i++) {
		const char *e = json_object_get_string(json_object_array_get_idx(acc, i));

		if (e != NULL && !uploads_accept_entry_valid(e))
			(void)err_field(p, a, arena_printf(a, "%s.accept[%zu]", path, i),
					"is not a known type: use a MIME type (application/pdf), a kind "
					"(image/*) or an extension (.docx) of an accepted type");
	}
}

static void check_field(json_object *f, const char *path, struct problem *p, arena_t *a)
{
	const char *type = json_get_str(f, "type");
	char pad[32];

	snprintf(pad, sizeof(pad), " %s ", type ? type : "");
	if (!valid_key(json_get_str(f, "key")))
		(void)err_field(p, a, arena_printf(a, "%s.key", path),
				"must start with a-z and hold only a-z, 0-9 and _");
	for (size_t i = 0; i < NELEM(attr_types); i++)
		if (has(f, attr_types[i].attr) && strstr(attr_types[i].types, pad) == NULL)
			(void)err_field(p, a, arena_printf(a, "%s.%s", path, attr_types[i].attr),
					"does not apply to a field of type %s", type);
	if (strstr(" choice multi_choice ", pad) != NULL && !has(f, "choices"))
		(void)err_field(p, a, arena_printf(a, "%s.choices", path), "is required for type %s", type);
	if (has(f, "min") && has(f, "max") && json_get_int(f, "min", 0) > json_get_int(f, "max", 0))
		(void)err_field(p, a, arena_printf(a, "%s.min", path), "must not be greater than max");
	check_accept(json_get(f, "accept"), path, p, a);
}

/* Keys must be unique: step keys among steps, field keys across the whole flow (answers are keyed by them). */
static void check_unique(json_object *seen, const char *key, const char *path, struct problem *p,
			 arena_t *a)
{
	if (key == NULL)
		return;
	if (json_object_object_get_ex(seen, key, NULL))
		(void)err_field(p, a, path, "duplicates the key \"%s\"", key);
	else
		json_object_object_add(seen, key, NULL);
}

err_t flows_check(json_object *def, struct problem *p, arena_t *a)
{
	json_object *steps = json_get(def, "steps");
	json_object *step_keys = json_new_object(a), *field_keys = json_new_object(a);
	size_t before = p->nfields;

	for (size_t i = 0; steps != NULL && i < json_object_array_length(steps); i++) {
		json_object *s = json_object_array_get_idx(steps, i);
		json_object *fields = json_get(s, "fields");

		if (!valid_key(json_get_str(s, "key")))
			(void)err_field(p, a, arena_printf(a, "steps[%zu].key", i),
					"must start with a-z and hold only a-z, 0-9 and _");
		check_unique(step_keys, json_get_str(s, "key"), arena_printf(a, "steps[%zu].key", i), p, a);
		for (size_t j = 0; fields != NULL && j < json_object_array_length(fields); j++) {
			json_object *f = json_object_array_get_idx(fields, j);
			const char *path = arena_printf(a, "steps[%zu].fields[%zu]", i, j);

			check_field(f, path, p, a);
			check_unique(field_keys, json_get_str(f, "key"), arena_printf(a, "%s.key", path), p, a);
		}
	}
	return p->nfields > before ? ERR_VALIDATION : ERR_OK;
}

/* {"uploads": ..., "steps": ...} from a validated body, as JSON text for a jsonb parameter. */
static const char *definition(arena_t *a, json_object *uploads, json_object *steps)
{
	json_object *def = json_new_object(a);

	json_object_object_add(def, "uploads", json_object_get(uploads));
	json_object_object_add(def, "steps", steps ? json_object_get(steps) : json_object_new_array());
	return arena_strdup(a, json_str(def));
}

static err_t one_flow(arena_t *a, PGresult *r, json_object **out, struct problem *p)
{
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no flow with this id");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}

err_t flows_create(db_t *db, arena_t *a, const struct principal *who, json_object *body,
		   json_object **out, struct problem *p)
{
	char id[UUID_STRLEN];
	PGresult *r;
	err_t e;

	if ((e = flows_check(body, p, a)) != ERR_OK)
		return e;
	crypto_uuid7(id);
	e = db_q(db, a, &r,
		 "INSERT INTO flows (tenant_id, id, name, definition, created_by, updated_by) "
		 "VALUES ($1, $2, $3, $4::jsonb, $5, $5) RETURNING " FLOW_JSON,
		 who->tenant_id, id, json_get_str(body, "name"),
		 definition(a, json_get(body, "uploads"), json_get(body, "steps")), who->key_id);
	return e != ERR_OK ? e : one_flow(a, r, out, p);
}

err_t flows_get(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		struct problem *p)
{
	PGresult *r;
	err_t e = db_q(db, a, &r, "SELECT " FLOW_JSON " FROM flows WHERE tenant_id = $1 AND id = $2",
		       tenant_id, id);

	return e != ERR_OK ? e : one_flow(a, r, out, p);
}

err_t flows_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
		 json_object **out, struct problem *p)
{
	(void)p;
	return rows_keyset(db, a,
			   "SELECT " FLOW_JSON ", id FROM flows WHERE tenant_id = $1 "
			   "AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
			   tenant_id, limit, cursor, out);
}

err_t flows_update(db_t *db, arena_t *a, const struct principal *who, const char *id,
		   json_object *patch, json_object **out, struct problem *p)
{
	json_object *cur = NULL, *merged;
	PGresult *r;
	err_t e;

	e = db_q(db, a, &r, "SELECT " FLOW_JSON " FROM flows WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
		 who->tenant_id, id);
	if (e != ERR_OK || (e = one_flow(a, r, &cur, p)) != ERR_OK)
		return e;
	merged = json_new_object(a);
	/* PATCH: a key that is present replaces (uploads: null clears it); an absent key keeps */
	json_object_object_add(merged, "uploads", json_object_get(json_get(
		json_object_object_get_ex(patch, "uploads", NULL) ? patch : cur, "uploads")));
	json_object_object_add(merged, "steps",
			       json_object_get(json_get(has(patch, "steps") ? patch : cur, "steps")));
	if ((e = flows_check(merged, p, a)) != ERR_OK)
		return e;
	e = db_q(db, a, &r,
		 "UPDATE flows SET name = coalesce($3, name), definition = $4::jsonb, updated_at = now(), "
		 "updated_by = $5 WHERE tenant_id = $1 AND id = $2 RETURNING " FLOW_JSON,
		 who->tenant_id, id, json_get_str(patch, "name"),
		 definition(a, json_get(merged, "uploads"), json_get(merged, "steps")), who->key_id);
	return e != ERR_OK ? e : one_flow(a, r, out, p);
}

err_t flows_delete(db_t *db, arena_t *a, const char *tenant_id, const char *id, struct problem *p)
{
	PGresult *r;
	err_t e = db_q(db, a, &r, "DELETE FROM flows WHERE tenant_id = $1 AND id = $2 RETURNING id",
		       tenant_id, id);

	if (e == ERR_OK && PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no flow with this id");
	return e;
}

static err_t emit(db_t *db, arena_t *a, const char *tenant_id, const char *type, json_object *flow,
		  struct problem *p)
{
	json_object *data = json_new_object(a);
	char event_id[UUID_STRLEN];

	json_object_object_add(data, "flow_id", json_object_get(json_get(flow, "id")));
	json_object_object_add(data, "name", json_object_get(json_get(flow, "name")));
	json_object_object_add(data, "version", json_object_get(json_get(flow, "published_version")));
	return events_emit(db, a, tenant_id, type, data, p, event_id);
}

err_t flows_publish(db_t *db, arena_t *a, const struct principal *who, const char *id,
		    json_object **out, struct problem *p)
{
	json_object *steps;
	PGresult *r;
	err_t e;

	if ((e = flows_get(db, a, who->tenant_id, id, out, p)) != ERR_OK)
		return e;
	steps = json_get(*out, "steps");
	if (steps == NULL || json_object_array_length(steps) == 0)
		return err_field(p, a, "steps", "a flow needs at least one step to be published");
	e = db_q(db, a, &r,
		 "WITH f AS (SELECT * FROM flows WHERE tenant_id = $1 AND id = $2 FOR UPDATE), "
		 "v AS (INSERT INTO flow_versions (tenant_id, flow_id, version, name, definition, published_by) "
		 "  SELECT f.tenant_id, f.id, coalesce((SELECT max(version) FROM flow_versions x "
		 "  WHERE x.tenant_id = $1 AND x.flow_id = $2), 0) + 1, f.name, f.definition, $3 FROM f "
		 "  RETURNING version) "
		 "UPDATE flows SET published_version = (SELECT version FROM v), updated_at = now(), "
		 "updated_by = $3 WHERE tenant_id = $1 AND id = $2 RETURNING " FLOW_JSON,
		 who->tenant_id, id, who->key_id);
	if (e != ERR_OK || (e = one_flow(a, r, out, p)) != ERR_OK)
		return e;
	return emit(db, a, who->tenant_id, "flow.published", *out, p);
}

err_t flows_unpublish(db_t *db, arena_t *a, const struct principal *who, const char *id,
		      json_object **out, struct problem *p)
{
	PGresult *r;
	err_t e;

	if ((e = flows_get(db, a, who->tenant_id, id, out, p)) != ERR_OK)
		return e;
	if (json_get(*out, "published_version") == NULL)
		return err_set(p, a, ERR_CONFLICT, "the flow is not published");
	if ((e = emit(db, a, who->tenant_id, "flow.unpublished", *out, p)) != ERR_OK)
		return e;
	e = db_q(db, a, &r,
		 "UPDATE flows SET published_version = NULL, updated_at = now(), updated_by = $3 "
		 "WHERE tenant_id = $1 AND id = $2 RETURNING " FLOW_JSON,
		 who->tenant_id, id, who->key_id);
	return e != ERR_OK ? e : one_flow(a, r, out, p);
}

err_t flows_versions(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		     struct problem *p)
{
	json_object *flow = NULL, *items;
	PGresult *r;
	err_t e;

	if ((e = flows_get(db, a, tenant_id, id, &flow, p)) != ERR_OK)
		return e;
	e = db_q(db, a, &r,
		 "SELECT json_build_object('version', version, 'name', name, 'published_at', published_at, "
		 "'published_by', published_by) FROM flow_versions WHERE tenant_id = $1 AND flow_id = $2 "
		 "ORDER BY version DESC LIMIT 1000",
		 tenant_id, id);
	if (e != ERR_OK)
		return e;
	*out = json_new_object(a);
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_object_array_add(items, json_object_get(rows_json(a, r, i, 0)));
	json_object_object_add(*out, "items", items);
	json_object_object_add(*out, "published_version", json_object_get(json_get(flow, "published_version")));
	return ERR_OK;
}

err_t flows_version(db_t *db, arena_t *a, const char *tenant_id, const char *id, const char *version,
		    json_object **out, struct problem *p)
{
	PGresult *r;
	err_t e = db_q(db, a, &r,
		       "SELECT " VERSION_JSON " FROM flow_versions WHERE tenant_id = $1 AND flow_id = $2 "
		       "AND version = $3::integer",
		       tenant_id, id, version);

	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no such flow version");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}

err_t flows_public(db_t *db, arena_t *a, const char *id, json_object **out, struct problem *p)
{
	PGresult *r;
	const char *tenant;
	err_t e = db_q(db, a, &r, "SELECT atrium_published_flow_tenant($1)", id);

	if (e != ERR_OK)
		return e;
	if ((tenant = db_val(r, 0, 0)) == NULL)
		return err_set(p, a, ERR_NOT_FOUND, "no published flow with this id");
	if ((e = db_set_tenant(db, tenant)) != ERR_OK)
		return e;
	e = db_q(db, a, &r,
		 "SELECT " VERSION_JSON " FROM flow_versions v WHERE tenant_id = $1 AND flow_id = $2 "
		 "AND version = (SELECT published_version FROM flows WHERE tenant_id = $1 AND id = $2)",
		 tenant, id);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no published flow with this id");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}
