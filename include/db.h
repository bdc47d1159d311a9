/* db: one PostgreSQL connection per process (libpq); parameters only, tenant set per transaction */
#ifndef ATRIUM_DB_H
#define ATRIUM_DB_H

#include <libpq-fe.h>

#include "arena.h"
#include "common.h"
#include "err.h"

typedef struct db db_t;

/* Connects (with application_name = program). Never NULL: a failed connection is logged
 * (without the conninfo) and retried by db_ready()/db_begin(), so a process can start while
 * PostgreSQL is down. db_connect_opts also sets statement_timeout (0 = server default). */
db_t *db_connect(const char *conninfo, const char *program);
db_t *db_connect_opts(const char *conninfo, const char *program, int statement_timeout_ms);
void db_close(db_t *db);
PGconn *db_conn(db_t *db);

/* Before a request or job: roll back anything left open, reset a dead connection.
 * ERR_OK, or ERR_UNAVAILABLE when the server cannot be reached. */
err_t db_ready(db_t *db) MUSTCHECK;

/* BEGIN, then set_config('app.tenant_id', tenant_id, true) when tenant_id is not NULL. */
err_t db_begin(db_t *db, const char *tenant_id) MUSTCHECK;
/* Sets the tenant for the rest of the open transaction. */
err_t db_set_tenant(db_t *db, const char *tenant_id) MUSTCHECK;
/* COMMIT, then runs the after-commit hooks in order. On failure the hooks are dropped. */
err_t db_commit(db_t *db) MUSTCHECK;
/* ROLLBACK (if a transaction is open) and drop the after-commit hooks. Never fails. */
void db_rollback(db_t *db);
bool db_in_tx(const db_t *db);

/* Work to do only once the transaction commits (announce a job on Redis, say).
 * data must live until then (allocate it in the request arena). */
void db_after_commit(db_t *db, void (*fn)(void *), void *data);

/* Runs sql with text parameters (NULL = SQL NULL). The result is cleared with the arena.
 * Errors map to: unique violation -> ERR_CONFLICT, foreign key -> ERR_NOT_FOUND,
 * check/invalid text -> ERR_VALIDATION, connection lost -> ERR_UNAVAILABLE, else ERR_INTERNAL;
 * they are logged with the SQLSTATE, never with parameter values. */
err_t db_exec(db_t *db, arena_t *a, PGresult **out, const char *sql,
	      int nparams, const char *const *params) MUSTCHECK;

/* db_q(db, arena, &res, "select ... $1 ... $2", p1, p2): the parameter count is derived. */
#define db_q(db, a, out, sql, ...) \
	db_exec((db), (a), (out), (sql), \
		(int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)), \
		(const char *const[]){ __VA_ARGS__ })
#define db_q0(db, a, out, sql) db_exec((db), (a), (out), (sql), 0, NULL)

/* db_exec for the hot statements of a batch loop: prepared once per session under name (one
 * name per statement text; kept by pointer, so a string literal), executed by name afterwards, so the server
 * parses and plans it once. db_qp(db, a, &res, "name", "select ... $1", p1). */
err_t db_exec_prepared(db_t *db, arena_t *a, PGresult **out, const char *name, const char *sql,
		       int nparams, const char *const *params) MUSTCHECK;
#define db_qp(db, a, out, name, sql, ...) \
	db_exec_prepared((db), (a), (out), (name), (sql), \
			 (int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)), \
			 (const char *const[]){ __VA_ARGS__ })

/* The text form of an array parameter ($1::uuid[], $2::text[], $3::jsonb[]...) holding v[0..n):
 * every element double-quoted with '"' and '\\' escaped, NULL elements as SQL NULL, so any text
 * is safe in it. Lives in the arena. */
const char *db_array(arena_t *a, const char *const *v, size_t n);

/* True when the last failure was the connection dying before this transaction ran anything:
 * the dispatcher may reset and retry the request once. */
bool db_lost_before_work(const db_t *db);

/* SQLSTATE of the last failed statement ("" if none), and its constraint name ("" if none). */
const char *db_last_sqlstate(const db_t *db);
const char *db_last_constraint(const db_t *db);

/* Value helpers: NULL for SQL NULL. */
const char *db_val(const PGresult *r, int row, int col);
bool db_bool(const PGresult *r, int row, int col);
long long db_int(const PGresult *r, int row, int col);

#endif
