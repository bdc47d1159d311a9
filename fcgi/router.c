/* router: the one route table and the dispatcher that runs every shared check before a handler */
#include <strings.h>
#include <string.h>
#include <time.h>

#include "apikeys.h"
#include "crypto.h"
#include "flows.h"
#include "handlers.h"
#include "log.h"
#include "router.h"

#define KB 1024
#define PATH_MAX_LEN 2048

/* Every route of the API. docs/openapi.yaml must list exactly these (tests/api/test_openapi.py). */
static const struct route routes[] = {
	{ "GET",    "/v1/ping",                      h_ping,          PERM_PUBLIC,        0, NULL, ROUTE_NO_TX },
	{ "GET",    "/v1/health",                    h_health,        PERM_PUBLIC,        0, NULL, ROUTE_NO_TX },
	{ "GET",    "/v1/me",                        h_me,            PERM_AUTHENTICATED, 0, NULL, 0 },
	{ "GET",    "/v1/api-keys",                  h_api_keys_list, PERM_KEYS_READ,     0, NULL, 0 },
	{ "POST",   "/v1/api-keys",                  h_api_keys_create, PERM_KEYS_WRITE,  4 * KB, api_key_body, 0 },
	{ "GET",    "/v1/api-keys/{id}",             h_api_keys_get,  PERM_KEYS_READ,     0, NULL, 0 },
	{ "DELETE", "/v1/api-keys/{id}",             h_api_keys_revoke, PERM_KEYS_WRITE,  0, NULL, 0 },
	{ "GET",    "/v1/flows",                     h_flows_list,    PERM_FLOWS_READ,    0, NULL, 0 },
	{ "POST",   "/v1/flows",                     h_flows_create,  PERM_FLOWS_WRITE,   256 * KB, flows_schema, 0 },
	{ "GET",    "/v1/flows/{id}",                h_flows_get,     PERM_FLOWS_READ,    0, NULL, 0 },
	{ "PATCH",  "/v1/flows/{id}",                h_flows_update,  PERM_FLOWS_WRITE,   256 * KB, flows_patch_schema, 0 },
	{ "DELETE", "/v1/flows/{id}",                h_flows_delete,  PERM_FLOWS_WRITE,   0, NULL, 0 },
	{ "POST",   "/v1/flows/{id}/publish",        h_flows_publish, PERM_FLOWS_PUBLISH, 0, NULL, 0 },
	{ "POST",   "/v1/flows/{id}/unpublish",      h_flows_unpublish, PERM_FLOWS_PUBLISH, 0, NULL, 0 },
	{ "GET",    "/v1/flows/{id}/versions",       h_flows_versions, PERM_FLOWS_READ,   0, NULL, 0 },
	{ "GET",    "/v1/flows/{id}/versions/{version:int}", h_flows_version, PERM_FLOWS_READ, 0, NULL, 0 },
	{ "GET",    "/v1/public/flows/{id}",         h_public_flow,   PERM_PUBLIC,        0, NULL, 0 },
	/* -- integrations and secrets (issue: SecretsService and integrations) -- */
	{ "GET",    "/v1/integration-types",         h_integration_types, PERM_AUTHENTICATED, 0, NULL, 0 },
	{ "GET",    "/v1/integrations",              h_integrations_list, PERM_INTEGRATIONS_READ, 0, NULL, 0 },
	{ "POST",   "/v1/integrations",              h_integrations_create, PERM_INTEGRATIONS_WRITE, 64 * KB, integration_body, 0 },
	{ "GET",    "/v1/integrations/{id}",         h_integrations_get, PERM_INTEGRATIONS_READ, 0, NULL, 0 },
	{ "PATCH",  "/v1/integrations/{id}",         h_integrations_update, PERM_INTEGRATIONS_WRITE, 64 * KB, integration_patch_body, 0 },
	{ "DELETE", "/v1/integrations/{id}",         h_integrations_delete, PERM_INTEGRATIONS_WRITE, 0, NULL, 0 },
	{ "POST",   "/v1/integrations/{id}/test",    h_integrations_test, PERM_INTEGRATIONS_WRITE, 32 * KB, integration_test_body, 0 },
	{ "GET",    "/v1/integrations/{id}/runs",    h_integrations_runs, PERM_INTEGRATIONS_READ, 0, NULL, 0 },
	{ "GET",    "/v1/audit-log",                 h_audit_log,     PERM_AUDIT_READ,    0, NULL, 0 },
	/* -- webhooks (issue: webhooks) -- */
	{ "GET",    "/v1/webhooks/event-types",      h_webhook_event_types, PERM_WEBHOOKS_READ, 0, NULL, 0 },
	{ "GET",    "/v1/webhooks/endpoints",        h_webhooks_list, PERM_WEBHOOKS_READ, 0, NULL, 0 },
	{ "POST",   "/v1/webhooks/endpoints",        h_webhooks_create, PERM_WEBHOOKS_WRITE, 32 * KB, webhook_body, 0 },
	{ "GET",    "/v1/webhooks/endpoints/{id}",   h_webhooks_get, PERM_WEBHOOKS_READ, 0, NULL, 0 },
	{ "PATCH",  "/v1/webhooks/endpoints/{id}",   h_webhooks_update, PERM_WEBHOOKS_WRITE, 32 * KB, webhook_patch_body, 0 },
	{ "DELETE", "/v1/webhooks/endpoints/{id}",   h_webhooks_delete, PERM_WEBHOOKS_WRITE, 0, NULL, 0 },
	{ "POST",   "/v1/webhooks/endpoints/{id}/rotate-secret", h_webhooks_rotate, PERM_WEBHOOKS_SECRET, 0, NULL, 0 },
	{ "GET",    "/v1/webhooks/endpoints/{id}/secret", h_webhooks_secret, PERM_WEBHOOKS_SECRET, 0, NULL, 0 },
	{ "POST",   "/v1/webhooks/endpoints/{id}/test", h_webhooks_test, PERM_WEBHOOKS_WRITE, 0, NULL, 0 },
	{ "POST",   "/v1/webhooks/endpoints/{id}/replay", h_webhooks_replay, PERM_WEBHOOKS_WRITE, 4 * KB, webhook_replay_body, 0 },
	{ "GET",    "/v1/webhooks/deliveries",       h_webhook_deliveries, PERM_WEBHOOKS_READ, 0, NULL, 0 },
	{ "GET",    "/v1/webhooks/deliveries/{id}",  h_webhook_delivery, PERM_WEBHOOKS_READ, 0, NULL, 0 },
	{ "POST",   "/v1/webhooks/deliveries/{id}/retry", h_webhook_delivery_retry, PERM_WEBHOOKS_WRITE, 0, NULL, 0 },
	/* -- upload sessions, tus uploads and media (issue: storage and uploads) -- */
	/* public upload sessions: the token is the credential (fcgi/public_uploads.c) */
	{ "POST",   "/v1/public/flows/{id}/sessions", h_public_session_create, PERM_PUBLIC, 0, NULL, 0 },
	{ "GET",    "/v1/public/upload-auth",        h_public_upload_auth, PERM_PUBLIC,   0, NULL, 0 },
	{ "POST",   "/v1/public/uploads",            h_public_tus_create, PERM_PUBLIC,    0, NULL, ROUTE_BODY_FILE },
	{ "HEAD",   "/v1/public/uploads/{id}",       h_public_tus_head, PERM_PUBLIC,      0, NULL, 0 },
	{ "PATCH",  "/v1/public/uploads/{id}",       h_public_tus_patch, PERM_PUBLIC,     0, NULL, ROUTE_BODY_FILE },
	{ "DELETE", "/v1/public/uploads/{id}",       h_public_tus_delete, PERM_PUBLIC,    0, NULL, 0 },
	{ "OPTIONS", "/v1/public/uploads",           h_tus_options,   PERM_PUBLIC,        0, NULL, ROUTE_NO_TX },
	{ "OPTIONS", "/v1/public/uploads/{id}",      h_tus_options,   PERM_PUBLIC,        0, NULL, ROUTE_NO_TX },
	{ "POST",   "/v1/media",                     h_media_upload,  PERM_MEDIA_UPLOAD,  0, NULL, ROUTE_BODY_FILE },
	{ "POST",   "/v1/media/upload-url",          h_media_upload_url, PERM_MEDIA_UPLOAD, 4 * KB, upload_url_body, 0 },
	{ "PUT",    "/v1/media/signed-uploads/{tenant}/{id}", h_media_signed_put, PERM_PUBLIC, 0, NULL, ROUTE_BODY_FILE },
	{ "OPTIONS", "/v1/media/signed-uploads/{tenant}/{id}", h_media_signed_options, PERM_PUBLIC, 0, NULL, ROUTE_NO_TX },
	{ "GET",    "/v1/media/signed-uploads/check", h_media_signed_check, PERM_PUBLIC,  0, NULL, ROUTE_NO_TX },
	/* -- media processing (issue: media worker) -- */
	{ "POST",   "/v1/media/{id}/reprocess",      h_media_reprocess, PERM_MEDIA_REPROCESS, 0, NULL, 0 },
	/* -- media downloads and deletion (issue: media worker, downloads) -- */
	{ "DELETE", "/v1/media/{id}",                h_media_delete,  PERM_MEDIA_UPLOAD,  0, NULL, 0 },
	{ "POST",   "/v1/media/{id}/download-url",   h_media_download_url, PERM_MEDIA_READ, 1 * KB, media_download_body, ROUTE_BODY_OPTIONAL },
	{ "GET",    "/v1/media/{id}/content",        h_media_content, PERM_PUBLIC,        0, NULL, 0 },
	/* -- uploads (issue: storage and uploads): tus 1.0 for creators -- */
	{ "POST",   "/v1/uploads",                   h_tus_create,    PERM_MEDIA_UPLOAD,  0, NULL, ROUTE_BODY_FILE },
	{ "HEAD",   "/v1/uploads/{id}",              h_tus_head,      PERM_MEDIA_UPLOAD,  0, NULL, 0 },
	{ "PATCH",  "/v1/uploads/{id}",              h_tus_patch,     PERM_MEDIA_UPLOAD,  0, NULL, ROUTE_BODY_FILE },
	{ "DELETE", "/v1/uploads/{id}",              h_tus_delete,    PERM_MEDIA_UPLOAD,  0, NULL, 0 },
	{ "OPTIONS", "/v1/uploads",                  h_tus_options,   PERM_PUBLIC,        0, NULL, ROUTE_NO_TX },
	{ "OPTIONS", "/v1/uploads/{id}",             h_tus_options,   PERM_PUBLIC,        0, NULL, ROUTE_NO_TX },
	{ "GET",    "/v1/media",                     h_media_list,    PERM_MEDIA_READ,    0, NULL, 0 },
	{ "GET",    "/v1/media/{id}",                h_media_get,     PERM_MEDIA_READ,    0, NULL, 0 },
};

