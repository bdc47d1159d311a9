/* media_job: runs the pipeline for one asset inside its job, records media_results, emits the event */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "files.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "media_job.h"

static struct {
	struct media_opts opts;
	struct media_job_hooks hooks;
	const char *work_dir;
} mj;

void media_job_init(const struct media_opts *o, const struct media_job_hooks *h, const char *work_dir,
		    int lease_ms)
{
	long long budget = (long long)o->timeout_s * 1000 + o->scan_timeout_ms;

	if (budget >= lease_ms)
		log_warn("media.budget_over_lease", LF_INT("budget_ms", budget), LF_INT("lease_ms", lease_ms),
			 LF_STR("detail", "an asset that takes this long may be claimed again by another "
				"worker: raise ATRIUM_JOB_LEASE_MS or lower ATRIUM_MEDIA_TIMEOUT_S"));
	mj.opts = *o;
	if (h != NULL)
		mj.hooks = *h;
	mj.work_dir = work_dir;
	if (strcmp(o->scanner, "none") == 0)
		log_warn("media.scanner_none", LF_STR("detail",
			 "ATRIUM_MEDIA_SCANNER=none: uploads are NOT scanned for malware"));
}

static const char *state_name(enum media_outcome o)
{
	return o == MEDIA_READY ? "ready" : "rejected";
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v && v[0] ? json_object_new_string(v) : NULL);
}

static void add_int(json_object *o, const char *k, long long v, bool present)
{
	json_object_object_add(o, k, present ? json_object_new_int64(v) : NULL);
}

static json_object *variants_json(arena_t *a, const struct media_result *r)
{
	json_object *arr = json_new_array(a);

	for (int i = 0; i < r->nvariants && r->outcome == MEDIA_READY; i++) {
		json_object *v = json_object_new_object();

		add_str(v, "name", r->variants[i].name);
		add_str(v, "mime", r->variants[i].mime);
		add_int(v, "width", r->variants[i].width, true);
		add_int(v, "height", r->variants[i].height, true);
		add_int(v, "bytes", r->variants[i].bytes, true);
		json_object_array_add(arr, v);
	}
	return arr;
}

json_object *media_job_event_data(arena_t *a, const char *asset_id, const struct media_result *r)
{
	json_object *d = json_new_object(a);
	bool ready = r->outcome == MEDIA_READY, av = r->duration_s > 0;

	add_str(d, "asset_id", asset_id);
	add_str(d, "state", state_name(r->outcome));
	add_str(d, "reason", ready ? NULL : r->reason);
	add_str(d, "scanner", r->scanner);
	add_str(d, "kind", r->kind);
	add_str(d, "mime", r->mime);
	add_int(d, "width", r->width, ready && r->width > 0);
	add_int(d, "height", r->height, ready && r->height > 0);
	add_int(d, "duration_ms", (long long)(r->duration_s * 1000), ready && av);
	add_str(d, "codecs", ready ? r->codecs : NULL);
	add_int(d, "page_count", r->page_count, ready && r->page_count >= 0);
	add_str(d, "color", ready ? r->color : NULL);
	json_object_object_add(d, "variants", json_object_get(variants_json(a, r)));
	return d;
}

static const char *num(arena_t *a, long long v, bool present)
{
	return present ? arena_printf(a, "%lld", v) : NULL;
}

/* Upserts the asset's media_results row; runs counts the processing runs (reprocess). */
static err_t record(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		    const struct media_result *r, json_object *data)
{
	bool ready = r->outcome == MEDIA_READY;
	PGresult *res;

	return db_q(db, a, &res,
		    "INSERT INTO media_results (tenant_id, asset_id, state, reason, detail, scanner, signature,"
		    " kind, mime, width, height, frames, duration_ms, bitrate, codecs, page_count, color,"
		    " variants, peak_rss_kb)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
		    " $18::jsonb, $19)"
		    " ON CONFLICT (tenant_id, asset_id) DO UPDATE SET state = $3, reason = $4, detail = $5,"
		    " scanner = $6, signature = $7, kind = $8, mime = $9, width = $10, height = $11,"
		    " frames = $12, duration_ms = $13, bitrate = $14, codecs = $15, page_count = $16,"
		    " color = $17, variants = $18::jsonb, peak_rss_kb = $19,"
		    " runs = media_results.runs + 1, updated_at = now()",
		    tenant_id, asset_id, state_name(r->outcome), ready ? NULL : r->reason,
		    r->detail[0] ? r->detail : NULL, r->scanner[0] ? r->scanner : NULL,
		    r->signature[0] ? r->signature : NULL, r->kind[0] ? r->kind : NULL,
		    r->mime[0] ? r->mime : NULL, num(a, r->width, ready && r->width > 0),
		    num(a, r->height, ready && r->height > 0), num(a, r->frames, r->frames > 0),
		    num(a, (long long)(r->duration_s * 1000), ready && r->duration_s > 0),
		    num(a, r->bitrate, ready && r->bitrate > 0), ready && r->codecs[0] ? r->codecs : NULL,
		    num(a, r->page_count, ready && r->page_count >= 0), ready && r->color[0] ? r->color : NULL,
		    json_str(json_object_object_get(data, "variants")), num(a, r->peak_rss_kb, true));
}

