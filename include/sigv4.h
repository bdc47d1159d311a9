/* sigv4: AWS Signature Version 4 (Authorization header and presigned query) on OpenSSL, no SDK */
#ifndef ATRIUM_SIGV4_H
#define ATRIUM_SIGV4_H

#include <time.h>

#include "buf.h"
#include "common.h"

#define SIGV4_MAX_HEADERS 32
#define SIGV4_DATE_LEN 17           /* "20150830T123600Z" + NUL */
#define SIGV4_UNSIGNED "UNSIGNED-PAYLOAD"
#define SIGV4_MAX_EXPIRES 604800    /* presigned URLs live at most 7 days */

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;
	const char *path;            /* unencoded, starts with '/' (encoded here once) */
	const char *query;           /* raw query without '?', may hold %XX escapes; NULL = none */
	const struct sigv4_header *headers;
	size_t nheaders;             /* at most SIGV4_MAX_HEADERS; all of them are signed */
	const char *payload_hash;    /* lowercase hex SHA-256 of the body, or SIGV4_UNSIGNED */
	bool normalize_path;         /* remove dot segments and empty segments (not for S3) */
};

struct sigv4_credentials {
	const char *access_key;
	const char *secret_key;
	const char *region;
	const char *service;         /* "s3" */
};

/* The canonical request (SigV4 task 1) into creq and the signed header list ("host;x-amz-date")
 * into signed_headers. 0, or -1 for too many headers, a bad path or a full buffer. */
int sigv4_canonical_request(const struct sigv4_request *r, buf_t *creq, buf_t *signed_headers)
	MUSTCHECK;

/* The string to sign (task 2) for amz_date ("YYYYMMDDTHHMMSSZ"). 0 or -1. */
int sigv4_string_to_sign(const char *amz_date, const struct sigv4_credentials *c,
			 const char *creq, buf_t *sts) MUSTCHECK;

/* The signature (task 3 and 4): lowercase hex into out. */
void sigv4_signature(const struct sigv4_credentials *c, const char *amz_date, const char *sts,
		     char out[2 * 32 + 1]);

/* The whole "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." value. 0 or -1. */
int sigv4_authorization(const struct sigv4_request *r, const struct sigv4_credentials *c,
			const char *amz_date, buf_t *out) MUSTCHECK;

/* The query string of a presigned URL for method + path on host (only "host" is signed, the
 * payload is UNSIGNED-PAYLOAD). extra_query (NULL or "a=b&c=d", already encoded) is signed too
 * and kept. expires is 1..SIGV4_MAX_EXPIRES seconds. 0 or -1. */
int sigv4_presign(const char *method, const char *path, const char *extra_query, const char *host,
		  const struct sigv4_credentials *c, const char *amz_date, long expires,
		  buf_t *query_out) MUSTCHECK;

/* amz_date of a unix time (UTC). */
void sigv4_date(time_t t, char out[SIGV4_DATE_LEN]);

/* Appends s[0..n) URI-encoded the SigV4 way (unreserved kept, everything else %XX uppercase);
 * '/' is kept when keep_slash. 0 or -1. */
int sigv4_uri_encode(buf_t *b, const char *s, size_t n, bool keep_slash) MUSTCHECK;

#endif
