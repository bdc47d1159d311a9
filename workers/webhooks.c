/* atrium-webhooks: delivers the webhooks queue with libcurl multi — many transfers in flight, at
 * most ATRIUM_WEBHOOK_PER_ENDPOINT per endpoint, tenants started round-robin, Redis read without
 * blocking while transfers run (DESIGN §7). The per-endpoint cap is applied when claiming, not
 * after: a delivery whose endpoint has no room stays pending (its stream entry unacked, its ref
 * kept here with its endpoint learnt), so one slow endpoint holds at most its cap of slots and
 * leases, and the other endpoints' deliveries pass its backlog. Each delivery is a job: claimed,
 * prepared and signed, sent, then its attempt recorded and the job completed or failed, as
 * lib/worker.c does — but in
 * batches: one statement claims every delivery that fits, one transaction per tenant prepares
 * them (each secret opened once per batch), one per tenant records the successes, one XACK
 * acknowledges them. The database round trips, not the HTTP, set the pace. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "secrets.h"
#include "webhooks.h"
#include "worker.h"

#define MAX_SLOTS 1024
#define PENDING_MAX 2048
#define SWEEP_BATCH 200
#define ACK_MAX 256              /* entry ids per XACK */
#define ROUND_TENANTS 64         /* tenants started per round-robin pass */
#define EP_MAX 40                /* an endpoint id (a UUID) as the claim returns it */

struct ref {
	struct job_ref job;
	char entry[48];          /* stream entry id to ack, "" when it came from the sweeper */
	char endpoint[EP_MAX];   /* learnt when a claim deferred it for want of room; "" unknown */
	uint32_t eph;            /* hash of endpoint: compared before the string */
	bool blocked;            /* this turn: its endpoint has no room */
};

/* Deliveries in hand per endpoint this turn: the slots' (claimed, being prepared or in flight),
 * then those picked for the claim. */
struct load {
	const char **ep;
	uint32_t *h;
	int *n;
	size_t len, cap;
};

struct slot {
	bool used;
	arena_t *a;
	struct job job;
	struct webhook_send s;
	struct http_xfer *x;
	struct http_response rs;
	char entry[48];
	char endpoint[EP_MAX];   /* the claim's group: the job's payload endpoint_id */
	uint32_t eph;
};