/* The variants into storage (a hook), or left where the child wrote them. */
static err_t store_variants(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
			    const struct media_result *r)
{
	err_t rc;

	if (mj.hooks.store == NULL || r->outcome != MEDIA_READY)
		return ERR_OK;
	for (int i = 0; i < r->nvariants; i++) {
		rc = mj.hooks.store(mj.hooks.ctx, db, a, tenant_id, asset_id, &r->variants[i]);
		if (rc != ERR_OK)
			return rc;
	}
	return ERR_OK;
}

static err_t input_path(db_t *db, arena_t *a, const struct job *job, const char *asset_id,
			json_object *payload, const char **path)
{
	if (mj.hooks.fetch != NULL)
		return mj.hooks.fetch(mj.hooks.ctx, db, a, job->tenant_id, asset_id, payload, path);
	*path = json_get_str(payload, "path");
	return *path != NULL && (*path)[0] == '/' ? ERR_OK : ERR_VALIDATION;
}

/* Records, announces and (on rejection) deletes the bytes. */
static err_t finish(db_t *db, arena_t *a, const struct job *job, const char *asset_id,
		    const char *path, const struct media_result *r)
{
	json_object *data = media_job_event_data(a, asset_id, r);
	char event_id[UUID_STRLEN];
	struct problem p = { 0 };
	err_t rc;

	rc = store_variants(db, a, job->tenant_id, asset_id, r);
	if (rc == ERR_OK)
		rc = record(db, a, job->tenant_id, asset_id, r, data);
	if (rc == ERR_OK && mj.hooks.set_state != NULL)
		rc = mj.hooks.set_state(mj.hooks.ctx, db, a, job->tenant_id, asset_id, r);
	if (rc == ERR_OK)
		rc = events_emit(db, a, job->tenant_id,
				 r->outcome == MEDIA_READY ? "media.ready" : "media.rejected", data, &p,
				 event_id);
	if (rc == ERR_OK && r->outcome != MEDIA_READY) {
		if (mj.hooks.discard != NULL)
			rc = mj.hooks.discard(mj.hooks.ctx, db, a, job->tenant_id, asset_id, path);
		else if (unlink(path) != 0 && errno != ENOENT)
			rc = ERR_INTERNAL;
	}
	return rc;
}

err_t media_job_run_asset(struct worker *w, const struct job *job, arena_t *a, const char *asset_id,
			  const char *path, struct job_result *res)
{
	db_t *db = worker_db(w);
	struct media_result r;
	const char *dir;
	err_t rc;

	dir = arena_printf(a, "%s/%s", mj.work_dir, job->id);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		res->error = "cannot create the media work directory";
		return ERR_RETRY;
	}
	if (media_pipeline_run(&mj.opts, path, dir, &r) != ERR_OK) {
		res->error = "the media pipeline could not fork";
		return ERR_RETRY;
	}
	log_info("media.processed", LF_STR("asset_id", asset_id), LF_STR("state", r.outcome == MEDIA_READY ?
		 "ready" : r.outcome == MEDIA_REJECTED ? "rejected" : "failed"), LF_STR("reason", r.reason),
		 LF_STR("detail", r.detail), LF_INT("peak_rss_kb", r.peak_rss_kb),
		 LF_INT("attempt", job->attempt));
	if (r.outcome != MEDIA_READY)
		files_remove_dir(dir);            /* a failed child may have left partial variants */
	if (r.outcome == MEDIA_FAILED && job->attempt < job->max_attempts) {
		res->error = arena_strdup(a, r.detail);
		return ERR_RETRY;
	}
	if (r.outcome == MEDIA_FAILED)
		r.outcome = MEDIA_REJECTED;      /* retries spent: reason stays processing_failed */
	rc = finish(db, a, job, asset_id, path, &r);
	if (rc == ERR_OK && mj.hooks.store != NULL)
		files_remove_dir(dir);            /* the variants are in storage now */
	if (rc != ERR_OK)
		res->error = "recording the media result failed";
	return rc == ERR_OK ? ERR_OK : ERR_RETRY;
}

err_t media_job_process(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
			struct job_result *res)
{
	const char *asset_id = json_get_str(payload, "asset_id"), *path = NULL;

	if (asset_id == NULL || !crypto_uuid_valid(asset_id) ||
	    input_path(worker_db(w), a, job, asset_id, payload, &path) != ERR_OK) {
		res->error = "media.process needs {\"asset_id\": uuid, \"path\": absolute path}";
		res->permanent = true;
		return ERR_VALIDATION;
	}
	return media_job_run_asset(w, job, a, asset_id, path, res);
}
