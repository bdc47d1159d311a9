/* uploads: what an upload must satisfy before it becomes a media asset — file names, types
 * (extension, libmagic on the content, file signature, Office zip directory), tus 1.0 headers,
 * and signed expiring tokens (services/uploads_*.c) */
#ifndef ATRIUM_UPLOADS_H
#define ATRIUM_UPLOADS_H

#include <magic.h>
#include <stdint.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "common.h"

#define UPLOAD_NAME_MAX 255      /* bytes of a file name's UTF-8 */

/* --- file names (services/uploads_validate.c) ------------------------------------------------ */

/* NULL when name[0..n) may be kept as metadata: UTF-8, 1..UPLOAD_NAME_MAX bytes, no NUL, C0/C1
 * control or bidi-control character, no '/' or '\\', not "." or "..", no "..", not starting
 * with '.', and no executable or markup extension hidden before the last one
 * ("invoice.php.jpg"). Otherwise the reason slug: filename_invalid, filename_bidi,
 * filename_path, double_extension. Names never reach a path either way. */
const char *uploads_filename_problem(const char *name, size_t n);

/* The lowercase extension after the last '.', without it, into out; "" when none. */
void uploads_extension(const char *name, char *out, size_t cap);

/* Appends an RFC 6266 Content-Disposition value: `<type>; filename="<ASCII fallback>";
 * filename*=UTF-8''<percent-encoded>`; type is "attachment" or "inline". 0 or -1. */
int uploads_content_disposition(buf_t *b, const char *type, const char *name) MUSTCHECK;

/* --- types ----------------------------------------------------------------------------------- */

struct upload_verdict {
	const char *mime;         /* the detected type, when known */
	const char *kind;         /* image | video | audio | document */
	const char *reason;       /* NULL: accepted; else a slug (below) */
	char detail[160];         /* one sentence, no file content */
};

/* Checks a complete upload at path (size bytes) named name against the field's accept list
 * (entries like "application/pdf", a whole kind as "image/" plus a star, or ".docx"; NULL or
 * empty = the built-in safe list:
 * images, PDF, audio, video) and max_size (0 = none). The extension must be allowlisted for a
 * type, libmagic must detect that type from the content (OOXML confirmed from the zip central
 * directory, since libmagic depends on entry order), the leading bytes must carry the type's
 * signature, and the type must be accepted. Reasons: empty, too_large, filename_* (above),
 * extension_not_allowed, type_mismatch, signature_mismatch, office_invalid, type_not_accepted,
 * unreadable. m is the caller's magic_t (MAGIC_MIME_TYPE, loaded). */
void uploads_validate(magic_t m, const char *path, int64_t size, const char *name,
		      const char *const *accept, size_t naccept, int64_t max_size,
		      struct upload_verdict *v);

/* The built-in safe list (fields without accept): up to cap MIME types into out; their count. */
size_t uploads_safe_types(const char **out, size_t cap);

/* True when a is an accept entry some known type satisfies: a MIME type ("application/pdf"), a
 * kind ("image/" plus a star) or an extension (".docx"). Flows refuse the others. */
bool uploads_accept_entry_valid(const char *a);

/* True when mime may be served inline (a re-encoded image or media type); everything else is
 * served as an attachment. */
bool uploads_inline_type(const char *mime);

/* --- tus 1.0 headers (services/uploads_tus.c) ----------------------------------------------- */

#define TUS_VERSION "1.0.0"
#define TUS_MAX_LENGTH ((int64_t)1 << 40)   /* the largest Upload-Length/Offset parsed */
#define TUS_META_MAX 4096                   /* bytes of an Upload-Metadata header */

/* Upload-Length and Upload-Offset: decimal digits only, no sign, no leading zeros (except "0"),
 * at most TUS_MAX_LENGTH. 0 or -1. */
int tus_parse_size(const char *s, int64_t *out) MUSTCHECK;

/* Upload-Metadata's pairs tus clients send (filename, filetype, field), decoded; other keys are
 * checked and ignored. Values may hold any byte (NUL included): hence the lengths. */
struct tus_meta {
	const char *filename;
	size_t filename_len;
	const char *filetype;
	size_t filetype_len;
	const char *field;
	size_t field_len;
};

