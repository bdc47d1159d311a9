/* media_processing: POST /v1/media/{id}/reprocess (the rest of /v1/media is fcgi/media.c) */
#include "handlers.h"
#include "media_api.h"

err_t h_media_reprocess(struct req *r)
{
	json_object *out;
	err_t e = media_reprocess(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);

	if (e == ERR_OK)
		req_reply(r, 202, out);
	return e;
}
