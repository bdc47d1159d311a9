/* public_uploads: end users' upload sessions on published flows (POST
 * /v1/public/flows/{id}/sessions), the bodiless token check nginx's auth_request calls before it
 * reads an upload's body, and tus 1.0 at /v1/public/uploads — the creators' tus handlers
 * (fcgi/uploads.c) run for the session the token names */
#include <string.h>

#include "crypto.h"
#include "handlers.h"
#include "upload_sessions.h"

#define PUBLIC_UPLOADS "/v1/public/uploads"

err_t h_public_session_create(struct req *r)
{
	json_object *out = NULL;
	err_t e = upload_session_create(r->app->db, r->a, r->app->cfg, r->params[0], &out, &r->prob);

	if (e == ERR_OK) {
		req_header(r, "Cache-Control", "no-store");
		req_reply(r, 201, out);
	}
	return e;
}

/* The token of the request into *s, its tenant as the request's; 401 with a challenge. */
static err_t session_of(struct req *r, struct upload_claims *s)
{
	err_t e = upload_session_auth(r->a, req_env(r, "HTTP_AUTHORIZATION"), s, &r->prob);

	if (e == ERR_UNAUTHENTICATED)
		req_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	if (e != ERR_OK)
		return e;
	memcpy(r->who.tenant_id, s->tenant_id, sizeof(r->who.tenant_id));
	return ERR_OK;
}

/* The upload id in a public upload URL ("/v1/public/uploads/<uuid>"), or NULL for the collection. */
static const char *upload_in_uri(struct req *r, const char *uri)
{
	const char *q, *id;
	size_t n = strlen(PUBLIC_UPLOADS);

	if (uri == NULL || strncmp(uri, PUBLIC_UPLOADS "/", n + 1) != 0)
		return NULL;
	id = uri + n + 1;
	q = strchr(id, '?');
	return q ? arena_strndup(r->a, id, (size_t)(q - id)) : id;
}

/* GET /v1/public/upload-auth: nginx's auth_request subrequest, before the body is read. Only
 * headers: 204 for a valid token, 401 for a missing, tampered or expired one, 403 for an upload
 * URL of another session. nginx turns any other status into a 500, so none is answered. */
err_t h_public_upload_auth(struct req *r)
{
	struct upload_claims s;
	const char *id = upload_in_uri(r, req_env(r, "ATRIUM_ORIGINAL_URI"));
	err_t e;

	const char *method = req_env(r, "ATRIUM_ORIGINAL_METHOD");

	/* a CORS preflight carries no credentials; its handler stores nothing */
	if (method != NULL && strcmp(method, "OPTIONS") == 0) {
		r->status = 204;
		return ERR_OK;
	}
	if ((e = session_of(r, &s)) != ERR_OK)
		return e;
	/* another session's upload is refused here, before its body is read; an id the tenant does
	 * not have passes, and the handler answers 404 as for any unknown upload */
	if (id != NULL && crypto_uuid_valid(id) &&
	    (e = upload_session_owns(r->app->db, r->a, &s, id, &r->prob)) != ERR_OK &&
	    e != ERR_NOT_FOUND)
		return e;
	err_clear(&r->prob);
	r->status = 204;
	return ERR_OK;
}

static err_t admit(struct req *r, int64_t length, const struct tus_meta *m)
{
	struct upload_claims s;
	err_t e;

	if ((e = session_of(r, &s)) != ERR_OK)
		return e;
	return upload_session_admit(r->app->db, r->app->redis, r->a, r->app->cfg, &s, length, m,
				    &r->prob);
}

err_t h_public_tus_create(struct req *r)
{
	struct upload_claims s;
	err_t e = session_of(r, &s);
	struct tus_owner o = { PUBLIC_UPLOADS, NULL, s.session_id, admit };

	if (e != ERR_OK)
		return e;
	return tus_create_as(r, &o);
}

/* HEAD, PATCH and DELETE on an upload of the token's session: another tenant's upload is 404, as
 * if it did not exist; another session's is 403 (the token check already refused it). */
static err_t own_upload(struct req *r)
{
	struct upload_claims s;
	err_t e = session_of(r, &s);

	if (e != ERR_OK)
		return e;
	return upload_session_owns(r->app->db, r->a, &s, r->params[0], &r->prob);
}

err_t h_public_tus_head(struct req *r)
{
	err_t e = own_upload(r);

	return e != ERR_OK ? e : h_tus_head(r);
}

err_t h_public_tus_patch(struct req *r)
{
	err_t e = own_upload(r);

	return e != ERR_OK ? e : h_tus_patch(r);
}

err_t h_public_tus_delete(struct req *r)
{
	err_t e = own_upload(r);

	return e != ERR_OK ? e : h_tus_delete(r);
}
