/* atrium-media: the media queue — each uploaded asset through scan, decoding and variants into
 * the StorageAdapter (services/media_*.c), uploaded → processing → ready | rejected; and the
 * janitors of expired unfinished uploads, upload sessions and signed upload URLs */
#include <stdio.h>

#include "log.h"
#include "media_files.h"
#include "media_job.h"
#include "storage.h"
#include "uploads.h"

#define EXPIRE_BATCH 200
/* Session tokens and upload URL signatures are checked against the application hosts' clocks:
 * their rows go only this long after they expire, when no request can still be passing. */
#define ROW_GRACE_S 600
#define STORE_MS 5000      /* assembling the parts and moving the variants into storage */

/* The lease must outlast one asset, so that a live job is never claimed twice: clamd's budget,
 * the decoding child's wall clock (ATRIUM_MEDIA_TIMEOUT_S) and the storage moves. */
static int media_job_ms_of(const struct config *cfg)
{
	struct media_opts o;
	char err[160];

	if (media_opts_from_config(cfg, &o, err, sizeof(err)) != 0)
		return 0;          /* before_drop stops start-up with the message */
	return o.timeout_s * 1000 + o.scan_timeout_ms + STORE_MS;
}

/* Opens the storage and hands the pipeline its options and hooks (as root, before the drop:
 * nothing here needs root, but a bad setting stops start-up with its message). */
static int media_before_drop(const struct config *cfg, char *err, size_t errlen)
{
	static struct media_job_hooks hooks;
	struct media_opts o;
	storage_t *st;

	if (media_opts_from_config(cfg, &o, err, errlen) != 0 ||
	    (st = storage_open(cfg, err, errlen)) == NULL)
		return -1;
	hooks = media_job_upload_hooks(st, cfg->media_work_dir);
	media_job_init(&o, &hooks, cfg->media_work_dir, config_lease_ms(cfg, media_job_ms_of(cfg)));
	return 0;
}


/* The janitor of tus expiration, in this worker's sweeper: it owns the incoming area's other
 * cleanup (assembled inputs) already, and the sweeper runs whether or not Redis is up. Expired
 * uploads go first: a session becomes removable once its last upload is gone. */
static void media_tick(struct worker *w, arena_t *a)
{
	int removed;

	if (uploads_expire(worker_db(w), a, worker_config(w), EXPIRE_BATCH, &removed) != ERR_OK)
		log_warn("uploads.expire_failed");
	if (uploads_expire_sessions(worker_db(w), a, EXPIRE_BATCH, ROW_GRACE_S, &removed) != ERR_OK)
		log_warn("upload_sessions.expire_failed");
	if (uploads_expire_urls(worker_db(w), a, EXPIRE_BATCH, ROW_GRACE_S, &removed) != ERR_OK)
		log_warn("upload_urls.expire_failed");
}

static const struct worker_kind kinds[] = {
	{ MEDIA_JOB_KIND, media_upload_process },
	{ MEDIA_DELETE_KIND, media_upload_delete },
};

int main(int argc, char **argv)
{
	static const struct worker_def def = {
		.program = "atrium-media",
		.queues = MEDIA_QUEUE,
		.kinds = kinds,
		.nkinds = NELEM(kinds),
		.before_drop = media_before_drop,
		.job_ms = media_job_ms_of,
		.tick = media_tick,
	};

	return worker_main(&def, argc, argv);
}
