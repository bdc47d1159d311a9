/* integration_run: one run of an integration action for atrium-integrations, with its redacted record */
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "integrations.h"
#include "log.h"
#include "secrets.h"

#define MAX_OPEN_SECRETS 24

err_t integration_secret(struct integration_ctx *c, const char *field, const char **plain)
{
	struct secret_owner o = { c->tenant_id, "integrations", c->integration_id, field };
	const char *dot = strchr(field, '.'), *ref;
	json_object *v;
	struct problem p = { 0 };
	char *s;
	size_t n;
	err_t e;

	v = dot == NULL ? json_get(c->config, field)
			: json_get(json_get(c->config, arena_strndup(c->a, field, (size_t)(dot - field))), dot + 1);
	ref = v != NULL && json_object_is_type(v, json_type_object) ? json_get_str(v, "secret_ref") : NULL;
	if (ref == NULL) {
		c->call.error = arena_printf(c->a, "secret field %s is not configured", field);
		c->call.permanent = true;
		return ERR_NOT_FOUND;
	}
	if ((e = secrets_open(c->db, c->a, &o, ref, NULL, "use", &s, &n, &p)) != ERR_OK) {
		c->call.error = p.detail != NULL ? p.detail : "the secret could not be opened";
		c->call.permanent = e == ERR_NOT_FOUND;
		return e;
	}
	integration_remember(c, s);
	*plain = s;
	return ERR_OK;
}

void integration_remember(struct integration_ctx *c, const char *secret)
{
	if (c->secrets == NULL)
		c->secrets = arena_alloc(c->a, MAX_OPEN_SECRETS * sizeof(*c->secrets));
	if (secret != NULL && c->nsecrets < MAX_OPEN_SECRETS && strlen(secret) >= 4)
		c->secrets[c->nsecrets++] = secret;
}

err_t integration_fail(struct integration_ctx *c, const char *error)
{
	c->call.error = error;
	c->call.permanent = true;
	return ERR_VALIDATION;
}

const char *integration_escape(arena_t *a, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), j = 0;
	char *out = arena_alloc(a, 3 * n + 1);

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			out[j++] = (char)ch;
		} else {
			out[j++] = '%';
			out[j++] = hex[ch >> 4];
			out[j++] = hex[ch & 15];
		}
	}
	out[j] = '\0';
	return out;
}

err_t integration_status(struct integration_ctx *c, const struct integration_response *rs,
			 const char *what)
{
	int st = rs->status;

	if (st >= 200 && st < 300)
		return ERR_OK;
	c->call.error = arena_printf(c->a, "%s: the provider answered HTTP %d", what, st);
	if (st == 408 || st == 425 || st == 429 || st >= 500) {
		c->call.retry_after_ms = rs->retry_after_ms;
		return ERR_RETRY;
	}
	c->call.permanent = true;
	return ERR_VALIDATION;
}

/* Replaces each occurrence of secret in buf (len bytes, NUL-terminated, in place) by "[redacted]"
 * and returns the new length. Secrets are at least 4 bytes, so buf needs at most 2.5 len + 1. */
static size_t redact_one(char *buf, size_t len, const char *secret)
{
	static const char mark[] = "[redacted]";
	size_t sl = strlen(secret), ml = sizeof(mark) - 1;
	char *hit, *from = buf;

	while ((hit = memmem(from, len - (size_t)(from - buf), secret, sl)) != NULL) {
		size_t tail = len - (size_t)(hit - buf) - sl;

		memmove(hit + ml, hit + sl, tail + 1);
		memcpy(hit, mark, ml);
		len = len - sl + ml;
		from = hit + ml;
	}
	return len;
}

static bool email_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '%' || ch == '+' || ch == '-';
}

/* Masks the local part of anything shaped like an email address ("j***@example.com"): run
 * records are shown to the tenant's developers, who need the shape, not the person. */
static void mask_emails(char *buf, size_t len)
{
	for (size_t i = 1; i < len; i++) {
		size_t j = i;

		if (buf[i] != '@' || !email_char(buf[i - 1]))
			continue;
		while (j > 0 && email_char(buf[j - 1]))
			j--;
		for (size_t k = j + 1; k < i; k++)
			buf[k] = '*';
	}
}

