/* log: JSON lines on stderr (journald keeps them); never bodies, secrets, tokens, full emails or IPs */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* A line fits in PIPE_BUF, so one write(2) to a pipe (journald, a test) is never interleaved. */
#define LOG_LINE_MAX 4096
/* Room kept for `,"truncated":true}` and the newline. */
#define LOG_RESERVE 24

static struct {
	char program[64];
	char request_id[128];
	enum log_level level;
} log_state = { "atrium", "", LL_INFO };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

struct line {
	char b[LOG_LINE_MAX];
	size_t len;
	bool truncated;
};

static void copy_bounded(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void log_init(const char *program, enum log_level level)
{
	copy_bounded(log_state.program, sizeof(log_state.program), program != NULL ? program : "atrium");
	log_state.level = level;
}

void log_set_request_id(const char *rid)
{
	copy_bounded(log_state.request_id, sizeof(log_state.request_id), rid != NULL ? rid : "");
}

/* Appends n raw bytes if they fit before the reserve; false (and the line marked) otherwise. */
static bool put(struct line *l, const char *s, size_t n)
{
	if (l->truncated || n > LOG_LINE_MAX - LOG_RESERVE - l->len) {
		l->truncated = true;
		return false;
	}
	memcpy(l->b + l->len, s, n);
	l->len += n;
	return true;
}

static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c >= 0xc2 && c <= 0xdf)
		return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80 ||
		    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* A JSON string literal (RFC 8259 §7). A value cut short keeps whole characters and its closing
 * quote; invalid UTF-8 becomes U+FFFD. */
static bool put_str(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k;
	char esc[6];

	if (!put(l, "\"", 1))
		return false;
	while (i < n) {
		k = 1;
		if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			if (!put(l, esc, 2))
				break;
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[u[i] >> 4];
			esc[5] = hex[u[i] & 0xf];
			if (!put(l, esc, 6))
				break;
		} else if (u[i] < 0x80) {
			if (!put(l, s + i, 1))
				break;
		} else if ((k = utf8_len(u + i, n - i)) > 0) {
			if (!put(l, s + i, k))
				break;
		} else {
			k = 1;
			if (!put(l, "\xef\xbf\xbd", 3))
				break;
		}
		i += k;
	}
	/* the closing quote always fits: it is taken from the reserve */
	l->b[l->len++] = '"';
	return true;
}

/* `,"key":`; on truncation the line is rolled back to mark so that it stays valid JSON. */
static bool put_key(struct line *l, const char *key, size_t mark)
{
	if (put(l, ",", 1) && put_str(l, key) && put(l, ":", 1))
		return true;
	l->len = mark;
	return false;
}

/* A string member; a value cut short is kept (closed), a key that does not fit is dropped. */
static void put_kv_str(struct line *l, const char *key, const char *val)
{
	size_t mark = l->len;

	if (!put_key(l, key, mark))
		return;
	if (val == NULL) {
		if (!put(l, "null", 4))
			l->len = mark;
		return;
	}
	if (!put_str(l, val))
		l->len = mark;
}

static void put_kv_raw(struct line *l, const char *key, const char *val)
{
	size_t mark = l->len;

	if (put_key(l, key, mark) && !put(l, val, strlen(val)))
		l->len = mark;
}

static void put_time(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	char t[40];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(t, sizeof(t), "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000);
	put(l, t, (size_t)n);
}

static void put_field(struct line *l, const struct log_field *f)
{
	char num[32];

	switch (f->type) {
	case LOGF_STR:
		put_kv_str(l, f->key, f->s);
		break;
	case LOGF_INT:
		snprintf(num, sizeof(num), "%lld", f->i);
		put_kv_raw(l, f->key, num);
		break;
	case LOGF_BOOL:
		put_kv_raw(l, f->key, f->i ? "true" : "false");
		break;
	case LOGF_END:
		break;
	}
}

static void write_line(const struct line *l)
{
	ssize_t w;

	do
		w = write(STDERR_FILENO, l->b, l->len);
	while (w < 0 && errno == EINTR);
}

static void emit(const char *level, const char *event, const struct log_field *fields)
{
	struct line l = { .len = 0, .truncated = false };
	char pid[32];

	put_time(&l);
	put_kv_str(&l, "level", level);
	put_kv_str(&l, "program", log_state.program);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	put_kv_raw(&l, "pid", pid);
	if (log_state.request_id[0] != '\0')
		put_kv_str(&l, "request_id", log_state.request_id);
	put_kv_str(&l, "event", event != NULL ? event : "");
	for (; fields != NULL && fields->type != LOGF_END; fields++)
		put_field(&l, fields);
	if (l.truncated) {
		memcpy(l.b + l.len, ",\"truncated\":true", 17);
		l.len += 17;
	}
	l.b[l.len++] = '}';
	l.b[l.len++] = '\n';
	write_line(&l);
}

void log_emit(enum log_level level, const char *event, const struct log_field *fields)
{
	if (level < log_state.level || (unsigned)level >= NELEM(level_names))
		return;
	emit(level_names[level], event, fields);
}

void log_fatal(const char *event, const char *detail)
{
	emit("fatal", event, (const struct log_field[]){ LF_STR("detail", detail), LF_END });
	_exit(70);
}

/* "j***@example.com": the first character of the local part (when ASCII) and the domain. */
void log_mask_email(const char *email, char *out, size_t cap)
{
	const char *at;
	unsigned char c;

	if (cap == 0)
		return;
	at = email != NULL ? strrchr(email, '@') : NULL;
	if (at == NULL || at == email || at[1] == '\0') {
		snprintf(out, cap, "***");
		return;
	}
	c = (unsigned char)email[0];
	if (c > 0x20 && c < 0x7f)
		snprintf(out, cap, "%c***@%s", c, at + 1);
	else
		snprintf(out, cap, "***@%s", at + 1);
}

/* IPv4 keeps its /24, IPv6 its /48 (an IPv4-mapped IPv6 address is treated as IPv4). */
void log_mask_ip(const char *ip, char *out, size_t cap)
{
	unsigned char a[16];
	char txt[INET6_ADDRSTRLEN];

	if (cap == 0)
		return;
	if (ip != NULL && inet_pton(AF_INET, ip, a) == 1) {
		snprintf(out, cap, "%u.%u.%u.0/24", a[0], a[1], a[2]);
		return;
	}
	if (ip == NULL || inet_pton(AF_INET6, ip, a) != 1) {
		snprintf(out, cap, "invalid");
		return;
	}
	if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		snprintf(out, cap, "%u.%u.%u.0/24", a[12], a[13], a[14]);
		return;
	}
	memset(a + 6, 0, 10);
	if (inet_ntop(AF_INET6, a, txt, sizeof(txt)) == NULL)
		snprintf(out, cap, "invalid");
	else
		snprintf(out, cap, "%s/48", txt);
}
