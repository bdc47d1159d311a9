/* media_api: what the HTTP API asks of media processing (no libvips here: atrium-fcgi links it) */
#ifndef ATRIUM_MEDIA_API_H
#define ATRIUM_MEDIA_API_H

#include <json-c/json.h>

#include "arena.h"
#include "db.h"
#include "err.h"

/* POST /v1/media/{id}/reprocess: enqueues media.process again for an asset that was processed,
 * with the payload of its last run, on that run's queue, in the caller's transaction. out: {asset_id, job_id, state:
 * "processing"}. ERR_NOT_FOUND when the tenant has no processed asset with that id; ERR_CONFLICT
 * when it was rejected (its bytes are deleted) or a run is pending or running. */
err_t media_reprocess(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		      json_object **out, struct problem *p) MUSTCHECK;

#endif
