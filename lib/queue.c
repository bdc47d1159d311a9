/* queue: durable jobs — rows in PostgreSQL are the truth, Redis stream entries only announce them (DESIGN §4) */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "crypto.h"
#include "log.h"
#include "queue.h"

#define STREAM_MAXLEN "100000"   /* XADD MAXLEN ~: acked entries go; an entry trimmed unread is re-announced by the sweeper */

/* The per-process context: set once after fork by queue_init, read-only afterwards. */
static struct {
	rds_t *redis;
	const struct config *cfg;
} qctx;

/* Per-queue retry policies (0 = the config's value). Queues not listed use the config alone.
 * webhooks will add the Svix schedule here (DESIGN §7). */
static const struct queue_policy policies[] = {
	{ .queue = "ops" },
};

/* webhooks: the Svix schedule (research/webhooks-secrets.md), from ATRIUM_WEBHOOK_SCHEDULE_MS:
 * delays before retries 1..n, so n + 1 attempts in all. A bad list keeps the default. */
static int webhook_schedule[16] = { 5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000 };
static size_t webhook_nschedule = 7;

static void webhook_schedule_load(const char *list)
{
	int v[NELEM(webhook_schedule)];
	size_t n = 0;
	const char *s = list;
	char *end;

	while (s != NULL && *s != '\0' && n < NELEM(v)) {
		long d = strtol(s, &end, 10);

		if (end == s || d < 0 || d > QUEUE_RETRY_AFTER_MAX_MS || (*end != ',' && *end != '\0'))
			return;
		v[n++] = (int)d;
		s = *end == ',' ? end + 1 : end;
	}
	if (n == 0 || (s != NULL && *s != '\0'))
		return;
	memcpy(webhook_schedule, v, n * sizeof(v[0]));
	webhook_nschedule = n;
}

void queue_init(rds_t *redis, const struct config *cfg)
{
	qctx.redis = redis;
	qctx.cfg = cfg;
	if (cfg != NULL && cfg->webhook_schedule != NULL)
		webhook_schedule_load(cfg->webhook_schedule);
}

struct queue_policy queue_policy(const char *queue)
{
	struct queue_policy p = { .queue = queue };
	const struct config *c = qctx.cfg;

	for (size_t i = 0; i < NELEM(policies); i++)
		if (strcmp(policies[i].queue, queue) == 0)
			p = policies[i];
	if (strcmp(queue, "webhooks") == 0) {
		p.schedule_ms = webhook_schedule;
		p.nschedule = webhook_nschedule;
		p.max_attempts = (int)webhook_nschedule + 1;
	}
	if (p.max_attempts == 0)
		p.max_attempts = c != NULL ? c->job_max_attempts : 8;
	if (p.base_ms == 0)
		p.base_ms = c != NULL ? c->job_backoff_base_ms : 1000;
	if (p.cap_ms == 0)
		p.cap_ms = c != NULL ? c->job_backoff_cap_ms : 3600000;
	return p;
}

long long queue_backoff_ms(const struct queue_policy *p, int attempt, double u)
{
	long long d;

	if (attempt < 1)
		attempt = 1;
	if (p->nschedule > 0) {
		size_t i = (size_t)attempt - 1 < p->nschedule ? (size_t)attempt - 1 : p->nschedule - 1;
		d = p->schedule_ms[i];
	} else {
		d = p->base_ms;
		for (int i = 1; i < attempt && d < p->cap_ms; i++)
			d *= 2;
		if (d > p->cap_ms)
			d = p->cap_ms;
	}
	if (u < 0.0)
		u = 0.0;
	if (u >= 1.0)
		u = 0.999999;
	return (long long)((double)d * (0.8 + 0.4 * u));
}

long long queue_retry_delay_ms(const struct queue_policy *p, int attempt, long long retry_after_ms,
			       double u)
{
	if (retry_after_ms > 0)
		return retry_after_ms < QUEUE_RETRY_AFTER_MAX_MS ? retry_after_ms : QUEUE_RETRY_AFTER_MAX_MS;
	return queue_backoff_ms(p, attempt, u);
}

/* A uniform number in [0, 1) for the jitter; 0.5 (no jitter) if randomness fails. */
static double jitter_u(void)
{
	uint32_t r;

	if (crypto_random(&r, sizeof(r)) != 0)
		return 0.5;
	return (double)r / 4294967296.0;
}

