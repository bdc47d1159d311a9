/* ctl_jobs: `atriumctl jobs` — list, show, retry and (for diagnostics) enqueue durable jobs, as JSON.
 *
 * It connects as ATRIUM_DB_WORKER: the worker role is the one that may read jobs across tenants
 * (its policy on the job tables), and it cannot touch other tables beyond one tenant, so an
 * operator inspecting dead letters holds no more power than a worker. The owner role would work
 * too but bypasses nothing it needs and owns the schema: keep it for migrations. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "ctl.h"
#include "db.h"
#include "events.h"
#include "queue.h"
#include "redis.h"

struct opts {
	const char *state, *queue, *tenant, *kind, *payload, *type;
	long limit;
	int max_attempts;
	bool rollback;
};

struct ctx {
	const struct config *cfg;
	db_t *db;
	rds_t *redis;
	arena_t *a;
	struct problem p;
};

static int usage(void)
{
	fprintf(stderr,
		"usage: atriumctl jobs list [--state S] [--queue Q] [--tenant T] [--limit N]\n"
		"       atriumctl jobs show ID\n"
		"       atriumctl jobs retry ID                 (dead -> pending, next attempt manual)\n"
		"       atriumctl jobs enqueue --tenant T --kind K [--queue Q] [--payload JSON]\n"
		"                              [--max-attempts N] [--rollback]\n"
		"       atriumctl jobs emit --tenant T --type TYPE [--payload JSON] [--rollback]\n"
		"states: pending running succeeded dead; queue defaults to ops; --rollback runs the\n"
		"insert in a transaction that is rolled back (the job must never run)\n");
	return 2;
}

/* A whole-string decimal in [min, max]; false otherwise. */
static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool state_valid(const char *s)
{
	static const char *const states[] = { "pending", "running", "succeeded", "dead" };

	for (size_t i = 0; i < NELEM(states); i++)
		if (strcmp(s, states[i]) == 0)
			return true;
	return false;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, 's' },   { "queue", required_argument, NULL, 'q' },
		{ "tenant", required_argument, NULL, 't' },  { "limit", required_argument, NULL, 'l' },
		{ "kind", required_argument, NULL, 'k' },    { "payload", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 'y' },    { "max-attempts", required_argument, NULL, 'm' },
		{ "rollback", no_argument, NULL, 'r' },      { NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	*o = (struct opts){ .limit = 50 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o->state = optarg; break;
		case 'q': o->queue = optarg; break;
		case 't': o->tenant = optarg; break;
		case 'k': o->kind = optarg; break;
		case 'p': o->payload = optarg; break;
		case 'y': o->type = optarg; break;
		case 'r': o->rollback = true; break;
		case 'l':
			if (!parse_long(optarg, 1, 1000, &o->limit))
				return -1;
			break;
		case 'm':
			if (!parse_long(optarg, 1, 100, &v))
				return -1;
			o->max_attempts = (int)v;
			break;
		default:
			return -1;
		}
	}
	if ((o->state != NULL && !state_valid(o->state)) ||
	    (o->queue != NULL && !queue_name_valid(o->queue)) ||
	    (o->tenant != NULL && !crypto_uuid_valid(o->tenant)))
		return -1;
	return 0;
}

static int fail(struct ctx *c, const char *what)
{
	fprintf(stderr, "atriumctl jobs: %s: %s\n", what,
		c->p.detail != NULL ? c->p.detail : err_info(c->p.code != ERR_OK ? c->p.code : ERR_INTERNAL)->title);
	return 1;
}

/* Prints the single text value of a one-row, one-column result. */
static int print_one(struct ctx *c, PGresult *r, const char *missing)
{
	if (PQntuples(r) != 1 || db_val(r, 0, 0) == NULL) {
		fprintf(stderr, "atriumctl jobs: %s\n", missing);
		return 1;
	}
	printf("%s\n", db_val(r, 0, 0));
	(void)c;
	return 0;
}

static int cmd_list(struct ctx *c, const struct opts *o)
{
	const char *lim = arena_printf(c->a, "%ld", o->limit);
	PGresult *r;
	err_t e = db_q(c->db, c->a, &r,
		       "SELECT coalesce(json_agg(j ORDER BY j.created_at DESC, j.id DESC), '[]')::text FROM ("
		       " SELECT tenant_id, id, queue, kind, state, attempts, max_attempts, trigger, run_at,"
		       "  lease_until, locked_by, last_error, created_at, updated_at, finished_at FROM jobs"
		       " WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR queue = $2)"
		       "  AND ($3::uuid IS NULL OR tenant_id = $3)"
		       " ORDER BY created_at DESC, id DESC LIMIT $4::int) j",
		       o->state, o->queue, o->tenant, lim);

	if (e != ERR_OK)
		return fail(c, "could not list jobs");
	return print_one(c, r, "no result");
}

static int cmd_show(struct ctx *c, const char *id)
{
	PGresult *r;
	err_t e;

	if (!crypto_uuid_valid(id))
		return usage();
	e = db_q(c->db, c->a, &r,
		 "SELECT json_build_object('job', to_jsonb(j), 'attempts',"
		 " (SELECT coalesce(json_agg(t ORDER BY t.n), '[]') FROM job_attempts t"
		 "  WHERE t.tenant_id = j.tenant_id AND t.job_id = j.id))::text"
		 " FROM jobs j WHERE j.id = $1",
		 id);
	if (e != ERR_OK)
		return fail(c, "could not read the job");
	return print_one(c, r, "no such job");
}

