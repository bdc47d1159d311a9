/* uploads: the tus 1.0 server for creators at /v1/uploads (core, creation, creation-with-upload,
 * expiration, checksum, termination); bodies arrive as files nginx spooled (ATRIUM_BODY_FILE) */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "handlers.h"
#include "upload_sessions.h"
#include "uploads.h"

#define TUS_EXTENSIONS "creation,creation-with-upload,expiration,checksum,termination"

static const char *env_or_empty(struct req *r, const char *name)
{
	const char *v = req_env(r, name);

	return v ? v : "";
}

#define TUS_EXPOSE "Upload-Offset, Location, Upload-Length, Upload-Expires, Tus-Version, " \
	"Tus-Resumable, Tus-Max-Size, Tus-Extension, Tus-Checksum-Algorithm, Upload-Metadata, " \
	"Atrium-Asset-Id"

/* CORS for browsers (the API key travels in Authorization, never in cookies, so any origin may
 * call): the tus headers are exposed to scripts. */
static void cors(struct req *r)
{
	req_header(r, "Access-Control-Allow-Origin", "*");
	req_header(r, "Access-Control-Expose-Headers", TUS_EXPOSE);
}

/* Every tus response names the protocol; a request without Tus-Resumable: 1.0.0 gets 412. */
static err_t tus_begin(struct req *r)
{
	cors(r);
	req_header(r, "Tus-Resumable", TUS_VERSION);
	if (strcmp(env_or_empty(r, "HTTP_TUS_RESUMABLE"), TUS_VERSION) != 0) {
		req_header(r, "Tus-Version", TUS_VERSION);
		return err_set(&r->prob, r->a, ERR_PRECONDITION, "Tus-Resumable: 1.0.0 is required");
	}
	return ERR_OK;
}

