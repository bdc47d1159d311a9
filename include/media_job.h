/* media_job: the atrium-media job that takes one asset through the pipeline and records the outcome */
#ifndef ATRIUM_MEDIA_JOB_H
#define ATRIUM_MEDIA_JOB_H

#include "media_pipeline.h"
#include "worker.h"

struct storage;

#define MEDIA_JOB_KIND "media.process"
#define MEDIA_QUEUE "media"

/* What the worker binary supplies around the pipeline: where an asset's bytes are read from and
 * where its variants and state go (the StorageAdapter and the asset table of the uploads side).
 * Every hook may be NULL: then the input is the payload's "path", variants stay in the work
 * directory, a rejected input is unlinked, and only media_results records the state. Hooks run
 * inside the job's transaction (tenant set); ctx is theirs. */
struct media_job_hooks {
	err_t (*fetch)(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		       json_object *payload, const char **path);
	err_t (*store)(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		       const struct media_variant *v);
	err_t (*set_state)(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
			   const struct media_result *r);
	err_t (*discard)(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
			 const char *path);
	void *ctx;
};

/* Once per process, before worker_main's loop: the options (media_opts_from_config), the hooks
 * (copied; NULL = none), a directory for the children's output (must exist, writable) and the
 * job lease: the worker library does not renew leases, so a run longer than the lease may be
 * claimed again by another worker; start-up warns when the scan and decode budgets exceed it. */
void media_job_init(const struct media_opts *o, const struct media_job_hooks *h, const char *work_dir,
		    int lease_ms);

/* The job_fn of MEDIA_JOB_KIND; payload {"asset_id": uuid, "path": "..."}. A pipeline failure
 * (crash, limit, clamd down) is retried while attempts remain; the last one records the asset
 * rejected with reason processing_failed. Ready and rejected are recorded in media_results and
 * announced by events_emit() as media.ready / media.rejected, all in the job's transaction. */
err_t media_job_process(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
			struct job_result *res) MUSTCHECK;

/* The same for a caller that already has the asset's bytes in a local file (atrium-media's
 * assembling job): pipeline, record, event, discard; the same retry rules. */
err_t media_job_run_asset(struct worker *w, const struct job *job, arena_t *a, const char *asset_id,
			  const char *path, struct job_result *res) MUSTCHECK;

/* Hooks over the StorageAdapter (include/storage.h): store puts each variant under
 * t/<tenant>/media/<asset>/<variant> (moved from the work directory), set_state writes ready or
 * rejected + reason into media_assets, discard deletes the variant keys and the local input.
 * fetch stays NULL (media_job_run_asset takes the local file). s must outlive the jobs. */
struct media_job_hooks media_job_storage_hooks(struct storage *s);

/* atrium-media's hooks: the storage hooks plus fetch = the upload's bytes (uploads_job_input, or
 * the stored original when they are gone: reprocess), a ready asset without a re-encoded original
 * (documents, audio, video) gets its input stored as "original", and the upload's incoming
 * directory is removed once the asset is ready or rejected. Per process (one job at a time);
 * work_dir receives copies fetched from storage. */
struct media_job_hooks media_job_upload_hooks(struct storage *s, const char *work_dir);

/* The job_fn of MEDIA_JOB_KIND in atrium-media: commits the asset's state 'processing' on its
 * own (clients see it while the pipeline runs), then media_job_process with the hooks above.
 * An asset deleted before its turn: its incoming bytes are removed and the job succeeds. */
err_t media_upload_process(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
			   struct job_result *res) MUSTCHECK;

/* The job_fn of media.delete (media_files.h, DELETE /v1/media/{id}) in atrium-media: every
 * variant of {"asset_id"} leaves the storage of media_job_upload_hooks; retried while it fails. */
err_t media_upload_delete(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
			  struct job_result *res) MUSTCHECK;

/* Pure: the event data of a result (asset_id, state, reason, kind, mime, width, height,
 * duration_ms, codecs, page_count, color, scanner, variants). Released with a. */
json_object *media_job_event_data(arena_t *a, const char *asset_id, const struct media_result *r);

#endif
