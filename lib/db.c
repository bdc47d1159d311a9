/* db: one PostgreSQL connection per process (libpq); parameters only, tenant set per transaction */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

struct hook {
	void (*fn)(void *);
	void *data;
};

#define PREPARED_MAX 32

struct db {
	PGconn *conn;
	const char *prepared[PREPARED_MAX];   /* names (string literals) prepared on this connection */
	size_t nprepared;
	char *conninfo;
	char *program;
	bool in_tx;
	bool did_work;          /* a statement beyond BEGIN ran in this transaction */
	bool lost_before_work;
	struct hook *hooks;
	size_t nhooks, caphooks;
	char sqlstate[6];
	char constraint[64];
};

static PGconn *open_conn(const char *conninfo, const char *program, const char *options)
{
	const char *keys[] = { "dbname", "application_name", "connect_timeout", "options", NULL };
	const char *vals[] = { conninfo, program, "5", options, NULL };

	if (options == NULL)
		keys[3] = NULL;
	return PQconnectdbParams(keys, vals, 1);
}

db_t *db_connect_opts(const char *conninfo, const char *program, int statement_timeout_ms)
{
	db_t *db = calloc(1, sizeof(*db));
	char options[64];

	if (db == NULL)
		log_fatal("db.connect", "out of memory");
	db->conninfo = strdup(conninfo);
	db->program = strdup(program);
	if (db->conninfo == NULL || db->program == NULL)
		log_fatal("db.connect", "out of memory");
	snprintf(options, sizeof(options), "-c statement_timeout=%d", statement_timeout_ms);
	db->conn = open_conn(conninfo, program, statement_timeout_ms > 0 ? options : NULL);
	if (db->conn == NULL)
		log_fatal("db.connect", "out of memory");
	if (PQstatus(db->conn) != CONNECTION_OK)
		log_warn("db.connect_failed", LF_STR("program", program));
	return db;
}

db_t *db_connect(const char *conninfo, const char *program)
{
	return db_connect_opts(conninfo, program, 0);
}

void db_close(db_t *db)
{
	if (db == NULL)
		return;
	PQfinish(db->conn);
	free(db->hooks);
	free(db->conninfo);
	free(db->program);
	free(db);
}

PGconn *db_conn(db_t *db)
{
	return db->conn;
}

static void forget_tx(db_t *db)
{
	db->in_tx = false;
	db->did_work = false;
	db->nhooks = 0;
}

static bool reconnect(db_t *db)
{
	PQreset(db->conn);
	forget_tx(db);
	db->nprepared = 0;       /* a new session knows no prepared statement */
	if (PQstatus(db->conn) == CONNECTION_OK) {
		log_info("db.reconnected");
		return true;
	}
	return false;
}

err_t db_ready(db_t *db)
{
	forget_tx(db);
	db->lost_before_work = false;
	if (PQstatus(db->conn) != CONNECTION_OK && !reconnect(db))
		return ERR_UNAVAILABLE;
	if (PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		PGresult *r = PQexec(db->conn, "ROLLBACK");
		PQclear(r);
	}
	return ERR_OK;
}

static err_t map_sqlstate(const char *st)
{
	if (strcmp(st, "23505") == 0)
		return ERR_CONFLICT;
	if (strcmp(st, "23503") == 0)
		return ERR_NOT_FOUND;
	if (strncmp(st, "22", 2) == 0 || strcmp(st, "23514") == 0 || strcmp(st, "23502") == 0)
		return ERR_VALIDATION;
	if (strncmp(st, "40", 2) == 0 || strcmp(st, "57014") == 0 || strncmp(st, "08", 2) == 0 ||
	    strcmp(st, "57P01") == 0)
		return ERR_UNAVAILABLE;
	return ERR_INTERNAL;
}

static void copy_field(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Records and logs a failed statement: SQLSTATE, constraint and the statement's first words only. */
static err_t fail(db_t *db, PGresult *r, const char *sql)
{
	char head[48];
	err_t e;

	copy_field(db->sqlstate, sizeof(db->sqlstate), r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
	copy_field(db->constraint, sizeof(db->constraint),
		   r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL);
	copy_field(head, sizeof(head), sql);
	PQclear(r);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db->lost_before_work = !db->did_work;
		forget_tx(db);
		log_warn("db.connection_lost", LF_STR("sql", head));
		return ERR_UNAVAILABLE;
	}
	e = map_sqlstate(db->sqlstate);
	log_emit(e == ERR_INTERNAL ? LL_ERROR : LL_INFO, "db.statement_failed",
		 (const struct log_field[]){ LF_STR("sqlstate", db->sqlstate),
					     LF_STR("constraint", db->constraint), LF_STR("sql", head), LF_END });
	return e;
}

static void clear_result(void *r)
{
	PQclear(r);
}

/* A statement's result: a failure goes through fail(); a success is handed to the caller, freed
 * with a (or at once when the caller wants no rows). */
static err_t take_result(db_t *db, arena_t *a, PGresult **out, PGresult *r, const char *sql)
{
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return fail(db, r, sql);
	db->did_work = true;
	if (out == NULL || a == NULL) {
		PQclear(r);
		return ERR_OK;
	}
	arena_cleanup_add(a, clear_result, r);
	*out = r;
	return ERR_OK;
}

err_t db_exec(db_t *db, arena_t *a, PGresult **out, const char *sql, int nparams,
	      const char *const *params)
{
	if (out != NULL)
		*out = NULL;
	return take_result(db, a, out, PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0),
			   sql);
}

