/* router: the one route table and the dispatcher that runs every shared check before a handler */
#ifndef ATRIUM_ROUTER_H
#define ATRIUM_ROUTER_H

#include "access.h"
#include "json.h"
#include "request.h"

typedef err_t (*handler_fn)(struct req *r);

enum route_flags {
	ROUTE_NO_TX = 1 << 0,     /* the handler needs no database transaction (ping, health) */
	ROUTE_BODY_FILE = 1 << 1, /* nginx spooled the body to a file (ATRIUM_BODY_FILE): not read here */
	ROUTE_BODY_OPTIONAL = 1 << 2, /* the JSON body may be left out entirely (r->json stays NULL) */
};

struct route {
	const char *method;
	const char *pattern;          /* "/v1/flows/{id}": {name} is one segment, a UUID unless {name:int} */
	handler_fn fn;
	enum perm perm;               /* PERM_PUBLIC: no credentials */
	size_t body_max;              /* 0: the route takes no body */
	const struct jv_field *body;  /* the body's field table, or NULL for none */
	unsigned flags;
};

/* Matches method and raw path against the table. Returns the route, or NULL with *status 404
 * (no pattern matches) or 405 (a pattern matches, not the method; allow filled with "GET, POST").
 * params receive the decoded parameters. Exposed for the fuzzer and the OpenAPI test. */
const struct route *router_match(const char *method, const char *path, arena_t *a,
				 const char **params, size_t *nparams, int *status,
				 char *allow, size_t allowlen);

/* Handles one request end to end: checks, transaction, handler, response. */
void router_dispatch(struct req *r);

/* The table, for listing (atrium-fcgi --routes prints it). */
const struct route *router_routes(size_t *n);

#endif
