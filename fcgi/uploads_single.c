/* uploads_single: POST /v1/media (a small file in one request, API key), POST
 * /v1/media/upload-url (a single-use signed upload URL), the PUT to that URL (no API key) and the
 * bodiless signature check nginx's auth_request calls before it reads that PUT's body */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "handlers.h"
#include "media.h"
#include "uploads.h"

const struct jv_field upload_url_body[] = {
	{ "filename",   JV_STRING, true,  false, 1, UPLOAD_NAME_MAX, NULL, NULL, NULL },
	{ "filetype",   JV_STRING, false, false, 1, 127, NULL, NULL, NULL },
	{ "field",      JV_STRING, false, false, 1, 64,  NULL, NULL, NULL },
	{ "max_size",   JV_INT,    false, false, 1, 1048576LL * 1024 * 1024, NULL, NULL, NULL },
	{ "expires_in", JV_INT,    false, false, 1, 604800, NULL, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

static int64_t single_cap(const struct req *r)
{
	return (int64_t)r->app->cfg->upload_single_mb * 1024 * 1024;
}

static void set_meta(const char **s, size_t *n, const char *v)
{
	*s = v;
	*n = v ? strlen(v) : 0;
}

/* The file's name, type and field: Upload-Metadata (tus syntax) or Atrium-Filename
 * (percent-encoded UTF-8) with Atrium-Field; the type defaults to Content-Type. */
static err_t single_meta(struct req *r, struct tus_meta *m)
{
	const char *um = req_env(r, "HTTP_UPLOAD_METADATA"), *fn = req_env(r, "HTTP_ATRIUM_FILENAME");

	memset(m, 0, sizeof(*m));
	if (um != NULL && tus_parse_metadata(um, r->a, m) != 0)
		return err_set(&r->prob, r->a, ERR_BAD_REQUEST, "Upload-Metadata is malformed");
	if (um == NULL && fn != NULL) {
		char *d = req_decode_segment(r->a, fn, strlen(fn));

		if (d == NULL)
			return err_set(&r->prob, r->a, ERR_BAD_REQUEST,
				       "Atrium-Filename must be percent-encoded UTF-8 without NUL");
		set_meta(&m->filename, &m->filename_len, d);
		set_meta(&m->field, &m->field_len, req_env(r, "HTTP_ATRIUM_FIELD"));
	}
	if (m->filename == NULL)
		return err_set(&r->prob, r->a, ERR_BAD_REQUEST,
			       "name the file: Atrium-Filename (percent-encoded) or Upload-Metadata filename");
	if (m->filetype == NULL && r->content_type[0] != '\0' && strlen(r->content_type) < 128)
		set_meta(&m->filetype, &m->filetype_len, r->content_type);
	return ERR_OK;
}

/* 201 with the new asset as GET /v1/media/{id} shows it. */
static err_t reply_asset(struct req *r, const char *tenant, const char *asset)
{
	json_object *out;
	err_t e = media_get(r->app->db, r->a, tenant, asset, &out, &r->prob);

	if (e != ERR_OK)
		return e;
	req_header(r, "Location", arena_printf(r->a, "/v1/media/%s", asset));
	req_reply(r, 201, out);
	return ERR_OK;
}

err_t h_media_upload(struct req *r)
{
	struct tus_meta m;
	const char *asset;
	err_t e;

	if ((int64_t)r->content_length > single_cap(r))
		return err_set(&r->prob, r->a, ERR_TOO_LARGE,
			       "a single-request upload may be at most %d MiB; use tus at /v1/uploads",
			       r->app->cfg->upload_single_mb);
	if ((e = single_meta(r, &m)) != ERR_OK)
		return e;
	e = uploads_single_store(r->app->db, r->a, r->app->cfg, r->who.tenant_id, r->who.key_id, &m,
				 req_env(r, "ATRIUM_BODY_FILE"), (int64_t)r->content_length,
				 single_cap(r), &asset, &r->prob);
	if (e != ERR_OK)
		return e;
	return reply_asset(r, r->who.tenant_id, asset);
}

static const char *body_str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

err_t h_media_upload_url(struct req *r)
{
	struct tus_meta m;
	json_object *v, *out;
	int64_t max = single_cap(r);
	int ttl = 900 < r->app->cfg->upload_url_max_s ? 900 : r->app->cfg->upload_url_max_s;
	err_t e;

	memset(&m, 0, sizeof(m));
	set_meta(&m.filename, &m.filename_len, body_str(r->json, "filename"));
	set_meta(&m.filetype, &m.filetype_len, body_str(r->json, "filetype"));
	set_meta(&m.field, &m.field_len, body_str(r->json, "field"));
	if (m.field && strspn(m.field, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
			       m.field_len)
		return err_field(&r->prob, r->a, "field", "letters, digits, '_', '.' and '-' only");
	if (json_object_object_get_ex(r->json, "max_size", &v))
		max = json_object_get_int64(v);
	if (max > single_cap(r))
		return err_field(&r->prob, r->a, "max_size", "at most %d MiB (ATRIUM_UPLOAD_SINGLE_MB)",
				 r->app->cfg->upload_single_mb);
	if (json_object_object_get_ex(r->json, "expires_in", &v))
		ttl = json_object_get_int(v);
	if (ttl > r->app->cfg->upload_url_max_s)
		return err_field(&r->prob, r->a, "expires_in", "at most %d seconds",
				 r->app->cfg->upload_url_max_s);
	e = uploads_url_create(r->app->db, r->a, r->who.tenant_id, r->who.key_id, &m,
			       max, ttl, &out, &r->prob);
	if (e == ERR_OK)
		req_reply(r, 201, out);
	return e;
}

/* The signature in the query of a signed upload URL for tenant/id; *max its size. */
static bool signed_ok(struct req *r, const char *tenant, const char *id, int64_t *max)
{
	const char *ms, *es, *sig;

	if (req_query(r, "max", &ms) != ERR_OK || req_query(r, "expires", &es) != ERR_OK ||
	    req_query(r, "sig", &sig) != ERR_OK)
		return false;
	return uploads_url_verify(tenant, id, ms, es, sig, time(NULL), max) == 0;
}

/* Browsers may PUT to a signed URL from any origin: it carries its own authority (no cookies, no
 * API key), so every origin is allowed and the asset's Location is readable. */
static void signed_cors(struct req *r)
{
	req_header(r, "Access-Control-Allow-Origin", "*");
	req_header(r, "Access-Control-Expose-Headers", "Location");
}

/* The CORS preflight of a browser's PUT (nginx has checked the URL's signature first). */
err_t h_media_signed_options(struct req *r)
{
	signed_cors(r);
	req_header(r, "Access-Control-Allow-Methods", "PUT, OPTIONS");
	req_header(r, "Access-Control-Allow-Headers", "Content-Type");
	req_header(r, "Access-Control-Max-Age", "600");
	r->status = 204;
	return ERR_OK;
}

err_t h_media_signed_put(struct req *r)
{
	struct tus_meta m;
	const char *tenant = r->params[0], *id = r->params[1], *creator, *asset;
	int64_t max, row_max;
	err_t e;

	signed_cors(r);
	if (!signed_ok(r, tenant, id, &max))
		return err_set(&r->prob, r->a, ERR_FORBIDDEN, "the upload URL is not valid or has expired");
	if ((e = uploads_url_claim(r->app->db, r->a, tenant, id, &m, &creator, &row_max, &r->prob)) != ERR_OK)
		return e;
	if (row_max < max)
		max = row_max;
	if ((int64_t)r->content_length > max)
		return err_set(&r->prob, r->a, ERR_TOO_LARGE,
			       "the file is %zu bytes; this upload URL accepts at most %" PRId64,
			       r->content_length, max);
	if ((e = uploads_single_store(r->app->db, r->a, r->app->cfg, tenant, creator, &m,
				      req_env(r, "ATRIUM_BODY_FILE"), (int64_t)r->content_length, max,
				      &asset, &r->prob)) != ERR_OK ||
	    (e = uploads_url_spend(r->app->db, r->a, tenant, id, asset)) != ERR_OK)
		return e;
	return reply_asset(r, tenant, asset);
}

/* nginx auth_request, before the body is read: 204 when the original request (ATRIUM_ORIGINAL_URI,
 * ATRIUM_ORIGINAL_METHOD) is a PUT (or its CORS preflight) to a well-formed, correctly signed,
 * unexpired upload URL; else 403. Whether it was used already is PostgreSQL's to say, in the PUT
 * itself (410). */
err_t h_media_signed_check(struct req *r)
{
	const char *uri = req_env(r, "ATRIUM_ORIGINAL_URI"), *method = req_env(r, "ATRIUM_ORIGINAL_METHOD");
	const char *prefix = "/v1/media/signed-uploads/", *q, *path;
	char tenant[UUID_STRLEN], id[UUID_STRLEN];
	size_t plen = strlen(prefix);
	int64_t max;

	if (!uri || !method || (strcmp(method, "PUT") != 0 && strcmp(method, "OPTIONS") != 0) || strncmp(uri, prefix, plen) != 0 ||
	    (q = strchr(uri, '?')) == NULL || (size_t)(q - uri) != plen + 2 * (UUID_STRLEN - 1) + 1)
		return err_set(&r->prob, r->a, ERR_FORBIDDEN, "not a signed upload URL");
	path = uri + plen;
	memcpy(tenant, path, UUID_STRLEN - 1);
	tenant[UUID_STRLEN - 1] = '\0';
	memcpy(id, path + UUID_STRLEN, UUID_STRLEN - 1);
	id[UUID_STRLEN - 1] = '\0';
	r->query = q + 1;
	if (path[UUID_STRLEN - 1] != '/' || !signed_ok(r, tenant, id, &max))
		return err_set(&r->prob, r->a, ERR_FORBIDDEN, "the upload URL is not valid or has expired");
	r->status = 204;
	return ERR_OK;
}
