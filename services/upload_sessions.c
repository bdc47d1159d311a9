/* upload_sessions: end users' upload sessions on published flows — the session row and its signed
 * token, the limits per file field, and the admission of each public upload against them */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "log.h"
#include "rows.h"
#include "secrets.h"
#include "upload_sessions.h"

#define MIB (1024LL * 1024)
#define TOKEN_PURPOSE "atrium-upload-session-token-v1"
#define TOKEN_MAX 512
#define RATE_WINDOW_S 60

/* The session token key: derived from the newest master key (secrets_derive_key). */
static err_t token_key(unsigned char key[UPLOAD_KEY_LEN], arena_t *a, struct problem *p)
{
	if (secrets_derive_key(TOKEN_PURPOSE, key) != 0)
		return err_set(p, a, ERR_INTERNAL, "no key is loaded to sign upload sessions");
	return ERR_OK;
}

/* The file fields of a flow version's definition ($1 tenant, $2 flow, $3 version) as a jsonb array
 * of {key, label, accept, max_size}: the fields as the creator wrote them. */
#define FILE_FIELDS_SQL \
	"(SELECT coalesce(jsonb_agg(jsonb_build_object('key', f->>'key', 'label', f->>'label'," \
	" 'accept', f->'accept', 'max_size', f->'max_size') ORDER BY st.i, fi.j), '[]'::jsonb)" \
	" FROM jsonb_array_elements(coalesce(v.definition->'steps', '[]'::jsonb)) WITH ORDINALITY st(s, i)," \
	" jsonb_array_elements(coalesce(st.s->'fields', '[]'::jsonb)) WITH ORDINALITY fi(f, j)" \
	" WHERE f->>'type' = 'file')"

/* Fills in what a field left to the defaults: the safe list for accept, ATRIUM_UPLOAD_MAX_MB
 * for max_size (and caps a larger one at it, since creation refuses more anyway). */
static void field_defaults(json_object *fields, const struct config *c)
{
	const char *safe[32];
	size_t nsafe = uploads_safe_types(safe, NELEM(safe));
	int64_t cap = (int64_t)c->upload_max_mb * MIB;

	for (size_t i = 0; i < json_object_array_length(fields); i++) {
		json_object *f = json_object_array_get_idx(fields, i), *acc;
		int64_t max = json_get_int(f, "max_size", 0);

		if (json_get(f, "accept") == NULL) {
			acc = json_object_new_array();
			for (size_t k = 0; k < nsafe; k++)
				json_object_array_add(acc, json_object_new_string(safe[k]));
			json_object_object_add(f, "accept", acc);
		}
		if (max <= 0 || max > cap)
			json_object_object_add(f, "max_size", json_object_new_int64(cap));
		if (json_get(f, "label") == NULL)
			json_object_object_del(f, "label");
	}
}

