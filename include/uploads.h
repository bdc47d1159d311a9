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

/* True when mime may be served inline (a re-encoded image or media type); everything else is
 * served as an attachment. */
bool uploads_inline_type(const char *mime);

#endif
