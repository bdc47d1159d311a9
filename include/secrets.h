/* secrets: SecretsService — tenant secrets sealed with AES-256-GCM under per-tenant data keys
 * wrapped by versioned master keys (DESIGN §5). Plaintext exists only for the call that needs it. */
#ifndef ATRIUM_SECRETS_H
#define ATRIUM_SECRETS_H

#include "arena.h"
#include "common.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "json.h"

/* Reads every master key version from dir (files "<version>.key", 64 hex characters) into locked,
 * non-dumpable process memory. Call as root before dropping privileges (atrium-fcgi's master,
 * worker_main's before_drop, atriumctl). 0, or -1 with a message in err. */
int secrets_load_keys(const char *dir, char *err, size_t errlen) MUSTCHECK;

/* worker_def.before_drop for workers that decrypt: secrets_load_keys(cfg->keys_dir, ...). */
int secrets_before_drop(const struct config *cfg, char *err, size_t errlen) MUSTCHECK;

/* Where a secret belongs: the AAD binds the ciphertext to all four, so a ciphertext copied to
 * another tenant, table, row or field fails to open. */
struct secret_owner {
	const char *tenant_id;
	const char *table;     /* "integrations", "webhook_endpoints", ... */
	const char *row_id;
	const char *field;     /* "api_token", "signing_secret", "headers.X-Api-Key", ... */
};

/* Seals plain (n bytes) for owner in the caller's transaction and stores it; ref_out receives the
 * secret's id (the value of {"secret_ref": ...}). actor is the API key id (NULL for the system).
 * Audited as "create". */
err_t secrets_seal(db_t *db, arena_t *a, const struct secret_owner *owner, const void *plain,
		   size_t n, const char *actor, char ref_out[UUID_STRLEN], struct problem *p) MUSTCHECK;

/* Replaces the value behind ref (same owner), audited as "update". */
err_t secrets_replace(db_t *db, arena_t *a, const struct secret_owner *owner, const char *ref,
		      const void *plain, size_t n, const char *actor, struct problem *p) MUSTCHECK;

/* Opens ref for owner. *plain (NUL-terminated, *n bytes) lives in the arena and is wiped when the
 * arena is reset. Updates last_used_at/by. reason is audited when it is "reveal"; a failed
 * decrypt is logged without plaintext, audited as "failed_decrypt" and answers ERR_INTERNAL with
 * a clear detail. ERR_NOT_FOUND when ref does not exist for this owner. So that the
 * failed_decrypt row survives the caller's inevitable rollback, a failed decrypt rolls back the
 * caller's transaction, commits the audit row alone and returns with a fresh transaction open
 * (same tenant), which the caller then rolls back as usual. */
err_t secrets_open(db_t *db, arena_t *a, const struct secret_owner *owner, const char *ref,
		   const char *actor, const char *reason, char **plain, size_t *n,
		   struct problem *p) MUSTCHECK;

/* Deletes the secret (audited as "delete"). */
err_t secrets_destroy(db_t *db, arena_t *a, const struct secret_owner *owner, const char *ref,
		      const char *actor, struct problem *p) MUSTCHECK;

/* A 32-byte key for one purpose ("upload-url", ...), derived from the newest master key. 0, or -1
 * when no master key is loaded. */
int secrets_derive_key(const char *purpose, unsigned char out[32]) MUSTCHECK;

/* The newest master key version loaded (0 when none). */
int secrets_newest_key(void);

/* A 32-byte key for purpose ("upload-url-v1", ...) derived from the newest master key
 * (HMAC-SHA256(master, purpose)), so signing keys need no key files of their own and never equal
 * a KEK. Rotating the master key changes it: what it signed (short-lived tokens) stops verifying.
 * 0, or -1 when no master key is loaded. */
int secrets_derive_key(const char *purpose, unsigned char out[32]) MUSTCHECK;

/* atriumctl keys rotate, as the schema owner across tenants: rewraps every data key not yet under
 * the newest loaded master key (secret rows are untouched); *rewrapped counts them. Audited as
 * "rotate" per data key. */
err_t secrets_rewrap(db_t *db, arena_t *a, int *rewrapped, struct problem *p) MUSTCHECK;

/* atriumctl keys status: {"loaded": [versions], "newest": n, "data_keys_by_version": {"1": n}}. */
err_t secrets_key_status(db_t *db, arena_t *a, json_object **out, struct problem *p) MUSTCHECK;

#endif
