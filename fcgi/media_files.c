/* media_files: DELETE /v1/media/{id}, POST /v1/media/{id}/download-url and the public content
 * route the URL leads to (GET /v1/media/{id}/content?variant=&exp=&sig=), which nginx serves
 * through X-Accel-Redirect (local storage) or a redirect to a presigned URL (s3) */
#include <string.h>
#include <time.h>

#include "handlers.h"
#include "log.h"
#include "media_files.h"
#include "secrets.h"

#define PRESIGN_S 60      /* an s3 redirect is followed at once */
/* Downloads are user content: no script, no plugin, no same-origin access, wherever it opens. */
#define CONTENT_CSP "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"

static const char *const variant_choices[] = { "original", "preview", "thumb", NULL };

const struct jv_field media_download_body[] = {
	{ "variant", JV_ENUM, false, false, 0, 0, variant_choices, NULL, NULL },
	{ "expires_in", JV_INT, false, false, 1, 604800, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

/* This child's URL key, derived once from the master key (read before privileges dropped). */
static const unsigned char *url_key(struct req *r)
{
	static unsigned char key[MEDIA_URL_KEY_LEN];
	static bool have;

	if (!have && secrets_derive_key(MEDIA_URL_KEY_LABEL, key) == 0)
		have = true;
	if (!have)
		err_set(&r->prob, r->a, ERR_INTERNAL, "no master key is loaded to sign download URLs");
	return have ? key : NULL;
}

/* This child's StorageAdapter, opened on first use (after fork, as the design asks). */
static storage_t *child_storage(struct req *r)
{
	static storage_t *st;
	char err[256];

	if (st == NULL && (st = storage_open(r->app->cfg, err, sizeof(err))) == NULL) {
		log_error("media.storage_open_failed", LF_STR("error", err));
		err_set(&r->prob, r->a, ERR_UNAVAILABLE, "the storage backend is not available");
	}
	return st;
}

err_t h_media_delete(struct req *r)
{
	err_t e = media_delete(r->app->db, r->a, r->who.tenant_id, r->params[0], &r->prob);

	if (e == ERR_OK)
		r->status = 204;
	return e;
}

err_t h_media_download_url(struct req *r)
{
	const unsigned char *key = url_key(r);
	json_object *out;
	err_t e;

	if (key == NULL)
		return ERR_INTERNAL;
	e = media_download_url(r->app->db, r->a, r->app->cfg, key, r->who.tenant_id, r->params[0],
			       r->json ? json_get_str(r->json, "variant") : NULL,
			       r->json ? json_get_int(r->json, "expires_in", 0) : 0, &out, &r->prob);
	if (e == ERR_OK)
		req_reply(r, 200, out);
	return e;
}

err_t h_media_content(struct req *r)
{
	const unsigned char *key = url_key(r);
	const char *variant, *exp, *sig;
	struct media_content c;
	struct storage_serve sv;
	storage_t *st;
	err_t e;

	if (key == NULL)
		return ERR_INTERNAL;
	if ((e = req_query(r, "variant", &variant)) != ERR_OK || (e = req_query(r, "exp", &exp)) != ERR_OK ||
	    (e = req_query(r, "sig", &sig)) != ERR_OK)
		return err_set(&r->prob, r->a, ERR_FORBIDDEN, "this download URL is not valid");
	if ((e = media_content_find(r->app->db, r->a, key, r->params[0], variant, exp, sig, time(NULL),
				    &c, &r->prob)) != ERR_OK)
		return e;
	if ((st = child_storage(r)) == NULL)
		return ERR_UNAVAILABLE;
	if ((e = storage_serve(st, r->a, c.storage_key, PRESIGN_S, c.mime, c.disposition, &sv)) != ERR_OK)
		return err_set(&r->prob, r->a, ERR_UNAVAILABLE, "the storage backend cannot serve this file");
	if (sv.kind == STORAGE_SERVE_REDIRECT) {
		req_header(r, "Location", sv.uri);
		r->status = 302;
		return ERR_OK;
	}
	/* nginx sends the file from its internal location; these headers go along (snippets) */
	req_header(r, "X-Accel-Redirect", sv.uri);
	req_header(r, "Content-Type", c.mime);
	req_header(r, "Content-Disposition", c.disposition);
	r->status = 200;
	return ERR_OK;
}