err_t upload_session_create(db_t *db, arena_t *a, const struct config *c, const char *flow_id,
			    json_object **out, struct problem *p)
{
	char id[UUID_STRLEN], files[16], bytes[24], ttl[16], quota[24];
	unsigned char key[UPLOAD_KEY_LEN];
	struct upload_claims cl = { 0 };
	const char *tenant;
	buf_t *tok = buf_new(a, TOKEN_MAX);
	PGresult *r;
	json_object *o, *limits;
	err_t e = db_q(db, a, &r, "SELECT atrium_published_flow_tenant($1)", flow_id);

	if (e != ERR_OK)
		return e;
	if ((tenant = db_val(r, 0, 0)) == NULL)
		return err_set(p, a, ERR_NOT_FOUND, "no published flow with this id");
	if ((e = db_set_tenant(db, tenant)) != ERR_OK || (e = token_key(key, a, p)) != ERR_OK)
		return e;
	crypto_uuid7(id);
	snprintf(files, sizeof(files), "%d", c->session_max_files);
	snprintf(bytes, sizeof(bytes), "%lld", (long long)c->session_max_mb * MIB);
	snprintf(ttl, sizeof(ttl), "%d", c->session_ttl_s);
	snprintf(quota, sizeof(quota), "%lld", (long long)c->tenant_quota_mb * MIB);
	/* the quota row exists before the session's first upload is counted against it */
	e = db_q(db, a, &r, "INSERT INTO storage_quotas (tenant_id, quota_bytes) VALUES ($1, $2)"
			    " ON CONFLICT (tenant_id) DO NOTHING", tenant, quota);
	if (e != ERR_OK)
		return e;
	e = db_q(db, a, &r,
		 "WITH v AS (SELECT v.* FROM flows fl JOIN flow_versions v ON v.tenant_id = fl.tenant_id"
		 "  AND v.flow_id = fl.id AND v.version = fl.published_version"
		 "  WHERE fl.tenant_id = $1 AND fl.id = $2),"
		 " s AS (INSERT INTO upload_sessions (tenant_id, id, flow_id, flow_version, max_files,"
		 "  max_total_bytes, expires_at)"
		 "  SELECT $1, $3, flow_id, version,"
		 "  coalesce((definition->'uploads'->>'max_files')::int, $4::int),"
		 "  coalesce((definition->'uploads'->>'max_total_bytes')::bigint, $5::bigint),"
		 "  date_trunc('second', now()) + make_interval(secs => $6::int) FROM v"
		 "  RETURNING *)"
		 " SELECT s.flow_version, extract(epoch from s.expires_at)::bigint,"
		 " json_build_object('id', s.id, 'flow_id', s.flow_id, 'flow_version', s.flow_version,"
		 "  'expires_at', to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		 "  'upload_url', '/v1/public/uploads',"
		 "  'limits', json_build_object('max_files', s.max_files,"
		 "  'max_total_bytes', s.max_total_bytes, 'fields', " FILE_FIELDS_SQL "))"
		 " FROM s JOIN v ON true",
		 tenant, flow_id, id, files, bytes, ttl);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no published flow with this id");
	snprintf(cl.tenant_id, sizeof(cl.tenant_id), "%s", tenant);
	snprintf(cl.flow_id, sizeof(cl.flow_id), "%s", flow_id);
	snprintf(cl.session_id, sizeof(cl.session_id), "%s", id);
	cl.version = (int)db_int(r, 0, 0);
	cl.expires = (time_t)db_int(r, 0, 1);
	o = rows_json(a, r, 0, 2);
	if (upload_token_sign(key, &cl, tok) != 0) {
		crypto_wipe(key, sizeof(key));
		return err_set(p, a, ERR_INTERNAL, "the session token could not be signed");
	}
	crypto_wipe(key, sizeof(key));
	json_object_object_add(o, "token", json_object_new_string(buf_cstr(tok)));
	limits = json_get(o, "limits");
	field_defaults(json_get(limits, "fields"), c);
	*out = o;
	return ERR_OK;
}

err_t upload_session_auth(arena_t *a, const char *authorization, struct upload_claims *out,
			  struct problem *p)
{
	unsigned char key[UPLOAD_KEY_LEN];
	int rc;
	err_t e;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return err_set(p, a, ERR_UNAUTHENTICATED,
			       "an upload session token is required: Authorization: Bearer <token> "
			       "from POST /v1/public/flows/{id}/sessions");
	if (strlen(authorization + 7) > TOKEN_MAX)
		return err_set(p, a, ERR_UNAUTHENTICATED, "the upload session token is malformed");
	if ((e = token_key(key, a, p)) != ERR_OK)
		return e;
	rc = upload_token_verify(key, authorization + 7, time(NULL), out);
	crypto_wipe(key, sizeof(key));
	if (rc == -2)
		return err_set(p, a, ERR_UNAUTHENTICATED,
			       "the upload session has expired; start a new session");
	if (rc != 0)
		return err_set(p, a, ERR_UNAUTHENTICATED,
			       "the upload session token is malformed or was altered");
	return ERR_OK;
}

