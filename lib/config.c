/* config: ATRIUM_* environment variables read once into one struct by one table (nginx ngx_command_t) */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

enum ctype {
	CT_STR,     /* any string, stored as const char * */
	CT_INT,     /* a decimal integer in [min, max], stored as int */
	CT_CHOICE,  /* a string among choices, stored as const char * */
	CT_LEVEL,   /* a string among choices, stored as its index (int) */
};

struct setting {
	const char *name;
	enum ctype type;
	size_t off;
	const char *def;        /* CT_STR, CT_CHOICE, CT_LEVEL */
	long long idef;         /* CT_INT */
	long long min, max;     /* CT_INT */
	const char *const *choices;
	bool secret;            /* config_dump prints "set" or "unset" instead of the value */
};

static const char *const env_choices[] = { "dev", "test", "production", NULL };
/* Indexes match enum log_level (log.h). */
static const char *const level_choices[] = { "debug", "info", "warn", "error", NULL };
static const char *const storage_choices[] = { "local", "s3", NULL };

#define STR(n, f, d)        { n, CT_STR, offsetof(struct config, f), d, 0, 0, 0, NULL, false }
#define SECRET(n, f, d)     { n, CT_STR, offsetof(struct config, f), d, 0, 0, 0, NULL, true }
#define INT(n, f, d, lo, hi) { n, CT_INT, offsetof(struct config, f), NULL, d, lo, hi, NULL, false }