struct wh {
	struct config cfg;
	struct http_policy pol;
	db_t *db;
	rds_t *redis;
	CURLM *multi;
	arena_t *loop;
	char consumer[128];
	char key[64];
	struct ref pending[PENDING_MAX];
	size_t npending, nblocked;    /* nblocked: pending refs whose endpoint is full (this turn) */
	struct load load;             /* this turn's, in the loop arena */
	struct slot slots[MAX_SLOTS];
	size_t nslots;           /* slots in use never sit past webhook_concurrency: scan only those */
	size_t used, inflight;
	arena_t *batch;          /* one batch's claim result and opened secrets; reset (wiped) after it */
	char acks[ACK_MAX][48];  /* entry ids to XACK at the end of the loop turn */
	size_t nacks;
	long long next_sweep, next_purge;
	int lease_ms;            /* outlasts one delivery's HTTP timeout (config_lease_ms) */
	bool group_ok;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ensure_group(struct wh *w)
{
	redisReply *rep;
	err_t e = redis_c(w->redis, w->loop, &rep, "XGROUP", "CREATE", w->key, WEBHOOKS_QUEUE, "0", "MKSTREAM");

	w->group_ok = e == ERR_OK ||
		      (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSYGROUP", 9) == 0);
}

/* Sends the collected entry ids in one XACK. A failure is harmless: XAUTOCLAIM hands the
 * entries back after a lease, and the claim finds their jobs done. */
static void flush_acks(struct wh *w)
{
	const char *argv[ACK_MAX + 3] = { "XACK", w->key, WEBHOOKS_QUEUE };

	if (w->nacks == 0)
		return;
	for (size_t i = 0; i < w->nacks; i++)
		argv[3 + i] = w->acks[i];
	if (redis_cmd(w->redis, w->loop, NULL, (int)w->nacks + 3, argv, NULL) != ERR_OK)
		log_warn("webhooks.ack_failed", LF_INT("entries", w->nacks));
	w->nacks = 0;
}

static void ack(struct wh *w, const char *entry)
{
	if (entry[0] == '\0')
		return;      /* from the sweeper: nothing to acknowledge */
	if (w->nacks == ACK_MAX)
		flush_acks(w);
	snprintf(w->acks[w->nacks++], sizeof(w->acks[0]), "%s", entry);
}

static size_t endpoint_inflight(const struct wh *w, const char *endpoint_id)
{
	size_t n = 0;

	for (size_t i = 0; i < w->nslots; i++)
		if (w->slots[i].used && w->slots[i].x != NULL && strcmp(w->slots[i].s.endpoint_id, endpoint_id) == 0)
			n++;
	return n;
}

/* FNV-1a: lets the per-turn endpoint lookups compare integers first. */
static uint32_t ep_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static void set_endpoint(char dst[EP_MAX], uint32_t *h, const char *ep)
{
	snprintf(dst, EP_MAX, "%s", ep != NULL ? ep : "");
	*h = ep_hash(dst);
}

/* The count of endpoint ep (hash h) in l, or NULL when it holds none. */
static int *load_of(const struct load *l, const char *ep, uint32_t h)
{
	for (size_t i = 0; i < l->len; i++)
		if (l->h[i] == h && strcmp(l->ep[i], ep) == 0)
			return &l->n[i];
	return NULL;
}

static void load_add(struct load *l, const char *ep, uint32_t h)
{
	int *n = load_of(l, ep, h);

	if (n != NULL)
		(*n)++;
	else if (l->len < l->cap) {
		l->ep[l->len] = ep;
		l->h[l->len] = h;
		l->n[l->len++] = 1;
	}
}

/* True when endpoint ep is known and has no room left this turn. */
static bool full(const struct wh *w, const char *ep, uint32_t h)
{
	const int *n;

	if (ep[0] == '\0')
		return false;     /* unknown: the claim decides */
	n = load_of(&w->load, ep, h);
	return n != NULL && *n >= w->cfg.webhook_per_endpoint;
}

/* Builds this turn's load from the slots (room for a pick's worth more) and marks the pending
 * refs whose endpoint is full. */
static void measure_load(struct wh *w)
{
	size_t cap = w->nslots * 2 + 1;
	struct load *l = &w->load;

	*l = (struct load){ arena_alloc(w->loop, sizeof(char *) * cap), arena_alloc(w->loop, sizeof(uint32_t) * cap),
			    arena_alloc(w->loop, sizeof(int) * cap), 0, cap };
	for (size_t i = 0; i < w->nslots; i++)
		if (w->slots[i].used && w->slots[i].endpoint[0] != '\0')
			load_add(l, w->slots[i].endpoint, w->slots[i].eph);
	w->nblocked = 0;
	for (size_t i = 0; i < w->npending; i++) {
		struct ref *r = &w->pending[i];

		r->blocked = full(w, r->endpoint, r->eph);
		w->nblocked += r->blocked;
	}
}

/* --- finishing ------------------------------------------------------------------------------ */

static void fail_job(struct wh *w, struct slot *sl, const struct job_result *res)
{
	bool dead = false;

	db_rollback(w->db);
	if (db_begin(w->db, sl->job.tenant_id) != ERR_OK ||
	    queue_fail(w->db, sl->a, &sl->job, w->consumer, res->error, res->retry_after_ms, res->permanent,
		       &dead) != ERR_OK || db_commit(w->db) != ERR_OK) {
		db_rollback(w->db);
		log_error("webhooks.record_failed", LF_STR("job", sl->job.id));
		return;
	}
	log_warn(dead ? "job.dead" : "job.failed", LF_STR("job", sl->job.id), LF_STR("error", res->error));
}

static void release(struct wh *w, struct slot *sl, bool do_ack)
{
	if (do_ack)
		ack(w, sl->entry);
	if (sl->x != NULL) {
		curl_multi_remove_handle(w->multi, http_xfer_easy(sl->x));
		w->inflight--;
	}
	arena_reset(sl->a);
	sl->x = NULL;
	sl->used = false;
	w->used--;
}

/* A failed attempt: its row (and a 410's disabling) commit on their own, then the job fails. */
static void finish_failed(struct wh *w, struct slot *sl)
{
	struct job_result res = { 0 };

	if (db_ready(w->db) != ERR_OK || db_begin(w->db, sl->job.tenant_id) != ERR_OK) {
		release(w, sl, false);     /* the lease runs out and the sweeper hands it out again */
		return;
	}
	if (webhooks_record(w->db, sl->a, &w->cfg, &sl->job, &sl->s, &sl->rs, &res) == ERR_OK)
		log_error("webhooks.unexpected_success", LF_STR("job", sl->job.id));
	fail_job(w, sl, &res);
	release(w, sl, true);
}

/* Successful deliveries of one tenant commit together: their attempt rows in one statement,
 * their completions in another, one transaction. On failure nothing is acked and the leases run
 * out, so they are delivered again (at least once). */
static void complete_batch(struct wh *w, struct slot **ok, size_t n)
{
	const struct job **jobs = arena_alloc(w->loop, sizeof(*jobs) * n);
	const struct webhook_send **sends = arena_alloc(w->loop, sizeof(*sends) * n);
	const struct http_response **rss = arena_alloc(w->loop, sizeof(*rss) * n);
	bool db_ok;

	for (size_t i = 0; i < n; i++) {
		jobs[i] = &ok[i]->job;
		sends[i] = &ok[i]->s;
		rss[i] = &ok[i]->rs;
	}
	db_ok = db_ready(w->db) == ERR_OK && db_begin(w->db, ok[0]->job.tenant_id) == ERR_OK &&
		webhooks_record_succeeded(w->db, w->loop, jobs, sends, rss, n) == ERR_OK &&
		queue_complete_many(w->db, w->loop, jobs, n, w->consumer) == ERR_OK &&
		db_commit(w->db) == ERR_OK;
	if (!db_ok) {
		db_rollback(w->db);
		log_warn("webhooks.attempt_not_recorded", LF_INT("deliveries", n));
	}
	for (size_t i = 0; i < n; i++)
		release(w, ok[i], db_ok);
}

/* Moves the slots of sl[0]'s tenant into group and the others to the front of sl; returns the
 * group's size, *rest the others'. (sl[0] is overwritten as the others move: its tenant is
 * read first.) */
static size_t split_tenant(struct slot **sl, size_t n, struct slot **group, size_t *rest)
{
	const char *tenant = sl[0]->job.tenant_id;
	size_t g = 0;

	*rest = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(sl[i]->job.tenant_id, tenant) == 0)
			group[g++] = sl[i];
		else
			sl[(*rest)++] = sl[i];
	}
	return g;
}