static void offset_headers(struct req *r, const struct tus_upload *u)
{
	char gm[64];
	struct tm tm;

	req_header(r, "Upload-Offset", arena_printf(r->a, "%" PRId64, u->offset));
	req_header(r, "Upload-Length", arena_printf(r->a, "%" PRId64, u->length));
	gmtime_r(&u->expires, &tm);
	strftime(gm, sizeof(gm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	req_header(r, "Upload-Expires", arena_strdup(r->a, gm));
	if (u->asset_id)
		req_header(r, "Atrium-Asset-Id", u->asset_id);
}

/* The spooled body of a request that has one: its path, or an error when nginx did not spool it
 * (a request that bypassed the upload location) or it is over the chunk cap. */
static err_t body_file(struct req *r, const char **path)
{
	size_t cap = (size_t)r->app->cfg->upload_chunk_mb * 1024 * 1024;

	*path = req_env(r, "ATRIUM_BODY_FILE");
	if (r->content_length > cap)
		return err_set(&r->prob, r->a, ERR_TOO_LARGE,
			       "a chunk may be at most %d MiB; send the file in smaller PATCH requests",
			       r->app->cfg->upload_chunk_mb);
	if (r->content_length > 0 && (*path == NULL || **path != '/'))
		return err_set(&r->prob, r->a, ERR_BAD_REQUEST, "the request body was not received");
	if (r->content_length > 0 &&
	    strcasecmp(r->content_type, "application/offset+octet-stream") != 0)
		return err_set(&r->prob, r->a, ERR_UNSUPPORTED_MEDIA,
			       "Content-Type must be application/offset+octet-stream");
	return ERR_OK;
}

static err_t checksum(struct req *r, struct tus_checksum *c, const struct tus_checksum **out)
{
	const char *h = req_env(r, "HTTP_UPLOAD_CHECKSUM");

	*out = NULL;
	if (!h)
		return ERR_OK;
	if (tus_parse_checksum(h, c) != 0)
		return err_set(&r->prob, r->a, ERR_BAD_REQUEST,
			       "Upload-Checksum must be sha1 or sha256 with a base64 digest");
	*out = c;
	return ERR_OK;
}

/* tus creation for an owner: a creator (h_tus_create) or a public session (fcgi/public_uploads.c,
 * whose admit hook checks the session's limits before anything is stored). */
err_t tus_create_as(struct req *r, const struct tus_owner *o)
{
	struct tus_meta m;
	struct tus_upload u;
	struct tus_checksum ck;
	const struct tus_checksum *ckp;
	const char *path;
	int64_t len;
	err_t e;

	if ((e = tus_begin(r)) != ERR_OK || (e = body_file(r, &path)) != ERR_OK ||
	    (e = checksum(r, &ck, &ckp)) != ERR_OK)
		return e;
	if (tus_parse_size(req_env(r, "HTTP_UPLOAD_LENGTH"), &len) != 0)
		return err_set(&r->prob, r->a, ERR_BAD_REQUEST,
			       "Upload-Length must be a decimal byte count (deferred lengths are not supported)");
	if (tus_parse_metadata(env_or_empty(r, "HTTP_UPLOAD_METADATA"), r->a, &m) != 0)
		return err_set(&r->prob, r->a, ERR_BAD_REQUEST, "Upload-Metadata is malformed");
	if ((o->admit && (e = o->admit(r, len, &m)) != ERR_OK) ||
	    (e = upload_limits_admit(r->app->db, r->a, r->app->cfg, r->who.tenant_id, len,
				     &r->prob)) != ERR_OK)
		return e;
	e = uploads_create(r->app->db, r->a, r->app->cfg, r->who.tenant_id, o->key_id, len, &m,
			   &u, &r->prob);
	if (e == ERR_OK && o->session_id)
		e = upload_session_attach(r->app->db, r->a, r->who.tenant_id, o->session_id, u.id);
	if (e == ERR_OK && r->content_length > 0)
		e = uploads_append(r->app->db, r->a, r->app->cfg, r->who.tenant_id, u.id, 0, path,
				   (int64_t)r->content_length, ckp, &u, &r->prob);
	if (e != ERR_OK)
		return e;
	req_header(r, "Location", arena_printf(r->a, "%s/%s", o->base, u.id));
	offset_headers(r, &u);
	r->status = 201;
	return ERR_OK;
}

err_t h_tus_create(struct req *r)
{
	const struct tus_owner o = { "/v1/uploads", r->who.key_id, NULL, NULL };

	return tus_create_as(r, &o);
}

err_t h_tus_head(struct req *r)
{
	struct tus_upload u;
	err_t e;

	if ((e = tus_begin(r)) != ERR_OK ||
	    (e = uploads_head(r->app->db, r->a, r->who.tenant_id, r->params[0], &u, &r->prob)) != ERR_OK)
		return e;
	offset_headers(r, &u);
	r->status = 200;
	return ERR_OK;
}

err_t h_tus_patch(struct req *r)
{
	struct tus_upload u;
	struct tus_checksum ck;
	const struct tus_checksum *ckp;
	const char *path;
	int64_t off;
	err_t e;

	if ((e = tus_begin(r)) != ERR_OK ||
	    (e = upload_space_check(r->app->cfg->upload_dir, r->app->cfg->upload_min_free_mb, r->a,
				    &r->prob)) != ERR_OK)
		return e;
	if (strcasecmp(r->content_type, "application/offset+octet-stream") != 0)
		return err_set(&r->prob, r->a, ERR_UNSUPPORTED_MEDIA,
			       "Content-Type must be application/offset+octet-stream");
	if ((e = body_file(r, &path)) != ERR_OK || (e = checksum(r, &ck, &ckp)) != ERR_OK)
		return e;
	if (tus_parse_size(req_env(r, "HTTP_UPLOAD_OFFSET"), &off) != 0)
		return err_set(&r->prob, r->a, ERR_BAD_REQUEST, "Upload-Offset must be a decimal byte offset");
	e = uploads_append(r->app->db, r->a, r->app->cfg, r->who.tenant_id, r->params[0], off, path,
			   (int64_t)r->content_length, ckp, &u, &r->prob);
	if (e != ERR_OK)
		return e;
	offset_headers(r, &u);
	r->status = 204;
	return ERR_OK;
}

err_t h_tus_delete(struct req *r)
{
	err_t e;

	if ((e = tus_begin(r)) != ERR_OK)
		return e;
	e = uploads_terminate(r->app->db, r->a, r->app->cfg, r->who.tenant_id, r->params[0], &r->prob);
	if (e == ERR_OK)
		r->status = 204;
	return e;
}

/* OPTIONS: the server's tus capabilities, and the CORS preflight answer (no Tus-Resumable needed). */
err_t h_tus_options(struct req *r)
{
	cors(r);
	req_header(r, "Tus-Resumable", TUS_VERSION);
	req_header(r, "Tus-Version", TUS_VERSION);
	req_header(r, "Tus-Extension", TUS_EXTENSIONS);
	req_header(r, "Tus-Checksum-Algorithm", TUS_CHECKSUM_ALGS);
	req_header(r, "Tus-Max-Size",
		   arena_printf(r->a, "%lld", (long long)r->app->cfg->upload_max_mb * 1024 * 1024));
	req_header(r, "Access-Control-Allow-Methods", "POST, HEAD, PATCH, DELETE, OPTIONS");
	req_header(r, "Access-Control-Allow-Headers",
		   "Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Metadata, "
		   "Upload-Offset, Upload-Checksum, X-HTTP-Method-Override");
	req_header(r, "Access-Control-Max-Age", "86400");
	r->status = 204;
	return ERR_OK;
}
