/* audit: the append-only audit log of secret and integration operations (DESIGN §5) */
#ifndef ATRIUM_AUDIT_H
#define ATRIUM_AUDIT_H

#include "db.h"
#include "err.h"
#include "json.h"

/* Actions the log knows; the table's CHECK constraint lists the same. */
#define AUDIT_CREATE "create"
#define AUDIT_UPDATE "update"
#define AUDIT_REVEAL "reveal"
#define AUDIT_ROTATE "rotate"
#define AUDIT_DELETE "delete"
#define AUDIT_FAILED_DECRYPT "failed_decrypt"

/* Appends one row in the caller's transaction. actor is an API key id (NULL = the system);
 * target_id may be NULL; detail_json is a JSON object without secrets or PII (NULL = {}). */
err_t audit_record(db_t *db, arena_t *a, const char *tenant_id, const char *actor,
		   const char *action, const char *target_type, const char *target_id,
		   const char *detail_json, struct problem *p) MUSTCHECK;

/* A keyset page of the tenant's log, newest first: {"items": [...], "next_cursor"}. */
err_t audit_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
		 json_object **out, struct problem *p) MUSTCHECK;

#endif
