/* log: JSON lines on stderr (journald keeps them); never bodies, secrets, tokens, full emails or IPs */
#ifndef ATRIUM_LOG_H
#define ATRIUM_LOG_H

#include "common.h"

enum log_level { LL_DEBUG, LL_INFO, LL_WARN, LL_ERROR };
enum log_ftype { LOGF_END, LOGF_STR, LOGF_INT, LOGF_BOOL };

struct log_field {
	const char *key;
	enum log_ftype type;
	const char *s;
	long long i;
};

#define LF_STR(k, v)  ((struct log_field){ (k), LOGF_STR, (v), 0 })
#define LF_INT(k, v)  ((struct log_field){ (k), LOGF_INT, NULL, (long long)(v) })
#define LF_BOOL(k, v) ((struct log_field){ (k), LOGF_BOOL, NULL, (v) ? 1 : 0 })
#define LF_END        ((struct log_field){ NULL, LOGF_END, NULL, 0 })

/* program names the process in every line; lines below level are dropped. */
void log_init(const char *program, enum log_level level);
/* The request or job id carried by every following line (NULL clears it). Copied. */
void log_set_request_id(const char *rid);
/* One line: {"time","level","program","pid","request_id","event", fields...}. */
void log_emit(enum log_level level, const char *event, const struct log_field *fields);

#define log_debug(ev, ...) log_emit(LL_DEBUG, (ev), (const struct log_field[]){ __VA_ARGS__ __VA_OPT__(,) LF_END })
#define log_info(ev, ...)  log_emit(LL_INFO, (ev), (const struct log_field[]){ __VA_ARGS__ __VA_OPT__(,) LF_END })
#define log_warn(ev, ...)  log_emit(LL_WARN, (ev), (const struct log_field[]){ __VA_ARGS__ __VA_OPT__(,) LF_END })
#define log_error(ev, ...) log_emit(LL_ERROR, (ev), (const struct log_field[]){ __VA_ARGS__ __VA_OPT__(,) LF_END })

/* Out of memory and other unrecoverable states: logs and exits(70); the master re-forks. */
_Noreturn void log_fatal(const char *event, const char *detail);

/* PII helpers: fill out (cap bytes) with a loggable form. "j***@example.com"; "203.0.113.0/24", "2001:db8::/48". */
void log_mask_email(const char *email, char *out, size_t cap);
void log_mask_ip(const char *ip, char *out, size_t cap);

#endif
