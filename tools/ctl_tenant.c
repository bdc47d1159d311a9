/* ctl_tenant: `atriumctl tenant create --name NAME` prints the tenant and its first owner key as JSON */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "ctl.h"
#include "db.h"
#include "json.h"
#include "tenants.h"

static int create(const struct config *cfg, const char *name)
{
	arena_t *a = arena_new(16 * 1024);
	db_t *db = db_connect(cfg->db_owner, "atriumctl");
	struct problem p = { 0 };
	json_object *out = NULL;
	err_t e = db_begin(db, NULL);
	int status = 1;

	if (e == ERR_OK && (e = tenants_create(db, a, name, &out, &p)) == ERR_OK)
		e = db_commit(db);
	if (e == ERR_OK) {
		printf("%s\n", json_str(out));
		status = 0;
	} else {
		db_rollback(db);
		fprintf(stderr, "atriumctl tenant create: %s\n",
			p.detail ? p.detail : err_info(e)->title);
	}
	arena_free(a);
	db_close(db);
	return status;
}

int ctl_tenant(const struct config *cfg, int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "create") == 0 && strcmp(argv[2], "--name") == 0) {
		size_t n = strlen(argv[3]);

		if (n == 0 || n > 200) {
			fprintf(stderr, "atriumctl tenant create: --name must be 1 to 200 bytes\n");
			return 2;
		}
		return create(cfg, argv[3]);
	}
	fprintf(stderr, "usage: atriumctl tenant create --name NAME\n");
	return 2;
}
