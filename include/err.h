/* err: the one error enum of Atrium, mapped by one table to HTTP status and problem type (RFC 9457) */
#ifndef ATRIUM_ERR_H
#define ATRIUM_ERR_H

#include "arena.h"
#include "common.h"

/* Values are stable: they appear in logs. Add new ones at the end. */
typedef enum {
	ERR_OK = 0,
	ERR_BAD_REQUEST,          /* 400 malformed request line, header or query */
	ERR_INVALID_JSON,         /* 400 body is not valid JSON */
	ERR_VALIDATION,           /* 422 fields failed validation; see problem.fields */
	ERR_UNAUTHENTICATED,      /* 401 no or bad credentials */
	ERR_FORBIDDEN,            /* 403 authenticated but not allowed */
	ERR_NOT_FOUND,            /* 404 no such route or object (also another tenant's object) */
	ERR_METHOD_NOT_ALLOWED,   /* 405 */
	ERR_CONFLICT,             /* 409 state or uniqueness conflict */
	ERR_GONE,                 /* 410 */
	ERR_PRECONDITION,         /* 412 */
	ERR_TOO_LARGE,            /* 413 body or declared size over a limit */
	ERR_UNSUPPORTED_MEDIA,    /* 415 wrong Content-Type */
	ERR_RATE_LIMITED,         /* 429 */
	ERR_CHECKSUM,             /* 460 tus checksum mismatch */
	ERR_UNAVAILABLE,          /* 503 a dependency (PostgreSQL, Redis) is down; Retry-After */
	ERR_INSUFFICIENT_STORAGE, /* 507 disk below its floor or quota exhausted */
	ERR_INTERNAL,             /* 500 a bug or an unexpected dependency answer */
	ERR_RETRY,                /* not HTTP: a job failed and should be retried */
	ERR__COUNT
} err_t;

struct err_info {
	int status;
	const char *slug;   /* problem type is "https://atrium.dev/problems/<slug>" */
	const char *title;
};

const struct err_info *err_info(err_t e);

#define PROBLEM_MAX_FIELDS 32

struct field_error {
	const char *field;   /* JSON path such as "steps[0].fields[1].key" */
	const char *detail;
};

/* What went wrong, filled by whoever knows: a service, a validator, the dispatcher. */
struct problem {
	err_t code;
	const char *detail;  /* one sentence for people; no secrets, no PII */
	size_t nfields;
	struct field_error fields[PROBLEM_MAX_FIELDS];
	int retry_after;     /* seconds, 0 for none */
};

/* Records code and a formatted detail (in arena a); returns code so callers can `return err_set(...)`. */
err_t err_set(struct problem *p, arena_t *a, err_t code, const char *fmt, ...) PRINTF_LIKE(4, 5);
/* Adds a field error (dropped silently past PROBLEM_MAX_FIELDS) and returns ERR_VALIDATION. */
err_t err_field(struct problem *p, arena_t *a, const char *field, const char *fmt, ...) PRINTF_LIKE(4, 5);
void err_clear(struct problem *p);

#endif