const struct route *router_routes(size_t *n)
{
	*n = NELEM(routes);
	return routes;
}

static bool is_int_segment(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 9 || s[0] == '0')
		return false;
	return strspn(s, "0123456789") == n;
}

/* Matches one pattern segment against one raw path segment; a parameter is decoded into *param. */
static bool match_segment(const char *pat, size_t plen, const char *seg, size_t slen, arena_t *a,
			  const char **param)
{
	char *v;

	if (pat[0] != '{')
		return plen == slen && memcmp(pat, seg, slen) == 0;
	if (slen == 0 || (v = req_decode_segment(a, seg, slen)) == NULL)
		return false;
	*param = v;
	if (plen > 5 && memcmp(pat + plen - 5, ":int}", 5) == 0)
		return is_int_segment(v);
	return crypto_uuid_valid(v);
}

static bool match_pattern(const char *pattern, const char *path, arena_t *a, const char **params,
			  size_t *nparams)
{
	const char *p = pattern, *s = path;

	*nparams = 0;
	while (*p == '/' && *s == '/') {
		const char *pe = strchr(p + 1, '/'), *se = strchr(s + 1, '/');
		size_t plen = pe ? (size_t)(pe - p - 1) : strlen(p + 1);
		size_t slen = se ? (size_t)(se - s - 1) : strlen(s + 1);
		const char *param = NULL;

		if (!match_segment(p + 1, plen, s + 1, slen, a, &param))
			return false;
		if (param != NULL) {
			if (*nparams == REQ_MAX_PARAMS)
				return false;
			params[(*nparams)++] = param;
		}
		p += plen + 1;
		s += slen + 1;
	}
	return *p == '\0' && *s == '\0';
}

