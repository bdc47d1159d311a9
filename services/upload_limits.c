/* upload_limits: what every upload (creators' and sessions') meets before a byte is stored — the
 * incoming disk's free-space floor and the tenant's byte quota — and giving back what a rejected
 * upload held */
#include <inttypes.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "log.h"
#include "upload_sessions.h"

#define MIB (1024LL * 1024)

err_t upload_space_check(const char *dir, int min_free_mb, arena_t *a, struct problem *p)
{
	struct statvfs st;

	if (min_free_mb <= 0)
		return ERR_OK;
	if (statvfs(dir, &st) != 0) {
		log_error("upload_limits.statvfs_failed");
		return err_set(p, a, ERR_INSUFFICIENT_STORAGE, "the upload area cannot be inspected");
	}
	/* f_bavail: what an unprivileged writer (nginx, atrium-fcgi) may still use */
	if ((long double)st.f_bavail * st.f_frsize < (long double)min_free_mb * MIB) {
		p->retry_after = 60;
		return err_set(p, a, ERR_INSUFFICIENT_STORAGE,
			       "the server is low on upload space; retry later");
	}
	return ERR_OK;
}

err_t upload_limits_admit(db_t *db, arena_t *a, const struct config *c, const char *tenant,
			  int64_t length, struct problem *p)
{
	char def[24];
	PGresult *r;
	int64_t quota, used;
	err_t e;

	if ((e = upload_space_check(c->upload_dir, c->upload_min_free_mb, a, p)) != ERR_OK)
		return e;
	snprintf(def, sizeof(def), "%lld", (long long)c->tenant_quota_mb * MIB);
	/* the row lock serialises the tenant's creations, so two cannot both take the last bytes */
	e = db_q(db, a, &r, "INSERT INTO storage_quotas (tenant_id, quota_bytes) VALUES ($1, $2)"
			    " ON CONFLICT (tenant_id) DO NOTHING", tenant, def);
	if (e == ERR_OK)
		e = db_q(db, a, &r, "SELECT quota_bytes, used_bytes FROM storage_quotas"
				    " WHERE tenant_id = $1 FOR UPDATE", tenant);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return ERR_INTERNAL;
	quota = db_int(r, 0, 0);
	used = db_int(r, 0, 1);
	if (length > quota - used)
		return err_set(p, a, ERR_TOO_LARGE,
			       "Upload-Length is over what is left of the account's storage quota (%" PRId64
			       " of %" PRId64 " bytes left)", quota > used ? quota - used : 0, quota);
	return ERR_OK;
}

void upload_forget_rejected(db_t *db, arena_t *a, const char *tenant, const char *upload_id)
{
	PGresult *r;

	db_rollback(db);
	if (db_begin(db, tenant) != ERR_OK ||
	    db_q(db, a, &r, "DELETE FROM uploads WHERE tenant_id = $1 AND id = $2 AND completed_at IS NULL",
		 tenant, upload_id) != ERR_OK ||
	    db_commit(db) != ERR_OK) {
		db_rollback(db);
		log_error("upload_limits.forget_failed");   /* the expiry janitor removes it later */
	}
	if (db_begin(db, tenant) != ERR_OK)
		log_error("upload_limits.begin_failed");
}
