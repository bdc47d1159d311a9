/* uploads_single: small files in one request — POST /v1/media (API key) and the PUT of a
 * single-use signed upload URL (POST /v1/media/upload-url). Both store the body nginx spooled
 * exactly like a tus upload created and completed at once: same checks, same 'uploaded' asset and
 * media.process job in the request's transaction. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "secrets.h"
#include "upload_sessions.h"
#include "uploads.h"

#define URL_PREFIX "/v1/media/signed-uploads/"

err_t uploads_single_store(db_t *db, arena_t *a, const struct config *c, const char *tenant,
			   const char *created_by, const struct tus_meta *m, const char *body_file,
			   int64_t len, int64_t max, const char **asset_id, struct problem *p)
{
	struct tus_upload u;
	err_t e;

	if (len > max)
		return err_set(p, a, ERR_TOO_LARGE, "the file is %" PRId64 " bytes; at most %" PRId64
			       " may be sent in one request (use tus at /v1/uploads for larger files)",
			       len, max);
	if (len == 0 || body_file == NULL || body_file[0] != '/')
		return err_set(p, a, ERR_BAD_REQUEST, "the request body (the file) is empty");
	/* the free-space floor and the tenant's quota, as for a tus creation: without it a single
	 * upload's charge (the uploads trigger) went to a quota row nothing had created or checked */
	if ((e = upload_limits_admit(db, a, c, tenant, len, p)) != ERR_OK ||
	    (e = uploads_create(db, a, c, tenant, created_by, len, m, &u, p)) != ERR_OK ||
	    (e = uploads_append(db, a, c, tenant, u.id, 0, body_file, len, NULL, &u, p)) != ERR_OK)
		return e;
	if (u.asset_id == NULL)
		return ERR_INTERNAL;
	*asset_id = u.asset_id;
	return ERR_OK;
}

static int url_key(unsigned char key[UPLOAD_KEY_LEN])
{
	if (secrets_derive_key("upload-url", key) == 0)
		return 0;
	log_error("upload_url_no_master_key");
	return -1;
}

/* The signature of a signed upload URL: method, path (tenant and URL id), max size, expiry. */
static void url_sign(const unsigned char key[UPLOAD_KEY_LEN], const char *path, int64_t max,
		     time_t expires, char sig[65])
{
	char variant[40];

	snprintf(variant, sizeof(variant), "max=%" PRId64, max);
	upload_url_sign(key, "PUT", path, variant, expires, sig);
}

err_t uploads_url_create(db_t *db, arena_t *a, const char *tenant,
			 const char *key_id, const struct tus_meta *m, int64_t max, int ttl_s,
			 json_object **out, struct problem *p)
{
	unsigned char key[UPLOAD_KEY_LEN];
	char id[UUID_STRLEN], maxs[24], sig[65], ttl[16];
	const char *why, *path;
	PGresult *res;
	time_t expires;
	err_t e;

	if ((why = uploads_filename_problem(m->filename, m->filename_len)) != NULL)
		return err_field(p, a, "filename", "the file name is not acceptable (%s)", why);
	if (url_key(key) < 0)
		return ERR_INTERNAL;
	crypto_uuid7(id);
	snprintf(maxs, sizeof(maxs), "%" PRId64, max);
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	e = db_q(db, a, &res,
		 "INSERT INTO upload_urls (tenant_id, id, created_by, field, filename, filetype, max_size,"
		 " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8::int))"
		 " RETURNING extract(epoch from expires_at)::bigint,"
		 " to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
		 tenant, id, key_id, m->field, m->filename, m->filetype, maxs, ttl);
	if (e != ERR_OK)
		return e;
	expires = (time_t)db_int(res, 0, 0);
	path = arena_printf(a, URL_PREFIX "%s/%s", tenant, id);
	url_sign(key, path, max, expires, sig);
	crypto_wipe(key, sizeof(key));
	*out = json_object_new_object();
	json_object_object_add(*out, "id", json_object_new_string(id));
	json_object_object_add(*out, "method", json_object_new_string("PUT"));
	json_object_object_add(*out, "url", json_object_new_string(
		arena_printf(a, "%s?max=%s&expires=%lld&sig=%s", path, maxs, (long long)expires, sig)));
	json_object_object_add(*out, "max_size", json_object_new_int64(max));
	json_object_object_add(*out, "expires_at", json_object_new_string(db_val(res, 0, 1)));
	return ERR_OK;
}

int uploads_url_verify(const char *tenant, const char *id, const char *max_s, const char *exp_s,
		       const char *sig, time_t now, int64_t *max)
{
	unsigned char key[UPLOAD_KEY_LEN];
	char path[sizeof(URL_PREFIX) + 2 * UUID_STRLEN];
	int64_t exp;
	int rc;

	if (!tenant || !id || !max_s || !exp_s || !sig || !crypto_uuid_valid(tenant) ||
	    !crypto_uuid_valid(id) || tus_parse_size(max_s, max) != 0 || *max == 0 ||
	    tus_parse_size(exp_s, &exp) != 0 || url_key(key) < 0)
		return -1;
	snprintf(path, sizeof(path), URL_PREFIX "%s/%s", tenant, id);
	{
		char variant[40];

		snprintf(variant, sizeof(variant), "max=%" PRId64, *max);
		rc = upload_url_verify(key, "PUT", path, variant, (time_t)exp, sig, now);
	}
	crypto_wipe(key, sizeof(key));
	return rc;
}

err_t uploads_url_claim(db_t *db, arena_t *a, const char *tenant, const char *id,
			struct tus_meta *m, const char **created_by, int64_t *max, struct problem *p)
{
	PGresult *res;
	err_t e;

	if ((e = db_set_tenant(db, tenant)) != ERR_OK)
		return e;
	/* the row lock makes a concurrent second PUT wait for this one, then find it spent */
	e = db_q(db, a, &res,
		 "SELECT used_at IS NOT NULL, expires_at < now(), field, filename, filetype, max_size,"
		 " created_by FROM upload_urls WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant, id);
	if (e != ERR_OK)
		return e;
	if (PQntuples(res) == 0)
		return err_set(p, a, ERR_FORBIDDEN, "this upload URL is not valid");
	if (db_bool(res, 0, 0))
		return err_set(p, a, ERR_GONE, "this upload URL has been used; ask for a new one");
	if (db_bool(res, 0, 1))
		return err_set(p, a, ERR_FORBIDDEN, "this upload URL has expired");
	memset(m, 0, sizeof(*m));
	m->field = db_val(res, 0, 2);
	m->field_len = m->field ? strlen(m->field) : 0;
	m->filename = db_val(res, 0, 3);
	m->filename_len = strlen(m->filename);
	m->filetype = db_val(res, 0, 4);
	m->filetype_len = m->filetype ? strlen(m->filetype) : 0;
	*max = db_int(res, 0, 5);
	*created_by = db_val(res, 0, 6);
	return ERR_OK;
}

err_t uploads_url_spend(db_t *db, arena_t *a, const char *tenant, const char *id,
			const char *asset_id)
{
	PGresult *res;

	return db_q(db, a, &res, "UPDATE upload_urls SET used_at = now(), asset_id = $3"
				 " WHERE tenant_id = $1 AND id = $2", tenant, id, asset_id);
}
