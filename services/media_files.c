/* media_files: signed download URLs of ready assets, the content they lead to, and deletion */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "media_files.h"
#include "queue.h"
#include "uploads.h"

static const char *const variants[] = { "original", "preview", "thumb" };

#define EXP_DIGITS_MAX 12

static bool known_variant(const char *v)
{
	for (size_t i = 0; i < NELEM(variants); i++)
		if (strcmp(v, variants[i]) == 0)
			return true;
	return false;
}

/* The path a download URL signs and names: the content route of the asset. */
static const char *content_path(arena_t *a, const char *asset_id)
{
	return arena_printf(a, "/v1/media/%s/content", asset_id);
}

/* The variant exists when it is the original (every ready asset has one in storage) or the
 * processing record lists it. */
#define VARIANT_SQL \
	"(SELECT v->>'mime' FROM jsonb_array_elements(coalesce(r.variants, '[]')) v" \
	" WHERE v->>'name' = $3 LIMIT 1)"

/* The API's timestamp form (as created_at): ISO 8601 in UTC. */
static const char *iso_utc(arena_t *a, time_t t)
{
	struct tm tm;
	char *out = arena_alloc(a, 32);

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

err_t media_download_url(db_t *db, arena_t *a, const struct config *c,
			 const unsigned char key[MEDIA_URL_KEY_LEN], const char *tenant_id,
			 const char *asset_id, const char *variant, int64_t expires_in, json_object **out,
			 struct problem *p)
{
	char sig[65];
	time_t exp;
	PGresult *r;
	err_t e;

	variant = variant ? variant : "original";
	if (!known_variant(variant))
		return err_field(p, a, "variant", "must be original, preview or thumb");
	if (expires_in != 0 && (expires_in < 1 || expires_in > c->download_max_s))
		return err_field(p, a, "expires_in", "must be 1 to %d seconds", c->download_max_s);
	e = db_q(db, a, &r, "SELECT a.state, " VARIANT_SQL " IS NOT NULL FROM media_assets a"
			    " LEFT JOIN media_results r ON r.tenant_id = a.tenant_id AND r.asset_id = a.id"
			    " WHERE a.tenant_id = $1 AND a.id = $2::uuid", tenant_id, asset_id, variant);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no media with this id");
	if (strcmp(db_val(r, 0, 0), "ready") != 0)
		return err_set(p, a, ERR_CONFLICT, "the asset is %s; only ready assets can be downloaded",
			       db_val(r, 0, 0));
	if (strcmp(variant, "original") != 0 && !db_bool(r, 0, 1))
		return err_field(p, a, "variant", "this asset has no %s variant", variant);
	exp = time(NULL) + (expires_in ? expires_in : MEDIA_URL_DEFAULT_S);
	upload_url_sign(key, "GET", content_path(a, asset_id), variant, exp, sig);
	*out = json_new_object(a);
	json_object_object_add(*out, "url", json_object_new_string(arena_printf(a,
		"%s%s?variant=%s&exp=%lld&sig=%s", c->public_url, content_path(a, asset_id), variant,
		(long long)exp, sig)));
	json_object_object_add(*out, "variant", json_object_new_string(variant));
	json_object_object_add(*out, "expires_at", json_object_new_string(iso_utc(a, exp)));
	return ERR_OK;
}

/* exp: decimal seconds since the epoch, nothing else. */
static bool parse_exp(const char *s, time_t *out)
{
	long long v = 0;
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > EXP_DIGITS_MAX || strspn(s, "0123456789") != n)
		return false;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	*out = (time_t)v;
	return true;
}

static const char *ext_of_mime(const char *mime)
{
	static const struct { const char *mime, *ext; } t[] = {
		{ "image/jpeg", "jpg" }, { "image/png", "png" }, { "image/gif", "gif" },
		{ "image/webp", "webp" },
	};

	for (size_t i = 0; i < NELEM(t); i++)
		if (strcmp(mime, t[i].mime) == 0)
			return t[i].ext;
	return NULL;
}

/* The name a download carries: the uploaded name, with the extension of the served type when
 * processing changed the type (a HEIC's original is a JPEG; a video's thumb is a JPEG). */
static const char *served_name(arena_t *a, const char *filename, const char *asset_mime,
			       const char *mime)
{
	const char *ext = ext_of_mime(mime), *dot = strrchr(filename, '.');

	if (strcmp(asset_mime, mime) == 0 || ext == NULL)
		return filename;
	return arena_printf(a, "%.*s.%s", dot ? (int)(dot - filename) : (int)strlen(filename), filename, ext);
}

