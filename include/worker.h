/* worker: the loop every worker binary shares — read a queue's stream, claim, run, record, ack (DESIGN §4) */
#ifndef ATRIUM_WORKER_H
#define ATRIUM_WORKER_H

#include <json-c/json.h>

#include "arena.h"
#include "common.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "queue.h"

struct worker;

/* What a failed handler says about its failure. error is one line for operators (no secrets,
 * no PII); retry_after_ms > 0 asks for that delay instead of the backoff (a receiver's
 * Retry-After); permanent sends the job straight to dead. */
struct job_result {
	const char *error;
	long long retry_after_ms;
	bool permanent;
};

/* A job kind's handler. It runs inside a transaction on worker_db(w) with the job's tenant set;
 * ERR_OK commits its work together with the job's success, anything else rolls it back and
 * records a failed attempt (res says why). payload is the job's JSON object, a lives for this
 * job only. */
typedef err_t (*job_fn)(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
			struct job_result *res);

struct worker_kind {
	const char *kind;
	job_fn fn;
};

struct worker_def {
	const char *program;                /* "atrium-jobs": logs, application_name, consumer name */
	const char *queues;                 /* comma list served unless ATRIUM_WORKER_QUEUES says otherwise */
	const struct worker_kind *kinds;
	size_t nkinds;
	/* Runs as root before privileges are dropped: read what only root may read (the master
	 * keys, for workers that decrypt). NULL = nothing. 0, or -1 with a message in err. */
	int (*before_drop)(const struct config *cfg, char *err, size_t errlen);
	/* The longest a job's slowest step may take (an HTTP timeout, a media child's wall clock):
	 * leases are at least this plus a margin (config_lease_ms). NULL = ATRIUM_JOB_LEASE_MS. */
	int (*job_ms)(const struct config *cfg);
	/* Housekeeping of the binary's own (atrium-media: expired uploads), run between jobs on the
	 * janitor's cadence (every 10 sweeps) with no transaction open; a scratches the loop's
	 * arena. NULL = none. */
	void (*tick)(struct worker *w, arena_t *a);
};

/* The whole life of a worker process: config, log, before_drop, drop privileges, connect,
 * signals, READY=1, then the loop until SIGTERM/SIGINT (the current job is finished first),
 * STOPPING=1. Returns the exit status for main(). */
int worker_main(const struct worker_def *def, int argc, char **argv);

/* For handlers: the worker's database connection (inside the job's transaction) and config. */
db_t *worker_db(struct worker *w);
const struct config *worker_config(const struct worker *w);

#endif
