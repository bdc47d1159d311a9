/* apikeys: tenant-scoped API keys atr_<id>_<secret>, stored as SHA-256 hashes, shown once (DESIGN §8) */
#ifndef ATRIUM_APIKEYS_H
#define ATRIUM_APIKEYS_H

#include "access.h"
#include "db.h"
#include "json.h"

/* Checks a bearer token in the open transaction (tenant not yet set), and on success fills who
 * and sets the transaction's tenant. ERR_UNAUTHENTICATED for a malformed, unknown, wrong or revoked key. */
err_t apikeys_authenticate(db_t *db, arena_t *a, const char *token, struct principal *who,
			   struct problem *p) MUSTCHECK;

/* Creates a key in the caller's tenant. *out is the key's JSON including "api_key" (the only time
 * it is ever shown). created_by may be NULL (atriumctl). */
err_t apikeys_create(db_t *db, arena_t *a, const char *tenant_id, const char *name, enum role role,
		     const char *created_by, json_object **out, struct problem *p) MUSTCHECK;

/* Keyset-paged list, newest first: {"items": [...], "next_cursor": id|null}. */
err_t apikeys_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
		   json_object **out, struct problem *p) MUSTCHECK;
err_t apikeys_get(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		  struct problem *p) MUSTCHECK;
/* Revokes a key; ERR_NOT_FOUND when it does not exist in the tenant, ERR_CONFLICT for the caller's own key. */
err_t apikeys_revoke(db_t *db, arena_t *a, const struct principal *who, const char *id,
		     struct problem *p) MUSTCHECK;

#endif
