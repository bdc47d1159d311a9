/* media_files: the bytes of a media asset as the API hands them out — signed download URLs, the
 * content they lead to (served by nginx), and deletion with every stored variant (DESIGN §6) */
#ifndef ATRIUM_MEDIA_FILES_H
#define ATRIUM_MEDIA_FILES_H

#include <time.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "json.h"
#include "storage.h"

#define MEDIA_URL_KEY_LABEL "atrium/media-download-url/v1"   /* secrets_derive_key */
#define MEDIA_URL_KEY_LEN 32
#define MEDIA_URL_DEFAULT_S 300                               /* expires_in when not given */

/* POST /v1/media/{id}/download-url: a URL of the public content route for variant (original,
 * preview or thumb; NULL = original), valid expires_in seconds (0 = MEDIA_URL_DEFAULT_S; at most
 * c->download_max_s), signed with key over GET, its path, the variant and the expiry.
 * out: {url, variant, expires_at}. ERR_NOT_FOUND for an unknown id (or another tenant's);
 * ERR_CONFLICT unless the asset is ready; ERR_VALIDATION naming variant when the asset has no
 * such variant (a document has only its original). */
err_t media_download_url(db_t *db, arena_t *a, const struct config *c,
			 const unsigned char key[MEDIA_URL_KEY_LEN], const char *tenant_id,
			 const char *asset_id, const char *variant, int64_t expires_in, json_object **out,
			 struct problem *p) MUSTCHECK;

/* What the content route hands nginx. */
struct media_content {
	const char *storage_key;     /* t/<tenant>/media/<asset>/<variant> */
	const char *mime;            /* the variant's type */
	const char *disposition;     /* RFC 6266, attachment unless a re-encoded image or media type */
};

/* GET /v1/media/{id}/content?variant=&exp=&sig=: checks the signature (constant time) and expiry
 * against now before anything is read — ERR_FORBIDDEN for a malformed, tampered or expired URL —
 * then finds the ready asset's tenant, sets it on the transaction and fills out.
 * ERR_NOT_FOUND when the asset is gone or no longer ready. */
err_t media_content_find(db_t *db, arena_t *a, const unsigned char key[MEDIA_URL_KEY_LEN],
			 const char *asset_id, const char *variant, const char *exp, const char *sig,
			 time_t now, struct media_content *out, struct problem *p) MUSTCHECK;

#define MEDIA_DELETE_KIND "media.delete"
#define MEDIA_FILES_QUEUE "media"

/* DELETE /v1/media/{id}: removes the asset's rows (its processing record included), gives its
 * size back to the tenant's quota (unless rejected: that was given back with its bytes) and, in the same transaction, enqueues MEDIA_DELETE_KIND for
 * atrium-media, which owns the storage tree and deletes every variant (media_delete_files,
 * retried while storage is down). A job still to run for the asset finds it gone and removes
 * what it holds (media_upload_process). ERR_NOT_FOUND for an unknown id (or another tenant's). */
err_t media_delete(db_t *db, arena_t *a, const char *tenant_id, const char *asset_id,
		   struct problem *p) MUSTCHECK;

/* Deletes every variant key of the asset from storage (absent ones are fine). */
err_t media_delete_files(storage_t *s, const char *tenant_id, const char *asset_id) MUSTCHECK;

#endif
