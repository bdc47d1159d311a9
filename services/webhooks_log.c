/* webhooks_log: the delivery log (a delivery's state is its job's), manual retry and bulk replay (DESIGN §7) */
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "rows.h"
#include "webhooks.h"

#define REPLAY_MAX 1000

#define DELIVERY_JSON \
	"json_build_object('id', d.id, 'endpoint_id', d.endpoint_id, 'event_id', d.event_id, " \
	"'event_type', d.event_type, " \
	"'state', CASE j.state WHEN 'running' THEN 'pending' ELSE j.state END, " \
	"'attempts', j.attempts, 'next_attempt_at', CASE WHEN j.state = 'pending' THEN j.run_at END, " \
	"'last_error', j.last_error, 'created_at', d.created_at, 'finished_at', j.finished_at)"

#define DELIVERY_FROM \
	" FROM webhook_deliveries d JOIN jobs j ON j.tenant_id = d.tenant_id AND j.id = d.id "

#define ATTEMPT_JSON \
	"json_build_object('n', t.n, 'trigger', t.trigger, 'at', t.created_at, " \
	"'duration_ms', t.duration_ms, 'status_code', t.status_code, " \
	"'response_excerpt', t.response_excerpt, 'error', t.error, 'request_payload', t.request_payload)"

err_t webhooks_deliveries(db_t *db, arena_t *a, const char *tenant_id, const struct webhook_filter *f,
			  int limit, const char *cursor, json_object **out, struct problem *p)
{
	char lim[16];
	PGresult *r;
	err_t e;

	snprintf(lim, sizeof(lim), "%d", limit + 1);
	e = db_q(db, a, &r,
		 "SELECT " DELIVERY_JSON ", d.id" DELIVERY_FROM
		 "WHERE d.tenant_id = $1 AND ($2::uuid IS NULL OR d.id < $2) "
		 "AND ($4::uuid IS NULL OR d.endpoint_id = $4) "
		 "AND ($5::text IS NULL OR CASE j.state WHEN 'running' THEN 'pending' ELSE j.state END = $5) "
		 "AND ($6::text IS NULL OR d.event_type = $6) "
		 "AND ($7::timestamptz IS NULL OR d.created_at >= $7) "
		 "AND ($8::timestamptz IS NULL OR d.created_at < $8) "
		 "ORDER BY d.id DESC LIMIT $3::int",
		 tenant_id, cursor, lim, f->endpoint_id, f->state, f->event_type, f->since, f->until);
	if (e != ERR_OK)
		return err_set(p, a, e, "the deliveries could not be listed");
	*out = rows_page(a, r, limit);
	return ERR_OK;
}

err_t webhooks_delivery(db_t *db, arena_t *a, const char *tenant_id, const char *id,
			json_object **out, struct problem *p)
{
	PGresult *r;
	err_t e;

	if (!crypto_uuid_valid(id))
		return err_set(p, a, ERR_NOT_FOUND, "no such delivery");
	e = db_q(db, a, &r,
		 "SELECT " DELIVERY_JSON "::jsonb || jsonb_build_object('attempts_log', coalesce(("
		 "  SELECT json_agg(" ATTEMPT_JSON " ORDER BY t.n, t.id) FROM webhook_attempts t "
		 "  WHERE t.tenant_id = d.tenant_id AND t.delivery_id = d.id), '[]'))" DELIVERY_FROM
		 "WHERE d.tenant_id = $1 AND d.id = $2",
		 tenant_id, id);
	if (e != ERR_OK)
		return err_set(p, a, e, "the delivery could not be read");
	if (PQntuples(r) != 1)
		return err_set(p, a, ERR_NOT_FOUND, "no such delivery");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}

err_t webhooks_retry(db_t *db, arena_t *a, const char *tenant_id, const char *id, struct problem *p)
{
	PGresult *r;
	err_t e;

	if (!crypto_uuid_valid(id))
		return err_set(p, a, ERR_NOT_FOUND, "no such delivery");
	e = db_q(db, a, &r, "SELECT 1 FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2",
		 tenant_id, id);
	if (e != ERR_OK)
		return err_set(p, a, e, "the delivery could not be read");
	if (PQntuples(r) != 1)
		return err_set(p, a, ERR_NOT_FOUND, "no such delivery");
	e = queue_retry(db, a, tenant_id, id, p);
	if (e == ERR_CONFLICT)
		return err_set(p, a, e, "only a dead delivery can be retried");
	return e;
}

err_t webhooks_replay(db_t *db, arena_t *a, const char *tenant_id, const char *endpoint_id,
		      const char *since, const char *until, json_object **out, struct problem *p)
{
	char lim[16];
	PGresult *r;
	err_t e;

	if (!crypto_uuid_valid(endpoint_id))
		return err_set(p, a, ERR_NOT_FOUND, "no such webhook endpoint");
	e = db_q(db, a, &r, "SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
		 tenant_id, endpoint_id);
	if (e != ERR_OK || PQntuples(r) != 1)
		return err_set(p, a, e != ERR_OK ? e : ERR_NOT_FOUND, "no such webhook endpoint");
	snprintf(lim, sizeof(lim), "%d", REPLAY_MAX);
	e = db_q(db, a, &r,
		 "SELECT d.id" DELIVERY_FROM "WHERE d.tenant_id = $1 AND d.endpoint_id = $2 "
		 "AND j.state = 'dead' AND ($3::timestamptz IS NULL OR d.created_at >= $3) "
		 "AND ($4::timestamptz IS NULL OR d.created_at < $4) ORDER BY d.id LIMIT $5::int",
		 tenant_id, endpoint_id, since, until, lim);
	if (e != ERR_OK)
		return err_set(p, a, e, "the dead deliveries could not be listed");
	for (int i = 0; e == ERR_OK && i < PQntuples(r); i++)
		e = queue_retry(db, a, tenant_id, db_val(r, i, 0), p);
	if (e != ERR_OK)
		return e;
	*out = json_new_object(a);
	json_object_object_add(*out, "retried", json_object_new_int(PQntuples(r)));
	return ERR_OK;
}

/* From the jobs table alone: the worker role reads jobs across tenants, deliveries only per tenant. */
err_t webhooks_dead_list(db_t *db, arena_t *a, int limit, json_object **out)
{
	char lim[16];
	PGresult *r;
	err_t e;

	snprintf(lim, sizeof(lim), "%d", limit);
	e = db_q(db, a, &r,
		 "SELECT coalesce(json_agg(x ORDER BY x->>'id'), '[]') FROM (SELECT json_build_object("
		 "'id', j.id, 'tenant_id', j.tenant_id, 'endpoint_id', j.payload->>'endpoint_id', "
		 "'event_id', j.payload->>'event_id', 'attempts', j.attempts, 'last_error', j.last_error, "
		 "'finished_at', j.finished_at)::jsonb AS x FROM jobs j "
		 "WHERE j.queue = '" WEBHOOKS_QUEUE "' AND j.state = 'dead' ORDER BY j.id LIMIT $1::int) s",
		 lim);
	if (e == ERR_OK)
		*out = rows_json(a, r, 0, 0);
	return e;
}