err_t upload_session_owns(db_t *db, arena_t *a, const struct upload_claims *s, const char *id,
			  struct problem *p)
{
	PGresult *r;
	err_t e;

	if ((e = db_set_tenant(db, s->tenant_id)) != ERR_OK)
		return e;
	e = db_q(db, a, &r, "SELECT session_id IS NOT DISTINCT FROM $3::uuid FROM uploads"
			    " WHERE tenant_id = $1 AND id = $2", s->tenant_id, id, s->session_id);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no such upload");
	if (!db_bool(r, 0, 0))
		return err_set(p, a, ERR_FORBIDDEN, "this upload is not in the token's session");
	return ERR_OK;
}

/* Upload creations per session per minute: a counter per window in Redis. Redis being down
 * answers 503 rather than letting unlimited creations through. */
static err_t rate(rds_t *rds, arena_t *a, const struct config *c, const char *session,
		  struct problem *p)
{
	time_t now = time(NULL);
	const char *k = arena_printf(a, "atrium:rl:upload-create:%s:%lld", session,
				     (long long)(now / RATE_WINDOW_S));
	redisReply *rep;
	err_t e = redis_c(rds, a, &rep, "INCR", k);

	if (e != ERR_OK || rep == NULL || rep->type != REDIS_REPLY_INTEGER)
		return err_set(p, a, e == ERR_OK ? ERR_INTERNAL : e, "the upload rate limit is unavailable");
	if (rep->integer == 1 && redis_c(rds, a, NULL, "EXPIRE", k, "120") != ERR_OK)
		log_warn("upload_session.rate_expire_failed");
	if (rep->integer > c->session_uploads_per_min) {
		p->retry_after = (int)(RATE_WINDOW_S - now % RATE_WINDOW_S);
		return err_set(p, a, ERR_RATE_LIMITED,
			       "this session may start at most %d uploads a minute; retry after the time "
			       "in Retry-After", c->session_uploads_per_min);
	}
	return ERR_OK;
}

static bool valid_field_name(const struct tus_meta *m)
{
	return m->field != NULL && m->field_len > 0 && m->field_len <= 64 &&
	       strspn(m->field, "abcdefghijklmnopqrstuvwxyz0123456789_") == m->field_len;
}

err_t upload_session_admit(db_t *db, rds_t *rds, arena_t *a, const struct config *c,
			   const struct upload_claims *s, int64_t length, const struct tus_meta *m,
			   struct problem *p)
{
	PGresult *r;
	int64_t max, files, used_files, total, used;
	err_t e;