static const struct setting settings[] = {
	{ "ATRIUM_ENV", CT_CHOICE, offsetof(struct config, env), "dev", 0, 0, 0, env_choices, false },
	SECRET("ATRIUM_DB_APP", db_app, "dbname=atrium user=atrium_app"),
	SECRET("ATRIUM_DB_WORKER", db_worker, "dbname=atrium user=atrium_worker"),
	SECRET("ATRIUM_DB_OWNER", db_owner, "dbname=atrium user=atrium_owner"),
	STR("ATRIUM_REDIS", redis, "/run/atrium/redis.sock"),
	STR("ATRIUM_FCGI_SOCKET", fcgi_socket, "/run/atrium/fcgi.sock"),
	INT("ATRIUM_CHILDREN", children, 0, 0, 256),
	STR("ATRIUM_USER", user, ""),
	STR("ATRIUM_KEYS_DIR", keys_dir, "/etc/atrium/keys"),
	{ "ATRIUM_LOG_LEVEL", CT_LEVEL, offsetof(struct config, log_level), "info", 0, 0, 0,
	  level_choices, false },
	STR("ATRIUM_PUBLIC_URL", public_url, "http://127.0.0.1:8080"),
	INT("ATRIUM_DB_TIMEOUT_MS", db_timeout_ms, 5000, 100, 600000),
	INT("ATRIUM_JOB_LEASE_MS", job_lease_ms, 30000, 100, 86400000),
	INT("ATRIUM_JOB_SWEEP_MS", job_sweep_ms, 5000, 10, 3600000),
	INT("ATRIUM_JOB_BACKOFF_BASE_MS", job_backoff_base_ms, 1000, 1, 86400000),
	INT("ATRIUM_JOB_BACKOFF_CAP_MS", job_backoff_cap_ms, 3600000, 1, 604800000),
	INT("ATRIUM_JOB_MAX_ATTEMPTS", job_max_attempts, 8, 1, 100),
	INT("ATRIUM_JOB_BLOCK_MS", job_block_ms, 2000, 10, 600000),
	INT("ATRIUM_RETENTION_DAYS", retention_days, 30, 1, 3650),
	STR("ATRIUM_SQL_DIR", sql_dir, "sql"),
	STR("ATRIUM_WORKER_QUEUES", worker_queues, ""),
	/* -- secrets and integrations -- */
	STR("ATRIUM_GOOGLE_TOKEN_URL", google_token_url, "https://oauth2.googleapis.com/token"),
	STR("ATRIUM_SHEETS_BASE_URL", sheets_base_url, "https://sheets.googleapis.com"),
	STR("ATRIUM_INTERCOM_BASE_URL", intercom_base_url, "https://api.intercom.io"),
	/* -- webhooks and outbound HTTP -- */
	INT("ATRIUM_HTTP_ALLOW_HTTP", http_allow_http, 0, 0, 1),
	STR("ATRIUM_HTTP_ALLOW_CIDRS", http_allow_cidrs, ""),
	INT("ATRIUM_HTTP_CONNECT_TIMEOUT_MS", http_connect_timeout_ms, 5000, 10, 60000),
	INT("ATRIUM_HTTP_TIMEOUT_MS", http_timeout_ms, 15000, 10, 120000),
	STR("ATRIUM_WEBHOOK_SCHEDULE_MS", webhook_schedule, "5000,300000,1800000,7200000,18000000,36000000,36000000"),
	INT("ATRIUM_WEBHOOK_THROTTLE_MS", webhook_throttle_ms, 60000, 0, 86400000),
	INT("ATRIUM_WEBHOOK_PER_ENDPOINT", webhook_per_endpoint, 4, 1, 64),
	INT("ATRIUM_WEBHOOK_CONCURRENCY", webhook_concurrency, 64, 1, 1024),
	/* -- storage, uploads and media -- */
	{ "ATRIUM_STORAGE_BACKEND", CT_CHOICE, offsetof(struct config, storage_backend), "local", 0, 0, 0,
	  storage_choices, false },
	STR("ATRIUM_STORAGE_DIR", storage_dir, "/var/lib/atrium/storage"),
	STR("ATRIUM_S3_ENDPOINT", s3_endpoint, ""),
	STR("ATRIUM_S3_REGION", s3_region, "us-east-1"),
	STR("ATRIUM_S3_BUCKET", s3_bucket, ""),
	STR("ATRIUM_S3_ACCESS_KEY", s3_access_key, ""),
	SECRET("ATRIUM_S3_SECRET_KEY", s3_secret_key, ""),
	INT("ATRIUM_S3_PATH_STYLE", s3_path_style, 1, 0, 1),
	INT("ATRIUM_S3_PART_MB", s3_part_mb, 64, 5, 5120),
	STR("ATRIUM_UPLOAD_DIR", upload_dir, "/var/lib/atrium/incoming"),
	INT("ATRIUM_UPLOAD_CHUNK_MB", upload_chunk_mb, 50, 1, 1024),
	INT("ATRIUM_UPLOAD_EXPIRE_S", upload_expire_s, 86400, 10, 604800),
	INT("ATRIUM_UPLOAD_MAX_MB", upload_max_mb, 1024, 1, 1048576),
	/* public upload sessions and abuse limits (services/upload_sessions.c, upload_limits.c) */
	INT("ATRIUM_UPLOAD_MIN_FREE_MB", upload_min_free_mb, 1024, 0, 1073741824),
	INT("ATRIUM_TENANT_QUOTA_MB", tenant_quota_mb, 10240, 0, 1073741824),
	INT("ATRIUM_SESSION_TTL_S", session_ttl_s, 7200, 60, 604800),
	INT("ATRIUM_SESSION_MAX_FILES", session_max_files, 10, 0, 1000),
	INT("ATRIUM_SESSION_MAX_MB", session_max_mb, 1024, 0, 102400),
	INT("ATRIUM_SESSION_UPLOADS_PER_MIN", session_uploads_per_min, 60, 1, 100000),
	INT("ATRIUM_DOWNLOAD_MAX_S", download_max_s, 86400, 10, 604800),
	INT("ATRIUM_UPLOAD_SINGLE_MB", upload_single_mb, 20, 1, 1024),
	INT("ATRIUM_UPLOAD_URL_MAX_S", upload_url_max_s, 3600, 10, 604800),
	/* media processing */
	STR("ATRIUM_MEDIA_SCANNER", media_scanner, "clamd"),
	STR("ATRIUM_CLAMD_SOCKET", clamd_socket, "/run/atrium/clamd.sock"),
	INT("ATRIUM_MEDIA_MAX_MPIXELS", media_max_mpixels, 50, 1, 1000),
	INT("ATRIUM_MEDIA_MAX_FRAMES", media_max_frames, 100, 1, 10000),
	INT("ATRIUM_MEDIA_MAX_VIDEO_S", media_max_video_s, 600, 1, 86400),
	INT("ATRIUM_MEDIA_MAX_AUDIO_S", media_max_audio_s, 1800, 1, 86400),
	INT("ATRIUM_MEDIA_MAX_VIDEO_PIXELS", media_max_video_pixels, 4096 * 2160, 1, 100000000),
	INT("ATRIUM_MEDIA_CPU_S", media_cpu_s, 60, 1, 3600),
	INT("ATRIUM_MEDIA_MEM_MB", media_mem_mb, 1024, 128, 65536),
	INT("ATRIUM_MEDIA_TIMEOUT_S", media_timeout_s, 15, 1, 3600),
	STR("ATRIUM_MEDIA_WORK_DIR", media_work_dir, "/var/lib/atrium/media-work"),
};

