/* ctl_migrate: applies sql/NNN_*.sql in order, each once and in its own transaction, as the schema owner */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "log.h"

#define MIGRATION_MAX_BYTES (1024 * 1024)
#define MIGRATE_LOCK "4242001"   /* advisory lock key: one migrator at a time */

static int is_migration(const struct dirent *d)
{
	const char *n = d->d_name;
	size_t len = strlen(n);

	return len > 8 && strspn(n, "0123456789") == 3 && n[3] == '_' && strcmp(n + len - 4, ".sql") == 0;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	s = malloc(MIGRATION_MAX_BYTES + 1);
	if (s != NULL) {
		n = fread(s, 1, MIGRATION_MAX_BYTES + 1, f);
		if (n > MIGRATION_MAX_BYTES || ferror(f)) {
			free(s);
			s = NULL;
		} else {
			s[n] = '\0';
		}
	}
	fclose(f);
	return s;
}

static bool applied(PGconn *c, const char *version)
{
	const char *p[] = { version };
	PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, p, NULL, NULL, 0);
	bool yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

	PQclear(r);
	return yes;
}

static bool run(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "atriumctl migrate: %s", PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* One migration file in one transaction, recorded in schema_migrations. */
static bool apply(PGconn *c, const char *dir, const char *name)
{
	char path[4096];
	const char *p[] = { name };
	char *sql;
	PGresult *r;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((sql = read_file(path)) == NULL) {
		fprintf(stderr, "atriumctl migrate: cannot read %s (missing or over 1 MiB)\n", path);
		return false;
	}
	ok = run(c, "BEGIN") && run(c, sql);
	free(sql);
	if (ok) {
		r = PQexecParams(c, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, NULL, p, NULL, NULL, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
	}
	if (!ok || !run(c, "COMMIT")) {
		run(c, "ROLLBACK");
		fprintf(stderr, "atriumctl migrate: %s failed; nothing of it was applied\n", name);
		return false;
	}
	return true;
}

int ctl_migrate(const struct config *cfg, int argc, char **argv)
{
	struct dirent **list = NULL;
	db_t *db;
	PGconn *c;
	int n, status = 0, count = 0;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: atriumctl migrate\n");
		return 2;
	}
	db = db_connect(cfg->db_owner, "atriumctl");
	c = db_conn(db);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "atriumctl migrate: cannot connect as the schema owner (ATRIUM_DB_OWNER)\n");
		db_close(db);
		return 1;
	}
	if ((n = scandir(cfg->sql_dir, &list, is_migration, alphasort)) < 0) {
		fprintf(stderr, "atriumctl migrate: cannot read %s\n", cfg->sql_dir);
		db_close(db);
		return 1;
	}
	if (!run(c, "SET client_min_messages = warning") ||
	    !run(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
		    "applied_at timestamptz NOT NULL DEFAULT now())") ||
	    !run(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")"))
		status = 1;
	printf("{\"applied\": [");
	for (int i = 0; i < n && status == 0; i++) {
		if (applied(c, list[i]->d_name))
			continue;
		if (!apply(c, cfg->sql_dir, list[i]->d_name)) {
			status = 1;
			break;
		}
		printf("%s\"%s\"", count++ ? ", " : "", list[i]->d_name);
	}
	printf("], \"ok\": %s}\n", status == 0 ? "true" : "false");
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	db_close(db);
	return status;
}
