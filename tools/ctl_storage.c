/* ctl_storage: `atriumctl storage put|stat|presign|delete TENANT ASSET VARIANT ...` — the configured
 * StorageAdapter from the command line, for operators checking a deployment's storage settings
 * and for the tests of the s3 stack (scripts/stack.sh with ATRIUM_STORAGE=s3). Keys are derived
 * with storage_key() as everywhere else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ctl.h"
#include "storage.h"

static int put(storage_t *s, const char *key, const char *file, const char *type)
{
	struct storage_stat st;

	if (storage_put_file(s, key, file, type, 0) != ERR_OK || storage_stat(s, key, &st) != ERR_OK) {
		fprintf(stderr, "atriumctl storage put: storing %s failed\n", key);
		return 1;
	}
	printf("{\"backend\":\"%s\",\"key\":\"%s\",\"size\":%lld}\n", storage_backend_name(s), key,
	       (long long)st.size);
	return 0;
}

static int stat_key(storage_t *s, const char *key)
{
	struct storage_stat st;
	err_t e = storage_stat(s, key, &st);

	if (e == ERR_NOT_FOUND) {
		fprintf(stderr, "atriumctl storage stat: no object %s\n", key);
		return 1;
	}
	if (e != ERR_OK) {
		fprintf(stderr, "atriumctl storage stat: %s failed\n", key);
		return 1;
	}
	printf("{\"key\":\"%s\",\"size\":%lld,\"mtime\":%lld}\n", key, (long long)st.size,
	       (long long)st.mtime);
	return 0;
}

static int presign(storage_t *s, const char *key, const char *secs)
{
	arena_t *a = arena_new(8 * 1024);
	const char *url;
	char *end;
	long n = strtol(secs, &end, 10);
	int rc = 1;

	if (*end != '\0' || n < 1 || n > 604800)
		fprintf(stderr, "atriumctl storage presign: SECONDS must be 1..604800\n");
	else if (storage_presign(s, a, "GET", key, n, NULL, NULL, &url) != ERR_OK)
		fprintf(stderr, "atriumctl storage presign: the %s backend cannot presign\n",
			storage_backend_name(s));
	else {
		printf("{\"url\":\"%s\"}\n", url);
		rc = 0;
	}
	arena_free(a);
	return rc;
}

static int run(storage_t *s, const char *cmd, const char *key, int argc, char **argv)
{
	if (strcmp(cmd, "put") == 0 && (argc == 6 || argc == 7))
		return put(s, key, argv[5], argc == 7 ? argv[6] : NULL);
	if (strcmp(cmd, "stat") == 0 && argc == 5)
		return stat_key(s, key);
	if (strcmp(cmd, "presign") == 0 && argc == 6)
		return presign(s, key, argv[5]);
	if (strcmp(cmd, "delete") == 0 && argc == 5) {
		if (storage_delete(s, key) == ERR_OK)
			return 0;
		fprintf(stderr, "atriumctl storage delete: %s failed\n", key);
		return 1;
	}
	return -1;
}

int ctl_storage(const struct config *cfg, int argc, char **argv)
{
	char key[STORAGE_KEY_MAX], err[256];
	storage_t *s;
	int rc;

	if (argc < 5 || storage_key(key, argv[2], argv[3], argv[4]) < 0)
		goto usage;
	if ((s = storage_open(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "atriumctl storage: %s\n", err);
		return 1;
	}
	rc = run(s, argv[1], key, argc, argv);
	storage_close(s);
	if (rc >= 0)
		return rc;
usage:
	fprintf(stderr, "usage: atriumctl storage put TENANT ASSET VARIANT FILE [CONTENT_TYPE]\n"
			"       atriumctl storage stat|delete TENANT ASSET VARIANT\n"
			"       atriumctl storage presign TENANT ASSET VARIANT SECONDS   (s3: a GET URL)\n"
			"TENANT and ASSET are UUIDs; VARIANT is [a-z0-9_-]{1,32}\n");
	return 2;
}
