/* flows: creators' multi-step forms, their immutable published versions, and the public read */
#ifndef ATRIUM_FLOWS_H
#define ATRIUM_FLOWS_H

#include "access.h"
#include "db.h"
#include "json.h"

/* Field tables of the create (POST) and update (PATCH) bodies. */
extern const struct jv_field flows_schema[];
extern const struct jv_field flows_patch_schema[];

/* Rules a field table cannot say: unique keys, attributes that fit each field type, min <= max.
 * def is {"uploads"?, "steps"?}. Adds field errors to p; ERR_OK or ERR_VALIDATION. */
err_t flows_check(json_object *def, struct problem *p, arena_t *a) MUSTCHECK;

err_t flows_create(db_t *db, arena_t *a, const struct principal *who, json_object *body,
		   json_object **out, struct problem *p) MUSTCHECK;
err_t flows_get(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		struct problem *p) MUSTCHECK;
err_t flows_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
		 json_object **out, struct problem *p) MUSTCHECK;
err_t flows_update(db_t *db, arena_t *a, const struct principal *who, const char *id,
		   json_object *patch, json_object **out, struct problem *p) MUSTCHECK;
err_t flows_delete(db_t *db, arena_t *a, const char *tenant_id, const char *id,
		   struct problem *p) MUSTCHECK;

/* Snapshots the flow as its next immutable version and emits flow.published. */
err_t flows_publish(db_t *db, arena_t *a, const struct principal *who, const char *id,
		    json_object **out, struct problem *p) MUSTCHECK;
/* Takes the flow off the public surface (its versions remain) and emits flow.unpublished. */
err_t flows_unpublish(db_t *db, arena_t *a, const struct principal *who, const char *id,
		      json_object **out, struct problem *p) MUSTCHECK;
err_t flows_versions(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		     struct problem *p) MUSTCHECK;
err_t flows_version(db_t *db, arena_t *a, const char *tenant_id, const char *id, const char *version,
		    json_object **out, struct problem *p) MUSTCHECK;

/* The published version of a flow, for anyone (no credentials): finds the tenant through a
 * SECURITY DEFINER lookup and sets it on the transaction. ERR_NOT_FOUND unless published. */
err_t flows_public(db_t *db, arena_t *a, const char *id, json_object **out,
		   struct problem *p) MUSTCHECK;

#endif