static void add_allow(char *allow, size_t allowlen, const char *method)
{
	size_t used = strlen(allow);

	if (strstr(allow, method) != NULL)
		return;
	snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", method);
}

const struct route *router_match(const char *method, const char *path, arena_t *a,
				 const char **params, size_t *nparams, int *status,
				 char *allow, size_t allowlen)
{
	const char *tmp[REQ_MAX_PARAMS];
	size_t ntmp;

	*status = 404;
	allow[0] = '\0';
	if (path == NULL || path[0] != '/' || strlen(path) > PATH_MAX_LEN)
		return NULL;
	for (size_t i = 0; i < NELEM(routes); i++) {
		if (!match_pattern(routes[i].pattern, path, a, tmp, &ntmp))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			memcpy(params, tmp, ntmp * sizeof(*tmp));
			*nparams = ntmp;
			return &routes[i];
		}
		*status = 405;
		add_allow(allow, allowlen, routes[i].method);
	}
	return NULL;
}

static bool is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* 413, 415 and the body's JSON and field validation. */
static err_t check_body(struct req *r, const struct route *rt)
{
	err_t e;

	if (rt->flags & ROUTE_BODY_FILE)
		return ERR_OK;   /* the handler checks the spooled body's length and type itself */
	if (rt->body == NULL) {
		if (r->content_length > 0)
			return err_set(&r->prob, r->a, ERR_BAD_REQUEST, "this endpoint takes no request body");
		return ERR_OK;
	}
	if (r->content_length == 0 && (rt->flags & ROUTE_BODY_OPTIONAL))
		return ERR_OK;
	if (r->content_length > rt->body_max)
		return err_set(&r->prob, r->a, ERR_TOO_LARGE,
			       "request body is %zu bytes; this endpoint accepts at most %zu",
			       r->content_length, rt->body_max);
	if (!is_json_type(r->content_type))
		return err_set(&r->prob, r->a, ERR_UNSUPPORTED_MEDIA,
			       "Content-Type must be application/json");
	if (r->content_length == 0)
		return err_set(&r->prob, r->a, ERR_BAD_REQUEST, "a JSON request body is required");
	if ((e = req_read_body(r, rt->body_max)) != ERR_OK)
		return e;
	if (memchr(r->body, '\0', r->body_len) != NULL)
		return err_set(&r->prob, r->a, ERR_INVALID_JSON, "request body contains a NUL byte");
	if ((e = json_parse(r->body, r->body_len, &r->json, r->a, &r->prob)) != ERR_OK)
		return e;
	return json_validate(r->json, rt->body, "", &r->prob, r->a);
}

