/* webhooks_delivery: one delivery attempt — load, sign (Standard Webhooks), record, judge (DESIGN §7) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "log.h"
#include "rows.h"
#include "secrets.h"
#include "webhooks.h"
#include "worker.h"

#define SIG_MAX 200

int webhooks_sign(const char *secret, const char *id, const char *ts, const char *body, size_t n,
		  char *out, size_t outcap)
{
	size_t plen = strlen(WEBHOOK_SECRET_PREFIX), il = strlen(id), tl = strlen(ts);
	unsigned char key[128], mac[SHA256_LEN];
	char b64[64];
	ssize_t klen;
	char *msg;
	int rc = -1;

	if (strncmp(secret, WEBHOOK_SECRET_PREFIX, plen) == 0)
		secret += plen;
	klen = crypto_b64_decode(secret, strlen(secret), key, sizeof(key), false);
	if (klen <= 0 || (msg = malloc(il + tl + n + 2)) == NULL)
		return -1;
	memcpy(msg, id, il);
	msg[il] = '.';
	memcpy(msg + il + 1, ts, tl);
	msg[il + 1 + tl] = '.';
	memcpy(msg + il + tl + 2, body, n);
	crypto_hmac_sha256(key, (size_t)klen, msg, il + tl + n + 2, mac);
	free(msg);
	crypto_wipe(key, sizeof(key));
	if (crypto_b64_encode(mac, sizeof(mac), b64, sizeof(b64), false) > 0 &&
	    snprintf(out, outcap, "v1,%s", b64) < (int)outcap)
		rc = 0;
	return rc;
}

static bool key_sensitive(const char *k, const char *const *sensitive)
{
	static const char *const parts[] = { "email", "phone", "password", "passwd", "token", "secret",
		"ssn", "card_number", "cvv", "authorization", "api_key", "apikey", NULL };

	for (size_t i = 0; parts[i] != NULL; i++)
		if (strcasestr(k, parts[i]) != NULL)
			return true;
	for (size_t i = 0; sensitive != NULL && sensitive[i] != NULL; i++)
		if (strcmp(k, sensitive[i]) == 0)
			return true;
	return false;
}

static json_object *redact_copy(json_object *v, const char *const *sensitive, int depth)
{
	json_object *out;

	if (depth > JSON_MAX_DEPTH)
		return json_object_new_string("[redacted]");
	if (json_object_is_type(v, json_type_object)) {
		out = json_object_new_object();
		json_object_object_foreach(v, k, child)
			json_object_object_add(out, k, key_sensitive(k, sensitive) && child != NULL ?
					       json_object_new_string("[redacted]") :
					       redact_copy(child, sensitive, depth + 1));
		return out;
	}
	if (json_object_is_type(v, json_type_array)) {
		out = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(v); i++)
			json_object_array_add(out, redact_copy(json_object_array_get_idx(v, i), sensitive, depth + 1));
		return out;
	}
	return json_object_get(v);
}

static void put_json(void *o)
{
	json_object_put(o);
}

json_object *webhooks_redact(arena_t *a, json_object *data, const char *const *sensitive)
{
	json_object *out = redact_copy(data, sensitive, 0);

	arena_cleanup_add(a, put_json, out);
	return out;
}

/* ---- preparing one attempt -------------------------------------------------------------------- */

static err_t open_secret(db_t *db, arena_t *a, const char *tenant_id, const char *endpoint_id,
			 const char *field, const char *ref, char **plain, struct problem *p)
{
	struct secret_owner o = { tenant_id, "webhook_endpoints", endpoint_id, field };
	size_t n;

	return secrets_open(db, a, &o, ref, NULL, "deliver", plain, &n, p);
}

/* "v1,<new>" or, during a rotation, "v1,<new> v1,<old>". */
static err_t signature(db_t *db, arena_t *a, struct webhook_send *s, const PGresult *r, const char *ts,
		       const char **out, struct problem *p)
{
	char *secret, sig[SIG_MAX], old[SIG_MAX];
	const char *old_ref = db_val(r, 0, 3);
	err_t e;

	if ((e = open_secret(db, a, s->tenant_id, s->endpoint_id, "signing_secret", db_val(r, 0, 2),
			     &secret, p)) != ERR_OK)
		return e;
	if (webhooks_sign(secret, s->event_id, ts, s->body, strlen(s->body), sig, sizeof(sig)) != 0)
		return err_set(p, a, ERR_INTERNAL, "the signing secret is malformed");
	*out = arena_strdup(a, sig);
	if (old_ref == NULL)
		return ERR_OK;
	if ((e = open_secret(db, a, s->tenant_id, s->endpoint_id, "signing_secret", old_ref, &secret, p)) != ERR_OK)
		return e;
	if (webhooks_sign(secret, s->event_id, ts, s->body, strlen(s->body), old, sizeof(old)) != 0)
		return err_set(p, a, ERR_INTERNAL, "the old signing secret is malformed");
	*out = arena_printf(a, "%s %s", sig, old);
	return ERR_OK;
}

