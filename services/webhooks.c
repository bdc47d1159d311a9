/* webhooks: the event catalogue, endpoints with sealed signing secrets and custom headers, and
 * the fan-out of events to deliveries (DESIGN §7) */
#include <string.h>
#include <strings.h>

#include "audit.h"
#include "crypto.h"
#include "log.h"
#include "rows.h"
#include "secrets.h"
#include "webhooks.h"

#define TABLE "webhook_endpoints"
#define PLACEHOLDER "********"

/* The catalogue: a type joins here when the issue that emits it lands. */
static const struct { const char *type, *description; } catalogue[] = {
	{ "flow.published", "a flow version was published" },
	{ "flow.unpublished", "a flow was unpublished" },
	{ "webhook.test", "a test event sent from POST /v1/webhooks/endpoints/{id}/test" },
	/* -- submissions: submission.created, submission.completed join here -- */
	/* -- media: media.ready, media.rejected join here -- */
	{ "media.ready", "an asset passed scanning and validation; its variants and preview metadata are ready" },
	{ "media.rejected", "an asset was rejected (reason: infected, corrupt, unsupported_type, too_many_pixels, too_long, processing_failed, ...)" },
};

const char *const webhooks_event_types[] = {
	"flow.published", "flow.unpublished", "webhook.test",
	/* -- the same types as the catalogue above, for the route's enum validator -- */
	"media.ready", "media.rejected",
	NULL
};

static bool catalogued(const char *type)
{
	for (size_t i = 0; webhooks_event_types[i] != NULL; i++)
		if (strcmp(type, webhooks_event_types[i]) == 0)
			return true;
	return false;
}

json_object *webhooks_event_types_json(arena_t *a)
{
	json_object *out = json_new_object(a), *items = json_object_new_array();

	for (size_t i = 0; i < NELEM(catalogue); i++) {
		json_object *t = json_object_new_object();

		json_object_object_add(t, "type", json_object_new_string(catalogue[i].type));
		json_object_object_add(t, "description", json_object_new_string(catalogue[i].description));
		json_object_array_add(items, t);
	}
	json_object_object_add(out, "items", items);
	return out;
}

/* ---- custom headers ------------------------------------------------------------------------- */

static bool header_forbidden(const char *k)
{
	static const char *const names[] = { "host", "content-type", "content-length", "connection",
		"transfer-encoding", "expect", "te", "upgrade", "trailer", "keep-alive", "user-agent", NULL };

	for (size_t i = 0; names[i] != NULL; i++)
		if (strcasecmp(k, names[i]) == 0)
			return true;
	return strncasecmp(k, "webhook-", 8) == 0 || strncasecmp(k, "proxy-", 6) == 0;
}

static bool header_name_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > 100)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '-' || k[i] == '_'))
			return false;
	return true;
}

/* Values of these headers are write-only: sealed, and read back as "********". */
static bool header_sensitive(const char *k)
{
	static const char *const parts[] = { "auth", "token", "secret", "key", "cookie", "password",
					     "signature", NULL };

	for (size_t i = 0; parts[i] != NULL; i++)
		if (strcasestr(k, parts[i]) != NULL)
			return true;
	return false;
}

static err_t check_headers(arena_t *a, json_object *h, struct problem *p)
{
	err_t e = ERR_OK;

	if (h == NULL)
		return ERR_OK;
	json_object_object_foreach(h, k, v) {
		(void)v;
		if (!header_name_ok(k))
			e = err_field(p, a, arena_printf(a, "headers.%s", k), "not a valid header name");
		else if (header_forbidden(k))
			e = err_field(p, a, arena_printf(a, "headers.%s", k), "this header may not be set");
	}
	return e;
}

static err_t seal_headers(db_t *db, arena_t *a, const struct principal *who, const char *id,
			  json_object *given, json_object *stored, struct problem *p)
{
	err_t e = ERR_OK;

	if (given == NULL)
		return ERR_OK;
	json_object_object_foreach(given, k, v) {
		const char *val = json_object_get_string(v);
		struct secret_owner o = { who->tenant_id, TABLE, id, arena_printf(a, "headers.%s", k) };
		char ref[UUID_STRLEN];
		json_object *r;

		if (!header_sensitive(k)) {
			json_object_object_add(stored, k, json_object_new_string(val));
			continue;
		}
		if ((e = secrets_seal(db, a, &o, val, strlen(val), who->key_id, ref, p)) != ERR_OK)
			return e;
		r = json_object_new_object();
		json_object_object_add(r, "secret_ref", json_object_new_string(ref));
		json_object_object_add(stored, k, r);
	}
	return e;
}

