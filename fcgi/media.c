/* media: GET /v1/media (filters flow, session, type, state; cursor) and GET /v1/media/{id} */
#include "handlers.h"
#include "media.h"

err_t h_media_list(struct req *r)
{
	struct media_filter f;
	json_object *out;
	const char *cursor;
	int limit;
	err_t e;

	if ((e = page_params(r, &limit, &cursor)) != ERR_OK ||
	    (e = req_query(r, "flow", &f.flow)) != ERR_OK ||
	    (e = req_query(r, "session", &f.session)) != ERR_OK ||
	    (e = req_query(r, "type", &f.kind)) != ERR_OK ||
	    (e = req_query(r, "state", &f.state)) != ERR_OK)
		return e;
	e = media_list(r->app->db, r->a, r->who.tenant_id, &f, limit, cursor, &out, &r->prob);
	if (e == ERR_OK)
		req_reply(r, 200, out);
	return e;
}

err_t h_media_get(struct req *r)
{
	json_object *out;
	err_t e = media_get(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);

	if (e == ERR_OK)
		req_reply(r, 200, out);
	return e;
}
