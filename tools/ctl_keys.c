/* ctl_keys: `atriumctl keys rotate|status|retire N`: master key versions and data key rewrapping (DESIGN §5) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "crypto.h"
#include "ctl.h"
#include "db.h"
#include "json.h"
#include "secrets.h"

static int load(const struct config *cfg)
{
	char err[256] = "";

	if (secrets_load_keys(cfg->keys_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "atriumctl keys: %s\n", err);
		return -1;
	}
	return 0;
}

/* Writes <version>.key (64 hex characters, 0400, never overwriting) into the key directory. */
static int write_key(const struct config *cfg, int version)
{
	unsigned char k[32];
	char hex[65], path[4096];
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/%d.key", cfg->keys_dir, version);
	if (crypto_random(k, sizeof(k)) != 0)
		goto out_wipe;
	crypto_hex(k, sizeof(k), hex);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
	if (fd < 0) {
		fprintf(stderr, "atriumctl keys rotate: cannot create %s: %s\n", path, strerror(errno));
		goto out_wipe;
	}
	if (write(fd, hex, 64) == 64 && fsync(fd) == 0)
		rc = 0;
	if (close(fd) != 0 || rc != 0) {
		fprintf(stderr, "atriumctl keys rotate: cannot write %s\n", path);
		unlink(path);
		rc = -1;
	}
out_wipe:
	crypto_wipe(k, sizeof(k));
	crypto_wipe(hex, sizeof(hex));
	return rc;
}

/* Runs fn in one owner transaction; prints its JSON. */
static int in_tx(const struct config *cfg, err_t (*fn)(db_t *, arena_t *, json_object **, struct problem *))
{
	arena_t *a = arena_new(16 * 1024);
	db_t *db = db_connect(cfg->db_owner, "atriumctl");
	struct problem p = { 0 };
	json_object *out = NULL;
	err_t e = db_begin(db, NULL);
	int status = 1;

	if (e == ERR_OK && (e = fn(db, a, &out, &p)) == ERR_OK)
		e = db_commit(db);
	if (e == ERR_OK) {
		printf("%s\n", json_str(out));
		status = 0;
	} else {
		db_rollback(db);
		fprintf(stderr, "atriumctl keys: %s\n", p.detail ? p.detail : err_info(e)->title);
	}
	arena_free(a);
	db_close(db);
	return status;
}

static err_t rewrap(db_t *db, arena_t *a, json_object **out, struct problem *p)
{
	int n;
	err_t e = secrets_rewrap(db, a, &n, p);

	if (e != ERR_OK)
		return e;
	*out = json_new_object(a);
	json_object_object_add(*out, "newest", json_object_new_int(secrets_newest_key()));
	json_object_object_add(*out, "rewrapped", json_object_new_int(n));
	return ERR_OK;
}

/* Adds version newest + 1 and rewraps every data key under it. Running processes keep the keys
 * they loaded at start: restart them afterwards (systemctl restart atrium.target). */
static int rotate(const struct config *cfg)
{
	if (load(cfg) != 0 || write_key(cfg, secrets_newest_key() + 1) != 0 || load(cfg) != 0)
		return 1;
	return in_tx(cfg, rewrap);
}

static int retire_version;

static err_t check_retire(db_t *db, arena_t *a, json_object **out, struct problem *p)
{
	char v[16];
	err_t e;

	snprintf(v, sizeof(v), "%d", retire_version);
	if ((e = secrets_key_status(db, a, out, p)) != ERR_OK)
		return e;
	if (retire_version == secrets_newest_key())
		return err_set(p, a, ERR_CONFLICT, "version %d is the newest master key", retire_version);
	if (json_object_object_get(json_object_object_get(*out, "data_keys_by_version"), v) != NULL)
		return err_set(p, a, ERR_CONFLICT, "data keys are still wrapped under version %d: run "
			       "`atriumctl keys rotate` first", retire_version);
	return ERR_OK;
}

/* Removes <N>.key once no data key is wrapped under it and it is not the newest. */
static int retire(const struct config *cfg, const char *arg)
{
	char path[4096], *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 100000) {
		fprintf(stderr, "atriumctl keys retire: VERSION must be a positive integer\n");
		return 2;
	}
	retire_version = (int)v;
	if (load(cfg) != 0 || in_tx(cfg, check_retire) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/%ld.key", cfg->keys_dir, v);
	if (unlink(path) != 0) {
		fprintf(stderr, "atriumctl keys retire: cannot remove %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

int ctl_keys(const struct config *cfg, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "status") == 0)
		return load(cfg) != 0 ? 1 : in_tx(cfg, secrets_key_status);
	if (argc == 2 && strcmp(argv[1], "rotate") == 0)
		return rotate(cfg);
	if (argc == 3 && strcmp(argv[1], "retire") == 0)
		return retire(cfg, argv[2]);
	fprintf(stderr, "usage: atriumctl keys status | rotate | retire VERSION\n");
	return 2;
}
