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

/* ---- preparing a batch of attempts --------------------------------------------------------- */

/* The secrets opened for one batch: each (endpoint, field, ref) once, its plaintext in the batch
 * arena (wiped when that arena is reset), or the error opening it gave. */
struct opened {
	struct opened *next;
	const char *endpoint_id, *field, *ref;
	char *plain;
	err_t e;
	const char *detail;
};

struct batch {
	db_t *db;
	arena_t *a;
	const char *tenant_id;
	struct opened *secrets;
};

/* The plaintext of ref for (endpoint, field): opened on first use in this batch, from the batch's
 * memory afterwards. A failure is reported in p (in the delivery's arena a). */
static err_t open_secret(struct batch *b, const char *endpoint_id, const char *field, const char *ref,
			 const char **plain, arena_t *a, struct problem *p)
{
	struct secret_owner o = { b->tenant_id, "webhook_endpoints", endpoint_id, field };
	struct problem op = { 0 };
	struct opened *s;
	size_t n;

	for (s = b->secrets; s != NULL; s = s->next)
		if (strcmp(s->ref, ref) == 0 && strcmp(s->field, field) == 0 &&
		    strcmp(s->endpoint_id, endpoint_id) == 0)
			break;
	if (s == NULL) {
		s = arena_alloc(b->a, sizeof(*s));
		*s = (struct opened){ b->secrets, arena_strdup(b->a, endpoint_id), arena_strdup(b->a, field),
				      arena_strdup(b->a, ref), NULL, ERR_OK, NULL };
		s->e = secrets_open(b->db, b->a, &o, ref, NULL, "deliver", &s->plain, &n, &op);
		s->detail = op.detail != NULL ? arena_strdup(b->a, op.detail) : "the secret could not be opened";
		b->secrets = s;
	}
	if (s->e != ERR_OK)
		return err_set(p, a, s->e, "%s", s->detail);
	*plain = s->plain;
	return ERR_OK;
}

/* "v1,<new>" or, during a rotation, "v1,<new> v1,<old>". */
static err_t signature(struct batch *b, struct webhook_prep *it, const PGresult *r, int row,
		       const char *ts, const char **out)
{
	struct webhook_send *s = it->s;
	const char *secret, *old_ref = db_val(r, row, 3);
	char sig[SIG_MAX], old[SIG_MAX];
	err_t e;

	if ((e = open_secret(b, s->endpoint_id, "signing_secret", db_val(r, row, 2), &secret, it->a,
			     &it->p)) != ERR_OK)
		return e;
	if (webhooks_sign(secret, s->event_id, ts, s->body, strlen(s->body), sig, sizeof(sig)) != 0)
		return err_set(&it->p, it->a, ERR_INTERNAL, "the signing secret is malformed");
	*out = arena_strdup(it->a, sig);
	if (old_ref == NULL)
		return ERR_OK;
	if ((e = open_secret(b, s->endpoint_id, "signing_secret", old_ref, &secret, it->a, &it->p)) != ERR_OK)
		return e;
	if (webhooks_sign(secret, s->event_id, ts, s->body, strlen(s->body), old, sizeof(old)) != 0)
		return err_set(&it->p, it->a, ERR_INTERNAL, "the old signing secret is malformed");
	*out = arena_printf(it->a, "%s %s", sig, old);
	return ERR_OK;
}

static err_t custom_headers(struct batch *b, struct webhook_prep *it, json_object *h, const char **lines,
			    size_t *n)
{
	err_t e = ERR_OK;

	if (h == NULL)
		return ERR_OK;
	json_object_object_foreach(h, k, v) {
		const char *ref = json_get_str(v, "secret_ref"), *plain;

		if (ref == NULL) {
			lines[(*n)++] = arena_printf(it->a, "%s: %s", k, json_object_get_string(v));
			continue;
		}
		if ((e = open_secret(b, it->s->endpoint_id, arena_printf(it->a, "headers.%s", k), ref, &plain,
				     it->a, &it->p)) != ERR_OK)
			return e;
		lines[(*n)++] = arena_printf(it->a, "%s: %s", k, plain);
	}
	return e;
}

/* One query for the whole batch: row k answers item number column 7 (1-based, in the order of
 * the arrays), absent when the endpoint or the event no longer exists. */
static err_t load_batch(struct batch *b, const char **endpoints, const char **events, size_t n,
			PGresult **r)
{
	return db_qp(b->db, b->a, r, "webhooks_load_batch",
		    "SELECT w.url, w.active, w.secret_ref, "
		    "  CASE WHEN w.old_expires_at > now() THEN w.old_secret_ref END, w.headers, "
		    "  json_build_object('type', e.type, 'timestamp', "
		    "    to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
		    "    'data', e.payload)::text, e.payload, r.i "
		    "FROM unnest($2::uuid[], $3::uuid[]) WITH ORDINALITY AS r(endpoint_id, event_id, i) "
		    "JOIN webhook_endpoints w ON w.tenant_id = $1 AND w.id = r.endpoint_id "
		    "JOIN events e ON e.tenant_id = $1 AND e.id = r.event_id",
		    b->tenant_id, db_array(b->a, endpoints, n), db_array(b->a, events, n));
}

