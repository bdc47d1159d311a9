/* atriumctl: the sysadmin command line; one table maps each command group to its function */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "log.h"

struct command {
	const char *name;
	int (*fn)(const struct config *cfg, int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
	{ "migrate", ctl_migrate, "migrate                      apply pending sql/ migrations (as ATRIUM_DB_OWNER)" },
	{ "tenant",  ctl_tenant,  "tenant create --name NAME     create a tenant and print its owner API key as JSON" },
	{ "jobs",    ctl_jobs,    "jobs list|show|retry ...     inspect and retry durable jobs (see `atriumctl jobs help`)" },
	{ "keys",    ctl_keys,    "keys status|rotate|retire N   master key versions; rotate adds one and rewraps data keys" },
	{ "webhooks", ctl_webhooks, "webhooks dead|retry ...      list dead webhook deliveries, retry one" },
	{ "storage", ctl_storage, "storage put|stat|presign|delete TENANT ASSET VARIANT ...  the configured StorageAdapter" },
};

static int usage(FILE *f)
{
	fprintf(f, "usage: atriumctl COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < NELEM(commands); i++)
		fprintf(f, "  %s\n", commands[i].usage);
	return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[256];

	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0)
		return usage(stdout);
	if (config_load(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "atriumctl: %s\n", err);
		return 1;
	}
	log_init("atriumctl", (enum log_level)cfg.log_level);
	for (size_t i = 0; i < NELEM(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(&cfg, argc - 1, argv + 1);
	fprintf(stderr, "atriumctl: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
