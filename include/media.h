/* media: media assets as the API shows them (services/media.c); their bytes are the StorageAdapter's */
#ifndef ATRIUM_MEDIA_H
#define ATRIUM_MEDIA_H

#include "db.h"
#include "err.h"
#include "json.h"

/* Filters of GET /v1/media; NULL = any. state and kind are checked against their values here
 * (ERR_VALIDATION naming the parameter), flow and session must be UUIDs. */
struct media_filter {
	const char *flow;
	const char *session;
	const char *kind;        /* the API's "type": image | video | audio | document */
	const char *state;       /* uploaded | processing | ready | rejected */
};

/* A keyset page of the tenant's assets, newest first: {"items": [...], "next_cursor"}. */
err_t media_list(db_t *db, arena_t *a, const char *tenant_id, const struct media_filter *f,
		 int limit, const char *cursor, json_object **out, struct problem *p) MUSTCHECK;

/* One asset; ERR_NOT_FOUND for an unknown id or another tenant's. */
err_t media_get(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		struct problem *p) MUSTCHECK;

#endif
