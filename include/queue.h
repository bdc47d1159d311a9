/* queue: durable jobs — the outbox in PostgreSQL, announcements on Redis streams (DESIGN §4) */
#ifndef ATRIUM_QUEUE_H
#define ATRIUM_QUEUE_H

#include "arena.h"
#include "common.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "redis.h"

#define QUEUE_NAME_MAX 32
#define QUEUE_ERROR_MAX 2000        /* last_error and attempt errors are cut to this many bytes */
#define QUEUE_RETRY_AFTER_MAX_MS 86400000LL

/* A queue's retry policy. max_attempts and the backoff come from the config unless set here
 * (0 = config); a schedule, when given, replaces the exponential backoff (webhooks: Svix). */
struct queue_policy {
	const char *queue;
	int max_attempts;
	int base_ms;
	int cap_ms;
	const int *schedule_ms;     /* delay before retry n is schedule_ms[n - 1], the last one repeated */
	size_t nschedule;
};

/* Per process, after fork: the Redis connection used to announce jobs after commit (may be
 * NULL: the sweeper announces them later) and the config the policies fall back on. The
 * pointers must stay valid for the life of the process. */
void queue_init(rds_t *redis, const struct config *cfg);

/* The policy of a queue: its entry in the table, or the config's defaults. Never NULL. */
struct queue_policy queue_policy(const char *queue);

/* Pure: the delay before the next try after failed attempt number `attempt` (1-based).
 * Exponential base * 2^(attempt-1) capped at cap (or the schedule), then jittered by
 * ±20 % with u in [0, 1). A handler's retry_after_ms (> 0) wins, bounded by
 * QUEUE_RETRY_AFTER_MAX_MS. */
long long queue_backoff_ms(const struct queue_policy *p, int attempt, double u);
long long queue_retry_delay_ms(const struct queue_policy *p, int attempt, long long retry_after_ms,
			       double u);

/* The stream key of a queue, "atrium:q:<queue>", into out. */
void queue_stream_key(const char *queue, char *out, size_t cap);
bool queue_name_valid(const char *queue);

struct job_spec {
	const char *tenant_id;
	const char *queue;
	const char *kind;
	const char *payload;          /* JSON text; NULL = {} */
	const char *idempotency_key;  /* NULL = the job id */
	long long delay_ms;           /* 0 = due now */
	int max_attempts;             /* 0 = the queue's policy */
};

/* Inserts the job inside the caller's open transaction (db_begin first) and arranges for its
 * announcement on atrium:q:<queue> after COMMIT (nothing on rollback). A second enqueue with the
 * same (tenant, queue, idempotency key) returns the first job's id and ERR_OK. id_out gets the
 * job id. Errors: ERR_VALIDATION (bad queue/kind/payload), or the database's. */
err_t queue_enqueue(db_t *db, arena_t *a, const struct job_spec *spec, char id_out[UUID_STRLEN],
		    struct problem *p) MUSTCHECK;

/* A claimed job; strings live in the arena given to queue_claim. */
struct job {
	const char *tenant_id;
	const char *id;
	const char *queue;
	const char *kind;
	const char *payload;     /* JSON text */
	int attempt;             /* this attempt's number, 1-based */
	int max_attempts;
	bool manual;             /* this attempt follows a manual retry */
	const char *group;       /* queue_claim_many with a limit: the job's group, or NULL */
};

/* Claims job (tenant_id, id) for worker `who` with a lease of lease_ms, in autocommit:
 * only when it is pending and due, or running with an expired lease (the previous attempt is
 * then recorded as lost). Opens an attempt row. ERR_OK with *claimed false when the job is not
 * claimable (done, not due, or someone else holds it); the caller then drops its entry. */
err_t queue_claim(db_t *db, arena_t *a, const char *tenant_id, const char *id, const char *who,
		  int lease_ms, struct job *out, bool *claimed) MUSTCHECK;

