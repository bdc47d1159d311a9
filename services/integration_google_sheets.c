/* integration_google_sheets: service-account JWT (RS256) -> OAuth token -> values.append of one row */
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "integrations.h"

#define SCOPE "https://www.googleapis.com/auth/spreadsheets"

static void put_json(void *o)
{
	json_object_put(o);
}

static char *b64url(arena_t *a, const void *p, size_t n)
{
	size_t cap = 4 * (n / 3 + 1) + 1;
	char *out = arena_alloc(a, cap);

	if (crypto_b64_encode(p, n, out, cap, true) < 0)
		return NULL;
	return out;
}

/* RS256 over "header.claims" with the PEM private key; NULL on any failure. */
static char *rs256(arena_t *a, const char *pem, const char *input)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	char *out = NULL;

	if (key != NULL && md != NULL && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSignUpdate(md, input, strlen(input)) == 1 &&
	    EVP_DigestSignFinal(md, NULL, &siglen) == 1 && siglen <= sizeof(sig) &&
	    EVP_DigestSignFinal(md, sig, &siglen) == 1)
		out = b64url(a, sig, siglen);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return out;
}

/* The signed assertion for the token exchange (RFC 7523), valid for an hour. */
static char *assertion(struct integration_ctx *c, const char *email, const char *pem)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	json_object *cl = json_new_object(c->a);
	long long now = (long long)time(NULL);
	char *input, *sig;
	const char *claims;

	json_object_object_add(cl, "iss", json_object_new_string(email));
	json_object_object_add(cl, "scope", json_object_new_string(SCOPE));
	json_object_object_add(cl, "aud", json_object_new_string(c->cfg->google_token_url));
	json_object_object_add(cl, "iat", json_object_new_int64(now));
	json_object_object_add(cl, "exp", json_object_new_int64(now + 3600));
	claims = json_str(cl);
	input = arena_printf(c->a, "%s.%s", b64url(c->a, header, strlen(header)),
			     b64url(c->a, claims, strlen(claims)));
	if ((sig = rs256(c->a, pem, input)) == NULL)
		return NULL;
	return arena_printf(c->a, "%s.%s", input, sig);
}

static json_object *parse(arena_t *a, const char *s)
{
	json_object *o = json_tokener_parse(s);

	if (o != NULL)
		arena_cleanup_add(a, put_json, o);
	return o;
}

/* Exchanges the service account's assertion for an access token. */
static err_t access_token(struct integration_ctx *c, const char **token)
{
	const char *sa, *jwt;
	json_object *key, *res;
	struct integration_request rq = { .method = "POST", .url = c->cfg->google_token_url,
					  .content_type = "application/x-www-form-urlencoded" };
	struct integration_response rs;
	err_t e;

	if ((e = integration_secret(c, "service_account", &sa)) != ERR_OK)
		return e;
	key = parse(c->a, sa);
	if (key == NULL || json_get_str(key, "client_email") == NULL || json_get_str(key, "private_key") == NULL)
		return integration_fail(c, "service_account must be a service-account JSON key with "
					   "client_email and private_key");
	if ((jwt = assertion(c, json_get_str(key, "client_email"), json_get_str(key, "private_key"))) == NULL)
		return integration_fail(c, "the service account's private key could not sign (RSA PEM expected)");
	integration_remember(c, jwt);
	rq.body = arena_printf(c->a, "grant_type=%s&assertion=%s",
			       integration_escape(c->a, "urn:ietf:params:oauth:grant-type:jwt-bearer"), jwt);
	rq.body_len = strlen(rq.body);
	if ((e = integration_send(c, &rq, &rs)) != ERR_OK || (e = integration_status(c, &rs, "token")) != ERR_OK)
		return e;
	res = parse(c->a, rs.body);
	if ((*token = json_get_str(res, "access_token")) == NULL)
		return integration_fail(c, "token: the answer has no access_token");
	integration_remember(c, *token);
	return ERR_OK;
}

/* The row: event type, event id, time, and the event data as JSON (RAW input: no formulas). */
static const char *row_body(struct integration_ctx *c)
{
	json_object *body = json_new_object(c->a), *rows = json_object_new_array();
	json_object *row = json_object_new_array();
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;

	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	json_object_array_add(row, json_object_new_string(c->event_type));
	json_object_array_add(row, json_object_new_string(c->event_id));
	json_object_array_add(row, json_object_new_string(ts));
	json_object_array_add(row, json_object_new_string(c->data ? json_str(c->data) : "{}"));
	json_object_array_add(rows, row);
	json_object_object_add(body, "values", rows);
	return json_str(body);
}

err_t integration_google_sheets(struct integration_ctx *c)
{
	const char *token, *headers[2];
	struct integration_request rq = { .method = "POST", .headers = headers,
					  .content_type = "application/json" };
	struct integration_response rs;
	err_t e;

	if ((e = access_token(c, &token)) != ERR_OK)
		return e;
	headers[0] = arena_printf(c->a, "Authorization: Bearer %s", token);
	headers[1] = NULL;
	rq.url = arena_printf(c->a, "%s/v4/spreadsheets/%s/values/%s:append?valueInputOption=RAW"
			      "&insertDataOption=INSERT_ROWS", c->cfg->sheets_base_url,
			      integration_escape(c->a, json_get_str(c->config, "spreadsheet_id")),
			      integration_escape(c->a, json_get_str(c->config, "range")));
	rq.body = row_body(c);
	rq.body_len = strlen(rq.body);
	if ((e = integration_send(c, &rq, &rs)) != ERR_OK)
		return e;
	return integration_status(c, &rs, "values.append");
}