/* Groups the successes by tenant and completes each group in one transaction. */
static void complete_all(struct wh *w, struct slot **ok, size_t n)
{
	static struct slot *group[MAX_SLOTS];

	while (n > 0) {
		size_t g = split_tenant(ok, n, group, &n);

		complete_batch(w, group, g);
	}
}

static void reap(struct wh *w)
{
	static struct slot *ok[MAX_SLOTS];
	size_t nok = 0;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
		struct slot *sl;
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);   /* the http_xfer */
		sl = http_xfer_data((struct http_xfer *)(void *)priv);
		http_xfer_finish(sl->x, m->data.result, &sl->rs);
		if (sl->rs.status >= 200 && sl->rs.status < 300)
			ok[nok++] = sl;
		else
			finish_failed(w, sl);
	}
	if (nok > 0)
		complete_all(w, ok, nok);
}

static void push(struct wh *w, const struct ref *r);

/* --- starting ------------------------------------------------------------------------------- */

/* Adds the prepared slot's transfer. The claim already kept each endpoint within its cap; the
 * check stays as a safety net (a slot over it would wait here, parked, until one finishes). */
static void launch(struct wh *w, struct slot *sl)
{
	if (endpoint_inflight(w, sl->s.endpoint_id) >= (size_t)w->cfg.webhook_per_endpoint)
		return;
	sl->x = http_xfer_new(&w->pol, sl->a, &sl->s.rq);
	http_xfer_set_data(sl->x, sl);
	curl_multi_add_handle(w->multi, http_xfer_easy(sl->x));
	w->inflight++;
}