const char *integration_redact(struct integration_ctx *c, const char *s, size_t n)
{
	size_t len = n;
	char *buf;

	if (s == NULL)
		return NULL;
	/* redact the whole input before cutting it, so no secret survives half-cut at the end */
	buf = arena_alloc(c->a, 3 * n + 64);
	memcpy(buf, s, n);
	buf[n] = '\0';
	for (size_t i = 0; i < c->nsecrets; i++)
		len = redact_one(buf, len, c->secrets[i]);
	mask_emails(buf, len);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 && buf[i] != '\n')
			buf[i] = ' ';
	if (len > INTEGRATION_EXCERPT_MAX) {
		len = INTEGRATION_EXCERPT_MAX;
		while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80)
			len--;                       /* do not cut a UTF-8 sequence */
		buf[len] = '\0';
	}
	return buf;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static err_t record_run(struct integration_ctx *c, const struct job *job, const char *trigger,
			long long ms, bool ok)
{
	char id[UUID_STRLEN], att[16], dur[24], hs[16];
	PGresult *r;

	crypto_uuid7(id);
	snprintf(att, sizeof(att), "%d", job->attempt);
	snprintf(dur, sizeof(dur), "%lld", ms);
	snprintf(hs, sizeof(hs), "%d", c->call.http_status);
	return db_q(c->db, c->a, &r,
		    "INSERT INTO integration_runs (tenant_id, id, integration_id, job_id, attempt, trigger, "
		    "status, duration_ms, http_status, request_excerpt, response_excerpt, error) "
		    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, '0')::int, $10, $11, left($12, 2000))",
		    c->tenant_id, id, c->integration_id, job->id, att, trigger, ok ? "succeeded" : "failed",
		    dur, hs, integration_redact(c, c->call.request, c->call.request ? strlen(c->call.request) : 0),
		    integration_redact(c, c->call.response, c->call.response ? strlen(c->call.response) : 0),
		    ok ? NULL : integration_redact(c, c->call.error, strlen(c->call.error)));
}

static void put_json(void *o)
{
	json_object_put(o);
}

/* The integration's type and config, with the worker's tenant set; ERR_NOT_FOUND when deleted. */
static err_t load_for_run(struct integration_ctx *c, const struct integration_type **t)
{
	PGresult *r;
	err_t e = db_q(c->db, c->a, &r,
		       "SELECT type, config::text, active FROM integrations WHERE tenant_id = $1 AND id = $2",
		       c->tenant_id, c->integration_id);

	if (e != ERR_OK)
		return e;
	if (PQntuples(r) != 1 || (*t = integrations_type(db_val(r, 0, 0))) == NULL)
		return ERR_NOT_FOUND;
	c->config = json_tokener_parse(db_val(r, 0, 1));
	if (c->config == NULL)
		return ERR_INTERNAL;
	arena_cleanup_add(c->a, put_json, c->config);
	return ERR_OK;
}

static err_t finish(struct integration_ctx *c, const struct job *job, err_t e, long long ms,
		    struct integration_call *out)
{
	PGresult *r;
	err_t re;

	if (e == ERR_OK) {
		if ((re = record_run(c, job, c->event_type, ms, true)) != ERR_OK)
			return re;
		return db_q(c->db, c->a, &r,
			    "UPDATE integrations SET last_used_at = now(), last_used_by = NULL "
			    "WHERE tenant_id = $1 AND id = $2", c->tenant_id, c->integration_id);
	}
	if (c->call.error == NULL)
		c->call.error = err_info(e)->title;
	/* the failed run must outlive the rollback of the job's transaction */
	db_rollback(c->db);
	if (db_begin(c->db, c->tenant_id) == ERR_OK &&
	    record_run(c, job, c->event_type, ms, false) == ERR_OK && db_commit(c->db) == ERR_OK)
		(void)!db_begin(c->db, c->tenant_id);
	else
		log_error("integrations.run_record_failed", LF_STR("integration", c->integration_id));
	*out = c->call;
	out->error = integration_redact(c, c->call.error, strlen(c->call.error));
	return e == ERR_RETRY || e == ERR_UNAVAILABLE ? ERR_RETRY : e;
}

err_t integrations_run_job(const struct config *cfg, db_t *db, arena_t *a, const struct job *job,
			   json_object *payload, struct integration_call *out)
{
	struct integration_ctx c = { .cfg = cfg, .db = db, .a = a, .tenant_id = job->tenant_id };
	json_object *ev = json_get(payload, "event");
	const struct integration_type *t;
	long long t0 = now_ms();
	err_t e;

	c.integration_id = json_get_str(payload, "integration_id");
	c.event_id = json_get_str(ev, "id");
	c.event_type = json_get_str(ev, "type");
	c.data = json_get(ev, "data");
	if (c.event_type != NULL && strcmp(c.event_type, "integration.test") == 0)
		c.data = json_get(c.data, "data");   /* the test's own sample data */
	if (c.integration_id == NULL || !crypto_uuid_valid(c.integration_id) || c.event_id == NULL ||
	    c.event_type == NULL) {
		out->error = "job payload lacks integration_id or event";
		out->permanent = true;
		return ERR_VALIDATION;
	}
	if ((e = load_for_run(&c, &t)) != ERR_OK) {
		out->error = e == ERR_NOT_FOUND ? "the integration no longer exists" : "the integration could not be read";
		out->permanent = e == ERR_NOT_FOUND;
		return e;
	}
	e = t->action(&c);
	return finish(&c, job, e, now_ms() - t0, out);
}