static err_t destroy_headers(db_t *db, arena_t *a, const struct principal *who, const char *id,
			     json_object *stored, struct problem *p)
{
	err_t e = ERR_OK;

	if (stored == NULL)
		return ERR_OK;
	json_object_object_foreach(stored, k, v) {
		const char *ref = json_get_str(v, "secret_ref");
		struct secret_owner o = { who->tenant_id, TABLE, id, arena_printf(a, "headers.%s", k) };

		if (ref != NULL && (e = secrets_destroy(db, a, &o, ref, who->key_id, p)) != ERR_OK)
			return e;
	}
	return e;
}

/* ---- reading -------------------------------------------------------------------------------- */

#define ENDPOINT_JSON \
	"json_build_object('id', w.id, 'url', w.url, 'description', w.description, " \
	"'event_types', to_json(w.event_types), 'active', w.active, 'headers', w.headers, " \
	"'disabled_reason', w.disabled_reason, 'rotating_until', " \
	"CASE WHEN w.old_expires_at > now() THEN w.old_expires_at END, " \
	"'created_at', w.created_at, 'updated_at', w.updated_at, " \
	"'_secret_ref', w.secret_ref, '_old_secret_ref', w.old_secret_ref)"

static void present(json_object *o)
{
	json_object *h = json_get(o, "headers");

	if (h == NULL)
		return;
	json_object_object_foreach(h, k, v)
		if (json_object_is_type(v, json_type_object))
			json_object_object_add(h, k, json_object_new_string(PLACEHOLDER));
	json_object_object_del(o, "_secret_ref");
	json_object_object_del(o, "_old_secret_ref");
}

static err_t load(db_t *db, arena_t *a, const char *tenant_id, const char *id, bool for_update,
		  json_object **out, struct problem *p)
{
	PGresult *r;
	err_t e;

	if (!crypto_uuid_valid(id))
		return err_set(p, a, ERR_NOT_FOUND, "no such webhook endpoint");
	e = db_exec(db, a, &r, for_update ?
		    "SELECT " ENDPOINT_JSON " FROM webhook_endpoints w WHERE w.tenant_id = $1 AND w.id = $2 FOR UPDATE" :
		    "SELECT " ENDPOINT_JSON " FROM webhook_endpoints w WHERE w.tenant_id = $1 AND w.id = $2",
		    2, (const char *const[]){ tenant_id, id });
	if (e != ERR_OK)
		return err_set(p, a, e, "the webhook endpoint could not be read");
	if (PQntuples(r) != 1)
		return err_set(p, a, ERR_NOT_FOUND, "no such webhook endpoint");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}

err_t webhooks_get(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		   struct problem *p)
{
	err_t e = load(db, a, tenant_id, id, false, out, p);

	if (e == ERR_OK)
		present(*out);
	return e;
}

err_t webhooks_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
		    json_object **out, struct problem *p)
{
	json_object *items;
	err_t e = rows_keyset(db, a,
			      "SELECT " ENDPOINT_JSON ", w.id FROM webhook_endpoints w WHERE w.tenant_id = $1 "
			      "AND ($2::uuid IS NULL OR w.id < $2) ORDER BY w.id DESC LIMIT $3",
			      tenant_id, limit, cursor, out);

	if (e != ERR_OK)
		return err_set(p, a, e, "the webhook endpoints could not be listed");
	items = json_get(*out, "items");
	for (size_t i = 0; i < json_object_array_length(items); i++)
		present(json_object_array_get_idx(items, i));
	return ERR_OK;
}

/* ---- writing -------------------------------------------------------------------------------- */

static err_t check_url(arena_t *a, const struct config *cfg, const char *url, struct problem *p)
{
	struct http_policy pol;
	const char *why;
	char msg[200];

	if (url == NULL)
		return ERR_OK;
	if (http_policy_from_config(cfg, &pol, msg, sizeof(msg)) != 0)
		return err_set(p, a, ERR_INTERNAL, "the outbound HTTP policy is misconfigured");
	if (http_url_check(&pol, a, url, &why) != ERR_OK)
		return err_field(p, a, "url", "%s", why);
	return ERR_OK;
}

