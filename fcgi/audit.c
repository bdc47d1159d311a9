/* audit: GET /v1/audit-log, the tenant's append-only log (owners and admins) */
#include "audit.h"
#include "handlers.h"

err_t h_audit_log(struct req *r)
{
	json_object *out = NULL;
	const char *cursor;
	int limit;
	err_t e = page_params(r, &limit, &cursor);

	if (e == ERR_OK)
		e = audit_list(r->app->db, r->a, r->who.tenant_id, limit, cursor, &out, &r->prob);
	if (e == ERR_OK)
		req_reply(r, 200, out);
	return e;
}