static err_t custom_headers(db_t *db, arena_t *a, struct webhook_send *s, json_object *h,
			    const char **lines, size_t *n, struct problem *p)
{
	err_t e = ERR_OK;

	if (h == NULL)
		return ERR_OK;
	json_object_object_foreach(h, k, v) {
		const char *ref = json_get_str(v, "secret_ref");
		char *plain;

		if (ref == NULL) {
			lines[(*n)++] = arena_printf(a, "%s: %s", k, json_object_get_string(v));
			continue;
		}
		if ((e = open_secret(db, a, s->tenant_id, s->endpoint_id, arena_printf(a, "headers.%s", k),
				     ref, &plain, p)) != ERR_OK)
			return e;
		lines[(*n)++] = arena_printf(a, "%s: %s", k, plain);
	}
	return e;
}

static err_t load_send(db_t *db, arena_t *a, struct webhook_send *s, PGresult **r, struct problem *p)
{
	err_t e = db_q(db, a, r,
		       "SELECT w.url, w.active, w.secret_ref, "
		       "  CASE WHEN w.old_expires_at > now() THEN w.old_secret_ref END, w.headers, "
		       "  json_build_object('type', e.type, 'timestamp', "
		       "    to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
		       "    'data', e.payload)::text, e.payload "
		       "FROM webhook_endpoints w, events e "
		       "WHERE w.tenant_id = $1 AND w.id = $2 AND e.tenant_id = $1 AND e.id = $3",
		       s->tenant_id, s->endpoint_id, s->event_id);

	if (e != ERR_OK)
		return err_set(p, a, e, "the delivery could not be loaded");
	if (PQntuples(*r) != 1)
		return err_set(p, a, ERR_NOT_FOUND, "the endpoint or the event no longer exists");
	if (!db_bool(*r, 0, 1))
		return err_set(p, a, ERR_CONFLICT, "the endpoint is disabled");
	return ERR_OK;
}

err_t webhooks_prepare(db_t *db, arena_t *a, const struct job *job, json_object *payload,
		       struct webhook_send *s, struct problem *p)
{
	const char **lines = arena_alloc(a, sizeof(char *) * 40);
	size_t n = 0;
	const char *sig = NULL;
	char ts[24];
	PGresult *r;
	json_object *h;
	err_t e;

	memset(s, 0, sizeof(*s));
	s->tenant_id = job->tenant_id;
	s->delivery_id = job->id;
	s->endpoint_id = json_get_str(payload, "endpoint_id");
	s->event_id = json_get_str(payload, "event_id");
	if (s->endpoint_id == NULL || s->event_id == NULL || !crypto_uuid_valid(s->endpoint_id) ||
	    !crypto_uuid_valid(s->event_id))
		return err_set(p, a, ERR_VALIDATION, "the delivery job is malformed");
	if ((e = load_send(db, a, s, &r, p)) != ERR_OK)
		return e;
	s->body = arena_strdup(a, db_val(r, 0, 5));
	s->redacted = webhooks_redact(a, rows_json(a, r, 0, 6), NULL);
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if ((e = signature(db, a, s, r, ts, &sig, p)) != ERR_OK)
		return e;
	lines[n++] = arena_printf(a, "webhook-id: %s", s->event_id);
	lines[n++] = arena_printf(a, "webhook-timestamp: %s", ts);
	lines[n++] = arena_printf(a, "webhook-signature: %s", sig);
	h = rows_json(a, r, 0, 4);
	if (json_object_object_length(h) > 30)
		return err_set(p, a, ERR_VALIDATION, "too many custom headers");
	if ((e = custom_headers(db, a, s, h, lines, &n, p)) != ERR_OK)
		return e;
	lines[n] = NULL;
	s->rq = (struct http_request){ "POST", arena_strdup(a, db_val(r, 0, 0)), lines, s->body,
				       strlen(s->body) };
	return ERR_OK;
}

