/* rows: turning query results into JSON (statements build one json column; we parse it) */
#ifndef ATRIUM_ROWS_H
#define ATRIUM_ROWS_H

#include "db.h"
#include "json.h"

/* The JSON in column col of row, parsed into a tree released with the arena; NULL for SQL NULL. */
json_object *rows_json(arena_t *a, const PGresult *r, int row, int col);

/* A keyset page: {"items": [json column 0 of each row], "next_cursor": column 1 of row `limit`-1
 * when the result holds more than limit rows (the query asks for limit + 1), else null}. */
json_object *rows_page(arena_t *a, const PGresult *r, int limit);

/* Runs a keyset page query whose parameters are $1 tenant_id, $2 cursor (NULL on the first page)
 * and $3 the row limit, selecting (json, id) ordered by id DESC; *out is rows_page() of it. */
err_t rows_keyset(db_t *db, arena_t *a, const char *sql, const char *tenant_id, int limit,
		  const char *cursor, json_object **out) MUSTCHECK;

/* Query helpers for keyset paging: validated limit (1..200, default 50) and cursor (a UUID). */
#define ROWS_LIMIT_MAX 200
#define ROWS_LIMIT_DEFAULT 50

#endif