static void launch_parked(struct wh *w)
{
	if (w->used == w->inflight)
		return;
	for (size_t i = 0; i < w->nslots; i++)
		if (w->slots[i].used && w->slots[i].x == NULL)
			launch(w, &w->slots[i]);
}

static void put_json(void *o)
{
	json_object_put(o);
}

/* Takes a free slot for a claimed job: the job's strings are copied into the slot's arena. */
static struct slot *take_slot(struct wh *w, const struct job *job, const char *entry)
{
	struct slot *sl = NULL;

	for (size_t i = 0; i < w->nslots && sl == NULL; i++)
		if (!w->slots[i].used)
			sl = &w->slots[i];
	if (sl == NULL)
		return NULL;
	sl->used = true;
	w->used++;
	sl->job = *job;
	sl->job.tenant_id = arena_strdup(sl->a, job->tenant_id);
	sl->job.id = arena_strdup(sl->a, job->id);
	sl->job.queue = arena_strdup(sl->a, job->queue);
	sl->job.kind = arena_strdup(sl->a, job->kind);
	sl->job.payload = arena_strdup(sl->a, job->payload);
	sl->job.group = NULL;
	snprintf(sl->entry, sizeof(sl->entry), "%s", entry);
	set_endpoint(sl->endpoint, &sl->eph, job->group);
	return sl;
}

/* A delivery that cannot be sent (endpoint gone or disabled, malformed job, secret unusable):
 * its job fails (permanently when retrying cannot help) and its entry is acked. */
static void fail_unsendable(struct wh *w, struct slot *sl, err_t e, const struct problem *p)
{
	struct job_result res = { p->detail != NULL ? p->detail : "the delivery could not be prepared", 0,
				  e == ERR_NOT_FOUND || e == ERR_CONFLICT || e == ERR_VALIDATION };

	fail_job(w, sl, &res);
	release(w, sl, true);
}

/* Prepares and launches n claimed deliveries of one tenant in one transaction. When the
 * database fails, the slots are released unacked: the leases run out and the sweeper hands the
 * jobs out again. */
static void prepare_group(struct wh *w, struct slot **group, size_t n)
{
	struct webhook_prep *items = arena_alloc(w->loop, sizeof(*items) * n);
	bool ok;

	for (size_t i = 0; i < n; i++) {
		json_object *payload = json_tokener_parse(group[i]->job.payload);

		if (payload != NULL)
			arena_cleanup_add(group[i]->a, put_json, payload);   /* s points into it until release */
		items[i] = (struct webhook_prep){ .job = &group[i]->job, .payload = payload, .a = group[i]->a,
						  .s = &group[i]->s };
	}
	ok = db_begin(w->db, group[0]->job.tenant_id) == ERR_OK &&
	     webhooks_prepare_many(w->db, w->batch, items, n) == ERR_OK && db_commit(w->db) == ERR_OK;
	arena_reset(w->batch);      /* wipes the secrets opened for this batch */
	if (!ok)
		db_rollback(w->db);
	for (size_t i = 0; i < n; i++) {
		if (!ok)
			release(w, group[i], false);
		else if (items[i].e == ERR_OK)
			launch(w, group[i]);      /* or parked until its endpoint has room */
		else
			fail_unsendable(w, group[i], items[i].e, &items[i].p);
	}
}

/* Prepares the claimed slots tenant by tenant. */
static void prepare_all(struct wh *w, struct slot **sl, size_t n)
{
	struct slot **group = arena_alloc(w->loop, sizeof(*group) * (n + 1));

	while (n > 0) {
		size_t g = split_tenant(sl, n, group, &n);

		prepare_group(w, group, g);
	}
}