/* ---- recording and judging ---------------------------------------------------------------- */

/* Response bytes as valid text: printable ASCII, newlines and tabs kept, the rest as '?'. */
static const char *excerpt(arena_t *a, const char *s, size_t n)
{
	char *out = arena_alloc(a, n + 1);

	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\n' || s[i] == '\t' ? s[i] : '?';
	return out;
}

static err_t insert_attempt(db_t *db, arena_t *a, const struct job *job, const struct webhook_send *s,
			    const struct http_response *rs, const char *error)
{
	char id[UUID_STRLEN];
	PGresult *r;

	crypto_uuid7(id);
	return db_q(db, a, &r,
		    "INSERT INTO webhook_attempts (tenant_id, id, delivery_id, n, trigger, duration_ms, "
		    "status_code, response_excerpt, error, request_payload) "
		    "VALUES ($1, $2, $3, $4::int, $5, $6::int, $7::int, $8, left($9, 2000), $10::jsonb)",
		    job->tenant_id, id, job->id, arena_printf(a, "%d", job->attempt),
		    job->manual ? "manual" : "scheduled",
		    arena_printf(a, "%lld", rs->duration_ms < 0 ? 0 : rs->duration_ms),
		    arena_printf(a, "%d", rs->status), rs->len > 0 ? excerpt(a, rs->body, rs->len) : NULL,
		    error, s->redacted != NULL ? json_str(s->redacted) : "{}");
}

static const char *judge(arena_t *a, const struct config *cfg, const struct http_response *rs,
			 struct job_result *res)
{
	if (rs->status == 0)
		return rs->error != NULL ? rs->error : "no response";
	if (rs->status >= 200 && rs->status < 300)
		return NULL;
	if (rs->status == 410)
		res->permanent = true;
	if (rs->status == 429 || rs->status == 502 || rs->status == 504)
		res->retry_after_ms = rs->retry_after_ms > cfg->webhook_throttle_ms ? rs->retry_after_ms :
				      cfg->webhook_throttle_ms;
	return arena_printf(a, "receiver answered %d", rs->status);
}

/* After a failure the job's transaction is rolled back: the attempt (and a 410's disabling)
 * commit on their own, and a fresh transaction is left open for the worker to roll back. */
static err_t record_failure(db_t *db, arena_t *a, const struct job *job, const struct webhook_send *s,
			    const struct http_response *rs, const char *error)
{
	PGresult *r;
	err_t e;

	db_rollback(db);
	if ((e = db_begin(db, job->tenant_id)) != ERR_OK)
		return e;
	if (rs != NULL && s->delivery_id != NULL && (e = insert_attempt(db, a, job, s, rs, error)) != ERR_OK)
		return e;
	if (rs != NULL && rs->status == 410 &&
	    (e = db_q(db, a, &r, "UPDATE webhook_endpoints SET active = false, "
		      "disabled_reason = 'the receiver answered 410 Gone', updated_at = now() "
		      "WHERE tenant_id = $1 AND id = $2", job->tenant_id, s->endpoint_id)) != ERR_OK)
		return e;
	if ((e = db_commit(db)) != ERR_OK)
		return e;
	return db_begin(db, job->tenant_id);
}

err_t webhooks_record(db_t *db, arena_t *a, const struct config *cfg, const struct job *job,
		      const struct webhook_send *s, const struct http_response *rs, struct job_result *res)
{
	const char *error = judge(a, cfg, rs, res);
	err_t e;

	if (error == NULL) {
		if ((e = insert_attempt(db, a, job, s, rs, NULL)) != ERR_OK)
			log_warn("webhooks.attempt_not_recorded", LF_STR("delivery", job->id));
		return e;
	}
	res->error = error;
	if (record_failure(db, a, job, s, rs, error) != ERR_OK)
		log_warn("webhooks.attempt_not_recorded", LF_STR("delivery", job->id));
	return ERR_RETRY;
}

err_t webhooks_purge(db_t *db, arena_t *a, int retention_days, int batch, long long *deleted)
{
	PGresult *r;
	err_t e = db_q(db, a, &r, "SELECT atrium_webhook_attempts_purge($1::int, $2::int)",
		       arena_printf(a, "%d", retention_days), arena_printf(a, "%d", batch));

	*deleted = e == ERR_OK ? db_int(r, 0, 0) : 0;
	return e;
}
