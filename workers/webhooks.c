/* atrium-webhooks: delivers the webhooks queue with libcurl multi — many transfers in flight, at
 * most ATRIUM_WEBHOOK_PER_ENDPOINT per endpoint, tenants started round-robin, Redis read without
 * blocking while transfers run (DESIGN §7). Each delivery is a job: claimed, prepared and signed,
 * sent, then its attempt recorded and the job completed or failed, as lib/worker.c does. */
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

struct ref {
	struct job_ref job;
	char entry[48];          /* stream entry id to ack, "" when it came from the sweeper */
};

struct slot {
	bool used;
	arena_t *a;
	struct job job;
	struct webhook_send s;
	struct http_xfer *x;
	struct http_response rs;
	char entry[48];
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
	size_t npending;
	struct slot slots[MAX_SLOTS];
	size_t inflight;
	char last_tenant[UUID_STRLEN];
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

static void ack(struct wh *w, const char *entry)
{
	if (entry[0] != '\0' &&
	    redis_c(w->redis, w->loop, NULL, "XACK", w->key, WEBHOOKS_QUEUE, entry) != ERR_OK)
		log_warn("webhooks.ack_failed");
}

static size_t endpoint_inflight(const struct wh *w, const char *endpoint_id)
{
	size_t n = 0;

	for (size_t i = 0; i < MAX_SLOTS; i++)
		if (w->slots[i].used && w->slots[i].x != NULL && strcmp(w->slots[i].s.endpoint_id, endpoint_id) == 0)
			n++;
	return n;
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

/* Successful deliveries of one tenant commit together (attempt rows and completions): one
 * transaction for the batch instead of one per delivery. On failure nothing is acked and the
 * leases run out, so they are delivered again (at least once). */
static void complete_batch(struct wh *w, struct slot **ok, size_t n)
{
	bool db_ok = db_ready(w->db) == ERR_OK && db_begin(w->db, ok[0]->job.tenant_id) == ERR_OK;

	for (size_t i = 0; db_ok && i < n; i++) {
		struct job_result res = { 0 };

		db_ok = webhooks_record(w->db, ok[i]->a, &w->cfg, &ok[i]->job, &ok[i]->s, &ok[i]->rs, &res) == ERR_OK &&
			queue_complete(w->db, ok[i]->a, &ok[i]->job, w->consumer) == ERR_OK;
	}
	if (db_ok)
		db_ok = db_commit(w->db) == ERR_OK;
	if (!db_ok)
		db_rollback(w->db);
	for (size_t i = 0; i < n; i++)
		release(w, ok[i], db_ok);
}

/* Groups the successes by tenant and completes each group in one transaction. */
static void complete_all(struct wh *w, struct slot **ok, size_t n)
{
	static struct slot *group[MAX_SLOTS];

	while (n > 0) {
		size_t g = 0, rest = 0;

		for (size_t i = 0; i < n; i++) {
			if (strcmp(ok[i]->job.tenant_id, ok[0]->job.tenant_id) == 0)
				group[g++] = ok[i];
			else
				ok[rest++] = ok[i];
		}
		complete_batch(w, group, g);
		n = rest;
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

/* --- starting ------------------------------------------------------------------------------- */

/* Adds the prepared slot's transfer unless its endpoint is at its cap (then it stays parked). */
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
	for (size_t i = 0; i < MAX_SLOTS; i++)
		if (w->slots[i].used && w->slots[i].x == NULL)
			launch(w, &w->slots[i]);
}

static size_t used_slots(const struct wh *w)
{
	size_t n = 0;

	for (size_t i = 0; i < MAX_SLOTS; i++)
		n += w->slots[i].used;
	return n;
}

static void put_json(void *o)
{
	json_object_put(o);
}

static struct slot *free_slot(struct wh *w)
{
	for (size_t i = 0; i < MAX_SLOTS; i++)
		if (!w->slots[i].used)
			return &w->slots[i];
	return NULL;
}

/* Claims, prepares and signs one delivery and adds its transfer. false when the endpoint is at
 * its cap (the job stays claimed under its lease and is retried from pending). */
static bool start_one(struct wh *w, const struct ref *r)
{
	struct slot *sl = free_slot(w);
	struct problem p = { 0 };
	json_object *payload;
	bool claimed = false;
	err_t e;

	if (sl == NULL)
		return false;
	if (db_ready(w->db) != ERR_OK)
		return false;          /* PostgreSQL is down: the entry waits in pending */
	e = queue_claim(w->db, sl->a, r->job.tenant_id, r->job.id, w->consumer, w->lease_ms,
			&sl->job, &claimed);
	if (e != ERR_OK || !claimed) {
		if (e == ERR_OK)
			ack(w, r->entry);      /* done, not due, or held elsewhere */
		arena_reset(sl->a);
		return true;
	}
	sl->used = true;
	snprintf(sl->entry, sizeof(sl->entry), "%s", r->entry);
	payload = json_tokener_parse(sl->job.payload);
	if (payload != NULL)
		arena_cleanup_add(sl->a, put_json, payload);     /* s points into it until release */
	e = payload != NULL && db_begin(w->db, sl->job.tenant_id) == ERR_OK ?
	    webhooks_prepare(w->db, sl->a, &sl->job, payload, &sl->s, &p) : ERR_VALIDATION;
	if (e == ERR_OK && (e = db_commit(w->db)) == ERR_OK) {
		launch(w, sl);      /* or parked until its endpoint has room */
		return true;
	}
	{
		struct job_result res = { p.detail != NULL ? p.detail : "the delivery could not be prepared", 0,
					  e == ERR_NOT_FOUND || e == ERR_CONFLICT || e == ERR_VALIDATION };
		fail_job(w, sl, &res);
	}
	release(w, sl, true);
	return true;
}

/* Starts pending deliveries while there is room: one per tenant per pass (round-robin), at most
 * per_endpoint per endpoint (checked after the claim, from the payload). */
static void start_pending(struct wh *w)
{
	bool progress = true;

	while (progress && w->npending > 0 && used_slots(w) < (size_t)w->cfg.webhook_concurrency) {
		char seen[64][UUID_STRLEN];
		size_t nseen = 0, out = 0;

		progress = false;
		for (size_t i = 0; i < w->npending; i++) {
			struct ref *r = &w->pending[i];
			bool dup = false;

			for (size_t k = 0; k < nseen; k++)
				dup = dup || strcmp(seen[k], r->job.tenant_id) == 0;
			if (dup || nseen == NELEM(seen) || used_slots(w) >= (size_t)w->cfg.webhook_concurrency) {
				w->pending[out++] = *r;
				continue;
			}
			memcpy(seen[nseen++], r->job.tenant_id, UUID_STRLEN);
			if (start_one(w, r))
				progress = true;
			else
				w->pending[out++] = *r;
		}
		w->npending = out;
	}
}

/* --- sources of work ------------------------------------------------------------------------ */

static void push(struct wh *w, const struct job_ref *ref, const char *entry)
{
	struct ref *r;

	if (w->npending == PENDING_MAX)
		return;      /* left unacked: the sweeper hands it out again */
	r = &w->pending[w->npending++];
	r->job = *ref;
	snprintf(r->entry, sizeof(r->entry), "%s", entry);
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

/* XREADGROUP: blocks (up to job_block_ms) only when nothing is in flight or waiting. */
static void read_stream(struct wh *w)
{
	size_t room = (size_t)w->cfg.webhook_concurrency * 2;
	bool idle = used_slots(w) == 0 && w->npending == 0;
	const char *count, *block = arena_printf(w->loop, "%d", w->cfg.job_block_ms);
	redisReply *rep, *entries;
	err_t e;

	if (w->npending >= room)
		return;
	count = arena_printf(w->loop, "%zu", room - w->npending);
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
	for (size_t i = 0; i < entries->elements; i++) {
		const redisReply *en = entries->element[i];
		struct job_ref ref;

		if (en->type == REDIS_REPLY_ARRAY && en->elements >= 2 && en->element[0]->type == REDIS_REPLY_STRING &&
		    entry_ref(en->element[1], &ref))
			push(w, &ref, en->element[0]->str);
	}
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
		push(w, &refs[i], "");
	if (now_ms() >= w->next_purge) {
		w->next_purge = now_ms() + (long long)w->cfg.job_sweep_ms * 10;
		if (webhooks_purge(w->db, w->loop, w->cfg.retention_days, 1000, &deleted) == ERR_OK && deleted > 0)
			log_info("webhooks.purged", LF_INT("attempts", deleted));
	}
}

/* --- the loop ------------------------------------------------------------------------------- */

static void run(struct wh *w)
{
	while (!proc_stop || used_slots(w) > 0) {
		int running = 0;

		arena_reset(w->loop);
		if (!proc_stop) {
			sweep(w);
			read_stream(w);
			start_pending(w);
		}
		launch_parked(w);
		curl_multi_perform(w->multi, &running);
		reap(w);
		if (w->inflight > 0)
			curl_multi_poll(w->multi, NULL, 0, 20, NULL);
		else if (w->npending > 0 || used_slots(w) > 0)
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
	w->loop = arena_new(16384);
	w->multi = curl_multi_init();
	for (size_t i = 0; i < MAX_SLOTS; i++)
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
	for (size_t i = 0; i < MAX_SLOTS; i++)
		arena_free(w.slots[i].a);
	curl_multi_cleanup(w.multi);
	arena_free(w.loop);
	redis_close(w.redis);
	db_close(w.db);
	return 0;
}
