/* uploads_janitor: removes unfinished uploads whose Upload-Expires has passed — parts, row, and
 * the bytes they held against the tenant's quota (tus expiration) — and the small rows nothing
 * else removes: expired upload sessions nothing refers to, expired signed upload URLs (run by
 * atrium-media's sweeper) */
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

/* --- expired upload sessions and signed upload URLs (sql/010_upload_janitors) --------------- */

/* Removes one row found by a finder inside its tenant's transaction; *done when it went. */
typedef err_t (*expire_row_fn)(db_t *db, arena_t *a, const char *id, const char *grace, bool *done);

/* The finder's ids (SECURITY DEFINER, across tenants), then each row in its own transaction
 * under its tenant (RLS stays on). */
static err_t sweep(db_t *db, arena_t *a, const char *finder, int batch, int grace_s,
		   expire_row_fn one, int *removed)
{
	char lim[16], grace[16];
	PGresult *r;
	bool done;
	err_t e;

	*removed = 0;
	snprintf(lim, sizeof(lim), "%d", batch);
	snprintf(grace, sizeof(grace), "%d", grace_s);
	if ((e = db_begin(db, NULL)) != ERR_OK)
		return e;
	e = db_q(db, a, &r, finder, lim, grace);
	db_rollback(db);
	for (int i = 0; e == ERR_OK && i < PQntuples(r); i++) {
		if ((e = db_begin(db, db_val(r, i, 0))) != ERR_OK)
			break;
		if ((e = one(db, a, db_val(r, i, 1), grace, &done)) == ERR_OK)
			e = db_commit(db);
		if (e != ERR_OK)
			db_rollback(db);
		*removed += e == ERR_OK && done;
	}
	return e;
}

/* The session row is locked first (a public upload's creation locks it too, then inserts its
 * upload); the delete, a statement of its own, then sees every upload committed meanwhile, so
 * it can never cascade to one (sql/005: uploads.session_id is ON DELETE CASCADE). */
static err_t expire_session(db_t *db, arena_t *a, const char *id, const char *grace, bool *done)
{
	PGresult *r;
	err_t e;

	*done = false;
	e = db_q(db, a, &r, "SELECT 1 FROM upload_sessions WHERE tenant_id = atrium_tenant()"
			    " AND id = $1::uuid AND expires_at < now() - make_interval(secs => $2::int)"
			    " FOR UPDATE", id, grace);
	if (e != ERR_OK || PQntuples(r) == 0)
		return e;
	e = db_q(db, a, &r, "DELETE FROM upload_sessions s WHERE s.tenant_id = atrium_tenant()"
			    " AND s.id = $1::uuid AND NOT EXISTS (SELECT 1 FROM uploads u"
			    " WHERE u.tenant_id = s.tenant_id AND u.session_id = s.id) AND NOT EXISTS"
			    " (SELECT 1 FROM media_assets m WHERE m.tenant_id = s.tenant_id"
			    " AND m.session_id = s.id) RETURNING 1", id);
	*done = e == ERR_OK && PQntuples(r) == 1;
	return e;
}

/* Spent or not: past its expiry (and the grace) the URL is refused before its row is read. */
static err_t expire_url(db_t *db, arena_t *a, const char *id, const char *grace, bool *done)
{
	PGresult *r;
	err_t e = db_q(db, a, &r, "DELETE FROM upload_urls WHERE tenant_id = atrium_tenant()"
				  " AND id = $1::uuid AND expires_at < now() - make_interval(secs => $2::int)"
				  " RETURNING 1", id, grace);

	*done = e == ERR_OK && PQntuples(r) == 1;
	return e;
}

err_t uploads_expire_sessions(db_t *db, arena_t *a, int batch, int grace_s, int *removed)
{
	err_t e = sweep(db, a, "SELECT tenant_id::text, id::text FROM"
			       " atrium_expired_upload_sessions($1::int, $2::int)",
			batch, grace_s, expire_session, removed);

	if (*removed > 0)
		log_info("upload_sessions.expired", LF_INT("removed", *removed));
	return e;
}

err_t uploads_expire_urls(db_t *db, arena_t *a, int batch, int grace_s, int *removed)
{
	err_t e = sweep(db, a, "SELECT tenant_id::text, id::text FROM"
			       " atrium_expired_upload_urls($1::int, $2::int)",
			batch, grace_s, expire_url, removed);

	if (*removed > 0)
		log_info("upload_urls.expired", LF_INT("removed", *removed));
	return e;
}
