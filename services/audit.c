/* audit: the append-only audit log of secret and integration operations (DESIGN §5) */
#include "audit.h"
#include "crypto.h"
#include "rows.h"

#define AUDIT_JSON \
	"json_build_object('id', id, 'actor', actor, 'action', action, 'target_type', target_type, " \
	"'target_id', target_id, 'detail', detail, 'created_at', created_at)"

err_t audit_record(db_t *db, arena_t *a, const char *tenant_id, const char *actor,
		   const char *action, const char *target_type, const char *target_id,
		   const char *detail_json, struct problem *p)
{
	char id[UUID_STRLEN];
	PGresult *r;
	err_t e;

	crypto_uuid7(id);
	e = db_q(db, a, &r,
		 "INSERT INTO audit_log (tenant_id, id, actor, action, target_type, target_id, detail) "
		 "VALUES ($1, $2, $3, $4, $5, $6, coalesce($7::jsonb, '{}'))",
		 tenant_id, id, actor, action, target_type, target_id, detail_json);
	if (e != ERR_OK)
		return err_set(p, a, e, "the audit log could not be written");
	return ERR_OK;
}

err_t audit_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
		 json_object **out, struct problem *p)
{
	(void)p;
	return rows_keyset(db, a,
			   "SELECT " AUDIT_JSON ", id FROM audit_log WHERE tenant_id = $1 "
			   "AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
			   tenant_id, limit, cursor, out);
}
