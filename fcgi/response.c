/* response: writes the status, headers and JSON or problem+json body of one response (RFC 9457) */
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
	FCGX_FPrintF(out, "Status: %d %s\r\nContent-Type: application/problem+json\r\n",
		     info->status, reason(info->status));
	if (info->status == 503 || info->status == 429)
		FCGX_FPrintF(out, "Retry-After: %d\r\n", r->prob.retry_after > 0 ? r->prob.retry_after : 1);
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
		FCGX_FPrintF(out, "Status: %d %s\r\n", r->status, reason(r->status));
		if (r->out != NULL && r->status != 204)
			FCGX_PutS("Content-Type: application/json\r\n", out);
	}
	FCGX_PutS("Cache-Control: no-store\r\n", out);
	for (size_t i = 0; i < r->nheaders; i++)
		FCGX_FPrintF(out, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
	FCGX_PutS("\r\n", out);
	if (r->out != NULL && r->status != 204) {
		body = json_str(r->out);
		FCGX_PutStr(body, (int)strlen(body), out);
	}
}
