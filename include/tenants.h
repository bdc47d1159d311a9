/* tenants: creating organisations (atriumctl) and reading the caller's own */
#ifndef ATRIUM_TENANTS_H
#define ATRIUM_TENANTS_H

#include "db.h"
#include "json.h"

/* Creates a tenant and its first owner key, in the open transaction of an owner connection.
 * *out: {"tenant_id", "name", "api_key", "key_id"}. */
err_t tenants_create(db_t *db, arena_t *a, const char *name, json_object **out,
		     struct problem *p) MUSTCHECK;

/* The caller's tenant as {"id", "name", "created_at"}. */
err_t tenants_get(db_t *db, arena_t *a, const char *tenant_id, json_object **out,
		  struct problem *p) MUSTCHECK;

#endif