/* 401 and 403: the API key names the tenant, which then scopes the whole transaction. */
static err_t authorize(struct req *r, const struct route *rt)
{
	const char *auth = req_env(r, "HTTP_AUTHORIZATION");
	err_t e;

	if (rt->perm == PERM_PUBLIC)
		return ERR_OK;
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		req_header(r, "WWW-Authenticate", "Bearer");
		return err_set(&r->prob, r->a, ERR_UNAUTHENTICATED,
			       "an API key is required: Authorization: Bearer atr_...");
	}
	e = apikeys_authenticate(r->app->db, r->a, auth + 7, &r->who, &r->prob);
	if (e == ERR_UNAUTHENTICATED)
		req_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	if (e != ERR_OK)
		return e;
	if (!access_allows(r->who.role, rt->perm))
		return err_set(&r->prob, r->a, ERR_FORBIDDEN, "the %s role may not do this",
			       access_role_name(r->who.role));
	return ERR_OK;
}

static err_t run_once(struct req *r, const struct route *rt)
{
	db_t *db = r->app->db;
	err_t e;

	if ((e = db_ready(db)) != ERR_OK || (e = db_begin(db, NULL)) != ERR_OK)
		return e;
	if ((e = authorize(r, rt)) == ERR_OK && (e = rt->fn(r)) == ERR_OK)
		e = db_commit(db);
	if (e != ERR_OK)
		db_rollback(db);
	return e;
}

