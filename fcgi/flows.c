/* flows: /v1/flows CRUD, publish/unpublish, versions, and the public read of a published flow */
#include "crypto.h"
#include "flows.h"
#include "handlers.h"
#include "rows.h"

err_t page_params(struct req *r, int *limit, const char **cursor)
{
	int64_t n;
	err_t e = req_query_int(r, "limit", 1, ROWS_LIMIT_MAX, ROWS_LIMIT_DEFAULT, &n);

	*limit = (int)n;
	if (e != ERR_OK || (e = req_query(r, "cursor", cursor)) != ERR_OK)
		return e;
	if (*cursor != NULL && !crypto_uuid_valid(*cursor))
		return err_field(&r->prob, r->a, "cursor", "must be a next_cursor value from a previous page");
	return ERR_OK;
}

/* Replies 200 (or status) with out when e is ERR_OK; passes e through. */
static err_t reply(struct req *r, err_t e, int status, json_object *out)
{
	if (e == ERR_OK)
		req_reply(r, status, out);
	return e;
}

err_t h_flows_list(struct req *r)
{
	json_object *out = NULL;
	const char *cursor;
	int limit;
	err_t e = page_params(r, &limit, &cursor);

	if (e == ERR_OK)
		e = flows_list(r->app->db, r->a, r->who.tenant_id, limit, cursor, &out, &r->prob);
	return reply(r, e, 200, out);
}

err_t h_flows_create(struct req *r)
{
	json_object *out = NULL;
	err_t e = flows_create(r->app->db, r->a, &r->who, r->json, &out, &r->prob);

	if (e == ERR_OK)
		req_header(r, "Location", arena_printf(r->a, "/v1/flows/%s", json_get_str(out, "id")));
	return reply(r, e, 201, out);
}

err_t h_flows_get(struct req *r)
{
	json_object *out = NULL;
	err_t e = flows_get(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_flows_update(struct req *r)
{
	json_object *out = NULL;
	err_t e = flows_update(r->app->db, r->a, &r->who, r->params[0], r->json, &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_flows_delete(struct req *r)
{
	err_t e = flows_delete(r->app->db, r->a, r->who.tenant_id, r->params[0], &r->prob);

	return reply(r, e, 204, NULL);
}

err_t h_flows_publish(struct req *r)
{
	json_object *out = NULL;
	err_t e = flows_publish(r->app->db, r->a, &r->who, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_flows_unpublish(struct req *r)
{
	json_object *out = NULL;
	err_t e = flows_unpublish(r->app->db, r->a, &r->who, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_flows_versions(struct req *r)
{
	json_object *out = NULL;
	err_t e = flows_versions(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_flows_version(struct req *r)
{
	json_object *out = NULL;
	err_t e = flows_version(r->app->db, r->a, r->who.tenant_id, r->params[0], r->params[1], &out, &r->prob);

	return reply(r, e, 200, out);
}

err_t h_public_flow(struct req *r)
{
	json_object *out = NULL;
	err_t e = flows_public(r->app->db, r->a, r->params[0], &out, &r->prob);

	return reply(r, e, 200, out);
}