	if ((e = rate(rds, a, c, s->session_id, p)) != ERR_OK || (e = db_set_tenant(db, s->tenant_id)) != ERR_OK)
		return e;
	if (!m->field)
		return err_set(p, a, ERR_BAD_REQUEST,
			       "Upload-Metadata must name the flow's file field (field)");
	e = db_q(db, a, &r,
		 "SELECT s.max_files, s.used_files, s.max_total_bytes, s.used_bytes, s.expires_at < now(),"
		 " (SELECT (f->>'max_size')::bigint FROM jsonb_array_elements(coalesce(v.definition->'steps',"
		 "  '[]'::jsonb)) st, jsonb_array_elements(coalesce(st->'fields', '[]'::jsonb)) f"
		 "  WHERE f->>'type' = 'file' AND f->>'key' = $4 LIMIT 1),"
		 " EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(v.definition->'steps', '[]'::jsonb)) st,"
		 "  jsonb_array_elements(coalesce(st->'fields', '[]'::jsonb)) f"
		 "  WHERE f->>'type' = 'file' AND f->>'key' = $4)"
		 " FROM upload_sessions s JOIN flow_versions v ON v.tenant_id = s.tenant_id"
		 " AND v.flow_id = s.flow_id AND v.version = s.flow_version"
		 " WHERE s.tenant_id = $1 AND s.id = $2 AND s.flow_id = $3 FOR UPDATE OF s",
		 s->tenant_id, s->session_id, s->flow_id, valid_field_name(m) ? m->field : "");
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0 || db_bool(r, 0, 4))
		return err_set(p, a, ERR_UNAUTHENTICATED, "the upload session has ended; start a new session");
	if (!valid_field_name(m) || !db_bool(r, 0, 6)) {
		(void)err_set(p, a, ERR_VALIDATION, "the field in Upload-Metadata is not a file field of this flow");
		return err_field(p, a, "Upload-Metadata.field", "names no file field of this flow");
	}
	files = db_int(r, 0, 0), used_files = db_int(r, 0, 1);
	total = db_int(r, 0, 2), used = db_int(r, 0, 3);
	max = db_val(r, 0, 5) ? db_int(r, 0, 5) : (int64_t)c->upload_max_mb * MIB;
	if (length > max)
		return err_set(p, a, ERR_TOO_LARGE, "Upload-Length is over the field's limit of %" PRId64
			       " bytes", max);
	if (used_files >= files)
		return err_set(p, a, ERR_TOO_LARGE, "this session may hold at most %" PRId64 " files", files);
	if (length > total - used)
		return err_set(p, a, ERR_TOO_LARGE, "Upload-Length is over what is left of the session's %"
			       PRId64 " bytes (%" PRId64 " left)", total, total - used);
	return ERR_OK;
}

err_t upload_session_attach(db_t *db, arena_t *a, const char *tenant, const char *session,
			    const char *upload_id)
{
	PGresult *r;

	return db_q(db, a, &r, "UPDATE uploads SET session_id = $3 WHERE tenant_id = $1 AND id = $2",
		    tenant, upload_id, session);
}

err_t upload_field_rules(db_t *db, arena_t *a, const char *tenant, const char *upload_id,
			 const char ***accept, size_t *naccept, int64_t *max_size)
{
	PGresult *r;
	int n;
	err_t e = db_q(db, a, &r,
		       "SELECT (SELECT (f->>'max_size')::bigint FROM jsonb_array_elements("
		       "  coalesce(v.definition->'steps', '[]'::jsonb)) st,"
		       "  jsonb_array_elements(coalesce(st->'fields', '[]'::jsonb)) f"
		       "  WHERE f->>'type' = 'file' AND f->>'key' = u.field LIMIT 1), acc"
		       " FROM uploads u JOIN upload_sessions s ON s.tenant_id = u.tenant_id AND s.id = u.session_id"
		       " JOIN flow_versions v ON v.tenant_id = s.tenant_id AND v.flow_id = s.flow_id"
		       "  AND v.version = s.flow_version"
		       " LEFT JOIN LATERAL (SELECT jsonb_array_elements_text(f->'accept') acc"
		       "  FROM jsonb_array_elements(coalesce(v.definition->'steps', '[]'::jsonb)) st,"
		       "  jsonb_array_elements(coalesce(st->'fields', '[]'::jsonb)) f"
		       "  WHERE f->>'type' = 'file' AND f->>'key' = u.field) x ON true"
		       " WHERE u.tenant_id = $1 AND u.id = $2 LIMIT 50",
		       tenant, upload_id);

	*accept = NULL;
	*naccept = 0;
	*max_size = 0;
	if (e != ERR_OK)
		return e;
	if ((n = PQntuples(r)) == 0)
		return ERR_OK;
	*max_size = db_val(r, 0, 0) ? db_int(r, 0, 0) : 0;
	*accept = arena_alloc(a, (size_t)n * sizeof(**accept));
	for (int i = 0; i < n; i++)
		if (db_val(r, i, 1))
			(*accept)[(*naccept)++] = db_val(r, i, 1);
	return ERR_OK;
}
