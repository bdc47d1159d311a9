/* media_api: reprocessing an asset through the durable queue (DESIGN §4, §6) */
#include <string.h>

#include "json.h"
#include "media_api.h"
#include "queue.h"

#define MEDIA_JOB_KIND "media.process"   /* media_job.h; not included: it pulls in the worker */

err_t media_reprocess(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		      json_object **out, struct problem *p)
{
	char job_id[UUID_STRLEN];
	struct job_spec spec = { .tenant_id = tenant_id, .kind = MEDIA_JOB_KIND };
	PGresult *r;
	err_t e;

	e = db_q(db, a, &r,
		 "SELECT m.state, j.payload::text, EXISTS (SELECT 1 FROM jobs x WHERE x.tenant_id = $1"
		 "  AND x.kind = '" MEDIA_JOB_KIND "' AND x.payload->>'asset_id' = $2"
		 "  AND x.state IN ('pending', 'running'))"
		 "  , j.id::text, j.queue"
		 " FROM media_results m LEFT JOIN LATERAL (SELECT payload, id, queue FROM jobs j WHERE j.tenant_id = $1"
		 "  AND j.kind = '" MEDIA_JOB_KIND "' AND j.payload->>'asset_id' = $2"
		 "  ORDER BY j.created_at DESC LIMIT 1) j ON true"
		 " WHERE m.tenant_id = $1 AND m.asset_id = $2::uuid",
		 tenant_id, asset_id);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0 || db_val(r, 0, 1) == NULL)
		return err_set(p, a, ERR_NOT_FOUND, "no processed media with this id");
	if (strcmp(db_val(r, 0, 0), "rejected") == 0)
		return err_set(p, a, ERR_CONFLICT, "the asset was rejected and its bytes deleted: upload it again");
	if (db_bool(r, 0, 2))
		return err_set(p, a, ERR_CONFLICT, "the asset is already being processed");
	spec.payload = db_val(r, 0, 1);
	spec.queue = db_val(r, 0, 4);     /* where the last run was served */
	/* keyed on the run it follows: two requests racing here enqueue one job */
	spec.idempotency_key = arena_printf(a, "reprocess:%s", db_val(r, 0, 3));
	if ((e = queue_enqueue(db, a, &spec, job_id, p)) != ERR_OK)
		return e;
	*out = json_new_object(a);
	json_object_object_add(*out, "asset_id", json_object_new_string(asset_id));
	json_object_object_add(*out, "job_id", json_object_new_string(job_id));
	json_object_object_add(*out, "state", json_object_new_string("processing"));
	return ERR_OK;
}
