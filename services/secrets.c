/* secrets: SecretsService — AES-256-GCM under per-tenant data keys wrapped by versioned master keys */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit.h"
#include "crypto.h"
#include "log.h"
#include "rows.h"
#include "secrets.h"

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define WRAPPED_LEN (NONCE_LEN + KEY_LEN + TAG_LEN)
#define MAX_KEYS 64
#define MAX_SECRET (64 * 1024)

struct master_key {
	int version;
	unsigned char key[KEY_LEN];
};

/* The process's master keys: loaded once as root, locked in memory, never in a core dump. */
static struct master_key *keys;
static size_t nkeys;

/* ---- master keys ------------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes exactly 2n hex digits into out. */
static bool unhex(const char *s, size_t slen, unsigned char *out, size_t n)
{
	if (slen != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* "<version>.key" -> version (1..100000), or 0 for any other name. */
static int key_file_version(const char *name)
{
	char *end;
	long v;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	errno = 0;
	v = strtol(name, &end, 10);
	if (errno != 0 || strcmp(end, ".key") != 0 || v < 1 || v > 100000)
		return 0;
	return (int)v;
}

static int read_key_file(int dirfd, const char *name, unsigned char out[KEY_LEN], char *err,
			 size_t errlen)
{
	char buf[2 * KEY_LEN + 2];
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open master key %s: %s", name, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n != 2 * KEY_LEN || !unhex(buf, (size_t)n, out, KEY_LEN)) {
		crypto_wipe(buf, sizeof(buf));
		snprintf(err, errlen, "master key %s must hold 64 hex characters", name);
		return -1;
	}
	crypto_wipe(buf, sizeof(buf));
	return 0;
}

static int alloc_keys(char *err, size_t errlen)
{
	size_t sz = MAX_KEYS * sizeof(struct master_key);

	if (keys != NULL) {
		crypto_wipe(keys, sz);
		nkeys = 0;
		return 0;
	}
	keys = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (keys == MAP_FAILED) {
		keys = NULL;
		snprintf(err, errlen, "cannot allocate key memory: %s", strerror(errno));
		return -1;
	}
	(void)!mlock(keys, sz);                 /* best effort: RLIMIT_MEMLOCK may forbid it */
	(void)!madvise(keys, sz, MADV_DONTDUMP);
	return 0;
}

int secrets_load_keys(const char *dir, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	int rc = 0, v;

	if (prctl(PR_SET_DUMPABLE, 0) != 0 || alloc_keys(err, errlen) != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot mark the process non-dumpable");
		return -1;
	}
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "cannot open the master key directory: %s", strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if ((v = key_file_version(de->d_name)) == 0)
			continue;
		if (nkeys == MAX_KEYS) {
			snprintf(err, errlen, "more than %d master keys", MAX_KEYS);
			rc = -1;
			break;
		}
		keys[nkeys].version = v;
		rc = read_key_file(dirfd(d), de->d_name, keys[nkeys].key, err, errlen);
		if (rc == 0)
			nkeys++;
	}
	closedir(d);
	if (rc == 0 && nkeys == 0) {
		snprintf(err, errlen, "no master key (<version>.key) in the key directory");
		rc = -1;
	}
	return rc;
}

int secrets_before_drop(const struct config *cfg, char *err, size_t errlen)
{
	return secrets_load_keys(cfg->keys_dir, err, errlen);
}

static const unsigned char *master_key(int version)
{
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].version == version)
			return keys[i].key;
	return NULL;
}

int secrets_newest_key(void)
{
	int v = 0;

	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].version > v)
			v = keys[i].version;
	return v;
}

/* A purpose-bound key for HMACs the process signs and checks itself (upload URLs, tokens):
 * HMAC-SHA256(newest master key, "atrium-derive:" purpose). Never stored; a master-key rotation
 * invalidates what was signed before it, which is fine for short-lived URLs. */
