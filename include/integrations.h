/* integrations: the type registry, tenant integrations with secret references, test runs and their record (DESIGN §5) */
#ifndef ATRIUM_INTEGRATIONS_H
#define ATRIUM_INTEGRATIONS_H

#include "access.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "events.h"
#include "json.h"
#include "queue.h"

#define INTEGRATIONS_QUEUE "integrations"
#define INTEGRATIONS_KIND "run"
#define INTEGRATION_EXCERPT_MAX 1000

/* What an action reports for the run record: no secrets (excerpts are redacted by the caller too). */
struct integration_call {
	int http_status;            /* last provider status, 0 when none */
	const char *request;        /* "POST https://host/path" and a body excerpt */
	const char *response;       /* a body excerpt */
	const char *error;          /* one line, NULL on success */
	bool permanent;             /* retrying cannot help (a 4xx other than 408/429, bad config) */
	long long retry_after_ms;   /* a provider's Retry-After, 0 for none */
};

/* One run of an action: everything it may read, and the call record it fills. */
struct integration_ctx {
	const struct config *cfg;
	db_t *db;
	arena_t *a;
	const char *tenant_id;
	const char *integration_id;
	json_object *config;        /* plain fields, {"secret_ref": ...} for secret ones */
	const char *event_id;
	const char *event_type;
	json_object *data;          /* the event's data */
	struct integration_call call;
	const char **secrets;       /* plaintexts opened for this run, redacted from excerpts */
	size_t nsecrets;
};

typedef err_t (*integration_action)(struct integration_ctx *c);

/* A secret config field; map fields (such as http's secret_headers) seal each value apart. */
struct integration_secret {
	const char *name;
	bool map;
};

/* One registry entry: adding a type is one entry plus one action (services/integration_<type>.c). */
struct integration_type {
	const char *type;
	const char *title;
	const struct jv_field *fields;             /* the config schema (validated with jv) */
	const struct integration_secret *secrets;  /* NULL-name terminated */
	const char *const *events;                 /* event types it may react to, NULL-terminated */
	integration_action action;
};

const struct integration_type *integrations_types(size_t *n);
/* The registry's type names, NULL-terminated (for the route's enum validator). */
extern const char *const integrations_type_names[];
const struct integration_type *integrations_type(const char *name);
/* GET /v1/integration-types: the registry as JSON. */
json_object *integrations_types_json(arena_t *a);

/* Opens the secret field (or "map.key") of c's integration; the plaintext lives in c->a, is wiped
 * with it, and is remembered for redaction. */
err_t integration_secret(struct integration_ctx *c, const char *field, const char **plain) MUSTCHECK;
/* Copies s (at most INTEGRATION_EXCERPT_MAX bytes) with every opened secret replaced by "[redacted]". */
const char *integration_redact(struct integration_ctx *c, const char *s, size_t n);

/* One outbound request of an action. tenant_url marks a URL the tenant supplied (canvas, http):
 * every request goes through lib/http_client and its SSRF guard either way. */
struct integration_request {
	const char *method;
	const char *url;
	const char *const *headers;     /* "Name: value" lines, NULL-terminated */
	const char *content_type;
	const char *body;
	size_t body_len;
	bool tenant_url;
};

struct integration_response {
	int status;
	const char *body;               /* NUL-terminated, in c->a */
	size_t len;
	long long retry_after_ms;
};

/* Sends rq and records it in c->call (method, URL and body excerpts; status). ERR_OK when a
 * response arrived whatever its status; ERR_RETRY for a transport failure; ERR_VALIDATION
 * (permanent) when the guard refuses the address. */
err_t integration_send(struct integration_ctx *c, const struct integration_request *rq,
		       struct integration_response *rs) MUSTCHECK;
/* ERR_OK for 2xx; otherwise fills c->call.error and returns ERR_RETRY (408, 425, 429, 5xx, with
 * Retry-After honoured) or ERR_VALIDATION with permanent set (other statuses). what names the step. */
err_t integration_status(struct integration_ctx *c, const struct integration_response *rs,
			 const char *what) MUSTCHECK;
/* Percent-encodes s for one path segment or query value (RFC 3986 unreserved kept). */
const char *integration_escape(arena_t *a, const char *s);
/* Remembers a derived secret (an access token) so that excerpts redact it. */
void integration_remember(struct integration_ctx *c, const char *secret);
/* A permanent configuration or data error: sets c->call and returns ERR_VALIDATION. */
err_t integration_fail(struct integration_ctx *c, const char *error);

/* The actions (services/integration_<type>.c). */
err_t integration_google_sheets(struct integration_ctx *c);
err_t integration_intercom(struct integration_ctx *c);
err_t integration_canvas(struct integration_ctx *c);
err_t integration_http(struct integration_ctx *c);

/* CRUD, tenant-scoped; secret fields are sealed and never returned (read back as
 * {"configured": true, "updated_at": ...}). body was validated by the route's table. */
err_t integrations_create(db_t *db, arena_t *a, const struct principal *who, json_object *body,
			  json_object **out, struct problem *p) MUSTCHECK;
err_t integrations_update(db_t *db, arena_t *a, const struct principal *who, const char *id,
			  json_object *body, json_object **out, struct problem *p) MUSTCHECK;
err_t integrations_get(db_t *db, arena_t *a, const char *tenant_id, const char *id,
		       json_object **out, struct problem *p) MUSTCHECK;
err_t integrations_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
			json_object **out, struct problem *p) MUSTCHECK;
err_t integrations_delete(db_t *db, arena_t *a, const struct principal *who, const char *id,
			  struct problem *p) MUSTCHECK;
/* POST /v1/integrations/{id}/test: emits integration.test (data optional) whose one job runs the
 * action through the durable queue. *out = {"event_id": ...}. */
err_t integrations_test(db_t *db, arena_t *a, const struct principal *who, const char *id,
			json_object *data, json_object **out, struct problem *p) MUSTCHECK;
err_t integrations_runs(db_t *db, arena_t *a, const char *tenant_id, const char *id, int limit,
			const char *cursor, json_object **out, struct problem *p) MUSTCHECK;

/* The events consumer (services/events.c): one run job per active integration bound to the
 * event's type (and flow, when bound to one); integration.test targets its one integration. */
err_t integrations_fanout(db_t *db, arena_t *a, const struct event *ev, struct problem *p) MUSTCHECK;

/* atrium-integrations' job, in the job's transaction: runs the action for payload
 * {"integration_id", "event": {"id", "type", "data"}} and records the run. On failure the run row
 * is committed on its own (a fresh transaction is open on return) and *out says why. */
err_t integrations_run_job(const struct config *cfg, db_t *db, arena_t *a, const struct job *job,
			   json_object *payload, struct integration_call *out) MUSTCHECK;

#endif
