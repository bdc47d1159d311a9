/* health: liveness without I/O (ping) and readiness of PostgreSQL and Redis (health) */
#include "db.h"
#include "handlers.h"
#include "redis.h"

err_t h_ping(struct req *r)
{
	json_object *o = json_new_object(r->a);

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	req_reply(r, 200, o);
	return ERR_OK;
}

static bool postgres_up(db_t *db, arena_t *a)
{
	PGresult *res;

	if (db_ready(db) != ERR_OK)
		return false;
	return db_q0(db, a, &res, "SELECT 1") == ERR_OK || (db_ready(db) == ERR_OK &&
							      db_q0(db, a, &res, "SELECT 1") == ERR_OK);
}

/* 200 when both answer, 503 naming the one that does not. */
err_t h_health(struct req *r)
{
	bool pg = postgres_up(r->app->db, r->a);
	bool rd = redis_ping(r->app->redis);
	json_object *o = json_new_object(r->a);

	json_object_object_add(o, "status", json_object_new_string(pg && rd ? "ok" : "degraded"));
	json_object_object_add(o, "postgres", json_object_new_string(pg ? "up" : "down"));
	json_object_object_add(o, "redis", json_object_new_string(rd ? "up" : "down"));
	req_reply(r, pg && rd ? 200 : 503, o);
	if (!(pg && rd))
		req_header(r, "Retry-After", "5");
	return ERR_OK;
}
