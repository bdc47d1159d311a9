/* config: ATRIUM_* environment variables read once into one struct by one table (nginx ngx_command_t) */
#ifndef ATRIUM_CONFIG_H
#define ATRIUM_CONFIG_H

#include "common.h"

struct config {
	const char *env;              /* ATRIUM_ENV: dev | test | production */
	const char *db_app;           /* ATRIUM_DB_APP: libpq conninfo of the request role (atrium_app) */
	const char *db_worker;        /* ATRIUM_DB_WORKER: conninfo of the worker role (atrium_worker) */
	const char *db_owner;         /* ATRIUM_DB_OWNER: conninfo of the schema owner (migrations only) */
	const char *redis;            /* ATRIUM_REDIS: unix socket path, or host:port */
	const char *fcgi_socket;      /* ATRIUM_FCGI_SOCKET: unix socket path atrium-fcgi binds */
	int children;                 /* ATRIUM_CHILDREN: FastCGI children; 0 = 2 x cores */
	const char *user;             /* ATRIUM_USER: account to drop to when started as root */
	const char *keys_dir;         /* ATRIUM_KEYS_DIR: master keys, root-only */
	int log_level;                /* ATRIUM_LOG_LEVEL: debug | info | warn | error */
	const char *public_url;       /* ATRIUM_PUBLIC_URL: base URL clients see */
	int db_timeout_ms;            /* ATRIUM_DB_TIMEOUT_MS: statement_timeout per request */
	int job_lease_ms;             /* ATRIUM_JOB_LEASE_MS: how long a claimed job is held */
	int job_sweep_ms;             /* ATRIUM_JOB_SWEEP_MS: sweeper interval */
	int job_backoff_base_ms;      /* ATRIUM_JOB_BACKOFF_BASE_MS */
	int job_backoff_cap_ms;       /* ATRIUM_JOB_BACKOFF_CAP_MS */
	int job_max_attempts;         /* ATRIUM_JOB_MAX_ATTEMPTS */
	int job_block_ms;             /* ATRIUM_JOB_BLOCK_MS: XREADGROUP BLOCK */
	int retention_days;           /* ATRIUM_RETENTION_DAYS: janitor keeps finished jobs this long */
	const char *sql_dir;          /* ATRIUM_SQL_DIR: numbered migrations for atriumctl migrate */
	const char *worker_queues;
	/* -- secrets and integrations -- */
	const char *google_token_url;   /* ATRIUM_GOOGLE_TOKEN_URL: OAuth token endpoint for service accounts */
	const char *sheets_base_url;    /* ATRIUM_SHEETS_BASE_URL: Google Sheets API base */
	const char *intercom_base_url;  /* ATRIUM_INTERCOM_BASE_URL: Intercom API base */
	/* -- webhooks and outbound HTTP -- */
	int http_allow_http;           /* ATRIUM_HTTP_ALLOW_HTTP: 1 lets outbound requests use plain http (dev, test) */
	const char *http_allow_cidrs;  /* ATRIUM_HTTP_ALLOW_CIDRS: comma list of CIDRs allowed despite the SSRF ranges */
	int http_connect_timeout_ms;   /* ATRIUM_HTTP_CONNECT_TIMEOUT_MS */
	int http_timeout_ms;           /* ATRIUM_HTTP_TIMEOUT_MS: whole transfer */
	const char *webhook_schedule;  /* ATRIUM_WEBHOOK_SCHEDULE_MS: comma list of delays before retries 1..n */
	int webhook_throttle_ms;       /* ATRIUM_WEBHOOK_THROTTLE_MS: least wait after 429/502/504 */
	int webhook_per_endpoint;      /* ATRIUM_WEBHOOK_PER_ENDPOINT: deliveries in flight per endpoint */
	int webhook_concurrency;       /* ATRIUM_WEBHOOK_CONCURRENCY: deliveries in flight per worker */
	/* -- storage, uploads and media -- */    /* ATRIUM_WORKER_QUEUES: comma list a worker binary serves (its default if unset) */
	/* storage (services/storage*.c) */
	const char *storage_backend;  /* ATRIUM_STORAGE_BACKEND: local | s3 */
	const char *storage_dir;      /* ATRIUM_STORAGE_DIR: root of the local backend */
	const char *s3_endpoint;      /* ATRIUM_S3_ENDPOINT: https://host[:port] of the S3-compatible service */
	const char *s3_region;        /* ATRIUM_S3_REGION: SigV4 region (us-east-1, fsn1, ...) */
	const char *s3_bucket;        /* ATRIUM_S3_BUCKET */
	const char *s3_access_key;    /* ATRIUM_S3_ACCESS_KEY */
	const char *s3_secret_key;    /* ATRIUM_S3_SECRET_KEY */
	int s3_path_style;            /* ATRIUM_S3_PATH_STYLE: 1 = endpoint/bucket/key, 0 = bucket.endpoint/key */
	int s3_part_mb;               /* ATRIUM_S3_PART_MB: multipart part size; larger objects go multipart */
	/* uploads (services/uploads.c, fcgi/uploads.c) */
	const char *upload_dir;       /* ATRIUM_UPLOAD_DIR: incoming parts; same filesystem as nginx's upload spool */
	int upload_chunk_mb;          /* ATRIUM_UPLOAD_CHUNK_MB: largest PATCH/PUT body (nginx: client_max_body_size) */
	int upload_expire_s;          /* ATRIUM_UPLOAD_EXPIRE_S: an unfinished upload's lifetime (Upload-Expires) */
	int upload_max_mb;            /* ATRIUM_UPLOAD_MAX_MB: largest Upload-Length */
	/* public upload sessions and abuse limits (services/upload_sessions.c, upload_limits.c) */
	int upload_min_free_mb;       /* ATRIUM_UPLOAD_MIN_FREE_MB: below this free space on ATRIUM_UPLOAD_DIR uploads get 507 */
	int tenant_quota_mb;          /* ATRIUM_TENANT_QUOTA_MB: a tenant's byte quota unless storage_quotas sets one */
	int session_ttl_s;            /* ATRIUM_SESSION_TTL_S: an upload session token's lifetime */
	int session_max_files;        /* ATRIUM_SESSION_MAX_FILES: uploads per session unless the flow's uploads.max_files */
	int session_max_mb;           /* ATRIUM_SESSION_MAX_MB: bytes per session unless the flow's uploads.max_total_bytes */
	int session_uploads_per_min;  /* ATRIUM_SESSION_UPLOADS_PER_MIN: upload creations per session per minute (Redis) */
	int download_max_s;           /* ATRIUM_DOWNLOAD_MAX_S: longest expires_in of a download URL (SigV4 allows 7 days) */
	int upload_single_mb;         /* ATRIUM_UPLOAD_SINGLE_MB: largest single-request upload (nginx: client_max_body_size) */
	int upload_url_max_s;         /* ATRIUM_UPLOAD_URL_MAX_S: longest lifetime of a signed upload URL */
	/* media processing (atrium-media; services/media_pipeline.c) */
	const char *media_scanner;    /* ATRIUM_MEDIA_SCANNER: clamd | none (none is warned about at start-up) */
	const char *clamd_socket;     /* ATRIUM_CLAMD_SOCKET: clamd's unix socket */
	int media_max_mpixels;        /* ATRIUM_MEDIA_MAX_MPIXELS: per image frame, in megapixels */
	int media_max_frames;         /* ATRIUM_MEDIA_MAX_FRAMES: animated images */
	int media_max_video_s;        /* ATRIUM_MEDIA_MAX_VIDEO_S */
	int media_max_audio_s;        /* ATRIUM_MEDIA_MAX_AUDIO_S */
	int media_max_video_pixels;   /* ATRIUM_MEDIA_MAX_VIDEO_PIXELS: width x height (4K: 4096 x 2160) */
	int media_cpu_s;              /* ATRIUM_MEDIA_CPU_S: RLIMIT_CPU of a decoding child */
	int media_mem_mb;             /* ATRIUM_MEDIA_MEM_MB: RLIMIT_AS of a decoding child */
	int media_timeout_s;          /* ATRIUM_MEDIA_TIMEOUT_S: wall clock per asset, then SIGKILL */
	const char *media_work_dir;   /* ATRIUM_MEDIA_WORK_DIR: where decoding children write variants */
};

/* Fills c from the environment and defaults. On a bad value returns -1 with a message such as
 * "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \"x\"" in err. Strings point into environ. */
int config_load(struct config *c, char *err, size_t errlen) MUSTCHECK;

/* The lease a worker takes on a job whose longest step may run work_ms (an outbound HTTP call,
 * a media child): ATRIUM_JOB_LEASE_MS, raised to work_ms plus a margin when that is shorter, so
 * a slow but live attempt is never handed out a second time while it runs. */
int config_lease_ms(const struct config *c, int work_ms);

/* Prints every setting with its value (secrets-bearing ones as "set"/"unset") to stdout. */
void config_dump(const struct config *c);

#endif
