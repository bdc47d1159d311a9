/* apikeys: tenant-scoped API keys atr_<id>_<secret>, stored as SHA-256 hashes, shown once (DESIGN §8) */
#include <string.h>

#include "apikeys.h"
#include "crypto.h"
#include "log.h"
#include "rows.h"

#define SECRET_BYTES 32
#define SECRET_CHARS 43          /* base64url of 32 bytes, unpadded */
#define ID_HEX 32
#define KEY_LEN (4 + ID_HEX + 1 + SECRET_CHARS)

/* The JSON of one key, as every read returns it (never the hash). */
#define KEY_JSON \
	"json_build_object('id', id, 'name', name, 'role', role, 'prefix', prefix, " \
	"'created_at', created_at, 'created_by', created_by, 'last_used_at', last_used_at, " \
	"'revoked_at', revoked_at, 'revoked', revoked_at IS NOT NULL)"

/* "0192f0c4-..." <-> 32 hex digits. */
static void uuid_to_hex(const char *uuid, char out[ID_HEX + 1])
{
	size_t j = 0;

	for (size_t i = 0; uuid[i] != '\0' && j < ID_HEX; i++)
		if (uuid[i] != '-')
			out[j++] = uuid[i];
	out[j] = '\0';
}

static bool hex_to_uuid(const char *hex, char out[UUID_STRLEN])
{
	size_t j = 0;

	if (strspn(hex, "0123456789abcdef") < ID_HEX)
		return false;
	for (size_t i = 0; i < ID_HEX; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[j++] = '-';
		out[j++] = hex[i];
	}
	out[j] = '\0';
	return true;
}

static void hash_secret(const char *secret, size_t n, char out[2 * SHA256_LEN + 1])
{
	unsigned char md[SHA256_LEN];

	crypto_sha256(secret, n, md);
	crypto_hex(md, sizeof(md), out);
}

/* Splits "atr_<32 hex>_<43 base64url>" into the key id (as a UUID) and the secret. */
static bool parse_key(const char *token, char id[UUID_STRLEN], const char **secret)
{
	if (strlen(token) != KEY_LEN || strncmp(token, "atr_", 4) != 0 || token[4 + ID_HEX] != '_')
		return false;
	*secret = token + 4 + ID_HEX + 1;
	if (strspn(*secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != SECRET_CHARS)
		return false;
	return hex_to_uuid(token + 4, id);
}

static err_t bad_key(struct problem *p, arena_t *a)
{
	return err_set(p, a, ERR_UNAUTHENTICATED, "the API key is invalid or has been revoked");
}

err_t apikeys_authenticate(db_t *db, arena_t *a, const char *token, struct principal *who,
			   struct problem *p)
{
	char id[UUID_STRLEN], hash[2 * SHA256_LEN + 1];
	const char *secret, *stored;
	PGresult *r;
	err_t e;

	if (!parse_key(token, id, &secret))
		return bad_key(p, a);
	e = db_q(db, a, &r, "SELECT tenant_id, role, secret_hash, revoked FROM atrium_api_key_lookup($1)", id);
	if (e != ERR_OK)
		return e;
	hash_secret(secret, SECRET_CHARS, hash);
	stored = db_val(r, 0, 2);
	if (stored == NULL || strlen(stored) != strlen(hash) || !crypto_equal(stored, hash, strlen(hash)) ||
	    db_bool(r, 0, 3))
		return bad_key(p, a);
	memcpy(who->tenant_id, db_val(r, 0, 0), UUID_STRLEN);
	memcpy(who->key_id, id, UUID_STRLEN);
	who->role = access_role_parse(db_val(r, 0, 1));
	if ((e = db_set_tenant(db, who->tenant_id)) != ERR_OK)
		return e;
	/* last_used_at, at most once a minute per key so reads stay cheap */
	return db_q(db, a, NULL,
		    "UPDATE api_keys SET last_used_at = now() WHERE tenant_id = $1 AND id = $2 "
		    "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
		    who->tenant_id, id);
}

err_t apikeys_create(db_t *db, arena_t *a, const char *tenant_id, const char *name, enum role role,
		     const char *created_by, json_object **out, struct problem *p)
{
	unsigned char raw[SECRET_BYTES];
	char id[UUID_STRLEN], hex[ID_HEX + 1], secret[SECRET_CHARS + 8], hash[2 * SHA256_LEN + 1];
	char *key, *prefix;
	PGresult *r;
	err_t e;

	crypto_uuid7(id);
	uuid_to_hex(id, hex);
	if (crypto_random(raw, sizeof(raw)) != 0 ||
	    crypto_b64_encode(raw, sizeof(raw), secret, sizeof(secret), true) != SECRET_CHARS)
		return err_set(p, a, ERR_INTERNAL, "cannot generate a key");
	crypto_wipe(raw, sizeof(raw));
	hash_secret(secret, SECRET_CHARS, hash);
	key = arena_printf(a, "atr_%s_%s", hex, secret);
	crypto_wipe(secret, sizeof(secret));
	prefix = arena_strndup(a, key, 4 + ID_HEX + 1 + 4);
	e = db_q(db, a, &r,
		 "INSERT INTO api_keys (tenant_id, id, name, role, prefix, secret_hash, created_by) "
		 "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " KEY_JSON,
		 tenant_id, id, name, access_role_name(role), prefix, hash, created_by);
	if (e != ERR_OK)
		return e;
	*out = rows_json(a, r, 0, 0);
	json_object_object_add(*out, "api_key", json_object_new_string(key));
	return ERR_OK;
}

err_t apikeys_list(db_t *db, arena_t *a, const char *tenant_id, int limit, const char *cursor,
		   json_object **out, struct problem *p)
{
	(void)p;
	return rows_keyset(db, a,
			   "SELECT " KEY_JSON ", id FROM api_keys WHERE tenant_id = $1 "
			   "AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
			   tenant_id, limit, cursor, out);
}

err_t apikeys_get(db_t *db, arena_t *a, const char *tenant_id, const char *id, json_object **out,
		  struct problem *p)
{
	PGresult *r;
	err_t e = db_q(db, a, &r, "SELECT " KEY_JSON " FROM api_keys WHERE tenant_id = $1 AND id = $2",
		       tenant_id, id);

	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no API key with this id");
	*out = rows_json(a, r, 0, 0);
	return ERR_OK;
}

err_t apikeys_revoke(db_t *db, arena_t *a, const struct principal *who, const char *id,
		     struct problem *p)
{
	PGresult *r;
	err_t e;

	if (strcmp(who->key_id, id) == 0)
		return err_set(p, a, ERR_CONFLICT, "a key cannot revoke itself; use another owner or admin key");
	e = db_q(db, a, &r,
		 "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()), "
		 "revoked_by = coalesce(revoked_by, $3) WHERE tenant_id = $1 AND id = $2 RETURNING role",
		 who->tenant_id, id, who->key_id);
	if (e != ERR_OK)
		return e;
	if (PQntuples(r) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no API key with this id");
	if (!access_may_grant(who->role, access_role_parse(db_val(r, 0, 0))))
		return err_set(p, a, ERR_FORBIDDEN, "the %s role may not revoke a key with a higher role",
			       access_role_name(who->role));
	log_info("apikeys.revoked", LF_STR("key_id", id));
	return ERR_OK;
}
