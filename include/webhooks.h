/* webhooks: endpoints with sealed signing secrets, the event catalogue, deliveries (one job each on
 * the "webhooks" queue), their attempts, and Standard Webhooks signing (DESIGN §7) */
#ifndef ATRIUM_WEBHOOKS_H
#define ATRIUM_WEBHOOKS_H

#include "access.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "events.h"
#include "http_client.h"
#include "json.h"
#include "queue.h"

#define WEBHOOKS_QUEUE "webhooks"
#define WEBHOOKS_KIND "deliver"
#define WEBHOOK_SECRET_PREFIX "whsec_"
#define WEBHOOK_ROTATION_S (24 * 3600)   /* the old key keeps signing this long after a rotation */

/* The event types endpoints may subscribe to, NULL-terminated. */
extern const char *const webhooks_event_types[];
/* GET /v1/webhooks/event-types: {"items": [{"type", "description"}]}. */
json_object *webhooks_event_types_json(arena_t *a);

/* Pure, Standard Webhooks: "v1,<base64 HMAC-SHA256(key, id "." ts "." body)>" where key is the
 * base64 after "whsec_". out gets at most outcap bytes; 0, or -1 for a malformed secret. */
int webhooks_sign(const char *secret, const char *id, const char *ts, const char *body, size_t n,
		  char *out, size_t outcap) MUSTCHECK;
/* Pure: a copy of the JSON text with the values of sensitive keys (email, phone, password,
 * token, secret, ... and any listed in sensitive, NULL-terminated) replaced by "[redacted]". */
json_object *webhooks_redact(arena_t *a, json_object *data, const char *const *sensitive);

/* Endpoint CRUD, tenant-scoped. body was validated by the route's field table; the URL passes
 * the SSRF check of cfg's policy (ERR_VALIDATION naming "url" with the reason). create's *out
 * carries the new "secret" once. */
err_t webhooks_create(db_t *db, arena_t *a, const struct config *cfg, const struct principal *who,
		      json_object *body, json_object **out, struct problem *p) MUSTCHECK;
err_t webhooks_update(db_t *db, arena_t *a, const struct config *cfg, const struct principal *who,
		      const char *id, json_object *body, json_object **out, struct problem *p) MUSTCHECK;
err_t webhooks_get(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		   struct problem *p) MUSTCHECK;
err_t webhooks_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
		    json_object **out, struct problem *p) MUSTCHECK;
err_t webhooks_delete(db_t *db, arena_t *a, const struct principal *who, const char *id,
		      struct problem *p) MUSTCHECK;
/* A new secret; the old one keeps signing for WEBHOOK_ROTATION_S. *out = {"secret", "old_expires_at"}. */
err_t webhooks_rotate(db_t *db, arena_t *a, const struct principal *who, const char *id,
		      json_object **out, struct problem *p) MUSTCHECK;
/* The current secret, audited as a reveal. *out = {"secret"}. */
err_t webhooks_reveal(db_t *db, arena_t *a, const struct principal *who, const char *id,
		      json_object **out, struct problem *p) MUSTCHECK;
/* Emits webhook.test for this endpoint alone. *out = {"event_id"}. */
err_t webhooks_test(db_t *db, arena_t *a, const struct principal *who, const char *id,
		    json_object **out, struct problem *p) MUSTCHECK;

/* The events consumer: one delivery (job and row) per active endpoint subscribed to the type;
 * webhook.test goes to data.endpoint_id only. */
err_t webhooks_fanout(db_t *db, arena_t *a, const struct event *ev, struct problem *p) MUSTCHECK;

/* Delivery log. filters: endpoint_id, state (pending|succeeded|dead), event_type, since, until
 * (RFC 3339), any of them NULL. */
struct webhook_filter {
	const char *endpoint_id, *state, *event_type, *since, *until;
};
err_t webhooks_deliveries(db_t *db, arena_t *a, const char *tenant_id, const struct webhook_filter *f,
			  int limit, const char *cursor, json_object **out, struct problem *p) MUSTCHECK;
err_t webhooks_delivery(db_t *db, arena_t *a, const char *tenant_id, const char *id,
			json_object **out, struct problem *p) MUSTCHECK;
/* Manual retry of a dead delivery (ERR_CONFLICT when it is not dead). */
err_t webhooks_retry(db_t *db, arena_t *a, const char *tenant_id, const char *id,
		     struct problem *p) MUSTCHECK;
/* Retries every dead delivery of the endpoint created in [since, until]. *out = {"retried": n}. */
err_t webhooks_replay(db_t *db, arena_t *a, const char *tenant_id, const char *endpoint_id,
		      const char *since, const char *until, json_object **out, struct problem *p) MUSTCHECK;

/* What one delivery attempt needs, loaded in the job's transaction. */
struct webhook_send {
	const char *tenant_id, *delivery_id, *endpoint_id, *event_id;
	struct http_request rq;
	const char *body;           /* the bytes signed and sent */
	json_object *redacted;      /* what the attempt row stores */
	bool skip;                  /* endpoint gone or inactive: succeed without sending */
};
/* One delivery of a batch: the claimed job and its parsed payload in, the signed request (in
 * the delivery's own arena a) or the reason it cannot be sent out. */
struct webhook_prep {
	const struct job *job;
	json_object *payload;
	arena_t *a;
	struct webhook_send *s;     /* out */
	err_t e;                    /* out: ERR_OK, or why this delivery cannot be sent */
	struct problem p;           /* out: its detail */
};
/* Prepares n deliveries of one tenant in the caller's transaction (db_begin with that tenant):
 * one query loads every endpoint and event, each secret is opened once for the batch into
 * batch (whose reset wipes the plaintexts: reset it as soon as the requests are built), and
 * every request is built and signed into its item's arena. ERR_OK with each item's e set, or
 * the database's error (then no item is ready). */
err_t webhooks_prepare_many(db_t *db, arena_t *batch, struct webhook_prep *items, size_t n) MUSTCHECK;
/* Records the attempt and judges the response: ERR_OK for 2xx; otherwise ERR_RETRY with res
 * filled (410 disables the endpoint and is permanent; 429/502/504 wait at least
 * cfg->webhook_throttle_ms, or Retry-After when longer). */
struct job_result;
err_t webhooks_record(db_t *db, arena_t *a, const struct config *cfg, const struct job *job,
		      const struct webhook_send *s, const struct http_response *rs,
		      struct job_result *res) MUSTCHECK;
/* Records the attempt rows of n successful (2xx) deliveries in one statement, in the caller's
 * transaction (one tenant). */
err_t webhooks_record_succeeded(db_t *db, arena_t *a, const struct job *const *jobs,
				const struct webhook_send *const *sends,
				const struct http_response *const *responses, size_t n) MUSTCHECK;
/* Janitor: deletes attempts older than retention_days (up to batch). */
err_t webhooks_purge(db_t *db, arena_t *a, int retention_days, int batch, long long *deleted) MUSTCHECK;

/* atriumctl: dead deliveries across tenants (as the owner) and their retry. */
err_t webhooks_dead_list(db_t *db, arena_t *a, int limit, json_object **out) MUSTCHECK;

#endif
