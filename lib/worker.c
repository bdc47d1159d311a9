/* worker: the loop every worker binary shares — read a queue's stream, claim, run, record, ack (DESIGN §4) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "redis.h"
#include "worker.h"

#define MAX_QUEUES 8
#define READ_COUNT "16"          /* stream entries per XREADGROUP / XAUTOCLAIM */
#define SWEEP_BATCH 100
#define JANITOR_BATCH 1000
#define JANITOR_EVERY_SWEEPS 10
#define CONSUMER_MAX 128

struct worker {
	const struct worker_def *def;
	struct config cfg;
	db_t *db;
	rds_t *redis;
	arena_t *loop;           /* replies and sweeps of one loop turn */
	arena_t *job;            /* one job */
	char consumer[CONSUMER_MAX];
	char queue_buf[256];
	const char *queues[MAX_QUEUES];
	char keys[MAX_QUEUES][QUEUE_NAME_MAX + 16];
	size_t nqueues;
	int lease_ms;            /* config_lease_ms over the def's job_ms */
	bool groups_ok;
};

db_t *worker_db(struct worker *w)
{
	return w->db;
}

const struct config *worker_config(const struct worker *w)
{
	return &w->cfg;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps up to ms, returning early on a signal (SIGTERM sets proc_stop). */
static void nap(long long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	if (ms > 0)
		nanosleep(&ts, NULL);
}

/* Splits the comma list into w->queues; every name must be a valid queue name. */
static int parse_queues(struct worker *w, const char *list, char *err, size_t errlen)
{
	char *q = w->queue_buf, *comma;

	if (snprintf(w->queue_buf, sizeof(w->queue_buf), "%s", list) >= (int)sizeof(w->queue_buf)) {
		snprintf(err, errlen, "ATRIUM_WORKER_QUEUES: too long");
		return -1;
	}
	for (; q != NULL; q = comma != NULL ? comma + 1 : NULL) {
		if ((comma = strchr(q, ',')) != NULL)
			*comma = '\0';
		if (!queue_name_valid(q) || w->nqueues == MAX_QUEUES) {
			snprintf(err, errlen, "ATRIUM_WORKER_QUEUES: bad or too many queue names");
			return -1;
		}
		queue_stream_key(q, w->keys[w->nqueues], sizeof(w->keys[0]));
		w->queues[w->nqueues++] = q;
	}
	return 0;
}

/* --- Redis: groups and entries --------------------------------------------------------------- */

/* XGROUP CREATE ... MKSTREAM for every queue; an existing group (BUSYGROUP) is fine. Called at
 * start and whenever Redis says NOGROUP (it restarted empty or was flushed). */
static void ensure_groups(struct worker *w)
{
	redisReply *rep;

	w->groups_ok = true;
	for (size_t i = 0; i < w->nqueues; i++) {
		err_t e = redis_c(w->redis, w->loop, &rep, "XGROUP", "CREATE", w->keys[i], w->queues[i],
				  "0", "MKSTREAM");

		if (e == ERR_INTERNAL && rep != NULL && strncmp(rep->str, "BUSYGROUP", 9) == 0)
			continue;
		if (e != ERR_OK)
			w->groups_ok = false;
	}
}

static bool is_nogroup(err_t e, const redisReply *rep)
{
	return e == ERR_INTERNAL && rep != NULL && rep->type == REDIS_REPLY_ERROR &&
	       strncmp(rep->str, "NOGROUP", 7) == 0;
}

/* Reads tenant and job from an entry's [field, value, ...] array. */
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

static void ack(struct worker *w, size_t qi, const char *entry_id)
{
	if (redis_c(w->redis, w->job, NULL, "XACK", w->keys[qi], w->queues[qi], entry_id) != ERR_OK)
		log_warn("worker.ack_failed", LF_STR("queue", w->queues[qi]));
}

/* --- running one job ------------------------------------------------------------------------- */

static job_fn find_kind(const struct worker *w, const char *kind)
{
	for (size_t i = 0; i < w->def->nkinds; i++)
		if (strcmp(w->def->kinds[i].kind, kind) == 0)
			return w->def->kinds[i].fn;
	return NULL;
}

static void put_json(void *o)
{
	json_object_put(o);
}

/* Runs the handler in the job's transaction and commits its work with the success. ERR_OK, or
 * the failure to record (res filled); a database failure here leaves the job to its lease. */
static err_t run_handler(struct worker *w, const struct job *job, struct job_result *res, bool *db_down)
{
	job_fn fn = find_kind(w, job->kind);
	json_object *payload;
	err_t e;

	*db_down = false;
	if (fn == NULL) {
		res->error = arena_printf(w->job, "unknown job kind \"%s\" for %s", job->kind, w->def->program);
		res->permanent = true;
		return ERR_NOT_FOUND;
	}
	payload = json_tokener_parse(job->payload);
	if (payload == NULL || !json_object_is_type(payload, json_type_object)) {
		json_object_put(payload);
		res->error = "job payload is not a JSON object";
		res->permanent = true;
		return ERR_VALIDATION;
	}
	arena_cleanup_add(w->job, put_json, payload);
	if ((e = db_begin(w->db, job->tenant_id)) != ERR_OK) {
		*db_down = true;
		return e;
	}
	e = fn(w, job, payload, w->job, res);
	if (e != ERR_OK) {
		db_rollback(w->db);
		if (res->error == NULL)
			res->error = err_info(e)->title;
		return e;
	}
	if ((e = queue_complete(w->db, w->job, job, w->consumer)) != ERR_OK ||
	    (e = db_commit(w->db)) != ERR_OK) {
		db_rollback(w->db);
		*db_down = true;
	}
	return e;
}

static void record_failure(struct worker *w, const struct job *job, const struct job_result *res)
{
	bool dead = false;
	err_t e;

	if ((e = db_begin(w->db, job->tenant_id)) == ERR_OK &&
	    (e = queue_fail(w->db, w->job, job, w->consumer, res->error, res->retry_after_ms,
			    res->permanent, &dead)) == ERR_OK)
		e = db_commit(w->db);
	if (e != ERR_OK) {
		db_rollback(w->db);
		log_error("worker.record_failed", LF_STR("job", job->id));
		return;
	}
	log_warn(dead ? "job.dead" : "job.failed", LF_STR("job", job->id), LF_STR("kind", job->kind),
		 LF_INT("attempt", job->attempt), LF_STR("error", res->error));
}

/* Claims and runs one job. Returns true when the stream entry (if any) may be acked: the job
 * ran, or it is not claimable (done, not due, held by another worker). */
static bool run_job(struct worker *w, const struct job_ref *ref)
{
	struct job_result res = { 0 };
	struct job job;
	bool claimed, db_down;
	err_t e;

	arena_reset(w->job);
	if (db_ready(w->db) != ERR_OK)
		return false;
	e = queue_claim(w->db, w->job, ref->tenant_id, ref->id, w->consumer, w->lease_ms,
			&job, &claimed);
	if (e != ERR_OK)
		return false;
	if (!claimed)
		return true;
	log_set_request_id(job.id);
	log_info("job.start", LF_STR("queue", job.queue), LF_STR("kind", job.kind),
		 LF_INT("attempt", job.attempt), LF_BOOL("manual", job.manual));
	e = run_handler(w, &job, &res, &db_down);
	if (e == ERR_OK)
		log_info("job.succeeded", LF_STR("kind", job.kind), LF_INT("attempt", job.attempt));
	else if (!db_down)
		record_failure(w, &job, &res);
	else
		log_error("job.db_unavailable", LF_STR("kind", job.kind));
	log_set_request_id(NULL);
	return !db_down;
}

/* Runs every entry of one stream's [[id, [fields]], ...] array and acks those that are done. */
static void run_entries(struct worker *w, size_t qi, const redisReply *entries)
{
	struct job_ref ref;

	if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < entries->elements; i++) {
		const redisReply *en = entries->element[i];

		if (en->type != REDIS_REPLY_ARRAY || en->elements < 2 ||
		    en->element[0]->type != REDIS_REPLY_STRING)
			continue;    /* an entry deleted meanwhile */
		if (!entry_ref(en->element[1], &ref) || run_job(w, &ref))
			ack(w, qi, en->element[0]->str);
	}
}