/* Strict decimal: optional '-', digits only, no spaces, no '+', nothing after, within [min, max]. */
static int parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s[0] != '-' && (s[0] < '0' || s[0] > '9'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int choice_index(const char *const *choices, const char *s)
{
	for (int i = 0; choices[i] != NULL; i++)
		if (strcmp(choices[i], s) == 0)
			return i;
	return -1;
}

static void choices_text(const char *const *choices, char *out, size_t cap)
{
	size_t len = 0;
	int n;

	out[0] = '\0';
	for (int i = 0; choices[i] != NULL && len < cap; i++) {
		n = snprintf(out + len, cap - len, "%s%s", i > 0 ? ", " : "", choices[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

static int load_one(struct config *c, const struct setting *st, char *err, size_t errlen)
{
	const char *v = getenv(st->name);
	char *field = (char *)c + st->off;
	char list[128];
	long long iv;
	int idx;

	if (v == NULL)
		v = st->def;
	switch (st->type) {
	case CT_STR:
		*(const char **)field = v;
		return 0;
	case CT_INT:
		if (v == st->def) {
			*(int *)field = (int)st->idef;
			return 0;
		}
		if (parse_int(v, st->min, st->max, &iv) != 0) {
			snprintf(err, errlen, "%s: must be an integer from %lld to %lld, got \"%.64s\"",
				 st->name, st->min, st->max, v);
			return -1;
		}
		*(int *)field = (int)iv;
		return 0;
	case CT_CHOICE:
	case CT_LEVEL:
		idx = choice_index(st->choices, v);
		if (idx < 0) {
			choices_text(st->choices, list, sizeof(list));
			snprintf(err, errlen, "%s: must be one of %s, got \"%.64s\"", st->name, list, v);
			return -1;
		}
		if (st->type == CT_LEVEL)
			*(int *)field = idx;
		else
			*(const char **)field = st->choices[idx];
		return 0;
	}
	snprintf(err, errlen, "%s: unknown setting type", st->name);
	return -1;
}

/* Rules that involve more than one setting. */
static int check_together(const struct config *c, char *err, size_t errlen)
{
	if (c->job_backoff_cap_ms < c->job_backoff_base_ms) {
		snprintf(err, errlen, "ATRIUM_JOB_BACKOFF_CAP_MS: must be at least ATRIUM_JOB_BACKOFF_BASE_MS "
			 "(%d), got %d", c->job_backoff_base_ms, c->job_backoff_cap_ms);
		return -1;
	}
	return 0;
}

int config_load(struct config *c, char *err, size_t errlen)
{
	struct config tmp;

	memset(&tmp, 0, sizeof(tmp));
	for (size_t i = 0; i < NELEM(settings); i++)
		if (load_one(&tmp, &settings[i], err, errlen) != 0)
			return -1;
	if (check_together(&tmp, err, errlen) != 0)
		return -1;
	*c = tmp;
	return 0;
}

#define LEASE_MARGIN_MS 2000

int config_lease_ms(const struct config *c, int work_ms)
{
	long long floor = (long long)work_ms + LEASE_MARGIN_MS;

	return floor > c->job_lease_ms ? (int)(floor < INT_MAX ? floor : INT_MAX) : c->job_lease_ms;
}

void config_dump(const struct config *c)
{
	const char *field, *s;

	for (size_t i = 0; i < NELEM(settings); i++) {
		const struct setting *st = &settings[i];

		field = (const char *)c + st->off;
		switch (st->type) {
		case CT_INT:
			printf("%s=%d\n", st->name, *(const int *)field);
			break;
		case CT_LEVEL:
			printf("%s=%s\n", st->name, st->choices[*(const int *)field]);
			break;
		case CT_STR:
		case CT_CHOICE:
			s = *(const char *const *)field;
			if (st->secret)
				printf("%s=%s\n", st->name, s != NULL && s[0] != '\0' ? "set" : "unset");
			else
				printf("%s=%s\n", st->name, s != NULL ? s : "");
			break;
		}
	}
}