/* "whsec_" and the base64 of 32 random bytes. */
static char *new_secret(arena_t *a)
{
	unsigned char raw[32];
	char b64[64];

	if (crypto_random(raw, sizeof(raw)) != 0 || crypto_b64_encode(raw, sizeof(raw), b64, sizeof(b64), false) < 0)
		log_fatal("webhooks.random", "could not generate a signing secret");
	crypto_wipe(raw, sizeof(raw));
	return arena_printf(a, WEBHOOK_SECRET_PREFIX "%s", b64);
}

static err_t seal_secret(db_t *db, arena_t *a, const struct principal *who, const char *id,
			 const char *secret, char ref[UUID_STRLEN], struct problem *p)
{
	struct secret_owner o = { who->tenant_id, TABLE, id, "signing_secret" };

	return secrets_seal(db, a, &o, secret, strlen(secret), who->key_id, ref, p);
}

static const char *types_text(json_object *types)
{
	return types != NULL ? json_str(types) : NULL;
}

static err_t insert(db_t *db, arena_t *a, const struct principal *who, const char *id, json_object *body,
		    json_object *headers, const char *ref, struct problem *p)
{
	const char *desc = json_get_str(body, "description");
	PGresult *r;
	err_t e = db_q(db, a, &r,
		       "INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, active, "
		       "headers, secret_ref, created_by, updated_by) VALUES ($1, $2, $3, $4, "
		       "ARRAY(SELECT jsonb_array_elements_text(coalesce($5::jsonb, '[]'))), $6, $7, $8, $9, $9)",
		       who->tenant_id, id, json_get_str(body, "url"), desc != NULL ? desc : "",
		       types_text(json_get(body, "event_types")),
		       json_get_bool(body, "active", true) ? "true" : "false", json_str(headers), ref,
		       who->key_id);

	return e == ERR_OK ? ERR_OK : err_set(p, a, e, "the webhook endpoint could not be stored");
}

static err_t audit_endpoint(db_t *db, arena_t *a, const struct principal *who, const char *action,
			    const char *id, struct problem *p)
{
	return audit_record(db, a, who->tenant_id, who->key_id, action, "webhook_endpoint", id, NULL, p);
}

err_t webhooks_create(db_t *db, arena_t *a, const struct config *cfg, const struct principal *who,
		      json_object *body, json_object **out, struct problem *p)
{
	json_object *headers = json_new_object(a);
	char id[UUID_STRLEN], ref[UUID_STRLEN];
	char *secret;
	err_t e;

	if ((e = check_url(a, cfg, json_get_str(body, "url"), p)) != ERR_OK ||
	    (e = check_headers(a, json_get(body, "headers"), p)) != ERR_OK)
		return e;
	crypto_uuid7(id);
	secret = new_secret(a);
	if ((e = seal_secret(db, a, who, id, secret, ref, p)) != ERR_OK ||
	    (e = seal_headers(db, a, who, id, json_get(body, "headers"), headers, p)) != ERR_OK ||
	    (e = insert(db, a, who, id, body, headers, ref, p)) != ERR_OK ||
	    (e = audit_endpoint(db, a, who, AUDIT_CREATE, id, p)) != ERR_OK ||
	    (e = webhooks_get(db, a, who->tenant_id, id, out, p)) != ERR_OK)
		return e;
	json_object_object_add(*out, "secret", json_object_new_string(secret));
	return ERR_OK;
}