/* The tenant of a job, found across tenants (the worker role's policy allows it). */
static const char *job_tenant(struct ctx *c, const char *id)
{
	PGresult *r;

	if (db_q(c->db, c->a, &r, "SELECT tenant_id FROM jobs WHERE id = $1", id) != ERR_OK ||
	    PQntuples(r) != 1)
		return NULL;
	return db_val(r, 0, 0);
}

static int cmd_retry(struct ctx *c, const char *id)
{
	const char *tenant;

	if (!crypto_uuid_valid(id))
		return usage();
	if ((tenant = job_tenant(c, id)) == NULL) {
		fprintf(stderr, "atriumctl jobs: no such job\n");
		return 1;
	}
	tenant = arena_strdup(c->a, tenant);
	if (db_begin(c->db, tenant) != ERR_OK)
		return fail(c, "could not begin");
	if (queue_retry(c->db, c->a, tenant, id, &c->p) != ERR_OK) {
		db_rollback(c->db);
		return fail(c, "could not retry");
	}
	if (db_commit(c->db) != ERR_OK)
		return fail(c, "could not commit");
	printf("{\"id\":\"%s\",\"state\":\"pending\",\"trigger\":\"manual\"}\n", id);
	return 0;
}

/* Commits, or rolls back when asked to (--rollback), then prints the id. */
static int finish(struct ctx *c, const char *id, bool rollback)
{
	if (rollback) {
		db_rollback(c->db);
	} else if (db_commit(c->db) != ERR_OK) {
		return fail(c, "could not commit");
	}
	printf("{\"id\":\"%s\",\"committed\":%s}\n", id, rollback ? "false" : "true");
	return 0;
}

static int cmd_enqueue(struct ctx *c, const struct opts *o)
{
	struct job_spec s = {
		.tenant_id = o->tenant, .queue = o->queue != NULL ? o->queue : "ops", .kind = o->kind,
		.payload = o->payload, .max_attempts = o->max_attempts,
	};
	char id[UUID_STRLEN];

	if (o->tenant == NULL || o->kind == NULL)
		return usage();
	if (db_begin(c->db, o->tenant) != ERR_OK)
		return fail(c, "could not begin");
	if (queue_enqueue(c->db, c->a, &s, id, &c->p) != ERR_OK) {
		db_rollback(c->db);
		return fail(c, "could not enqueue");
	}
	return finish(c, id, o->rollback);
}

static void put_json(void *o)
{
	json_object_put(o);
}

static int cmd_emit(struct ctx *c, const struct opts *o)
{
	json_object *data = NULL;
	char id[UUID_STRLEN];

	if (o->tenant == NULL || o->type == NULL)
		return usage();
	if (o->payload != NULL) {
		if ((data = json_tokener_parse(o->payload)) == NULL) {
			fprintf(stderr, "atriumctl jobs: --payload is not JSON\n");
			return 1;
		}
		arena_cleanup_add(c->a, put_json, data);
	}
	if (db_begin(c->db, o->tenant) != ERR_OK)
		return fail(c, "could not begin");
	if (events_emit(c->db, c->a, o->tenant, o->type, data, &c->p, id) != ERR_OK) {
		db_rollback(c->db);
		return fail(c, "could not emit");
	}
	return finish(c, id, o->rollback);
}

static int dispatch(struct ctx *c, const char *sub, int argc, char **argv)
{
	struct opts o;

	if (parse_opts(argc, argv, &o) != 0)
		return usage();
	if (strcmp(sub, "list") == 0 && optind == argc)
		return cmd_list(c, &o);
	if (strcmp(sub, "show") == 0 && optind == argc - 1)
		return cmd_show(c, argv[optind]);
	if (strcmp(sub, "retry") == 0 && optind == argc - 1)
		return cmd_retry(c, argv[optind]);
	if (strcmp(sub, "enqueue") == 0 && optind == argc)
		return cmd_enqueue(c, &o);
	if (strcmp(sub, "emit") == 0 && optind == argc)
		return cmd_emit(c, &o);
	return usage();
}

int ctl_jobs(const struct config *cfg, int argc, char **argv)
{
	struct ctx c = { .cfg = cfg };
	int rc;

	if (argc < 2 || strcmp(argv[1], "help") == 0)
		return usage();
	c.db = db_connect(cfg->db_worker, "atriumctl");
	c.redis = redis_open(cfg->redis, 2000);
	c.a = arena_new(16384);
	queue_init(c.redis, cfg);
	if (db_ready(c.db) != ERR_OK) {
		fprintf(stderr, "atriumctl jobs: cannot reach PostgreSQL (ATRIUM_DB_WORKER)\n");
		rc = 1;
	} else if (db_q0(c.db, c.a, NULL, "SET TIME ZONE 'UTC'") != ERR_OK) {
		rc = fail(&c, "could not set the time zone");
	} else {
		rc = dispatch(&c, argv[1], argc - 1, argv + 1);
	}
	arena_free(c.a);
	redis_close(c.redis);
	db_close(c.db);
	return rc;
}
