/* rows: turning query results into JSON (statements build one json column; we parse it) */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "rows.h"

static void put_json(void *o)
{
	json_object_put(o);
}

json_object *rows_json(arena_t *a, const PGresult *r, int row, int col)
{
	const char *v = db_val(r, row, col);
	json_object *o;

	if (v == NULL)
		return NULL;
	o = json_tokener_parse(v);
	if (o == NULL)
		log_fatal("rows.json", "the database returned invalid JSON");
	arena_cleanup_add(a, put_json, o);
	return o;
}

err_t rows_keyset(db_t *db, arena_t *a, const char *sql, const char *tenant_id, int limit,
		  const char *cursor, json_object **out)
{
	char lim[16];
	PGresult *r;
	err_t e;

	snprintf(lim, sizeof(lim), "%d", limit + 1);   /* one more row tells whether a next page exists */
	if ((e = db_q(db, a, &r, sql, tenant_id, cursor, lim)) == ERR_OK)
		*out = rows_page(a, r, limit);
	return e;
}

json_object *rows_page(arena_t *a, const PGresult *r, int limit)
{
	json_object *page = json_new_object(a);
	json_object *items = json_object_new_array();
	int n = PQntuples(r);
	const char *next = NULL;

	if (n > limit) {
		next = db_val(r, limit - 1, 1);
		n = limit;
	}
	for (int i = 0; i < n; i++)
		json_object_array_add(items, json_object_get(rows_json(a, r, i, 0)));
	json_object_object_add(page, "items", items);
	json_object_object_add(page, "next_cursor", next ? json_object_new_string(next) : NULL);
	return page;
}