static err_t store_update(db_t *db, arena_t *a, const struct principal *who, const char *id,
			  json_object *body, json_object *headers, struct problem *p)
{
	json_object *active = json_get(body, "active");
	PGresult *r;
	err_t e = db_q(db, a, &r,
		       "UPDATE webhook_endpoints SET url = coalesce($3, url), "
		       "description = coalesce($4, description), "
		       "event_types = CASE WHEN $5::jsonb IS NULL THEN event_types ELSE "
		       "  ARRAY(SELECT jsonb_array_elements_text($5::jsonb)) END, "
		       "active = coalesce($6::boolean, active), headers = coalesce($7::jsonb, headers), "
		       "disabled_reason = CASE WHEN $6::boolean THEN NULL ELSE disabled_reason END, "
		       "updated_by = $8, updated_at = now() WHERE tenant_id = $1 AND id = $2",
		       who->tenant_id, id, json_get_str(body, "url"), json_get_str(body, "description"),
		       types_text(json_get(body, "event_types")),
		       active != NULL ? (json_object_get_boolean(active) ? "true" : "false") : NULL,
		       headers != NULL ? json_str(headers) : NULL, who->key_id);

	return e == ERR_OK ? ERR_OK : err_set(p, a, e, "the webhook endpoint could not be updated");
}

err_t webhooks_update(db_t *db, arena_t *a, const struct config *cfg, const struct principal *who,
		      const char *id, json_object *body, json_object **out, struct problem *p)
{
	json_object *cur, *given = json_get(body, "headers"), *headers = NULL;
	err_t e;

	if ((e = load(db, a, who->tenant_id, id, true, &cur, p)) != ERR_OK ||
	    (e = check_url(a, cfg, json_get_str(body, "url"), p)) != ERR_OK ||
	    (e = check_headers(a, given, p)) != ERR_OK)
		return e;
	if (given != NULL) {
		headers = json_new_object(a);
		if ((e = destroy_headers(db, a, who, id, json_get(cur, "headers"), p)) != ERR_OK ||
		    (e = seal_headers(db, a, who, id, given, headers, p)) != ERR_OK)
			return e;
	}
	if ((e = store_update(db, a, who, id, body, headers, p)) != ERR_OK ||
	    (e = audit_endpoint(db, a, who, AUDIT_UPDATE, id, p)) != ERR_OK)
		return e;
	return webhooks_get(db, a, who->tenant_id, id, out, p);
}

err_t webhooks_delete(db_t *db, arena_t *a, const struct principal *who, const char *id,
		      struct problem *p)
{
	struct secret_owner o = { who->tenant_id, TABLE, id, "signing_secret" };
	const char *old;
	json_object *cur;
	PGresult *r;
	err_t e;

	if ((e = load(db, a, who->tenant_id, id, true, &cur, p)) != ERR_OK ||
	    (e = destroy_headers(db, a, who, id, json_get(cur, "headers"), p)) != ERR_OK ||
	    (e = secrets_destroy(db, a, &o, json_get_str(cur, "_secret_ref"), who->key_id, p)) != ERR_OK)
		return e;
	old = json_get_str(cur, "_old_secret_ref");
	if (old != NULL && (e = secrets_destroy(db, a, &o, old, who->key_id, p)) != ERR_OK)
		return e;
	e = db_q(db, a, &r, "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
		 who->tenant_id, id);
	if (e != ERR_OK)
		return err_set(p, a, e, "the webhook endpoint could not be deleted");
	return audit_endpoint(db, a, who, AUDIT_DELETE, id, p);
}

/* ---- secrets -------------------------------------------------------------------------------- */

err_t webhooks_rotate(db_t *db, arena_t *a, const struct principal *who, const char *id,
		      json_object **out, struct problem *p)
{
	struct secret_owner o = { who->tenant_id, TABLE, id, "signing_secret" };
	const char *older;
	char *secret = new_secret(a);
	char ref[UUID_STRLEN], ttl[16];
	json_object *cur;
	PGresult *r;
	err_t e;

	if ((e = load(db, a, who->tenant_id, id, true, &cur, p)) != ERR_OK)
		return e;
	older = json_get_str(cur, "_old_secret_ref");     /* a rotation during a rotation drops it */
	if (older != NULL && (e = secrets_destroy(db, a, &o, older, who->key_id, p)) != ERR_OK)
		return e;
	if ((e = seal_secret(db, a, who, id, secret, ref, p)) != ERR_OK)
		return e;
	snprintf(ttl, sizeof(ttl), "%d", WEBHOOK_ROTATION_S);
	e = db_q(db, a, &r,
		 "UPDATE webhook_endpoints SET old_secret_ref = secret_ref, secret_ref = $3, "
		 "old_expires_at = now() + make_interval(secs => $4::int), updated_at = now(), updated_by = $5 "
		 "WHERE tenant_id = $1 AND id = $2 RETURNING old_expires_at",
		 who->tenant_id, id, ref, ttl, who->key_id);
	if (e != ERR_OK)
		return err_set(p, a, e, "the signing secret could not be rotated");
	*out = json_new_object(a);
	json_object_object_add(*out, "secret", json_object_new_string(secret));
	json_object_object_add(*out, "old_expires_at", json_object_new_string(db_val(r, 0, 0)));
	return audit_endpoint(db, a, who, AUDIT_ROTATE, id, p);
}

