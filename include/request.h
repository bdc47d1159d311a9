/* request: one HTTP request as the handlers see it, and the response they build (fcgi/request.c, response.c) */
#ifndef ATRIUM_REQUEST_H
#define ATRIUM_REQUEST_H

#include <fcgiapp.h>

#include "access.h"
#include "arena.h"
#include "buf.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "json.h"
#include "redis.h"

/* What one FastCGI child owns after fork (DESIGN §3). */
struct app {
	const struct config *cfg;
	db_t *db;
	rds_t *redis;
	arena_t *arena;          /* reset after every response */
};

#define REQ_MAX_PARAMS 4
#define REQ_MAX_HEADERS 16

struct header {
	const char *name;
	const char *value;
};

struct req {
	struct app *app;
	arena_t *a;
	FCGX_Request *fcgi;

	/* input, as nginx passed it; path is percent-decoded per segment by the router */
	const char *method;
	const char *uri_path;     /* raw path of REQUEST_URI */
	const char *query;        /* raw query string, "" when none */
	const char *request_id;
	const char *content_type; /* "" when none */
	size_t content_length;
	const char *body;         /* NUL-terminated copy, body_len bytes */
	size_t body_len;
	const char *params[REQ_MAX_PARAMS]; /* path parameters in pattern order */
	size_t nparams;
	json_object *json;        /* the validated body, or NULL */
	struct principal who;     /* set when the route needs credentials */
	struct problem prob;

	/* output */
	int status;               /* 200 unless the handler says otherwise */
	json_object *out;         /* the JSON body, or NULL for none (204) */
	struct header headers[REQ_MAX_HEADERS];
	size_t nheaders;
};

/* An environment variable of the request ("HTTP_AUTHORIZATION"), or NULL. */
const char *req_env(const struct req *r, const char *name);

/* Adds a response header (name and value must live as long as the request). */
void req_header(struct req *r, const char *name, const char *value);

/* Query parameter `name`, percent-decoded, or NULL when absent. Decoding errors, NUL bytes and
 * duplicates give ERR_BAD_REQUEST with a field error naming the parameter. */
err_t req_query(struct req *r, const char *name, const char **out) MUSTCHECK;
/* An integer query parameter in [min, max], def when absent; ERR_VALIDATION naming it otherwise. */
err_t req_query_int(struct req *r, const char *name, int64_t min, int64_t max, int64_t def,
		    int64_t *out) MUSTCHECK;

/* Percent-decodes one path segment into the arena; NULL for a bad escape or an encoded NUL. */
char *req_decode_segment(arena_t *a, const char *s, size_t n);

/* Sets status and body; body becomes owned by the request arena's cleanup. */
void req_reply(struct req *r, int status, json_object *body);

/* Reads the body (at most max bytes) from the FastCGI stream into r->body. ERR_TOO_LARGE past max. */
err_t req_read_body(struct req *r, size_t max) MUSTCHECK;

/* Writes the response: status line, headers, JSON or problem+json body (when e != ERR_OK,
 * rendered from r->prob per RFC 9457 with request_id and errors[]). */
void response_send(struct req *r, err_t e);

#endif
