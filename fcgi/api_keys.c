/* api_keys: /v1/me and /v1/api-keys (create shows the key once; list, read, revoke) */
#include "apikeys.h"
#include "handlers.h"
#include "tenants.h"

const struct jv_field api_key_body[] = {
	{ "name", JV_STRING, true, false, 1, 200, NULL, NULL, NULL },
	{ "role", JV_ENUM,   true, false, 0, 0, access_role_names, NULL, NULL },
	{ NULL, 0, false, false, 0, 0, NULL, NULL, NULL }
};

err_t h_me(struct req *r)
{
	json_object *tenant, *o;
	err_t e = tenants_get(r->app->db, r->a, r->who.tenant_id, &tenant, &r->prob);

	if (e != ERR_OK)
		return e;
	o = json_new_object(r->a);
	json_object_object_add(o, "tenant", json_object_get(tenant));
	json_object_object_add(o, "key_id", json_object_new_string(r->who.key_id));
	json_object_object_add(o, "role", json_object_new_string(access_role_name(r->who.role)));
	req_reply(r, 200, o);
	return ERR_OK;
}

err_t h_api_keys_list(struct req *r)
{
	json_object *out;
	const char *cursor;
	int limit;
	err_t e = page_params(r, &limit, &cursor);

	if (e == ERR_OK)
		e = apikeys_list(r->app->db, r->a, r->who.tenant_id, limit, cursor, &out, &r->prob);
	if (e == ERR_OK)
		req_reply(r, 200, out);
	return e;
}

err_t h_api_keys_create(struct req *r)
{
	enum role role = access_role_parse(json_get_str(r->json, "role"));
	json_object *out;
	err_t e;

	if (!access_may_grant(r->who.role, role))
		return err_set(&r->prob, r->a, ERR_FORBIDDEN, "the %s role may not create a key with the %s role",
			       access_role_name(r->who.role), access_role_name(role));
	e = apikeys_create(r->app->db, r->a, r->who.tenant_id, json_get_str(r->json, "name"), role,
			   r->who.key_id, &out, &r->prob);
	if (e == ERR_OK)
		req_reply(r, 201, out);
	return e;
}

err_t h_api_keys_get(struct req *r)
{
	json_object *out;
	err_t e = apikeys_get(r->app->db, r->a, r->who.tenant_id, r->params[0], &out, &r->prob);

	if (e == ERR_OK)
		req_reply(r, 200, out);
	return e;
}

err_t h_api_keys_revoke(struct req *r)
{
	err_t e = apikeys_revoke(r->app->db, r->a, &r->who, r->params[0], &r->prob);

	if (e == ERR_OK)
		req_reply(r, 204, NULL);
	return e;
}
