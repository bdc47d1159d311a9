/* media: listing and reading media assets (sql/005 media_assets, with 006's processing record) */
#include <string.h>

#include "crypto.h"
#include "media.h"
#include "rows.h"

#define ASSET_JSON \
	"json_build_object('id', a.id, 'state', a.state, 'reason', a.reason, 'filename', a.filename," \
	" 'mime', a.mime, 'type', a.kind, 'size', a.size, 'flow_id', a.flow_id," \
	" 'flow_version', a.flow_version, 'session_id', a.session_id, 'field', a.field," \
	" 'upload_id', a.upload_id, 'created_at', to_char(a.created_at AT TIME ZONE 'UTC'," \
	" 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'updated_at', to_char(a.updated_at AT TIME ZONE" \
	" 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"

static bool one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(v, *set) == 0)
			return true;
	return false;
}

static err_t check_filter(const struct media_filter *f, arena_t *a, struct problem *p)
{
	static const char *const kinds[] = { "image", "video", "audio", "document", NULL };
	static const char *const states[] = { "uploaded", "processing", "ready", "rejected", NULL };

	if (f->kind && !one_of(f->kind, kinds))
		return err_field(p, a, "type", "must be image, video, audio or document");
	if (f->state && !one_of(f->state, states))
		return err_field(p, a, "state", "must be uploaded, processing, ready or rejected");
	if (f->flow && !crypto_uuid_valid(f->flow))
		return err_field(p, a, "flow", "must be a UUID");
	if (f->session && !crypto_uuid_valid(f->session))
		return err_field(p, a, "session", "must be a UUID");
	return ERR_OK;
}

err_t media_list(db_t *db, arena_t *a, const char *tenant_id, const struct media_filter *f,
		 int limit, const char *cursor, json_object **out, struct problem *p)
{
	char lim[16];
	PGresult *r;
	err_t e = check_filter(f, a, p);

	if (e != ERR_OK)
		return e;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	e = db_q(db, a, &r,
		 "SELECT " ASSET_JSON ", a.id FROM media_assets a WHERE a.tenant_id = $1"
		 " AND ($2::uuid IS NULL OR a.id < $2) AND ($4::uuid IS NULL OR a.flow_id = $4)"
		 " AND ($5::uuid IS NULL OR a.session_id = $5) AND ($6::text IS NULL OR a.kind = $6)"
		 " AND ($7::text IS NULL OR a.state = $7) ORDER BY a.id DESC LIMIT $3::int",
		 tenant_id, cursor, lim, f->flow, f->session, f->kind, f->state);
	if (e != ERR_OK)
		return e;
	*out = rows_page(a, r, limit);
	return ERR_OK;
}

err_t media_get(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		struct problem *p)
{
	PGresult *r;
	err_t e = db_q(db, a, &r, "SELECT " ASSET_JSON " FROM media_assets a"
				  " WHERE a.tenant_id = $1 AND a.id = $2", tenant_id, id);

	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no media asset with this id");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}