int secrets_derive_key(const char *purpose, unsigned char out[32])
{
	const unsigned char *k = master_key(secrets_newest_key());
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "atrium-derive:%s", purpose);

	if (k == NULL || n < 0 || (size_t)n >= sizeof(msg))
		return -1;
	crypto_hmac_sha256(k, KEY_LEN, msg, (size_t)n, out);
	return 0;
}

/* ---- AES-256-GCM ------------------------------------------------------------------------- */

/* out receives nonce || ciphertext || tag (n + 28 bytes). 0 or -1. */
static int gcm_seal(const unsigned char key[KEY_LEN], const char *aad, const void *plain,
		    size_t n, unsigned char *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len, ok;

	ok = c != NULL && n <= INT_MAX && crypto_random(out, NONCE_LEN) == 0 &&
	     EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_EncryptInit_ex(c, NULL, NULL, key, out) == 1 &&
	     EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
	     EVP_EncryptUpdate(c, out + NONCE_LEN, &len, plain, (int)n) == 1 &&
	     EVP_EncryptFinal_ex(c, out + NONCE_LEN + len, &len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + NONCE_LEN + n) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* Opens nonce || ciphertext || tag (m bytes) into out (m - 28 bytes). 0, or -1 when the tag
 * does not authenticate (out is wiped). */
static int gcm_open(const unsigned char key[KEY_LEN], const char *aad, const unsigned char *in,
		    size_t m, unsigned char *out)
{
	EVP_CIPHER_CTX *c;
	size_t n;
	int len, ok;

	if (m < NONCE_LEN + TAG_LEN || m > INT_MAX)
		return -1;
	n = m - NONCE_LEN - TAG_LEN;
	c = EVP_CIPHER_CTX_new();
	ok = c != NULL &&
	     EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_DecryptInit_ex(c, NULL, NULL, key, in) == 1 &&
	     EVP_DecryptUpdate(c, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
	     EVP_DecryptUpdate(c, out, &len, in + NONCE_LEN, (int)n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, (void *)(in + NONCE_LEN + n)) == 1 &&
	     EVP_DecryptFinal_ex(c, out + len, &len) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		crypto_wipe(out, n);
	return ok ? 0 : -1;
}

/* Canonical AAD; every part is length-prefixed, so no value can imitate a delimiter. */
static char *secret_aad(arena_t *a, const struct secret_owner *o, int dek_version)
{
	return arena_printf(a, "secrets/v1|%zu:%s|%zu:%s|%zu:%s|%zu:%s|kv=%d",
			    strlen(o->tenant_id), o->tenant_id, strlen(o->table), o->table,
			    strlen(o->row_id), o->row_id, strlen(o->field), o->field, dek_version);
}

static char *dek_aad(arena_t *a, const char *tenant_id, int version, int kek_version)
{
	return arena_printf(a, "dek/v1|tenant=%s|dv=%d|kek=%d", tenant_id, version, kek_version);
}

/* "\x" + hex of n bytes, the text form of a bytea parameter. */
static char *bytea_param(arena_t *a, const unsigned char *p, size_t n)
{
	char *s = arena_alloc(a, 2 * n + 3);

	s[0] = '\\';
	s[1] = 'x';
	crypto_hex(p, n, s + 2);
	return s;
}

/* ---- data keys --------------------------------------------------------------------------- */

static err_t wrap_dek(arena_t *a, const char *tenant_id, int version, const unsigned char dek[KEY_LEN],
		      int *kek_version, char **wrapped_param)
{
	unsigned char w[WRAPPED_LEN];
	const unsigned char *kek;

	*kek_version = secrets_newest_key();
	if ((kek = master_key(*kek_version)) == NULL)
		return ERR_INTERNAL;
	if (gcm_seal(kek, dek_aad(a, tenant_id, version, *kek_version), dek, KEY_LEN, w) != 0)
		return ERR_INTERNAL;
	*wrapped_param = bytea_param(a, w, sizeof(w));
	return ERR_OK;
}

/* Unwraps one data_keys row (hex of the wrapped bytes). */
static err_t unwrap_dek(arena_t *a, const char *tenant_id, int version, int kek_version,
			const char *wrapped_hex, unsigned char dek[KEY_LEN])
{
	unsigned char w[WRAPPED_LEN];
	const unsigned char *kek = master_key(kek_version);

	if (kek == NULL) {
		log_error("secrets.master_key_missing", LF_INT("kek_version", kek_version));
		return ERR_INTERNAL;
	}
	if (!unhex(wrapped_hex, strlen(wrapped_hex), w, sizeof(w)) ||
	    gcm_open(kek, dek_aad(a, tenant_id, version, kek_version), w, sizeof(w), dek) != 0) {
		log_error("secrets.data_key_unwrap_failed", LF_STR("tenant_id", tenant_id),
			  LF_INT("kek_version", kek_version));
		return ERR_INTERNAL;
	}
	return ERR_OK;
}

/* Creates the tenant's first data key unless a concurrent call just did. */
static err_t create_dek(db_t *db, arena_t *a, const char *tenant_id)
{
	unsigned char dek[KEY_LEN];
	char *wrapped, kv[16];
	int kek_version;
	PGresult *r;
	err_t e;

	if (crypto_random(dek, sizeof(dek)) != 0)
		return ERR_INTERNAL;
	e = wrap_dek(a, tenant_id, 1, dek, &kek_version, &wrapped);
	crypto_wipe(dek, sizeof(dek));
	if (e != ERR_OK)
		return e;
	snprintf(kv, sizeof(kv), "%d", kek_version);
	return db_q(db, a, &r,
		    "INSERT INTO data_keys (tenant_id, version, kek_version, wrapped) "
		    "VALUES ($1, 1, $2, $3) ON CONFLICT (tenant_id, version) DO NOTHING",
		    tenant_id, kv, wrapped);
}

/* The tenant's data key: version want (0 = the newest, created on first use when create). */
static err_t load_dek(db_t *db, arena_t *a, const char *tenant_id, int want, bool create,
		      unsigned char dek[KEY_LEN], int *version)
{
	char wv[16];
	PGresult *r;
	err_t e;

	snprintf(wv, sizeof(wv), "%d", want);
	for (int pass = 0; pass < 2; pass++) {
		e = db_q(db, a, &r,
			 "SELECT version, kek_version, encode(wrapped, 'hex') FROM data_keys "
			 "WHERE tenant_id = $1 AND ($2::int = 0 OR version = $2::int) "
			 "ORDER BY version DESC LIMIT 1", tenant_id, wv);
		if (e != ERR_OK)
			return e;
		if (PQntuples(r) == 1) {
			*version = (int)db_int(r, 0, 0);
			return unwrap_dek(a, tenant_id, *version, (int)db_int(r, 0, 1), db_val(r, 0, 2), dek);
		}
		if (!create || pass == 1 || (e = create_dek(db, a, tenant_id)) != ERR_OK)
			break;
	}
	return e != ERR_OK ? e : ERR_NOT_FOUND;
}

/* ---- sealing ----------------------------------------------------------------------------- */

/* Seals plain for owner under the tenant's newest data key: *sealed_param is the bytea text. */
static err_t seal_value(db_t *db, arena_t *a, const struct secret_owner *o, const void *plain,
			size_t n, char **sealed_param, char dv[16], struct problem *p)
{
	unsigned char dek[KEY_LEN], *out;
	int version;
	err_t e;

	if (nkeys == 0)
		return err_set(p, a, ERR_INTERNAL, "no master key is loaded");
	if (n > MAX_SECRET)
		return err_set(p, a, ERR_VALIDATION, "a secret may hold at most %d bytes", MAX_SECRET);
	if ((e = load_dek(db, a, o->tenant_id, 0, true, dek, &version)) != ERR_OK)
		return err_set(p, a, e, "the tenant's data key could not be loaded");
	out = arena_alloc(a, n + NONCE_LEN + TAG_LEN);
	if (gcm_seal(dek, secret_aad(a, o, version), plain, n, out) != 0)
		e = err_set(p, a, ERR_INTERNAL, "the secret could not be sealed");
	crypto_wipe(dek, sizeof(dek));
	if (e == ERR_OK) {
		*sealed_param = bytea_param(a, out, n + NONCE_LEN + TAG_LEN);
		snprintf(dv, 16, "%d", version);
	}
	return e;
}

static err_t audit_secret(db_t *db, arena_t *a, const struct secret_owner *o, const char *ref,
			  const char *actor, const char *action, struct problem *p)
{
	json_object *d = json_new_object(a);

	json_object_object_add(d, "owner_table", json_object_new_string(o->table));
	json_object_object_add(d, "owner_id", json_object_new_string(o->row_id));
	json_object_object_add(d, "field", json_object_new_string(o->field));
	return audit_record(db, a, o->tenant_id, actor, action, "secret", ref, json_str(d), p);
}

err_t secrets_seal(db_t *db, arena_t *a, const struct secret_owner *owner, const void *plain,
		   size_t n, const char *actor, char ref_out[UUID_STRLEN], struct problem *p)
{
	char *sealed, dv[16];
	PGresult *r;
	err_t e;

	if ((e = seal_value(db, a, owner, plain, n, &sealed, dv, p)) != ERR_OK)
		return e;
	crypto_uuid7(ref_out);
	e = db_q(db, a, &r,
		 "INSERT INTO secrets (tenant_id, id, owner_table, owner_id, field, dek_version, sealed, "
		 "created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
		 owner->tenant_id, ref_out, owner->table, owner->row_id, owner->field, dv, sealed, actor);
	if (e != ERR_OK)
		return err_set(p, a, e, "the secret could not be stored");
	return audit_secret(db, a, owner, ref_out, actor, AUDIT_CREATE, p);
}

err_t secrets_replace(db_t *db, arena_t *a, const struct secret_owner *owner, const char *ref,
		      const void *plain, size_t n, const char *actor, struct problem *p)
{
	char *sealed, dv[16];
	PGresult *r;
	err_t e;

	if ((e = seal_value(db, a, owner, plain, n, &sealed, dv, p)) != ERR_OK)
		return e;
	e = db_q(db, a, &r,
		 "UPDATE secrets SET sealed = $6, dek_version = $7, updated_by = $8, updated_at = now() "
		 "WHERE tenant_id = $1 AND id = $2 AND owner_table = $3 AND owner_id = $4 AND field = $5",
		 owner->tenant_id, ref, owner->table, owner->row_id, owner->field, sealed, dv, actor);
	if (e != ERR_OK)
		return err_set(p, a, e, "the secret could not be stored");
	if (strcmp(PQcmdTuples(r), "1") != 0)
		return err_set(p, a, ERR_NOT_FOUND, "the secret does not exist");
	return audit_secret(db, a, owner, ref, actor, AUDIT_UPDATE, p);
}

/* ---- opening ----------------------------------------------------------------------------- */

struct wipe {
	void *p;
	size_t n;
};

static void wipe_cleanup(void *data)
{
	struct wipe *w = data;

	crypto_wipe(w->p, w->n);
}

/* A failed decrypt is audited even though the caller will roll back: the caller's transaction
 * is rolled back here, the audit row committed on its own, and a fresh transaction opened. */
static err_t failed_decrypt(db_t *db, arena_t *a, const struct secret_owner *o, const char *ref,
			    const char *actor, struct problem *p)
{
	struct problem ignored = { 0 };

	log_error("secrets.decrypt_failed", LF_STR("tenant_id", o->tenant_id), LF_STR("secret", ref),
		  LF_STR("owner_table", o->table), LF_STR("field", o->field));
	db_rollback(db);
	if (db_begin(db, o->tenant_id) == ERR_OK &&
	    audit_secret(db, a, o, ref, actor, AUDIT_FAILED_DECRYPT, &ignored) == ERR_OK &&
	    db_commit(db) == ERR_OK)
		(void)!db_begin(db, o->tenant_id);
	else
		db_rollback(db);
	return err_set(p, a, ERR_INTERNAL,
		       "the secret '%s' could not be decrypted: it does not belong to this record or "
		       "its key is unavailable", o->field);
}

static err_t touch_secret(db_t *db, arena_t *a, const struct secret_owner *o, const char *ref,
			  const char *actor, const char *reason, struct problem *p)
{
	PGresult *r;
	err_t e;

	/* At most one write a minute per secret and user: a webhook endpoint's signing secret is
	 * opened for every delivery, and a row rewritten per delivery would serialise them. */
	e = db_q(db, a, &r,
		 "UPDATE secrets SET last_used_at = now(), last_used_by = $3 "
		 "WHERE tenant_id = $1 AND id = $2 AND (last_used_at IS NULL OR "
		 "last_used_at < now() - interval '1 minute' OR last_used_by IS DISTINCT FROM $3::uuid)",
		 o->tenant_id, ref, actor);
	if (e != ERR_OK)
		return err_set(p, a, e, "the secret's use could not be recorded");
	if (reason != NULL && strcmp(reason, AUDIT_REVEAL) == 0)
		return audit_secret(db, a, o, ref, actor, AUDIT_REVEAL, p);
	return ERR_OK;
}

err_t secrets_open(db_t *db, arena_t *a, const struct secret_owner *owner, const char *ref,
		   const char *actor, const char *reason, char **plain, size_t *n,
		   struct problem *p)
{
	unsigned char dek[KEY_LEN], *sealed;
	const char *hex;
	struct wipe *w;
	size_t m;
	int version;
	PGresult *r;
	err_t e;

	if (!crypto_uuid_valid(ref))
		return err_set(p, a, ERR_NOT_FOUND, "the secret does not exist");
	e = db_q(db, a, &r,
		 "SELECT dek_version, encode(sealed, 'hex') FROM secrets WHERE tenant_id = $1 AND id = $2 "
		 "AND owner_table = $3 AND owner_id = $4 AND field = $5",
		 owner->tenant_id, ref, owner->table, owner->row_id, owner->field);
	if (e != ERR_OK)
		return err_set(p, a, e, "the secret could not be read");
	if (PQntuples(r) != 1)
		return err_set(p, a, ERR_NOT_FOUND, "the secret does not exist");
	hex = db_val(r, 0, 1);
	m = strlen(hex) / 2;
	sealed = arena_alloc(a, m);
	if (m < NONCE_LEN + TAG_LEN || !unhex(hex, strlen(hex), sealed, m) ||
	    load_dek(db, a, owner->tenant_id, (int)db_int(r, 0, 0), false, dek, &version) != ERR_OK)
		return failed_decrypt(db, a, owner, ref, actor, p);
	w = arena_alloc(a, sizeof(*w));
	w->n = m - NONCE_LEN - TAG_LEN + 1;
	w->p = arena_alloc(a, w->n);
	arena_cleanup_add(a, wipe_cleanup, w);
	e = gcm_open(dek, secret_aad(a, owner, version), sealed, m, w->p) == 0 ? ERR_OK : ERR_INTERNAL;
	crypto_wipe(dek, sizeof(dek));
	if (e != ERR_OK)
		return failed_decrypt(db, a, owner, ref, actor, p);
	*plain = w->p;
	*n = w->n - 1;
	return touch_secret(db, a, owner, ref, actor, reason, p);
}

err_t secrets_destroy(db_t *db, arena_t *a, const struct secret_owner *owner, const char *ref,
		      const char *actor, struct problem *p)
{
	PGresult *r;
	err_t e;

	e = db_q(db, a, &r,
		 "DELETE FROM secrets WHERE tenant_id = $1 AND id = $2 AND owner_table = $3 "
		 "AND owner_id = $4 AND field = $5",
		 owner->tenant_id, ref, owner->table, owner->row_id, owner->field);
	if (e != ERR_OK)
		return err_set(p, a, e, "the secret could not be deleted");
	if (strcmp(PQcmdTuples(r), "1") != 0)
		return err_set(p, a, ERR_NOT_FOUND, "the secret does not exist");
	return audit_secret(db, a, owner, ref, actor, AUDIT_DELETE, p);
}

/* ---- rotation (atriumctl, as the schema owner, across tenants) ----------------------------- */

static err_t rewrap_one(db_t *db, arena_t *a, const PGresult *r, int i, struct problem *p)
{
	const char *tenant = db_val(r, i, 0);
	int version = (int)db_int(r, i, 1);
	unsigned char dek[KEY_LEN];
	char *wrapped, kv[16], dv[16], *detail;
	int kek_version;
	PGresult *u;
	err_t e;

	if ((e = unwrap_dek(a, tenant, version, (int)db_int(r, i, 2), db_val(r, i, 3), dek)) != ERR_OK)
		return err_set(p, a, e, "a data key of tenant %s could not be unwrapped", tenant);
	e = wrap_dek(a, tenant, version, dek, &kek_version, &wrapped);
	crypto_wipe(dek, sizeof(dek));
	if (e != ERR_OK)
		return err_set(p, a, e, "a data key could not be wrapped");
	snprintf(kv, sizeof(kv), "%d", kek_version);
	snprintf(dv, sizeof(dv), "%d", version);
	e = db_q(db, a, &u,
		 "UPDATE data_keys SET kek_version = $3, wrapped = $4, rotated_at = now() "
		 "WHERE tenant_id = $1 AND version = $2", tenant, dv, kv, wrapped);
	if (e != ERR_OK)
		return err_set(p, a, e, "a data key could not be stored");
	detail = arena_printf(a, "{\"data_key_version\": %d, \"from_kek\": %d, \"to_kek\": %d}",
			      version, (int)db_int(r, i, 2), kek_version);
	return audit_record(db, a, tenant, NULL, AUDIT_ROTATE, "data_key", NULL, detail, p);
}

err_t secrets_rewrap(db_t *db, arena_t *a, int *rewrapped, struct problem *p)
{
	char newest[16];
	PGresult *r;
	err_t e;

	*rewrapped = 0;
	if (nkeys == 0)
		return err_set(p, a, ERR_INTERNAL, "no master key is loaded");
	snprintf(newest, sizeof(newest), "%d", secrets_newest_key());
	e = db_q(db, a, &r,
		 "SELECT tenant_id, version, kek_version, encode(wrapped, 'hex') FROM data_keys "
		 "WHERE kek_version <> $1::int ORDER BY tenant_id, version FOR UPDATE", newest);
	if (e != ERR_OK)
		return err_set(p, a, e, "the data keys could not be read");
	for (int i = 0; i < PQntuples(r); i++) {
		if ((e = rewrap_one(db, a, r, i, p)) != ERR_OK)
			return e;
		(*rewrapped)++;
	}
	return ERR_OK;
}

err_t secrets_key_status(db_t *db, arena_t *a, json_object **out, struct problem *p)
{
	json_object *versions = json_object_new_array();
	PGresult *r;
	err_t e;

	*out = json_new_object(a);
	json_object_object_add(*out, "loaded", versions);
	for (size_t i = 0; i < nkeys; i++)
		json_object_array_add(versions, json_object_new_int(keys[i].version));
	json_object_object_add(*out, "newest", json_object_new_int(secrets_newest_key()));
	e = db_q0(db, a, &r,
		  "SELECT coalesce(json_object_agg(kek_version, n), '{}') FROM "
		  "(SELECT kek_version, count(*) AS n FROM data_keys GROUP BY kek_version) s");
	if (e != ERR_OK)
		return err_set(p, a, e, "the data keys could not be counted");
	json_object_object_add(*out, "data_keys_by_version", json_object_get(rows_json(a, r, 0, 0)));
	return ERR_OK;
}