/* Moves up to room refs from pending into out, one per tenant per pass (round-robin, so one
 * tenant's backlog cannot hold back the others). A ref whose endpoint is known to be full stays
 * (picking it would only have the claim defer it again). */
static size_t pick(struct wh *w, struct ref *out, size_t room)
{
	bool *taken = arena_alloc(w->loop, w->npending + 1);
	size_t n = 0, keep = 0;
	bool progress = true;

	memset(taken, 0, w->npending + 1);
	while (progress && n < room) {
		char seen[ROUND_TENANTS][UUID_STRLEN];
		size_t nseen = 0;

		progress = false;
		for (size_t i = 0; i < w->npending && n < room && nseen < ROUND_TENANTS; i++) {
			struct ref *r = &w->pending[i];
			bool dup = false;

			for (size_t k = 0; k < nseen && !dup; k++)
				dup = strcmp(seen[k], r->job.tenant_id) == 0;
			if (taken[i] || dup || full(w, r->endpoint, r->eph))
				continue;
			memcpy(seen[nseen++], r->job.tenant_id, UUID_STRLEN);
			taken[i] = true;
			out[n] = *r;          /* the load keeps a pointer: to the copy, pending moves */
			if (r->endpoint[0] != '\0')
				load_add(&w->load, out[n].endpoint, r->eph);
			n++;
			progress = true;
		}
	}
	for (size_t i = 0; i < w->npending; i++)
		if (!taken[i])
			w->pending[keep++] = w->pending[i];
	w->npending = keep;
	return n;
}

/* The claimed job of ref, or NULL (not claimed, or already given to an earlier duplicate ref). */
static struct job *claimed_job(struct job *jobs, bool *used, size_t n, const struct ref *r)
{
	for (size_t i = 0; i < n; i++)
		if (!used[i] && strcmp(jobs[i].id, r->job.id) == 0 && strcmp(jobs[i].tenant_id, r->job.tenant_id) == 0) {
			used[i] = true;
			return &jobs[i];
		}
	return NULL;
}

/* The claim's limit: ATRIUM_WEBHOOK_PER_ENDPOINT per endpoint, less the slots each holds. */
static struct queue_claim_limit claim_limit(struct wh *w)
{
	const char **eps = arena_alloc(w->loop, sizeof(char *) * (w->nslots + 1));
	int *busy = arena_alloc(w->loop, sizeof(int) * (w->nslots + 1));
	struct load l = { eps, arena_alloc(w->loop, sizeof(uint32_t) * (w->nslots + 1)), busy, 0, w->nslots + 1 };

	for (size_t i = 0; i < w->nslots; i++)
		if (w->slots[i].used && w->slots[i].endpoint[0] != '\0')
			load_add(&l, w->slots[i].endpoint, w->slots[i].eph);
	return (struct queue_claim_limit){ "endpoint_id", w->cfg.webhook_per_endpoint, eps, busy, l.len };
}

/* A ref the claim deferred: kept, unacked, with its endpoint, for when the endpoint has room. */
static void defer(struct wh *w, struct ref *r, const char *endpoint)
{
	set_endpoint(r->endpoint, &r->eph, endpoint);
	push(w, r);
}

/* Claims as many pending deliveries as there are free slots in one statement, at most
 * ATRIUM_WEBHOOK_PER_ENDPOINT in hand per endpoint, then prepares and launches them. Refs whose
 * job was not claimable (done, not due, held elsewhere) are acked; those deferred for want of
 * room, and all of them with PostgreSQL down, go back to pending. */
