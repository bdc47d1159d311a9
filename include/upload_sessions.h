/* upload_sessions: end users' upload sessions on published flows (signed expiring tokens, limits
 * per file field) and the limits every upload meets before a byte is stored: per-session rate
 * (Redis), session files and bytes, the tenant's byte quota, the disk's free-space floor
 * (services/upload_sessions.c, services/upload_limits.c) */
#ifndef ATRIUM_UPLOAD_SESSIONS_H
#define ATRIUM_UPLOAD_SESSIONS_H

#include "arena.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "json.h"
#include "redis.h"
#include "uploads.h"

#define UPLOAD_ACCEPT_MAX 50     /* entries of a field's accept list (flows_schema) */

/* POST /v1/public/flows/{id}/sessions: a session on the flow's published version (404 when
 * there is none) and its token. *out: {id, flow_id, flow_version, token, expires_at,
 * upload_url, limits: {max_files, max_total_bytes, fields: [{key, label, accept, max_size}]}};
 * the flow's uploads settings with ATRIUM_SESSION_* defaults, a field without accept gets the
 * built-in safe list, max_size at most ATRIUM_UPLOAD_MAX_MB. */
err_t upload_session_create(db_t *db, arena_t *a, const struct config *c, const char *flow_id,
			    json_object **out, struct problem *p) MUSTCHECK;

/* The Authorization header's session token ("Bearer <token>"): 401 when missing, malformed,
 * tampered with or expired (no database access: the nginx auth_request check runs this before
 * the body is read). Claims into *out. */
err_t upload_session_auth(arena_t *a, const char *authorization, struct upload_claims *out,
			  struct problem *p) MUSTCHECK;

/* Sets the token's tenant on the transaction and checks that upload id belongs to the token's
 * session: 403 for another session's upload of the same tenant, 404 when the tenant has no such
 * upload (another tenant's upload looks like no upload at all). */
err_t upload_session_owns(db_t *db, arena_t *a, const struct upload_claims *s, const char *id,
			  struct problem *p) MUSTCHECK;

/* Admits a new upload of length bytes for the metadata's field in session s, in this order:
 * per-session creations per minute in Redis (429 with Retry-After), the session row (401 gone
 * or expired, locked for this transaction), the field (400 missing, 422 not a file field of the
 * session's flow version), its max_size, the session's max_files and max_total_bytes (413). */
err_t upload_session_admit(db_t *db, rds_t *rds, arena_t *a, const struct config *c,
			   const struct upload_claims *s, int64_t length, const struct tus_meta *m,
			   struct problem *p) MUSTCHECK;

/* Binds a just-created upload to its session (sql/007's trigger counts it against the session). */
err_t upload_session_attach(db_t *db, arena_t *a, const char *tenant, const char *session,
			    const char *upload_id) MUSTCHECK;

/* The accept list and max size of the field an upload was made for, when it belongs to a session
 * (naccept 0 and max 0 otherwise: the built-in safe list, no field limit). For the completing
 * request's acceptance check. */
err_t upload_field_rules(db_t *db, arena_t *a, const char *tenant, const char *upload_id,
			 const char ***accept, size_t *naccept, int64_t *max_size) MUSTCHECK;

/* --- limits for every upload (services/upload_limits.c) ------------------------------------ */

/* 507 when the filesystem of dir has less than min_free_mb MiB available to unprivileged users
 * (statvfs f_bavail), or cannot be inspected. */
err_t upload_space_check(const char *dir, int min_free_mb, arena_t *a, struct problem *p) MUSTCHECK;

/* Creation's checks for any upload (creators' and sessions'): the free-space floor (507), then
 * the tenant's quota (storage_quotas, created with ATRIUM_TENANT_QUOTA_MB; locked for this
 * transaction): 413 when length does not fit in what is left. */
err_t upload_limits_admit(db_t *db, arena_t *a, const struct config *c, const char *tenant,
			  int64_t length, struct problem *p) MUSTCHECK;

/* A completing upload that was rejected: its row goes in a transaction of its own (so that the
 * bytes it held are given back although the request's transaction rolls back), then a fresh
 * transaction for the same tenant is opened for the caller to roll back as usual. */
void upload_forget_rejected(db_t *db, arena_t *a, const char *tenant, const char *upload_id);

#endif
