/* media_storage: media_job hooks over the StorageAdapter — variants into storage, rejected bytes out */
#include <errno.h>
#include <unistd.h>

#include "media_job.h"
#include "storage.h"

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