static void start_pending(struct wh *w)
{
	size_t room = (size_t)w->cfg.webhook_concurrency - w->used, n, nc = 0, ns = 0;
	struct queue_claim_limit lim;
	struct ref *refs;
	struct job_ref *jr;
	struct job *jobs;
	struct slot **started;
	const char **deferred;
	bool *used;

	if (w->npending == w->nblocked || w->used >= (size_t)w->cfg.webhook_concurrency ||
	    db_ready(w->db) != ERR_OK)
		return;
	refs = arena_alloc(w->loop, sizeof(*refs) * room);
	jr = arena_alloc(w->loop, sizeof(*jr) * room);
	jobs = arena_alloc(w->loop, sizeof(*jobs) * room);
	started = arena_alloc(w->loop, sizeof(*started) * room);
	deferred = arena_alloc(w->loop, sizeof(*deferred) * room);
	used = arena_alloc(w->loop, room);
	memset(used, 0, room);
	lim = claim_limit(w);
	if ((n = pick(w, refs, room)) == 0)
		return;
	for (size_t i = 0; i < n; i++)
		jr[i] = refs[i].job;
	if (queue_claim_many(w->db, w->batch, WEBHOOKS_QUEUE, jr, n, w->consumer, w->lease_ms, &lim, jobs, &nc,
			     deferred) != ERR_OK) {
		for (size_t i = 0; i < n; i++)
			push(w, &refs[i]);      /* tried again next turn */
		arena_reset(w->batch);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct job *job = claimed_job(jobs, used, nc, &refs[i]);
		struct slot *sl = job != NULL ? take_slot(w, job, refs[i].entry) : NULL;

		if (sl != NULL)
			started[ns++] = sl;
		else if (deferred[i] != NULL)
			defer(w, &refs[i], deferred[i]);
		else
			ack(w, refs[i].entry);      /* done, not due, held elsewhere, or a duplicate */
	}
	arena_reset(w->batch);
	if (ns > 0)
		prepare_all(w, started, ns);
}

/* --- sources of work ------------------------------------------------------------------------ */

static void push(struct wh *w, const struct ref *r)
{
	if (w->npending == PENDING_MAX)
		return;      /* left unacked: XAUTOCLAIM or the sweeper hands it out again */
	w->pending[w->npending] = *r;
	w->pending[w->npending++].blocked = false;
}

/* The pending ref of job, or NULL. */
static struct ref *pending_ref(struct wh *w, const struct job_ref *job)
{
	for (size_t i = 0; i < w->npending; i++)
		if (strcmp(w->pending[i].job.id, job->id) == 0 && strcmp(w->pending[i].job.tenant_id, job->tenant_id) == 0)
			return &w->pending[i];
	return NULL;
}

/* A new ref. From the sweeper or XAUTOCLAIM (again, check) it may name a job whose ref is still
 * pending here, deferred for longer than a lease: one ref is enough, an extra entry is acked (the
 * job's row is the truth: should the kept ref be dropped, the sweeper announces the job again). */
static void push_new(struct wh *w, const struct job_ref *job, const char *entry, bool check)
{
	struct ref r = { .job = *job };
	struct ref *old = check ? pending_ref(w, job) : NULL;

	if (old != NULL && old->entry[0] == '\0')
		snprintf(old->entry, sizeof(old->entry), "%s", entry);
	else if (old != NULL && strcmp(old->entry, entry) != 0)
		ack(w, entry);
	if (old != NULL)
		return;
	snprintf(r.entry, sizeof(r.entry), "%s", entry);
	push(w, &r);
}

static bool entry_ref(const redisReply *fields, struct job_ref *ref)
{
	bool t = false, j = false;

	if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
		return false;
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || v->len >= UUID_STRLEN)
			continue;
		if (strcmp(k->str, "tenant") == 0)
			t = snprintf(ref->tenant_id, UUID_STRLEN, "%s", v->str) > 0;
		else if (strcmp(k->str, "job") == 0)
			j = snprintf(ref->id, UUID_STRLEN, "%s", v->str) > 0;
	}
	return t && j;
}

/* Queues the refs of a [[id, [field, value, ...]], ...] array of stream entries (check: they may
 * name jobs already pending here). */