/* The transaction around a handler; a connection that died before any work is retried once. */
static err_t run(struct req *r, const struct route *rt)
{
	err_t e;

	if (rt->flags & ROUTE_NO_TX)
		return rt->fn(r);
	e = run_once(r, rt);
	if (e == ERR_UNAVAILABLE && db_lost_before_work(r->app->db)) {
		log_info("request.retry_after_reconnect");
		err_clear(&r->prob);
		r->out = NULL;
		r->status = 0;
		r->nheaders = 0;
		e = run_once(r, rt);
	}
	if (e == ERR_UNAVAILABLE && r->prob.detail == NULL)
		r->prob.detail = "a backing service is unavailable; retry shortly";
	return e;
}

static err_t dispatch(struct req *r, const struct route **matched)
{
	char allow[64];
	int status;
	err_t e;
	const struct route *rt;

	/* tus: clients that cannot send PATCH or DELETE tunnel them through POST (uploads only) */
	const char *ovr = req_env(r, "HTTP_X_HTTP_METHOD_OVERRIDE");

	if (ovr && strcmp(r->method, "POST") == 0 &&
	    (strncmp(r->uri_path, "/v1/uploads/", 12) == 0 ||
	     strncmp(r->uri_path, "/v1/public/uploads/", 19) == 0) &&
	    (strcmp(ovr, "PATCH") == 0 || strcmp(ovr, "DELETE") == 0 || strcmp(ovr, "HEAD") == 0))
		r->method = ovr;
	rt = router_match(r->method, r->uri_path, r->a, r->params, &r->nparams, &status, allow,
			  sizeof(allow));

	*matched = rt;
	if (rt == NULL && status == 405) {
		req_header(r, "Allow", arena_strdup(r->a, allow));
		return err_set(&r->prob, r->a, ERR_METHOD_NOT_ALLOWED, "%s is not allowed here; allowed: %s",
			       r->method, allow);
	}
	if (rt == NULL)
		return err_set(&r->prob, r->a, ERR_NOT_FOUND, "no such endpoint");
	if ((e = check_body(r, rt)) != ERR_OK)
		return e;
	return run(r, rt);
}

static long elapsed_us(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

void router_dispatch(struct req *r)
{
	const struct route *rt = NULL;
	struct timespec t0;
	err_t e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = dispatch(r, &rt);
	response_send(r, e);
	/* nginx's access log already has every request with its request_id; ours adds route and
	 * tenant, at debug for successes so the hot path makes no write(2) of its own */
	log_emit(r->status >= 500 ? LL_ERROR : r->status >= 400 ? LL_INFO : LL_DEBUG, "request",
		 (const struct log_field[]){ LF_STR("method", r->method),
					     LF_STR("route", rt ? rt->pattern : "-"),
					     LF_INT("status", r->status), LF_INT("us", elapsed_us(&t0)),
					     LF_STR("tenant", r->who.tenant_id[0] ? r->who.tenant_id : NULL),
					     LF_END });
}
