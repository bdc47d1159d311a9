/* uploads_janitor: removes unfinished uploads whose Upload-Expires has passed — parts, row, and
 * the bytes they held against the tenant's quota (tus expiration; run by atrium-media) */
#include <stdio.h>

#include "log.h"
#include "uploads.h"

/* One expired upload inside its tenant's transaction; *done when this call removed it (another
 * worker may have been first, or it completed meanwhile). */
static err_t expire_one(db_t *db, arena_t *a, const struct config *c, const char *tenant,
			const char *id, bool *done)
{
	PGresult *r;
	err_t e;

	*done = false;
	if ((e = db_begin(db, tenant)) != ERR_OK)
		return e;
	e = db_q(db, a, &r, "DELETE FROM uploads WHERE tenant_id = $1 AND id = $2::uuid"
			    " AND completed_at IS NULL AND expires_at < now() RETURNING 1",
		 tenant, id);
	/* the row's delete trigger gives its Upload-Length back (sql/007_upload_accounting) */
	if (e == ERR_OK)
		e = db_commit(db);
	if (e != ERR_OK) {
		db_rollback(db);
		return e;
	}
	*done = PQntuples(r) == 1;
	if (*done)
		uploads_discard_parts(c, tenant, id);     /* after the commit: a rollback keeps both */
	return ERR_OK;
}

err_t uploads_expire(db_t *db, arena_t *a, const struct config *c, int batch, int *removed)
{
	char lim[16];
	PGresult *r;
	bool done;
	err_t e;

	*removed = 0;
	snprintf(lim, sizeof(lim), "%d", batch);
	if ((e = db_begin(db, NULL)) != ERR_OK)
		return e;
	e = db_q(db, a, &r, "SELECT tenant_id::text, id::text FROM atrium_expired_uploads($1::int)", lim);
	db_rollback(db);
	for (int i = 0; e == ERR_OK && i < PQntuples(r); i++) {
		e = expire_one(db, a, c, db_val(r, i, 0), db_val(r, i, 1), &done);
		*removed += done;
	}
	if (*removed > 0)
		log_info("uploads.expired", LF_INT("removed", *removed));
	return e;
}