static void push_entries(struct wh *w, const redisReply *entries, bool check)
{
	if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < entries->elements; i++) {
		const redisReply *en = entries->element[i];
		struct job_ref ref;

		if (en->type != REDIS_REPLY_ARRAY || en->elements < 2 || en->element[0]->type != REDIS_REPLY_STRING)
			continue;   /* an entry deleted meanwhile */
		if (entry_ref(en->element[1], &ref))
			push_new(w, &ref, en->element[0]->str, check);
		else
			ack(w, en->element[0]->str);   /* malformed: nothing to run */
	}
}

/* Forgets the newest refs of full endpoints until `want` more refs fit in pending. Their entries
 * stay unacked in the group (XAUTOCLAIM hands them back after a lease) and their jobs pending in
 * PostgreSQL (the sweeper announces them again): a backlog of slow endpoints cannot fill the
 * list and stop the stream being read for the others. */
static void forget_blocked(struct wh *w, size_t want)
{
	size_t drop = w->npending + want - PENDING_MAX, keep = 0;

	for (size_t i = w->npending; i-- > 0 && drop > 0;)
		if (w->pending[i].blocked) {
			w->pending[i].job.id[0] = '\0';      /* marked: compacted below */
			w->nblocked--;
			drop--;
		}
	for (size_t i = 0; i < w->npending; i++)
		if (w->pending[i].job.id[0] != '\0')
			w->pending[keep++] = w->pending[i];
	w->npending = keep;
}

/* XREADGROUP: blocks (up to job_block_ms) only when nothing is in flight or waiting. Reads ahead
 * up to twice the concurrency of refs that could start (refs of full endpoints do not count). */