err_t webhooks_reveal(db_t *db, arena_t *a, const struct principal *who, const char *id,
		      json_object **out, struct problem *p)
{
	struct secret_owner o = { who->tenant_id, TABLE, id, "signing_secret" };
	json_object *cur;
	char *plain;
	size_t n;
	err_t e;

	if ((e = load(db, a, who->tenant_id, id, false, &cur, p)) != ERR_OK ||
	    (e = secrets_open(db, a, &o, json_get_str(cur, "_secret_ref"), who->key_id, AUDIT_REVEAL,
			      &plain, &n, p)) != ERR_OK)
		return e;
	*out = json_new_object(a);
	json_object_object_add(*out, "secret", json_object_new_string_len(plain, (int)n));
	return ERR_OK;
}

/* ---- events --------------------------------------------------------------------------------- */

err_t webhooks_test(db_t *db, arena_t *a, const struct principal *who, const char *id,
		    json_object **out, struct problem *p)
{
	json_object *cur, *data = json_new_object(a);
	char event_id[UUID_STRLEN];
	err_t e;

	if ((e = load(db, a, who->tenant_id, id, false, &cur, p)) != ERR_OK)
		return e;
	json_object_object_add(data, "endpoint_id", json_object_new_string(id));
	if ((e = events_emit(db, a, who->tenant_id, "webhook.test", data, p, event_id)) != ERR_OK)
		return e;
	*out = json_new_object(a);
	json_object_object_add(*out, "event_id", json_object_new_string(event_id));
	return ERR_OK;
}

static err_t enqueue_delivery(db_t *db, arena_t *a, const struct event *ev, const char *endpoint_id,
			      struct problem *p)
{
	struct job_spec spec = {
		.tenant_id = ev->tenant_id,
		.queue = WEBHOOKS_QUEUE,
		.kind = WEBHOOKS_KIND,
		.idempotency_key = arena_printf(a, "event:%s:%s", ev->id, endpoint_id),
		.payload = arena_printf(a, "{\"endpoint_id\":\"%s\",\"event_id\":\"%s\"}", endpoint_id, ev->id),
	};
	char job_id[UUID_STRLEN];
	PGresult *r;
	err_t e = queue_enqueue(db, a, &spec, job_id, p);

	if (e != ERR_OK)
		return e;
	e = db_q(db, a, &r,
		 "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type) "
		 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
		 ev->tenant_id, job_id, endpoint_id, ev->id, ev->type);
	return e == ERR_OK ? ERR_OK : err_set(p, a, e, "the webhook delivery could not be stored");
}

err_t webhooks_fanout(db_t *db, arena_t *a, const struct event *ev, struct problem *p)
{
	PGresult *r;
	err_t e;

	if (strcmp(ev->type, "webhook.test") == 0) {
		const char *id = json_get_str(ev->data, "endpoint_id");

		if (id == NULL || !crypto_uuid_valid(id))
			return err_set(p, a, ERR_VALIDATION, "webhook.test needs data.endpoint_id");
		return enqueue_delivery(db, a, ev, id, p);
	}
	if (!catalogued(ev->type))
		return ERR_OK;
	e = db_q(db, a, &r,
		 "SELECT id FROM webhook_endpoints WHERE tenant_id = $1 AND active "
		 "AND (cardinality(event_types) = 0 OR $2 = ANY (event_types)) ORDER BY id",
		 ev->tenant_id, ev->type);
	for (int i = 0; e == ERR_OK && i < PQntuples(r); i++)
		e = enqueue_delivery(db, a, ev, db_val(r, i, 0), p);
	return e == ERR_OK ? ERR_OK : err_set(p, a, e, "webhook deliveries could not be created");
}