/* --- the three sources of work --------------------------------------------------------------- */

/* XREADGROUP on queue qi for up to block_ms. false when Redis is unavailable. */
static bool read_stream(struct worker *w, size_t qi, long long block_ms)
{
	const char *block = arena_printf(w->loop, "%lld", block_ms > 0 ? block_ms : 1);
	redisReply *rep;
	err_t e = redis_c(w->redis, w->loop, &rep, "XREADGROUP", "GROUP", w->queues[qi], w->consumer,
			  "COUNT", READ_COUNT, "BLOCK", block, "STREAMS", w->keys[qi], ">");

	if (is_nogroup(e, rep)) {
		log_warn("worker.group_missing", LF_STR("queue", w->queues[qi]));
		ensure_groups(w);
		return true;
	}
	if (e != ERR_OK)
		return false;
	if (rep->type != REDIS_REPLY_ARRAY)
		return true;   /* NIL: BLOCK timed out */
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *s = rep->element[i];

		if (s->type == REDIS_REPLY_ARRAY && s->elements == 2)
			run_entries(w, qi, s->element[1]);
	}
	return true;
}

/* XAUTOCLAIM: entries a dead consumer read but never acked, idle longer than the lease. */
static void autoclaim(struct worker *w, size_t qi)
{
	const char *idle = arena_printf(w->loop, "%d", w->lease_ms);
	redisReply *rep;
	err_t e = redis_c(w->redis, w->loop, &rep, "XAUTOCLAIM", w->keys[qi], w->queues[qi],
			  w->consumer, idle, "0-0", "COUNT", READ_COUNT);

	if (is_nogroup(e, rep)) {
		ensure_groups(w);
		return;
	}
	if (e == ERR_OK && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2)
		run_entries(w, qi, rep->element[1]);
}

