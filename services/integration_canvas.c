/* integration_canvas: post a grade (completion) for a configured course and assignment (Canvas REST API) */
#include <string.h>

#include "integrations.h"

/* The Canvas user: data.canvas_user_id (a number or a string such as "sis_user_id:123"). */
static const char *canvas_user(struct integration_ctx *c)
{
	json_object *u = json_get(c->data, "canvas_user_id");

	if (u == NULL || !(json_object_is_type(u, json_type_int) || json_object_is_type(u, json_type_string)))
		return NULL;
	return json_object_get_string(u);
}

err_t integration_canvas(struct integration_ctx *c)
{
	const char *token, *user = canvas_user(c), *base = json_get_str(c->config, "base_url");
	const char *grade = json_get_str(c->config, "posted_grade");
	size_t blen = base != NULL ? strlen(base) : 0;
	json_object *body = json_new_object(c->a), *sub = json_object_new_object();
	const char *headers[2];
	struct integration_request rq = { .method = "PUT", .headers = headers,
					  .content_type = "application/json", .tenant_url = true };
	struct integration_response rs;
	err_t e;

	if (user == NULL || user[0] == '\0' || strlen(user) > 100)
		return integration_fail(c, "the event data has no canvas_user_id");
	if ((e = integration_secret(c, "api_token", &token)) != ERR_OK)
		return e;
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	rq.url = arena_printf(c->a, "%.*s/api/v1/courses/%s/assignments/%s/submissions/%s", (int)blen, base,
			      integration_escape(c->a, json_get_str(c->config, "course_id")),
			      integration_escape(c->a, json_get_str(c->config, "assignment_id")),
			      integration_escape(c->a, user));
	headers[0] = arena_printf(c->a, "Authorization: Bearer %s", token);
	headers[1] = NULL;
	json_object_object_add(sub, "posted_grade", json_object_new_string(grade ? grade : "complete"));
	json_object_object_add(body, "submission", sub);
	rq.body = json_str(body);
	rq.body_len = strlen(rq.body);
	if ((e = integration_send(c, &rq, &rs)) != ERR_OK)
		return e;
	return integration_status(c, &rs, "grade");
}