static void read_stream(struct wh *w)
{
	size_t room = (size_t)w->cfg.webhook_concurrency * 2, ready = w->npending - w->nblocked;
	bool idle = w->used == 0 && w->npending == 0;
	const char *count, *block = arena_printf(w->loop, "%d", w->cfg.job_block_ms);
	redisReply *rep, *entries;
	err_t e;

	if (ready >= room)
		return;
	if (w->npending + room - ready > PENDING_MAX)
		forget_blocked(w, room - ready);
	if (w->npending >= PENDING_MAX)
		return;
	count = arena_printf(w->loop, "%zu", room - ready < PENDING_MAX - w->npending ? room - ready
										      : PENDING_MAX - w->npending);
	e = idle ? redis_c(w->redis, w->loop, &rep, "XREADGROUP", "GROUP", WEBHOOKS_QUEUE, w->consumer,
			   "COUNT", count, "BLOCK", block, "STREAMS", w->key, ">")
		 : redis_c(w->redis, w->loop, &rep, "XREADGROUP", "GROUP", WEBHOOKS_QUEUE, w->consumer,
			   "COUNT", count, "STREAMS", w->key, ">");
	if (e == ERR_INTERNAL && rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOGROUP", 7) == 0)
		ensure_group(w);
	if (e != ERR_OK) {
		w->group_ok = false;
		if (idle)
			usleep(100000);      /* Redis down: the sweeper feeds us from PostgreSQL */
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 || rep->element[0]->elements != 2)
		return;
	entries = rep->element[0]->element[1];
	push_entries(w, entries, false);
}

/* XAUTOCLAIM: entries read by a consumer that died (SIGKILL, crash) and never acked, idle
 * longer than a lease. Without it they would stay in the group's pending list for ever; with
 * it their jobs come back as soon as their leases allow, and the entries get acked. */
static void autoclaim(struct wh *w)
{
	const char *idle = arena_printf(w->loop, "%d", w->lease_ms);
	const char *count = arena_printf(w->loop, "%d", SWEEP_BATCH);
	redisReply *rep;
	err_t e;

	if (w->npending + SWEEP_BATCH > PENDING_MAX)
		return;
	e = redis_c(w->redis, w->loop, &rep, "XAUTOCLAIM", w->key, WEBHOOKS_QUEUE, w->consumer, idle, "0-0",
		    "COUNT", count);
	if (e == ERR_OK && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2)
		push_entries(w, rep->element[1], true);
}

/* The sweeper (due jobs never announced, or whose lease ran out) and the attempts janitor. */
static void sweep(struct wh *w)
{
	struct job_ref refs[SWEEP_BATCH];
	long long deleted = 0;
	size_t n = 0;

	if (now_ms() < w->next_sweep)
		return;
	w->next_sweep = now_ms() + w->cfg.job_sweep_ms;
	if (!w->group_ok)
		ensure_group(w);
	if (db_ready(w->db) != ERR_OK ||
	    queue_sweep(w->db, w->loop, WEBHOOKS_QUEUE, w->lease_ms, refs, NELEM(refs), &n) != ERR_OK)
		return;
	for (size_t i = 0; i < n; i++)
		push_new(w, &refs[i], "", true);
	if (w->group_ok)
		autoclaim(w);
	if (now_ms() >= w->next_purge) {
		w->next_purge = now_ms() + (long long)w->cfg.job_sweep_ms * 10;
		if (webhooks_purge(w->db, w->loop, w->cfg.retention_days, 1000, &deleted) == ERR_OK && deleted > 0)
			log_info("webhooks.purged", LF_INT("attempts", deleted));
	}
}

/* --- the loop ------------------------------------------------------------------------------- */

static void run(struct wh *w)
{
	while (!proc_stop || w->used > 0) {
		int running = 0;

		arena_reset(w->loop);
		if (!proc_stop) {
			sweep(w);
			measure_load(w);
			read_stream(w);
			start_pending(w);
		}
		launch_parked(w);
		curl_multi_perform(w->multi, &running);
		reap(w);
		flush_acks(w);
		if (w->inflight > 0)
			curl_multi_poll(w->multi, NULL, 0, 20, NULL);
		else if (w->npending > 0 || w->used > 0)
			usleep(20000);     /* nothing could start (PostgreSQL down, endpoints full) */
	}
}

static int start(struct wh *w)
{
	char err[256], host[64];

	if (config_load(&w->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "atrium-webhooks: %s\n", err);
		return -1;
	}
	log_init("atrium-webhooks", (enum log_level)w->cfg.log_level);
	w->lease_ms = config_lease_ms(&w->cfg, w->cfg.http_timeout_ms);
	if (http_policy_from_config(&w->cfg, &w->pol, err, sizeof(err)) != 0 ||
	    secrets_before_drop(&w->cfg, err, sizeof(err)) != 0 ||
	    proc_drop_privileges(w->cfg.user, err, sizeof(err)) != 0) {
		log_error("worker.start_failed", LF_STR("error", err));
		return -1;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	snprintf(w->consumer, sizeof(w->consumer), "atrium-webhooks:%s:%ld", host, (long)getpid());
	queue_stream_key(WEBHOOKS_QUEUE, w->key, sizeof(w->key));
	w->db = db_connect(w->cfg.db_worker, "atrium-webhooks");
	w->redis = redis_open(w->cfg.redis, w->cfg.job_block_ms + 2000);
	w->loop = arena_new(65536);
	w->batch = arena_new(65536);
	w->multi = curl_multi_init();
	w->nslots = (size_t)w->cfg.webhook_concurrency < MAX_SLOTS ? (size_t)w->cfg.webhook_concurrency : MAX_SLOTS;
	for (size_t i = 0; i < w->nslots; i++)
		w->slots[i].a = arena_new(16384);
	queue_init(w->redis, &w->cfg);
	proc_signals();
	ensure_group(w);
	return 0;
}

int main(int argc, char **argv)
{
	static struct wh w;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: atrium-webhooks (configured by ATRIUM_* environment variables)\n");
		return 2;
	}
	if (start(&w) != 0)
		return 1;
	log_info("worker.ready", LF_STR("consumer", w.consumer));
	proc_notify("READY=1");
	run(&w);
	proc_notify("STOPPING=1");
	log_info("worker.stopping", LF_STR("consumer", w.consumer));
	for (size_t i = 0; i < w.nslots; i++)
		arena_free(w.slots[i].a);
	curl_multi_cleanup(w.multi);
	arena_free(w.batch);
	arena_free(w.loop);
	redis_close(w.redis);
	db_close(w.db);
	return 0;
}