/* The sweeper: announces due jobs that are not in flight; with Redis down, runs them here. */
static void sweep(struct worker *w, size_t qi)
{
	struct job_ref refs[SWEEP_BATCH];
	size_t n = 0;

	if (db_ready(w->db) != ERR_OK ||
	    queue_sweep(w->db, w->loop, w->queues[qi], w->lease_ms, refs, NELEM(refs), &n) != ERR_OK)
		return;
	for (size_t i = 0; i < n && !proc_stop; i++) {
		if (queue_announce(w->redis, w->loop, w->queues[qi], &refs[i]) == ERR_OK)
			continue;
		run_job(w, &refs[i]);   /* Redis is down: PostgreSQL alone keeps the work going */
	}
	if (n > 0)
		log_info("worker.swept", LF_STR("queue", w->queues[qi]), LF_INT("jobs", n));
}

static void janitor(struct worker *w)
{
	long long deleted = 0, total = 0;

	for (int round = 0; round < 10 && !proc_stop; round++) {
		if (queue_janitor(w->db, w->loop, w->cfg.retention_days, JANITOR_BATCH, &deleted) != ERR_OK)
			break;
		total += deleted;
		if (deleted < JANITOR_BATCH)
			break;
	}
	if (total > 0)
		log_info("worker.janitor", LF_INT("deleted_jobs", total));
}

/* --- the loop -------------------------------------------------------------------------------- */

static void loop(struct worker *w)
{
	long long next_sweep = 0;
	unsigned sweeps = 0;

	while (!proc_stop) {
		long long now = now_ms(), wait;
		bool redis_ok = true;

		arena_reset(w->loop);
		if (now >= next_sweep) {
			if (!w->groups_ok)
				ensure_groups(w);
			for (size_t i = 0; i < w->nqueues && !proc_stop; i++) {
				sweep(w, i);
				autoclaim(w, i);
			}
			if (sweeps++ % JANITOR_EVERY_SWEEPS == 0) {
				janitor(w);
				if (w->def->tick != NULL && !proc_stop && db_ready(w->db) == ERR_OK)
					w->def->tick(w, w->loop);
			}
			next_sweep = now_ms() + w->cfg.job_sweep_ms;
			continue;
		}
		wait = next_sweep - now;
		if (wait > w->cfg.job_block_ms)
			wait = w->cfg.job_block_ms;
		for (size_t i = 0; i < w->nqueues && !proc_stop; i++)
			redis_ok = read_stream(w, i, wait / (long long)w->nqueues) && redis_ok;
		if (!redis_ok) {
			w->groups_ok = false;
			nap(next_sweep - now_ms());   /* Redis down: the sweeper polls PostgreSQL */
		}
	}
}

static int start(struct worker *w, const struct worker_def *def)
{
	char err[256], host[64];

	if (config_load(&w->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", def->program, err);
		return -1;
	}
	log_init(def->program, (enum log_level)w->cfg.log_level);
	w->lease_ms = config_lease_ms(&w->cfg, def->job_ms != NULL ? def->job_ms(&w->cfg) : 0);
	if (parse_queues(w, w->cfg.worker_queues[0] != '\0' ? w->cfg.worker_queues : def->queues,
			 err, sizeof(err)) != 0 ||
	    (def->before_drop != NULL && def->before_drop(&w->cfg, err, sizeof(err)) != 0) ||
	    proc_drop_privileges(w->cfg.user, err, sizeof(err)) != 0) {
		log_error("worker.start_failed", LF_STR("error", err));
		return -1;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	snprintf(w->consumer, sizeof(w->consumer), "%s:%s:%ld", def->program, host, (long)getpid());
	w->db = db_connect(w->cfg.db_worker, def->program);
	/* The read timeout must outlast BLOCK, or hiredis drops the connection (ENVIRONMENT.md). */
	w->redis = redis_open(w->cfg.redis, w->cfg.job_block_ms + 2000);
	w->loop = arena_new(16384);
	w->job = arena_new(16384);
	queue_init(w->redis, &w->cfg);
	proc_signals();
	ensure_groups(w);
	return 0;
}

int worker_main(const struct worker_def *def, int argc, char **argv)
{
	struct worker w = { .def = def };

	if (argc > 1) {
		fprintf(stderr, "usage: %s (configured by ATRIUM_* environment variables)\n",
			argv[0] != NULL ? argv[0] : def->program);
		return 2;
	}
	if (start(&w, def) != 0)
		return 1;
	log_info("worker.ready", LF_STR("consumer", w.consumer), LF_INT("queues", w.nqueues));
	proc_notify("READY=1");
	loop(&w);
	proc_notify("STOPPING=1");
	log_info("worker.stopping", LF_STR("consumer", w.consumer));
	arena_free(w.job);
	arena_free(w.loop);
	redis_close(w.redis);
	db_close(w.db);
	return 0;
}
