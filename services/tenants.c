/* tenants: creating organisations (atriumctl) and reading the caller's own */
#include "apikeys.h"
#include "crypto.h"
#include "rows.h"
#include "tenants.h"

err_t tenants_create(db_t *db, arena_t *a, const char *name, json_object **out, struct problem *p)
{
	char id[UUID_STRLEN];
	json_object *key;
	err_t e;

	crypto_uuid7(id);
	e = db_q(db, a, NULL, "INSERT INTO tenants (id, name) VALUES ($1, $2)", id, name);
	if (e == ERR_OK)
		e = db_set_tenant(db, id);
	if (e == ERR_OK)
		e = apikeys_create(db, a, id, "owner (created by atriumctl)", ROLE_OWNER, NULL, &key, p);
	if (e != ERR_OK)
		return e;
	*out = json_new_object(a);
	json_object_object_add(*out, "tenant_id", json_object_new_string(id));
	json_object_object_add(*out, "name", json_object_new_string(name));
	json_object_object_add(*out, "key_id", json_object_get(json_get(key, "id")));
	json_object_object_add(*out, "api_key", json_object_get(json_get(key, "api_key")));
	return ERR_OK;
}

err_t tenants_get(db_t *db, arena_t *a, const char *tenant_id, json_object **out, struct problem *p)
{
	PGresult *r;
	err_t e = db_q(db, a, &r,
		       "SELECT json_build_object('id', id, 'name', name, 'created_at', created_at) "
		       "FROM tenants WHERE id = $1",
		       tenant_id);

	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "tenant not found");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}
