/* ctl_webhooks: `atriumctl webhooks` — list dead webhook deliveries across tenants and retry one,
 * as JSON. Connects as ATRIUM_DB_WORKER, like `atriumctl jobs` (jobs across tenants, deliveries
 * within the one tenant set for the retry). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "ctl.h"
#include "db.h"
#include "queue.h"
#include "redis.h"
#include "webhooks.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: atriumctl webhooks dead [LIMIT]      dead deliveries, oldest first (default 100)\n"
		"       atriumctl webhooks retry ID          dead -> pending, next attempt manual\n");
	return 2;
}

static int cmd_dead(db_t *db, arena_t *a, const char *limit)
{
	json_object *out;
	char *end = NULL;
	long n = limit != NULL ? strtol(limit, &end, 10) : 100;

	if (limit != NULL && (end == limit || *end != '\0' || n < 1 || n > 10000))
		return usage();
	if (webhooks_dead_list(db, a, (int)n, &out) != ERR_OK) {
		fprintf(stderr, "atriumctl webhooks: could not list dead deliveries\n");
		return 1;
	}
	printf("%s\n", json_str(out));
	return 0;
}

static int cmd_retry(db_t *db, arena_t *a, const char *id)
{
	struct problem p = { 0 };
	const char *tenant;
	PGresult *r;

	if (!crypto_uuid_valid(id))
		return usage();
	if (db_q(db, a, &r, "SELECT tenant_id FROM jobs WHERE id = $1 AND queue = '" WEBHOOKS_QUEUE "'",
		 id) != ERR_OK || PQntuples(r) != 1) {
		fprintf(stderr, "atriumctl webhooks: no such delivery\n");
		return 1;
	}
	tenant = arena_strdup(a, db_val(r, 0, 0));
	if (db_begin(db, tenant) != ERR_OK || webhooks_retry(db, a, tenant, id, &p) != ERR_OK ||
	    db_commit(db) != ERR_OK) {
		db_rollback(db);
		fprintf(stderr, "atriumctl webhooks: could not retry: %s\n", p.detail != NULL ? p.detail : "error");
		return 1;
	}
	printf("{\"id\":\"%s\",\"state\":\"pending\",\"trigger\":\"manual\"}\n", id);
	return 0;
}

int ctl_webhooks(const struct config *cfg, int argc, char **argv)
{
	db_t *db;
	rds_t *redis;
	arena_t *a;
	int rc = 2;

	if (argc < 2 || argc > 3)
		return usage();
	db = db_connect(cfg->db_worker, "atriumctl");
	redis = redis_open(cfg->redis, 2000);
	a = arena_new(16384);
	queue_init(redis, cfg);
	if (db_ready(db) != ERR_OK) {
		fprintf(stderr, "atriumctl webhooks: cannot reach PostgreSQL (ATRIUM_DB_WORKER)\n");
		rc = 1;
	} else if (strcmp(argv[1], "dead") == 0) {
		rc = cmd_dead(db, a, argc == 3 ? argv[2] : NULL);
	} else if (strcmp(argv[1], "retry") == 0 && argc == 3) {
		rc = cmd_retry(db, a, argv[2]);
	} else {
		rc = usage();
	}
	arena_free(a);
	redis_close(redis);
	db_close(db);
	return rc;
}