/* Inside the transaction the handler ran in: the job succeeded. */
err_t queue_complete(db_t *db, arena_t *a, const struct job *job, const char *who) MUSTCHECK;

/* In a new transaction after the handler's was rolled back: the attempt failed with error
 * (no secrets in it). Back to pending with the policy's delay (or retry_after_ms), or dead when
 * the attempt budget is spent or permanent is true. *dead tells which. */
err_t queue_fail(db_t *db, arena_t *a, const struct job *job, const char *who, const char *error,
		 long long retry_after_ms, bool permanent, bool *dead) MUSTCHECK;

/* Manual retry of a dead job (operator or API): pending now, a fresh attempt budget, next attempt
 * marked manual; announced after commit. Runs in the caller's transaction. ERR_NOT_FOUND when
 * there is no such job, ERR_CONFLICT when it is not dead. */
err_t queue_retry(db_t *db, arena_t *a, const char *tenant_id, const char *id,
		  struct problem *p) MUSTCHECK;

/* A job id to run: from the sweeper, or parsed from a stream entry. */
struct job_ref {
	char tenant_id[UUID_STRLEN];
	char id[UUID_STRLEN];
};

/* Fairness for queue_claim_many: jobs are grouped by the text of their payload member `key`
 * (webhooks: "endpoint_id"); at most `room` jobs of one group are claimed by the statement, less
 * busy[i] for the group named groups[i] (the caller's jobs of that group still in hand). */
struct queue_claim_limit {
	const char *key;
	int room;
	const char *const *groups;
	const int *busy;
	size_t ngroups;
};

/* queue_claim for a batch, in one autocommit statement: claims those of refs[0..n) that belong
 * to queue and are claimable, opening their attempt rows (and closing a lost attempt's). out
 * (room for n) receives the claimed jobs in no particular order, strings in the arena, each
 * with its group when lim is given; the caller matches them to its refs by id and drops the
 * rest (done, not due, held elsewhere, or locked by another transaction at that instant: its
 * holder finishes it, or the sweeper announces it again) — except the deferred ones: with lim,
 * a claimable job whose group has no room is left pending, and deferred[i] (room for n) gets
 * its group for refs[i] (NULL otherwise), so the caller keeps that ref and tries it again when
 * the group has room. Refs earlier in refs win their group's room. Duplicate refs are claimed
 * once. */
err_t queue_claim_many(db_t *db, arena_t *a, const char *queue, const struct job_ref *refs, size_t n,
		       const char *who, int lease_ms, const struct queue_claim_limit *lim, struct job *out,
		       size_t *nclaimed, const char **deferred) MUSTCHECK;

/* queue_complete for a batch in the caller's transaction: jobs[0..n) succeeded, in one statement. */
err_t queue_complete_many(db_t *db, arena_t *a, const struct job *const *jobs, size_t n,
			  const char *who) MUSTCHECK;

/* The sweeper, in autocommit: up to max jobs of queue that are due but not in flight (due
 * pending jobs not announced within the last lease, running jobs whose lease expired), locked
 * with SKIP LOCKED and marked announced so that another worker's sweep skips them. Fills refs,
 * sets *n. The caller announces them (queue_announce) or, with Redis down, claims them itself. */
err_t queue_sweep(db_t *db, arena_t *a, const char *queue, int lease_ms, struct job_ref *refs,
		  size_t max, size_t *n) MUSTCHECK;

/* XADD of one job to its queue's stream. ERR_UNAVAILABLE when Redis is down. */
err_t queue_announce(rds_t *r, arena_t *a, const char *queue, const struct job_ref *ref) MUSTCHECK;

/* The janitor: deletes up to batch finished (succeeded or dead) jobs older than retention_days,
 * with their attempts. *deleted gets the count; call again while it equals batch. */
err_t queue_janitor(db_t *db, arena_t *a, int retention_days, int batch, long long *deleted) MUSTCHECK;

#endif