/* Parses "key b64,key b64,key": keys printable ASCII without space or comma, unique, values
 * standard base64 (empty allowed); at most 32 pairs within TUS_META_MAX. Values are decoded into
 * arena a and NUL-terminated. 0, or -1 for anything malformed. */
int tus_parse_metadata(const char *s, arena_t *a, struct tus_meta *m) MUSTCHECK;

enum tus_checksum_alg { TUS_SHA1, TUS_SHA256 };

struct tus_checksum {
	enum tus_checksum_alg alg;
	unsigned char digest[32];
	size_t len;               /* 20 or 32 */
};

/* The checksum extension's algorithms, for Tus-Checksum-Algorithm. */
#define TUS_CHECKSUM_ALGS "sha1,sha256"

/* Upload-Checksum "sha1 <base64 digest>" (or sha256). 0, -1 malformed, -2 unknown algorithm
 * (tus answers 400 for both). */
int tus_parse_checksum(const char *s, struct tus_checksum *c) MUSTCHECK;

/* True when the file at path (a spooled chunk) has checksum c. Reads it once. */
bool tus_checksum_matches(const char *path, const struct tus_checksum *c);

/* --- signed, expiring tokens and URLs (services/uploads_token.c) ---------------------------- */

#define UPLOAD_KEY_LEN 32

/* What an upload session token binds. */
struct upload_claims {
	char tenant_id[UUID_STRLEN];
	char flow_id[UUID_STRLEN];
	int version;                 /* the flow version the session started on */
	char session_id[UUID_STRLEN];
	time_t expires;
};

/* "<base64url(claims)>.<base64url(HMAC-SHA256(key, that))>" into b. 0 or -1. */
int upload_token_sign(const unsigned char key[UPLOAD_KEY_LEN], const struct upload_claims *c,
		      buf_t *b) MUSTCHECK;

/* Checks a token's MAC (constant time), shape and expiry against now. 0 with claims filled;
 * -1 for a malformed or tampered token; -2 for an expired one. */
int upload_token_verify(const unsigned char key[UPLOAD_KEY_LEN], const char *token, time_t now,
			struct upload_claims *c) MUSTCHECK;

/* The signature of a download URL: hex HMAC-SHA256 over method, path, variant and expiry, each
 * on its own line, into out. */
void upload_url_sign(const unsigned char key[UPLOAD_KEY_LEN], const char *method, const char *path,
		     const char *variant, time_t expires, char out[65]);

/* 0 when sig (hex) signs method, path, variant, expires and now <= expires; -1 otherwise. */
int upload_url_verify(const unsigned char key[UPLOAD_KEY_LEN], const char *method, const char *path,
		      const char *variant, time_t expires, const char *sig, time_t now) MUSTCHECK;

/* --- tus upload state (services/uploads.c) -------------------------------------------------- */

#include "config.h"
#include "db.h"
#include "err.h"
#include "json.h"

struct tus_upload {
	const char *id;
	int64_t length;
	int64_t offset;
	time_t expires;
	const char *filename;
	int parts;
	const char *asset_id;        /* set when this request completed the upload */
};

/* tus creation: a new upload of length bytes (at most ATRIUM_UPLOAD_MAX_MB, else 413) named by
 * the metadata's filename (422 when not acceptable, 400 when missing). */
err_t uploads_create(db_t *db, arena_t *a, const struct config *c, const char *tenant,
		     const char *key_id, int64_t length, const struct tus_meta *m,
		     struct tus_upload *u, struct problem *p) MUSTCHECK;

/* The upload's state for HEAD; 404 unknown (or another tenant's), 410 expired. */
err_t uploads_head(db_t *db, arena_t *a, const char *tenant, const char *id,
		   struct tus_upload *u, struct problem *p) MUSTCHECK;

/* PATCH: body_file (nginx's spooled chunk, body_len bytes) becomes the part at offset — renamed,
 * fsynced, then the offset moves. 409 for a wrong offset or a concurrent PATCH, 413 past the
 * length, 460 checksum mismatch. The chunk that completes the upload also runs the acceptance
 * check (422 with the reason, bytes deleted) and creates the asset and its media job. */
err_t uploads_append(db_t *db, arena_t *a, const struct config *c, const char *tenant,
		     const char *id, int64_t offset, const char *body_file, int64_t body_len,
		     const struct tus_checksum *ck, struct tus_upload *u, struct problem *p) MUSTCHECK;