static err_t fill_content(arena_t *a, const char *tenant, const char *asset_id, const char *variant,
			  const PGresult *r, struct media_content *out)
{
	const char *filename = db_val(r, 0, 0), *asset_mime = db_val(r, 0, 1), *mime = db_val(r, 0, 2);
	char key[STORAGE_KEY_MAX];
	buf_t *b = buf_new(a, 2048);

	if (storage_key(key, tenant, asset_id, variant) != 0)
		return ERR_INTERNAL;
	out->storage_key = arena_strdup(a, key);
	out->mime = mime;
	if (uploads_content_disposition(b, uploads_inline_type(mime) ? "inline" : "attachment",
					served_name(a, filename, asset_mime, mime)) != 0)
		return ERR_INTERNAL;
	out->disposition = buf_cstr(b);
	return ERR_OK;
}

err_t media_content_find(db_t *db, arena_t *a, const unsigned char key[MEDIA_URL_KEY_LEN],
			 const char *asset_id, const char *variant, const char *exp, const char *sig,
			 time_t now, struct media_content *out, struct problem *p)
{
	const char *tenant;
	time_t expires = 0;
	bool dated = parse_exp(exp, &expires);
	PGresult *r;
	err_t e;

	if (variant == NULL || !known_variant(variant) || !dated || sig == NULL ||
	    upload_url_verify(key, "GET", content_path(a, asset_id), variant, expires, sig, now) != 0)
		return err_set(p, a, ERR_FORBIDDEN, dated && now > expires
			       ? "this download URL has expired" : "this download URL is not valid");
	if ((e = db_q(db, a, &r, "SELECT atrium_ready_media_tenant($1::uuid)", asset_id)) != ERR_OK)
		return e;
	if ((tenant = db_val(r, 0, 0)) == NULL)
		return err_set(p, a, ERR_NOT_FOUND, "no ready media with this id");
	if ((e = db_set_tenant(db, tenant)) != ERR_OK)
		return e;
	e = db_q(db, a, &r, "SELECT a.filename, a.mime, CASE WHEN $3::text = 'original'"
			    " THEN coalesce(" VARIANT_SQL ", r.mime, a.mime) ELSE " VARIANT_SQL " END"
			    " FROM media_assets a LEFT JOIN media_results r"
			    " ON r.tenant_id = a.tenant_id AND r.asset_id = a.id"
			    " WHERE a.tenant_id = $1 AND a.id = $2::uuid AND a.state = 'ready'",
		 tenant, asset_id, variant);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0 || db_val(r, 0, 2) == NULL)
		return err_set(p, a, ERR_NOT_FOUND, "no such variant of this media");
	return fill_content(a, tenant, asset_id, variant, r, out);
}

err_t media_delete(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		   struct problem *p)
{
	char job_id[UUID_STRLEN];
	struct job_spec spec = { .tenant_id = tenant_id, .queue = MEDIA_FILES_QUEUE,
				 .kind = MEDIA_DELETE_KIND };
	PGresult *r;
	err_t e;

	/* the asset's upload row goes with it (trigger, sql/007_upload_accounting): so does the
	 * charge it held against the tenant's quota and its session's limits */
	e = db_q(db, a, &r, "DELETE FROM media_assets WHERE tenant_id = $1 AND id = $2::uuid RETURNING 1",
		 tenant_id, asset_id);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no media with this id");
	e = db_q(db, a, &r, "DELETE FROM media_results WHERE tenant_id = $1 AND asset_id = $2::uuid",
			 tenant_id, asset_id);
	if (e != ERR_OK)
		return e;
	/* the bytes go in atrium-media, which owns the storage tree: a job in this transaction */
	spec.payload = arena_printf(a, "{\"asset_id\": \"%s\"}", asset_id);
	spec.idempotency_key = arena_printf(a, "delete:%s", asset_id);
	return queue_enqueue(db, a, &spec, job_id, p);
}

err_t media_delete_files(storage_t *s, const char *tenant_id, const char *asset_id)
{
	char key[STORAGE_KEY_MAX];
	err_t e;

	for (size_t i = 0; i < NELEM(variants); i++) {
		if (storage_key(key, tenant_id, asset_id, variants[i]) != 0)
			return ERR_INTERNAL;
		if ((e = storage_delete(s, key)) != ERR_OK)
			return e;
	}
	return ERR_OK;
}