/* The statement name is prepared once per session: later calls skip parsing and planning. */
static err_t ensure_prepared(db_t *db, const char *name, const char *sql, int nparams)
{
	PGresult *r;

	for (size_t i = 0; i < db->nprepared; i++)
		if (strcmp(db->prepared[i], name) == 0)
			return ERR_OK;
	r = PQprepare(db->conn, name, sql, nparams, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return fail(db, r, sql);
	PQclear(r);
	if (db->nprepared < PREPARED_MAX)
		db->prepared[db->nprepared++] = name;
	return ERR_OK;
}

err_t db_exec_prepared(db_t *db, arena_t *a, PGresult **out, const char *name, const char *sql,
		       int nparams, const char *const *params)
{
	err_t e;

	if (out != NULL)
		*out = NULL;
	if ((e = ensure_prepared(db, name, sql, nparams)) != ERR_OK)
		return e;
	return take_result(db, a, out, PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0), sql);
}

static err_t simple(db_t *db, const char *sql)
{
	PGresult *r = PQexec(db->conn, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return fail(db, r, sql);
	PQclear(r);
	return ERR_OK;
}

err_t db_set_tenant(db_t *db, const char *tenant_id)
{
	const char *p[] = { tenant_id };
	PGresult *r = PQexecParams(db->conn, "SELECT set_config('app.tenant_id', $1, true)", 1, NULL, p,
				   NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(db, r, "set_config app.tenant_id");
	PQclear(r);
	return ERR_OK;
}

/* BEGIN; a connection found dead here (server restarted since the last request) is reset and
 * BEGIN tried once more, so the caller never sees that outage. */
err_t db_begin(db_t *db, const char *tenant_id)
{
	err_t e;

	forget_tx(db);
	e = simple(db, "BEGIN");
	if (e == ERR_UNAVAILABLE && reconnect(db))
		e = simple(db, "BEGIN");
	if (e != ERR_OK)
		return e;
	db->in_tx = true;
	db->lost_before_work = false;
	if (tenant_id != NULL && (e = db_set_tenant(db, tenant_id)) != ERR_OK) {
		db_rollback(db);
		return e;
	}
	return ERR_OK;
}

err_t db_commit(db_t *db)
{
	struct hook *h = db->hooks;
	size_t n = db->nhooks;
	err_t e = simple(db, "COMMIT");

	db->in_tx = false;
	db->did_work = false;
	db->nhooks = 0;
	if (e != ERR_OK)
		return e;
	for (size_t i = 0; i < n; i++)
		h[i].fn(h[i].data);
	return ERR_OK;
}

void db_rollback(db_t *db)
{
	if (PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		PGresult *r = PQexec(db->conn, "ROLLBACK");
		PQclear(r);
	}
	forget_tx(db);
}

bool db_in_tx(const db_t *db)
{
	return db->in_tx;
}

void db_after_commit(db_t *db, void (*fn)(void *), void *data)
{
	if (db->nhooks == db->caphooks) {
		size_t cap = db->caphooks ? db->caphooks * 2 : 8;
		struct hook *h = realloc(db->hooks, cap * sizeof(*h));

		if (h == NULL)
			log_fatal("db.after_commit", "out of memory");
		db->hooks = h;
		db->caphooks = cap;
	}
	db->hooks[db->nhooks++] = (struct hook){ fn, data };
}

bool db_lost_before_work(const db_t *db)
{
	return db->lost_before_work;
}

const char *db_last_sqlstate(const db_t *db)
{
	return db->sqlstate;
}

const char *db_last_constraint(const db_t *db)
{
	return db->constraint;
}

const char *db_val(const PGresult *r, int row, int col)
{
	if (r == NULL || row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col))
		return NULL;
	return PQgetvalue(r, row, col);
}

bool db_bool(const PGresult *r, int row, int col)
{
	const char *v = db_val(r, row, col);

	return v != NULL && v[0] == 't';
}

long long db_int(const PGresult *r, int row, int col)
{
	const char *v = db_val(r, row, col);
	char *end;
	long long n;

	if (v == NULL)
		return 0;
	n = strtoll(v, &end, 10);
	return *end == '\0' ? n : 0;
}

const char *db_array(arena_t *a, const char *const *v, size_t n)
{
	size_t len = 3;
	char *s, *w;

	for (size_t i = 0; i < n; i++)
		len += v[i] != NULL ? 2 * strlen(v[i]) + 3 : 5;
	w = s = arena_alloc(a, len);
	*w++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*w++ = ',';
		if (v[i] == NULL) {
			memcpy(w, "NULL", 4);
			w += 4;
			continue;
		}
		*w++ = '"';
		for (const char *c = v[i]; *c != '\0'; c++) {
			if (*c == '"' || *c == '\\')
				*w++ = '\\';
			*w++ = *c;
		}
		*w++ = '"';
	}
	*w++ = '}';
	*w = '\0';
	return s;
}