/* Builds and signs one delivery's request from its loaded row, into its own arena. */
static err_t prepare_one(struct batch *b, struct webhook_prep *it, const PGresult *r, int row)
{
	struct webhook_send *s = it->s;
	const char **lines = arena_alloc(it->a, sizeof(char *) * 40);
	const char *sig = NULL;
	size_t n = 0;
	char ts[24];
	json_object *h;
	err_t e;

	if (!db_bool(r, row, 1))
		return err_set(&it->p, it->a, ERR_CONFLICT, "the endpoint is disabled");
	s->body = arena_strdup(it->a, db_val(r, row, 5));
	s->redacted = webhooks_redact(it->a, rows_json(it->a, r, row, 6), NULL);
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if ((e = signature(b, it, r, row, ts, &sig)) != ERR_OK)
		return e;
	lines[n++] = arena_printf(it->a, "webhook-id: %s", s->event_id);
	lines[n++] = arena_printf(it->a, "webhook-timestamp: %s", ts);
	lines[n++] = arena_printf(it->a, "webhook-signature: %s", sig);
	h = rows_json(it->a, r, row, 4);
	if (json_object_object_length(h) > 30)
		return err_set(&it->p, it->a, ERR_VALIDATION, "too many custom headers");
	if ((e = custom_headers(b, it, h, lines, &n)) != ERR_OK)
		return e;
	lines[n] = NULL;
	s->rq = (struct http_request){ "POST", arena_strdup(it->a, db_val(r, row, 0)), lines, s->body,
				       strlen(s->body) };
	return ERR_OK;
}

/* Reads endpoint and event ids from the job's payload; the item fails when they are malformed. */
static bool prep_ids(struct webhook_prep *it)
{
	struct webhook_send *s = it->s;

	memset(s, 0, sizeof(*s));
	s->tenant_id = it->job->tenant_id;
	s->delivery_id = it->job->id;
	s->endpoint_id = it->payload != NULL ? json_get_str(it->payload, "endpoint_id") : NULL;
	s->event_id = it->payload != NULL ? json_get_str(it->payload, "event_id") : NULL;
	if (s->endpoint_id == NULL || s->event_id == NULL || !crypto_uuid_valid(s->endpoint_id) ||
	    !crypto_uuid_valid(s->event_id)) {
		it->e = err_set(&it->p, it->a, ERR_VALIDATION, "the delivery job is malformed");
		return false;
	}
	it->e = ERR_NOT_FOUND;      /* until its row is found */
	return true;
}

err_t webhooks_prepare_many(db_t *db, arena_t *batch, struct webhook_prep *items, size_t n)
{
	struct batch b = { db, batch, n > 0 ? items[0].job->tenant_id : NULL, NULL };
	const char **endpoints = arena_alloc(batch, sizeof(char *) * (n + 1));
	const char **events = arena_alloc(batch, sizeof(char *) * (n + 1));
	size_t *which = arena_alloc(batch, sizeof(size_t) * (n + 1)), m = 0;
	PGresult *r;
	err_t e;

	for (size_t i = 0; i < n; i++) {
		err_clear(&items[i].p);
		if (!prep_ids(&items[i]))
			continue;
		endpoints[m] = items[i].s->endpoint_id;
		events[m] = items[i].s->event_id;
		which[m++] = i;
	}
	if (m == 0)
		return ERR_OK;
	if ((e = load_batch(&b, endpoints, events, m, &r)) != ERR_OK)
		return e;
	for (int row = 0; row < PQntuples(r); row++) {
		long long k = db_int(r, row, 7);

		if (k >= 1 && (size_t)k <= m && items[which[k - 1]].e == ERR_NOT_FOUND)
			items[which[k - 1]].e = prepare_one(&b, &items[which[k - 1]], r, row);
	}
	for (size_t i = 0; i < n; i++)
		if (items[i].e == ERR_NOT_FOUND && items[i].p.detail == NULL)
			err_set(&items[i].p, items[i].a, ERR_NOT_FOUND,
				"the endpoint or the event no longer exists");
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

err_t webhooks_record_succeeded(db_t *db, arena_t *a, const struct job *const *jobs,
				const struct webhook_send *const *sends,
				const struct http_response *const *responses, size_t n)
{
	const char **col[9];
	char id[UUID_STRLEN];
	PGresult *r;

	if (n == 0)
		return ERR_OK;
	for (size_t c = 0; c < NELEM(col); c++)
		col[c] = arena_alloc(a, sizeof(char *) * n);
	for (size_t i = 0; i < n; i++) {
		const struct http_response *rs = responses[i];

		crypto_uuid7(id);
		col[0][i] = jobs[i]->tenant_id;
		col[1][i] = arena_strdup(a, id);
		col[2][i] = jobs[i]->id;
		col[3][i] = arena_printf(a, "%d", jobs[i]->attempt);
		col[4][i] = jobs[i]->manual ? "manual" : "scheduled";
		col[5][i] = arena_printf(a, "%lld", rs->duration_ms < 0 ? 0 : rs->duration_ms);
		col[6][i] = arena_printf(a, "%d", rs->status);
		col[7][i] = rs->len > 0 ? excerpt(a, rs->body, rs->len) : NULL;
		col[8][i] = sends[i]->redacted != NULL ? json_str(sends[i]->redacted) : "{}";
	}
	return db_qp(db, a, &r, "webhooks_record_succeeded",
		    "INSERT INTO webhook_attempts (tenant_id, id, delivery_id, n, trigger, duration_ms, "
		    "status_code, response_excerpt, request_payload) "
		    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], "
		    " $6::int[], $7::int[], $8::text[], $9::jsonb[])",
		    db_array(a, col[0], n), db_array(a, col[1], n), db_array(a, col[2], n),
		    db_array(a, col[3], n), db_array(a, col[4], n), db_array(a, col[5], n),
		    db_array(a, col[6], n), db_array(a, col[7], n), db_array(a, col[8], n));
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
