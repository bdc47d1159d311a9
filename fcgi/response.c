/* response: writes the status, headers and JSON or problem+json body of one response (RFC 9457) */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "request.h"

static void put_json(void *o)
{
	json_object_put(o);
}

static const struct {
	int status;
	const char *reason;
} reasons[] = {
	{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
	{ 302, "Found" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 409, "Conflict" }, { 410, "Gone" },
	{ 412, "Precondition Failed" }, { 413, "Content Too Large" }, { 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Content" }, { 429, "Too Many Requests" }, { 460, "Checksum Mismatch" },
	{ 500, "Internal Server Error" }, { 503, "Service Unavailable" }, { 507, "Insufficient Storage" },
};

static const char *reason(int status)
{
	for (size_t i = 0; i < NELEM(reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

/* One formatted header line. libfcgi's own FCGX_FPrintF knows too few conversions (no %zu), so
 * lines are formatted here; a line that does not fit is dropped rather than cut. */
static void put_line(FCGX_Stream *out, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void put_line(FCGX_Stream *out, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(line))
		FCGX_PutStr(line, n, out);
}

static json_object *problem_body(struct req *r, err_t e)
{
	const struct err_info *info = err_info(e);
	json_object *o = json_object_new_object();
	char type[96];

	snprintf(type, sizeof(type), "https://atrium.dev/problems/%s", info->slug);
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "title", json_object_new_string(info->title));
	json_object_object_add(o, "status", json_object_new_int(info->status));
	if (r->prob.detail != NULL)
		json_object_object_add(o, "detail", json_object_new_string(r->prob.detail));
	if (r->request_id != NULL)
		json_object_object_add(o, "request_id", json_object_new_string(r->request_id));
	if (r->prob.nfields > 0) {
		json_object *errs = json_object_new_array();

		for (size_t i = 0; i < r->prob.nfields; i++) {
			json_object *f = json_object_new_object();

			json_object_object_add(f, "field", json_object_new_string(r->prob.fields[i].field));
			json_object_object_add(f, "detail", json_object_new_string(r->prob.fields[i].detail));
			json_object_array_add(errs, f);
		}
		json_object_object_add(o, "errors", errs);
	}
	return o;
}

/* Turns the problem into the response body and writes its status line and headers. */
static void put_problem(struct req *r, err_t e, FCGX_Stream *out)
{
	const struct err_info *info = err_info(e);
	json_object *body;

	if (r->prob.detail == NULL && e == ERR_VALIDATION && r->prob.nfields > 0)
		r->prob.detail = arena_printf(r->a, "%s: %s", r->prob.fields[0].field,
					      r->prob.fields[0].detail);
	body = problem_body(r, e);
	if (info->status >= 500)
		log_error("request.failed", LF_INT("status", info->status), LF_STR("error", info->slug));
	put_line(out, "Status: %d %s\r\nContent-Type: application/problem+json\r\n",
		     info->status, reason(info->status));
	if (info->status == 503 || info->status == 429)
		put_line(out, "Retry-After: %d\r\n", r->prob.retry_after > 0 ? r->prob.retry_after : 1);
	else if (info->status == 507 && r->prob.retry_after > 0)   /* space may come back */
		put_line(out, "Retry-After: %d\r\n", r->prob.retry_after);
	r->status = info->status;
	r->out = body;
	arena_cleanup_add(r->a, put_json, body);
}

void response_send(struct req *r, err_t e)
{
	FCGX_Stream *out = r->fcgi->out;
	const char *body;

	if (e != ERR_OK) {
		put_problem(r, e, out);
	} else {
		if (r->status == 0)
			r->status = r->out ? 200 : 204;
		put_line(out, "Status: %d %s\r\n", r->status, reason(r->status));
		if (r->out != NULL && r->status != 204)
			FCGX_PutS("Content-Type: application/json\r\n", out);
	}
	body = r->out != NULL && r->status != 204 ? json_str(r->out) : "";
	/* a length lets nginx pass the body through instead of re-chunking it */
	put_line(out, "Content-Length: %zu\r\nCache-Control: no-store\r\n", strlen(body));
	for (size_t i = 0; i < r->nheaders; i++)
		put_line(out, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
	FCGX_PutS("\r\n", out);
	FCGX_PutStr(body, (int)strlen(body), out);
}