/* atrium-media's first step, for its fetch hook: the one file of a media.process payload —
 * "path" when the upload was one piece (or assembled for checking), else the parts in "dir"
 * ("parts", "length") concatenated in the kernel into <dir>/data, each part removed once copied
 * (a retried run finds data complete and reuses it). *out lives in the arena. */
err_t uploads_job_input(arena_t *a, json_object *payload, const char **out) MUSTCHECK;

/* Removes an upload's parts and its incoming directory (no row is touched). */
void uploads_discard_parts(const struct config *c, const char *tenant, const char *id);

/* The janitor of tus expiration (services/uploads_janitor.c): up to batch unfinished uploads
 * past Upload-Expires, across tenants (atrium_expired_uploads), each removed in its tenant's
 * transaction — row, parts, and its Upload-Length given back to storage_quotas.used_bytes.
 * Opens and ends its own transactions; *removed counts what this call removed. */
err_t uploads_expire(db_t *db, arena_t *a, const struct config *c, int batch, int *removed) MUSTCHECK;

/* The janitors of the small rows (services/uploads_janitor.c, sql/010_upload_janitors): up to
 * batch upload sessions more than grace_s past their expiry that no upload or asset refers to
 * (so no quota or session charge changes), and up to batch signed upload URLs, spent or not,
 * more than grace_s past their expiry. Each row goes in its tenant's transaction; *removed
 * counts what this call removed. */
err_t uploads_expire_sessions(db_t *db, arena_t *a, int batch, int grace_s, int *removed) MUSTCHECK;
err_t uploads_expire_urls(db_t *db, arena_t *a, int batch, int grace_s, int *removed) MUSTCHECK;

/* tus termination of an unfinished upload: its row and parts go. */
err_t uploads_terminate(db_t *db, arena_t *a, const struct config *c, const char *tenant,
			const char *id, struct problem *p) MUSTCHECK;

/* --- single-request uploads and signed upload URLs (services/uploads_single.c) ------------ */

/* A small file in one request: body_file (nginx's spool, len bytes, at most max: else 413) becomes
 * an upload created and completed at once — the same name and type checks as tus, the
 * 'uploaded' asset and its media.process job in the caller's transaction. *asset_id on success. */
err_t uploads_single_store(db_t *db, arena_t *a, const struct config *c, const char *tenant,
			   const char *created_by, const struct tus_meta *m, const char *body_file,
			   int64_t len, int64_t max, const char **asset_id, struct problem *p) MUSTCHECK;

/* POST /v1/media/upload-url: a single-use upload URL row (name, type, field, max bytes, ttl_s)
 * and its signed URL "/v1/media/signed-uploads/<tenant>/<id>?max=&expires=&sig=" (hex HMAC-SHA256,
 * key derived from the master key, over PUT, that path, the max size and the expiry) into *out:
 * {id, method, url, max_size, expires_at}. 422 for a name the checks refuse. */
err_t uploads_url_create(db_t *db, arena_t *a, const char *tenant,
			 const char *key_id, const struct tus_meta *m, int64_t max, int ttl_s,
			 json_object **out, struct problem *p) MUSTCHECK;

/* 0 when sig signs a PUT of the URL of tenant/id with max_s and exp_s and it has not expired by
 * now (*max then holds the size); -1 for anything else (malformed, tampered, expired). No DB. */
int uploads_url_verify(const char *tenant, const char *id, const char *max_s, const char *exp_s,
		       const char *sig, time_t now, int64_t *max) MUSTCHECK;

/* Sets the transaction's tenant and locks the URL's row: its metadata into m, creator, max size.
 * 410 when it has been used (a concurrent PUT waits for the first and then gets 410), 403 when
 * unknown or expired. */
err_t uploads_url_claim(db_t *db, arena_t *a, const char *tenant, const char *id,
			struct tus_meta *m, const char **created_by, int64_t *max,
			struct problem *p) MUSTCHECK;

/* Marks the claimed URL used by asset_id (same transaction as the asset). */
err_t uploads_url_spend(db_t *db, arena_t *a, const char *tenant, const char *id,
			const char *asset_id) MUSTCHECK;

#endif
