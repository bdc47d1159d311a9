/* crypto: ids, hashes, MACs, randomness and encodings on OpenSSL */
#ifndef ATRIUM_CRYPTO_H
#define ATRIUM_CRYPTO_H

#include <sys/types.h>

#include "common.h"

#define SHA256_LEN 32

/* Cryptographically secure random bytes (RAND_bytes). 0, or -1 on failure. */
int crypto_random(void *buf, size_t n) MUSTCHECK;

/* A UUIDv7 (RFC 9562: 48-bit unix ms, version, random) in canonical lowercase text. */
void crypto_uuid7(char out[UUID_STRLEN]);
/* True for a canonical 8-4-4-4-12 hex UUID of any version (lowercase or uppercase). */
bool crypto_uuid_valid(const char *s);

void crypto_sha256(const void *p, size_t n, unsigned char out[SHA256_LEN]);
void crypto_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			unsigned char out[SHA256_LEN]);

/* Constant-time comparison of n bytes. */
bool crypto_equal(const void *a, const void *b, size_t n);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void crypto_hex(const void *p, size_t n, char *out);

/* Base64 (RFC 4648 §4, padded) or base64url (§5, unpadded) into out, NUL-terminated.
 * Returns the length written, or -1 if outcap is too small. */
ssize_t crypto_b64_encode(const void *p, size_t n, char *out, size_t outcap, bool url) MUSTCHECK;
/* Decodes either alphabet (padding optional; whitespace refused). Returns bytes written, or -1
 * for bad input or too small outcap. */
ssize_t crypto_b64_decode(const char *s, size_t n, void *out, size_t outcap, bool url) MUSTCHECK;

/* Overwrites n bytes so the compiler cannot elide it (OPENSSL_cleanse). */
void crypto_wipe(void *p, size_t n);

#endif
