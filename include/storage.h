/* storage: the StorageAdapter — one interface over local disk and S3-compatible object storage */
#ifndef ATRIUM_STORAGE_H
#define ATRIUM_STORAGE_H

#include <stdint.h>
#include <time.h>

#include "arena.h"
#include "config.h"
#include "err.h"

typedef struct storage storage_t;

/* Object keys are derived, never user-supplied: t/<tenant>/media/<asset>/<variant>. */
#define STORAGE_KEY_MAX 128

struct storage_stat {
	int64_t size;
	time_t mtime;
};

/* How a GET of an object is handed to nginx (storage_serve). */
enum storage_serve_kind {
	STORAGE_SERVE_ACCEL,     /* X-Accel-Redirect to uri (an internal location) */
	STORAGE_SERVE_REDIRECT,  /* 302 to uri (a presigned URL) */
};

struct storage_serve {
	enum storage_serve_kind kind;
	const char *uri;          /* in the caller's arena */
};

/* Flags of storage_put_file. */
#define STORAGE_MOVE 1   /* the source may be consumed (local: renamed when on the same filesystem) */

/* The backend named by c->storage_backend (local | s3), ready to use; NULL with a message in err
 * for a bad configuration (for s3: endpoint, bucket and keys are required). Call after fork; the
 * result belongs to the caller (storage_close). */
storage_t *storage_open(const struct config *c, char *err, size_t errlen);
void storage_close(storage_t *s);
const char *storage_backend_name(const storage_t *s);

/* Writes the key of tenant's asset variant into out. -1 unless both ids are canonical UUIDs and
 * variant is [a-z0-9_-]{1,32}. */
int storage_key(char out[STORAGE_KEY_MAX], const char *tenant_id, const char *asset_id,
		const char *variant) MUSTCHECK;

/* Stores the file at path under key, streamed (never whole in memory), durable on return
 * (local: fsync of file and directory; s3: the service's 200, multipart above the part size).
 * content_type may be NULL. ERR_OK, ERR_UNAVAILABLE (service unreachable or 5xx),
 * ERR_INSUFFICIENT_STORAGE (disk full), or ERR_INTERNAL. */
err_t storage_put_file(storage_t *s, const char *key, const char *path, const char *content_type,
		       int flags) MUSTCHECK;

/* Copies the object into a new file at dest (created 0640, replaced if present). ERR_NOT_FOUND
 * when there is no such object. */
err_t storage_get_file(storage_t *s, const char *key, const char *dest) MUSTCHECK;

/* Removes the object; an absent object is not an error. */
err_t storage_delete(storage_t *s, const char *key) MUSTCHECK;

err_t storage_stat(storage_t *s, const char *key, struct storage_stat *st) MUSTCHECK;

/* A URL that allows method (GET or PUT) on key for expires seconds without credentials (s3 only:
 * a SigV4 presigned URL; response_type and response_disposition, either may be NULL, become
 * response-content-type / response-content-disposition). The local backend answers
 * ERR_INTERNAL: its objects are served by nginx (storage_serve). */
err_t storage_presign(storage_t *s, arena_t *a, const char *method, const char *key, long expires,
		      const char *response_type, const char *response_disposition,
		      const char **url) MUSTCHECK;

/* How nginx should send the object: local → X-Accel-Redirect to /_storage/<key> (the internal
 * location nginx/snippets declares); s3 → a redirect to a presigned GET of expires seconds. */
err_t storage_serve(storage_t *s, arena_t *a, const char *key, long expires,
		    const char *response_type, const char *response_disposition,
		    struct storage_serve *out) MUSTCHECK;

#endif
