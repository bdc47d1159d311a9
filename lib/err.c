/* err: the one table mapping err_t to an HTTP status and an RFC 9457 problem type */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static const struct err_info err_table[] = {
	[ERR_OK]                   = { 200, "ok", "OK" },
	[ERR_BAD_REQUEST]          = { 400, "bad-request", "Bad request" },
	[ERR_INVALID_JSON]         = { 400, "invalid-json", "Invalid JSON" },
	[ERR_VALIDATION]           = { 422, "validation", "Validation failed" },
	[ERR_UNAUTHENTICATED]      = { 401, "unauthenticated", "Unauthenticated" },
	[ERR_FORBIDDEN]            = { 403, "forbidden", "Forbidden" },
	[ERR_NOT_FOUND]            = { 404, "not-found", "Not found" },
	[ERR_METHOD_NOT_ALLOWED]   = { 405, "method-not-allowed", "Method not allowed" },
	[ERR_CONFLICT]             = { 409, "conflict", "Conflict" },
	[ERR_GONE]                 = { 410, "gone", "Gone" },
	[ERR_PRECONDITION]         = { 412, "precondition-failed", "Precondition failed" },
	[ERR_TOO_LARGE]            = { 413, "too-large", "Content too large" },
	[ERR_UNSUPPORTED_MEDIA]    = { 415, "unsupported-media-type", "Unsupported media type" },
	[ERR_RATE_LIMITED]         = { 429, "rate-limited", "Too many requests" },
	[ERR_CHECKSUM]             = { 460, "checksum-mismatch", "Checksum mismatch" },
	[ERR_UNAVAILABLE]          = { 503, "unavailable", "Service unavailable" },
	[ERR_INSUFFICIENT_STORAGE] = { 507, "insufficient-storage", "Insufficient storage" },
	[ERR_INTERNAL]             = { 500, "internal", "Internal server error" },
	[ERR_RETRY]                = { 500, "retry", "Retry later" },
};

_Static_assert(NELEM(err_table) == ERR__COUNT, "err_table must have one entry per err_t");

/* Unknown codes map to internal: a bug must never become a success status. */
const struct err_info *err_info(err_t e)
{
	if ((unsigned)e >= ERR__COUNT || err_table[e].slug == NULL)
		return &err_table[ERR_INTERNAL];
	return &err_table[e];
}

PRINTF_LIKE(2, 0) static char *vformat(arena_t *a, const char *fmt, va_list ap)
{
	va_list aq;
	char *s;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	s = arena_alloc(a, (size_t)n + 1);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

err_t err_set(struct problem *p, arena_t *a, err_t code, const char *fmt, ...)
{
	va_list ap;

	p->code = code;
	if (fmt != NULL) {
		va_start(ap, fmt);
		p->detail = vformat(a, fmt, ap);
		va_end(ap);
	}
	return code;
}

err_t err_field(struct problem *p, arena_t *a, const char *field, const char *fmt, ...)
{
	struct field_error *fe;
	va_list ap;

	p->code = ERR_VALIDATION;
	if (p->detail == NULL)
		p->detail = "the request has invalid fields";
	if (p->nfields >= PROBLEM_MAX_FIELDS)
		return ERR_VALIDATION;
	fe = &p->fields[p->nfields++];
	fe->field = arena_strdup(a, field != NULL ? field : "");
	va_start(ap, fmt);
	fe->detail = vformat(a, fmt, ap);
	va_end(ap);
	return ERR_VALIDATION;
}

void err_clear(struct problem *p)
{
	memset(p, 0, sizeof(*p));
}
