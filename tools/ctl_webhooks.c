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
		"       atriumctl webhooks retry ID          dead -> pending, next attempt manual\n"
		"       atriumctl webhooks probe URL         one guarded POST under the ATRIUM_HTTP_* policy\n");
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

/* The SSRF guard end to end (tests/reliability/test_webhooks_ssrf.py runs it inside a network
 * namespace): the save-time URL check, then a real POST through http_client whatever the check
 * said, so that the connect-time guard is exercised on its own. Needs no database. */
static int cmd_probe(const struct config *cfg, const char *url)
{
	struct http_request rq = { "POST", url, NULL, "{}", 2 };
	struct http_policy pol;
	struct http_response rs;
	const char *why = NULL;
	arena_t *a = arena_new(16384);
	json_object *out = json_new_object(a);
	char err[200];

	if (http_policy_from_config(cfg, &pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "atriumctl webhooks: %s\n", err);
		arena_free(a);
		return 1;
	}
	(void)!http_url_check(&pol, a, url, &why);
	(void)!http_perform(&pol, a, &rq, &rs);
	json_object_object_add(out, "check", why != NULL ? json_object_new_string(why) : NULL);
	json_object_object_add(out, "status", json_object_new_int(rs.status));
	json_object_object_add(out, "refused", json_object_new_boolean(rs.refused));
	json_object_object_add(out, "error", rs.error != NULL ? json_object_new_string(rs.error) : NULL);
	printf("%s\n", json_str(out));
	arena_free(a);
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
	if (strcmp(argv[1], "probe") == 0)
		return argc == 3 ? cmd_probe(cfg, argv[2]) : usage();
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