bool queue_name_valid(const char *q)
{
	size_t n = q != NULL ? strlen(q) : 0;

	if (n == 0 || n > QUEUE_NAME_MAX || q[0] < 'a' || q[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((q[i] >= 'a' && q[i] <= 'z') || (q[i] >= '0' && q[i] <= '9') || q[i] == '_'))
			return false;
	return true;
}

static bool kind_valid(const char *k)
{
	size_t n = k != NULL ? strlen(k) : 0;

	if (n == 0 || n > 64 || k[0] < 'a' || k[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_' ||
		      k[i] == '.'))
			return false;
	return true;
}

void queue_stream_key(const char *queue, char *out, size_t cap)
{
	snprintf(out, cap, "atrium:q:%s", queue);
}

/* --- announcing ------------------------------------------------------------------------------ */

err_t queue_announce(rds_t *r, arena_t *a, const char *queue, const struct job_ref *ref)
{
	char key[QUEUE_NAME_MAX + 16];

	if (r == NULL)
		return ERR_UNAVAILABLE;
	queue_stream_key(queue, key, sizeof(key));
	return redis_c(r, a, NULL, "XADD", key, "MAXLEN", "~", STREAM_MAXLEN, "*",
		       "tenant", ref->tenant_id, "job", ref->id);
}

struct announcement {
	char queue[QUEUE_NAME_MAX + 1];
	struct job_ref ref;
};

/* After-commit hook: a failure here is harmless, the sweeper announces the job later. */
static void announce_after_commit(void *data)
{
	struct announcement *an = data;

	if (queue_announce(qctx.redis, NULL, an->queue, &an->ref) != ERR_OK)
		log_warn("queue.announce_deferred", LF_STR("queue", an->queue), LF_STR("job", an->ref.id));
}

static void announce_on_commit(db_t *db, arena_t *a, const char *queue, const char *tenant_id,
			       const char *id)
{
	struct announcement *an = arena_alloc(a, sizeof(*an));

	snprintf(an->queue, sizeof(an->queue), "%s", queue);
	snprintf(an->ref.tenant_id, sizeof(an->ref.tenant_id), "%s", tenant_id);
	snprintf(an->ref.id, sizeof(an->ref.id), "%s", id);
	db_after_commit(db, announce_after_commit, an);
}

/* --- enqueue --------------------------------------------------------------------------------- */

static err_t check_spec(const struct job_spec *s, arena_t *a, struct problem *p)
{
	json_object *o;
	bool is_obj;

	if (s->tenant_id == NULL || !crypto_uuid_valid(s->tenant_id))
		return err_set(p, a, ERR_VALIDATION, "job tenant must be a UUID");
	if (!queue_name_valid(s->queue))
		return err_set(p, a, ERR_VALIDATION, "job queue must match [a-z][a-z0-9_]{0,31}");
	if (!kind_valid(s->kind))
		return err_set(p, a, ERR_VALIDATION, "job kind must match [a-z][a-z0-9_.]{0,63}");
	if (s->idempotency_key != NULL &&
	    (s->idempotency_key[0] == '\0' || strlen(s->idempotency_key) > 200))
		return err_set(p, a, ERR_VALIDATION, "idempotency key must be 1 to 200 bytes");
	if (s->delay_ms < 0 || s->delay_ms > 366LL * 86400000 || s->max_attempts < 0 || s->max_attempts > 100)
		return err_set(p, a, ERR_VALIDATION, "job delay or attempt budget out of range");
	if (s->payload == NULL)
		return ERR_OK;
	o = json_tokener_parse(s->payload);
	is_obj = o != NULL && json_object_is_type(o, json_type_object);
	json_object_put(o);
	if (!is_obj)
		return err_set(p, a, ERR_VALIDATION, "job payload must be a JSON object");
	return ERR_OK;
}

/* The id of the job already holding (tenant, queue, idempotency key). */
static err_t existing_id(db_t *db, arena_t *a, const struct job_spec *s, const char *key,
			 char id_out[UUID_STRLEN])
{
	PGresult *r;
	err_t e = db_q(db, a, &r,
		       "SELECT id FROM jobs WHERE tenant_id = $1 AND queue = $2 AND idempotency_key = $3",
		       s->tenant_id, s->queue, key);

	if (e != ERR_OK)
		return e;
	if (PQntuples(r) != 1)
		return ERR_INTERNAL;
	snprintf(id_out, UUID_STRLEN, "%s", db_val(r, 0, 0));
	return ERR_OK;
}

err_t queue_enqueue(db_t *db, arena_t *a, const struct job_spec *s, char id_out[UUID_STRLEN],
		    struct problem *p)
{
	struct queue_policy pol;
	char id[UUID_STRLEN];
	const char *key, *max, *delay;
	PGresult *r;
	err_t e;

	if ((e = check_spec(s, a, p)) != ERR_OK)
		return e;
	if (!db_in_tx(db))
		return err_set(p, a, ERR_INTERNAL, "queue_enqueue outside a transaction");
	pol = queue_policy(s->queue);
	crypto_uuid7(id);
	key = s->idempotency_key != NULL ? s->idempotency_key : id;
	max = arena_printf(a, "%d", s->max_attempts > 0 ? s->max_attempts : pol.max_attempts);
	delay = arena_printf(a, "%lld", s->delay_ms);
	e = db_q(db, a, &r,
		 "INSERT INTO jobs (tenant_id, id, queue, kind, payload, idempotency_key, max_attempts,"
		 " run_at, announced_at)"
		 " VALUES ($1, $2, $3, $4, coalesce($5::jsonb, '{}'), $6, $7::int,"
		 "  now() + make_interval(secs => $8::bigint / 1000.0),"
		 "  CASE WHEN $8::bigint = 0 THEN now() END)"
		 " ON CONFLICT (tenant_id, queue, idempotency_key) DO NOTHING RETURNING id",
		 s->tenant_id, id, s->queue, s->kind, s->payload, key, max, delay);
	if (e != ERR_OK)
		return err_set(p, a, e, "could not store the job");
	if (PQntuples(r) == 0)
		return existing_id(db, a, s, key, id_out);
	memcpy(id_out, id, UUID_STRLEN);
	if (s->delay_ms == 0)
		announce_on_commit(db, a, s->queue, s->tenant_id, id);
	return ERR_OK;
}

/* --- claim and outcomes ---------------------------------------------------------------------- */

err_t queue_claim(db_t *db, arena_t *a, const char *tenant_id, const char *id, const char *who,
		  int lease_ms, struct job *out, bool *claimed)
{
	const char *lease = arena_printf(a, "%d", lease_ms);
	PGresult *r;
	err_t e;

	*claimed = false;
	if (!crypto_uuid_valid(tenant_id) || !crypto_uuid_valid(id))
		return ERR_OK;   /* a malformed stream entry: nothing to claim */
	e = db_q(db, a, &r,
		 "WITH lost AS ("
		 "  UPDATE job_attempts SET finished_at = now(), outcome = 'lost',"
		 "   error = 'lease expired (worker died or job outlived its lease)'"
		 "  WHERE tenant_id = $1 AND job_id = $2 AND outcome IS NULL AND EXISTS ("
		 "   SELECT 1 FROM jobs WHERE tenant_id = $1 AND id = $2 AND state = 'running'"
		 "    AND lease_until < now())),"
		 " c AS ("
		 "  UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $3,"
		 "   lease_until = now() + make_interval(secs => $4::int / 1000.0), updated_at = now()"
		 "  WHERE tenant_id = $1 AND id = $2 AND ((state = 'pending' AND run_at <= now())"
		 "   OR (state = 'running' AND lease_until < now() AND attempts < max_attempts))"
		 "  RETURNING tenant_id, id, queue, kind, payload::text AS payload, attempts,"
		 "   max_attempts, trigger),"
		 " ins AS ("
		 "  INSERT INTO job_attempts (tenant_id, job_id, n, trigger, worker)"
		 "  SELECT tenant_id, id, attempts, trigger, $3 FROM c)"
		 " SELECT tenant_id, id, queue, kind, payload, attempts, max_attempts, trigger FROM c",
		 tenant_id, id, who, lease);
	if (e != ERR_OK || PQntuples(r) != 1)
		return e;
	out->tenant_id = db_val(r, 0, 0);
	out->id = db_val(r, 0, 1);
	out->queue = db_val(r, 0, 2);
	out->kind = db_val(r, 0, 3);
	out->payload = db_val(r, 0, 4);
	out->attempt = (int)db_int(r, 0, 5);
	out->max_attempts = (int)db_int(r, 0, 6);
	out->manual = strcmp(db_val(r, 0, 7), "manual") == 0;
	out->group = NULL;
	*claimed = true;
	return ERR_OK;
}

static void job_from_row(const PGresult *r, int i, struct job *out)
{
	out->tenant_id = db_val(r, i, 0);
	out->id = db_val(r, i, 1);
	out->queue = db_val(r, i, 2);
	out->kind = db_val(r, i, 3);
	out->payload = db_val(r, i, 4);
	out->attempt = (int)db_int(r, i, 5);
	out->max_attempts = (int)db_int(r, i, 6);
	out->manual = strcmp(db_val(r, i, 7), "manual") == 0;
	out->group = db_val(r, i, 8);
}

/* One primary-key lookup per ref, whatever the backlog and the statistics: the locking subquery
 * cannot be flattened, so the planner cannot turn it into a scan of every due job of the queue
 * (which a plain join on the arrays did). SKIP LOCKED: a row locked by another transaction is
 * being claimed, swept or finished there; skipping it (rather than waiting) keeps two batch
 * claims from deadlocking. Then the limit: the claimable jobs are numbered within their group in
 * the order of the refs, and those past their group's room ($7 less its busy count) are not
 * claimed but returned with their ref's ordinal (1-based; 0 marks a claimed row), their row locks
 * gone at the statement's end. */
static const char claim_many_sql[] =
	"WITH cand AS ("
	"  SELECT j.tenant_id, j.id, j.grp, r.ord"
	"  FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS r(tenant_id, id, ord)"
	"  CROSS JOIN LATERAL ("
	"   SELECT tenant_id, id, payload ->> $6::text AS grp FROM jobs"
	"   WHERE tenant_id = r.tenant_id AND id = r.id AND queue = $3"
	"    AND ((state = 'pending' AND run_at <= now())"
	"     OR (state = 'running' AND lease_until < now() AND attempts < max_attempts))"
	"   FOR NO KEY UPDATE SKIP LOCKED) j),"
	" uniq AS (SELECT DISTINCT ON (tenant_id, id) * FROM cand ORDER BY tenant_id, id, ord),"
	" ranked AS ("
	"  SELECT u.tenant_id, u.id, u.grp, u.ord,"
	"   row_number() OVER (PARTITION BY u.grp ORDER BY u.ord) AS k, $7::int - coalesce(b.busy, 0) AS room"
	"  FROM uniq u LEFT JOIN unnest($8::text[], $9::int[]) AS b(grp, busy) ON b.grp = u.grp),"
	" c AS ("
	"  UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, locked_by = $4,"
	"   lease_until = now() + make_interval(secs => $5::int / 1000.0), updated_at = now()"
	"  FROM ranked WHERE j.tenant_id = ranked.tenant_id AND j.id = ranked.id AND ranked.k <= ranked.room"
	"  RETURNING j.tenant_id, j.id, j.queue, j.kind, j.payload::text AS payload, j.attempts,"
	"   j.max_attempts, j.trigger, ranked.grp),"
	" lost AS ("
	"  UPDATE job_attempts t SET finished_at = now(), outcome = 'lost',"
	"   error = 'lease expired (worker died or job outlived its lease)'"
	"  FROM c WHERE t.tenant_id = c.tenant_id AND t.job_id = c.id AND t.n < c.attempts"
	"   AND t.outcome IS NULL),"
	" ins AS ("
	"  INSERT INTO job_attempts (tenant_id, job_id, n, trigger, worker)"
	"  SELECT tenant_id, id, attempts, trigger, $4 FROM c)"
	" SELECT tenant_id, id, queue, kind, payload, attempts, max_attempts, trigger, grp, 0::bigint FROM c"
	" UNION ALL"
	" SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, grp, ord FROM ranked WHERE k > room";

/* The limit's groups and busy counts as array literals; no limit is one group with all the room. */
static void limit_params(arena_t *a, const struct queue_claim_limit *lim, const char **key,
			 const char **room, const char **groups, const char **busy)
{
	const char **b;

	*key = NULL;
	*room = "2147483647";
	*groups = *busy = "{}";
	if (lim == NULL)
		return;
	b = arena_alloc(a, sizeof(char *) * (lim->ngroups + 1));
	for (size_t i = 0; i < lim->ngroups; i++)
		b[i] = arena_printf(a, "%d", lim->busy[i]);
	*key = lim->key;
	*room = arena_printf(a, "%d", lim->room);
	*groups = db_array(a, (const char *const *)lim->groups, lim->ngroups);
	*busy = db_array(a, b, lim->ngroups);
}

err_t queue_claim_many(db_t *db, arena_t *a, const char *queue, const struct job_ref *refs, size_t n,
		       const char *who, int lease_ms, const struct queue_claim_limit *lim, struct job *out,
		       size_t *nclaimed, const char **deferred)
{
	const char **tenants = arena_alloc(a, sizeof(char *) * (n + 1));
	const char **ids = arena_alloc(a, sizeof(char *) * (n + 1));
	size_t *at = arena_alloc(a, sizeof(size_t) * (n + 1));     /* the ref of array element k */
	const char *key, *room, *groups, *busy;
	size_t m = 0;
	PGresult *r;
	err_t e;

	*nclaimed = 0;
	for (size_t i = 0; i < n; i++) {
		if (deferred != NULL)
			deferred[i] = NULL;
		if (!crypto_uuid_valid(refs[i].tenant_id) || !crypto_uuid_valid(refs[i].id))
			continue;   /* a malformed stream entry: nothing to claim */
		tenants[m] = refs[i].tenant_id;
		at[m] = i;
		ids[m++] = refs[i].id;
	}
	if (m == 0)
		return ERR_OK;
	limit_params(a, lim, &key, &room, &groups, &busy);
	e = db_qp(db, a, &r, "queue_claim_many", claim_many_sql, db_array(a, tenants, m), db_array(a, ids, m),
		  queue, who, arena_printf(a, "%d", lease_ms), key, room, groups, busy);
	if (e != ERR_OK)
		return e;
	for (int i = 0; i < PQntuples(r); i++) {
		long long ord = db_int(r, i, 9);
		const char *g = db_val(r, i, 8);

		if (ord == 0 && *nclaimed < n)
			job_from_row(r, i, &out[(*nclaimed)++]);
		else if (ord >= 1 && (size_t)ord <= m && deferred != NULL)
			deferred[at[ord - 1]] = g != NULL ? g : "";
	}
	return ERR_OK;
}

err_t queue_complete_many(db_t *db, arena_t *a, const struct job *const *jobs, size_t n, const char *who)
{
	const char **tenants = arena_alloc(a, sizeof(char *) * (n + 1));
	const char **ids = arena_alloc(a, sizeof(char *) * (n + 1));
	const char **ns = arena_alloc(a, sizeof(char *) * (n + 1));
	long long done;
	PGresult *r;
	err_t e;

	if (n == 0)
		return ERR_OK;
	for (size_t i = 0; i < n; i++) {
		tenants[i] = jobs[i]->tenant_id;
		ids[i] = jobs[i]->id;
		ns[i] = arena_printf(a, "%d", jobs[i]->attempt);
	}
	e = db_qp(db, a, &r, "queue_complete_many",
		 "WITH r AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS r(tenant_id, id, n)),"
		 " j AS ("
		 "  UPDATE jobs j SET state = 'succeeded', finished_at = now(), lease_until = NULL,"
		 "   locked_by = NULL, last_error = NULL, trigger = 'scheduled', updated_at = now()"
		 "  FROM r WHERE j.tenant_id = r.tenant_id AND j.id = r.id AND j.state = 'running'"
		 "   AND j.locked_by = $4 RETURNING 1),"
		 " at AS ("
		 "  UPDATE job_attempts t SET finished_at = now(), outcome = 'succeeded'"
		 "  FROM r WHERE t.tenant_id = r.tenant_id AND t.job_id = r.id AND t.n = r.n"
		 "   AND t.outcome IS NULL)"
		 " SELECT count(*) FROM j",
		 db_array(a, tenants, n), db_array(a, ids, n), db_array(a, ns, n), who);
	if (e != ERR_OK)
		return e;
	done = db_int(r, 0, 0);
	if (done != (long long)n)
		log_warn("queue.lease_lost", LF_INT("jobs", (long long)n - done));
	return ERR_OK;
}

err_t queue_complete(db_t *db, arena_t *a, const struct job *job, const char *who)
{
	const char *n = arena_printf(a, "%d", job->attempt);
	PGresult *r;
	err_t e = db_q(db, a, &r,
		       "WITH j AS ("
		       "  UPDATE jobs SET state = 'succeeded', finished_at = now(), lease_until = NULL,"
		       "   locked_by = NULL, last_error = NULL, trigger = 'scheduled', updated_at = now()"
		       "  WHERE tenant_id = $1 AND id = $2 AND state = 'running' AND locked_by = $3"
		       "  RETURNING 1),"
		       " at AS ("
		       "  UPDATE job_attempts SET finished_at = now(), outcome = 'succeeded'"
		       "  WHERE tenant_id = $1 AND job_id = $2 AND n = $4::int AND outcome IS NULL)"
		       " SELECT count(*) FROM j",
		       job->tenant_id, job->id, who, n);

	if (e == ERR_OK && db_int(r, 0, 0) != 1)
		log_warn("queue.lease_lost", LF_STR("job", job->id), LF_INT("attempt", job->attempt));
	return e;
}

err_t queue_fail(db_t *db, arena_t *a, const struct job *job, const char *who, const char *error,
		 long long retry_after_ms, bool permanent, bool *dead)
{
	struct queue_policy pol = queue_policy(job->queue);
	char msg[QUEUE_ERROR_MAX + 1];
	const char *n, *delay;
	PGresult *r;
	err_t e;

	*dead = permanent || job->attempt >= job->max_attempts;
	snprintf(msg, sizeof(msg), "%s", error != NULL && error[0] != '\0' ? error : "failed");
	n = arena_printf(a, "%d", job->attempt);
	delay = arena_printf(a, "%lld", queue_retry_delay_ms(&pol, job->attempt, retry_after_ms, jitter_u()));
	e = db_q(db, a, &r,
		 "WITH j AS ("
		 "  UPDATE jobs SET state = CASE WHEN $5::bool THEN 'dead' ELSE 'pending' END,"
		 "   run_at = CASE WHEN $5::bool THEN run_at"
		 "    ELSE now() + make_interval(secs => $6::bigint / 1000.0) END,"
		 "   finished_at = CASE WHEN $5::bool THEN now() END,"
		 "   announced_at = NULL, lease_until = NULL, locked_by = NULL, last_error = $7,"
		 "   trigger = 'scheduled', updated_at = now()"
		 "  WHERE tenant_id = $1 AND id = $2 AND state = 'running' AND locked_by = $3"
		 "  RETURNING 1),"
		 " at AS ("
		 "  UPDATE job_attempts SET finished_at = now(), outcome = 'failed', error = $7"
		 "  WHERE tenant_id = $1 AND job_id = $2 AND n = $4::int AND outcome IS NULL)"
		 " SELECT count(*) FROM j",
		 job->tenant_id, job->id, who, n, *dead ? "true" : "false", delay, msg);
	if (e == ERR_OK && db_int(r, 0, 0) != 1)
		log_warn("queue.lease_lost", LF_STR("job", job->id), LF_INT("attempt", job->attempt));
	return e;
}

err_t queue_retry(db_t *db, arena_t *a, const char *tenant_id, const char *id, struct problem *p)
{
	PGresult *r;
	err_t e;

	if (!crypto_uuid_valid(tenant_id) || !crypto_uuid_valid(id))
		return err_set(p, a, ERR_NOT_FOUND, "no such job");
	e = db_q(db, a, &r, "SELECT queue, state FROM jobs WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
		 tenant_id, id);
	if (e != ERR_OK)
		return err_set(p, a, e, "could not read the job");
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no such job");
	if (strcmp(db_val(r, 0, 1), "dead") != 0)
		return err_set(p, a, ERR_CONFLICT, "only a dead job can be retried (this one is %s)",
			       db_val(r, 0, 1));
	{
		struct queue_policy pol = queue_policy(db_val(r, 0, 0));
		const char *budget = arena_printf(a, "%d", pol.max_attempts);
		const char *queue = db_val(r, 0, 0);

		e = db_q(db, a, NULL,
			 "UPDATE jobs SET state = 'pending', run_at = now(), announced_at = now(),"
			 " max_attempts = attempts + $3::int, trigger = 'manual', finished_at = NULL,"
			 " updated_at = now() WHERE tenant_id = $1 AND id = $2 AND state = 'dead'",
			 tenant_id, id, budget);
		if (e != ERR_OK)
			return err_set(p, a, e, "could not retry the job");
		announce_on_commit(db, a, queue, tenant_id, id);
	}
	return ERR_OK;
}

/* --- sweeper and janitor --------------------------------------------------------------------- */

/* Jobs whose lease expired on their last allowed attempt go dead instead of running again:
 * a job that kills its worker every time must not kill workers forever. */
static err_t bury_exhausted(db_t *db, arena_t *a, const char *queue)
{
	return db_q(db, a, NULL,
		    "WITH d AS ("
		    "  UPDATE jobs SET state = 'dead', finished_at = now(), lease_until = NULL,"
		    "   locked_by = NULL, updated_at = now(),"
		    "   last_error = 'lease expired on the last attempt (worker died or job too slow)'"
		    "  WHERE queue = $1 AND state = 'running' AND lease_until < now()"
		    "   AND attempts >= max_attempts RETURNING tenant_id, id, attempts)"
		    " UPDATE job_attempts t SET finished_at = now(), outcome = 'lost', error = 'lease expired'"
		    " FROM d WHERE t.tenant_id = d.tenant_id AND t.job_id = d.id AND t.n = d.attempts"
		    "  AND t.outcome IS NULL",
		    queue);
}

err_t queue_sweep(db_t *db, arena_t *a, const char *queue, int lease_ms, struct job_ref *refs,
		  size_t max, size_t *n)
{
	const char *lease = arena_printf(a, "%d", lease_ms);
	const char *lim = arena_printf(a, "%zu", max);
	PGresult *r;
	err_t e;

	*n = 0;
	if ((e = bury_exhausted(db, a, queue)) != ERR_OK)
		return e;
	e = db_q(db, a, &r,
		 "WITH due AS ("
		 "  SELECT tenant_id, id FROM jobs WHERE queue = $1 AND ("
		 "   (state = 'pending' AND run_at <= now() AND (announced_at IS NULL"
		 "     OR announced_at < now() - make_interval(secs => $2::int / 1000.0)))"
		 "   OR (state = 'running' AND lease_until < now() AND attempts < max_attempts"
		 "    AND (announced_at IS NULL OR announced_at < lease_until"
		 "     OR announced_at < now() - make_interval(secs => $2::int / 1000.0))))"
		 "  ORDER BY run_at LIMIT $3::int FOR UPDATE SKIP LOCKED)"
		 " UPDATE jobs j SET announced_at = now() FROM due"
		 " WHERE j.tenant_id = due.tenant_id AND j.id = due.id RETURNING j.tenant_id, j.id",
		 queue, lease, lim);
	if (e != ERR_OK)
		return e;
	for (int i = 0; i < PQntuples(r) && (size_t)i < max; i++) {
		snprintf(refs[i].tenant_id, UUID_STRLEN, "%s", db_val(r, i, 0));
		snprintf(refs[i].id, UUID_STRLEN, "%s", db_val(r, i, 1));
		(*n)++;
	}
	return ERR_OK;
}

err_t queue_janitor(db_t *db, arena_t *a, int retention_days, int batch, long long *deleted)
{
	const char *days = arena_printf(a, "%d", retention_days);
	const char *lim = arena_printf(a, "%d", batch);
	PGresult *r;
	err_t e = db_q(db, a, &r,
		       "WITH old AS ("
		       "  SELECT tenant_id, id FROM jobs"
		       "  WHERE finished_at < now() - make_interval(days => $1::int)"
		       "  ORDER BY finished_at LIMIT $2::int FOR UPDATE SKIP LOCKED),"
		       " d AS (DELETE FROM jobs j USING old"
		       "  WHERE j.tenant_id = old.tenant_id AND j.id = old.id RETURNING 1)"
		       " SELECT count(*) FROM d",
		       days, lim);

	*deleted = e == ERR_OK ? db_int(r, 0, 0) : 0;
	return e;
}
