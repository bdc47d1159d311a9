/* media_storage: media_job hooks over the StorageAdapter — variants into storage, rejected bytes out;
 * and atrium-media's job over tus uploads (input from the incoming area, state processing first) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "files.h"
#include "json.h"
#include "log.h"
#include "media_files.h"
#include "media_job.h"
#include "storage.h"
#include "uploads.h"

static const char *const variant_names[] = { "original", "preview", "thumb" };

static err_t store(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		   const struct media_variant *v)
{
	char key[STORAGE_KEY_MAX];

	(void)db, (void)a;
	if (storage_key(key, tenant_id, asset_id, v->name) != 0)
		return ERR_INTERNAL;
	return storage_put_file(ctx, key, v->path, v->mime, STORAGE_MOVE);
}

/* A rejected asset: no variant of an earlier run stays in storage, and the input goes. */
static err_t discard(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		     const char *path)
{
	char key[STORAGE_KEY_MAX];
	err_t rc;

	(void)db, (void)a;
	for (size_t i = 0; i < NELEM(variant_names); i++) {
		if (storage_key(key, tenant_id, asset_id, variant_names[i]) != 0)
			return ERR_INTERNAL;
		if ((rc = storage_delete(ctx, key)) != ERR_OK)
			return rc;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		return ERR_INTERNAL;
	return ERR_OK;
}

/* The asset's state in media_assets (sql/005): ready, or rejected with its reason. An asset row
 * that does not exist (yet) is not an error: media_results holds the record either way. */
static err_t set_state(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		       const struct media_result *r)
{
	bool ready = r->outcome == MEDIA_READY;
	PGresult *res;

	(void)ctx;
	return db_q(db, a, &res,
		    "UPDATE media_assets SET state = $3, reason = $4, updated_at = now()"
		    " WHERE tenant_id = $1 AND id = $2::uuid",
		    tenant_id, asset_id, ready ? "ready" : "rejected", ready ? NULL : r->reason);
}

struct media_job_hooks media_job_storage_hooks(struct storage *s)
{
	return (struct media_job_hooks){ .store = store, .set_state = set_state, .discard = discard,
					 .ctx = s };
}

/* --- atrium-media: the assets of tus uploads --------------------------------------------------- */

/* The one job this process runs at a time: where its input is and which upload directory it came
 * from, so that a ready asset leaves nothing behind in the incoming area. */
static struct {
	storage_t *st;
	const char *work_dir;
	char input[MEDIA_PATH_MAX * 2];
	char dir[MEDIA_PATH_MAX * 2];
} up;

/* The input: the upload's bytes (uploads_job_input), or — when they are gone because the asset
 * was processed before (reprocess, or a retry after a ready run stored them) — a copy of the
 * stored original in the work directory. */
static err_t up_fetch(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		      json_object *payload, const char **path)
{
	const char *dir = json_get_str(payload, "dir");
	char key[STORAGE_KEY_MAX];

	(void)ctx, (void)db;
	snprintf(up.dir, sizeof(up.dir), "%s", dir != NULL && dir[0] == '/' ? dir : "");
	if (uploads_job_input(a, payload, path) != ERR_OK || access(*path, R_OK) != 0) {
		*path = arena_printf(a, "%s/%s.input", up.work_dir, asset_id);
		if (storage_key(key, tenant_id, asset_id, "original") != 0 ||
		    storage_get_file(up.st, key, *path) != ERR_OK)
			return ERR_NOT_FOUND;
	}
	snprintf(up.input, sizeof(up.input), "%s", *path);
	return ERR_OK;
}

static err_t up_store(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		      const struct media_variant *v)
{
	(void)ctx;
	return store(up.st, db, a, tenant_id, asset_id, v);
}

static err_t up_discard(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
			const char *path)
{
	err_t e = discard(up.st, db, a, tenant_id, asset_id, path);

	(void)ctx;
	files_remove_dir(up.dir);
	return e;
}

static bool has_variant(const struct media_result *r, const char *name)
{
	for (int i = 0; i < r->nvariants; i++)
		if (strcmp(r->variants[i].name, name) == 0)
			return true;
	return false;
}

/* A rejected asset's bytes are deleted: its upload row goes too, and with it (trigger,
 * sql/007_upload_accounting) the charge against the tenant's quota and its session's limits. */
static err_t release_quota(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id)
{
	PGresult *r;

	return db_q(db, a, &r, "DELETE FROM uploads u USING media_assets m WHERE u.tenant_id = $1"
			       " AND m.tenant_id = $1 AND m.id = $2::uuid AND u.id = m.upload_id",
		    tenant_id, asset_id);
}

/* Ready or rejected into media_assets. A ready asset whose pipeline wrote no "original"
 * (documents, audio, video: served as uploaded) gets its input stored as the original; either
 * way the incoming area is emptied. An asset deleted meanwhile (DELETE /v1/media/{id}) keeps
 * nothing in storage. */
static err_t up_set_state(void *ctx, db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
			  const struct media_result *r)
{
	bool ready = r->outcome == MEDIA_READY;
	char key[STORAGE_KEY_MAX];
	PGresult *res;
	err_t e;

	if (ready && !has_variant(r, "original")) {
		if (storage_key(key, tenant_id, asset_id, "original") != 0)
			return ERR_INTERNAL;
		if ((e = storage_put_file(up.st, key, up.input, r->mime, STORAGE_MOVE)) != ERR_OK)
			return e;
	}
	e = db_q(db, a, &res, "UPDATE media_assets SET state = $3, reason = $4, stored = $5::boolean,"
			      " updated_at = now() WHERE tenant_id = $1 AND id = $2::uuid RETURNING 1",
		 tenant_id, asset_id, ready ? "ready" : "rejected", ready ? NULL : r->reason,
		 ready ? "true" : "false");
	if (e != ERR_OK)
		return e;
	if (PQntuples(res) == 0)
		return up_discard(ctx, db, a, tenant_id, asset_id, up.input);
	if (!ready && (e = release_quota(db, a, tenant_id, asset_id)) != ERR_OK)
		return e;
	if (ready) {
		unlink(up.input);               /* moved into storage, or re-encoded: ENOENT is fine */
		files_remove_dir(up.dir);
	}
	return ERR_OK;
}

struct media_job_hooks media_job_upload_hooks(struct storage *s, const char *work_dir)
{
	up.st = s;
	up.work_dir = work_dir;
	return (struct media_job_hooks){ .fetch = up_fetch, .store = up_store, .set_state = up_set_state,
					 .discard = up_discard, .ctx = &up };
}

/* Commits 'processing' on its own, so that clients see it while the pipeline runs; the job's
 * transaction is then opened again for the rest. *gone when the asset no longer exists. */
static err_t mark_processing(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
			     bool *gone)
{
	PGresult *r;
	err_t e = db_q(db, a, &r, "UPDATE media_assets SET state = 'processing', updated_at = now()"
				  " WHERE tenant_id = $1 AND id = $2::uuid AND state <> 'rejected' RETURNING 1",
		       tenant_id, asset_id);

	if (e != ERR_OK)
		return e;
	*gone = PQntuples(r) == 0;
	if ((e = db_commit(db)) != ERR_OK)
		return e;
	return db_begin(db, tenant_id);
}

/* A job that can never succeed (its input is gone for good) would leave the asset 'processing'
 * for ever: it is rejected as processing_failed, committed on its own since the job's own
 * transaction is rolled back. Best effort: the job's failure is recorded either way. */
static void give_up(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id)
{
	PGresult *r;

	db_rollback(db);
	if (db_begin(db, tenant_id) != ERR_OK ||
	    db_q(db, a, &r, "UPDATE media_assets SET state = 'rejected', reason = 'processing_failed',"
			    " updated_at = now() WHERE tenant_id = $1 AND id = $2::uuid AND state = 'processing'"
			    " RETURNING 1", tenant_id, asset_id) != ERR_OK ||
	    (PQntuples(r) == 1 && release_quota(db, a, tenant_id, asset_id) != ERR_OK) ||
	    db_commit(db) != ERR_OK) {
		db_rollback(db);
		log_warn("media.give_up_failed", LF_STR("asset_id", asset_id));
		return;
	}
	log_warn("media.unprocessable", LF_STR("asset_id", asset_id), LF_STR("reason", "processing_failed"));
}

err_t media_upload_process(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
			   struct job_result *res)
{
	const char *asset_id = json_get_str(payload, "asset_id"), *dir = json_get_str(payload, "dir");
	bool gone = false;
	err_t e;

	if (asset_id == NULL || !crypto_uuid_valid(asset_id))
		return media_job_process(w, job, payload, a, res);    /* which says what is wrong */
	if ((e = mark_processing(worker_db(w), a, job->tenant_id, asset_id, &gone)) != ERR_OK) {
		res->error = "could not mark the asset processing";
		return ERR_RETRY;
	}
	if (gone) {                      /* deleted (or rejected) before its turn: drop the bytes */
		files_remove_dir(dir != NULL ? dir : "");
		log_info("media.skipped", LF_STR("asset_id", asset_id), LF_STR("detail", "asset gone or rejected"));
		return ERR_OK;
	}
	log_info("media.processing", LF_STR("asset_id", asset_id), LF_INT("attempt", job->attempt));
	e = media_job_process(w, job, payload, a, res);
	if (e != ERR_OK && res->permanent)
		give_up(worker_db(w), a, job->tenant_id, asset_id);
	return e;
}

err_t media_upload_delete(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
			  struct job_result *res)
{
	const char *asset_id = json_get_str(payload, "asset_id");

	(void)w, (void)a;
	if (asset_id == NULL || !crypto_uuid_valid(asset_id)) {
		res->error = "media.delete needs {\"asset_id\": uuid}";
		res->permanent = true;
		return ERR_VALIDATION;
	}
	if (media_delete_files(up.st, job->tenant_id, asset_id) != ERR_OK) {
		res->error = "the storage backend could not delete the variants";
		return ERR_RETRY;
	}
	log_info("media.deleted", LF_STR("asset_id", asset_id));
	return ERR_OK;
}
