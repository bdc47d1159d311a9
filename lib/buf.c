/* buf: bounded growable byte buffers; appending past max is an error, never a silent realloc (curl dynbuf) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

#define BUF_MIN_CAP 64

void buf_init(buf_t *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	/* len + 1 (the NUL) must fit in a size_t */
	b->max = max == SIZE_MAX ? SIZE_MAX - 1 : max;
}

void buf_release(buf_t *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

static void buf_release_cb(void *p)
{
	buf_release(p);
}

buf_t *buf_new(arena_t *a, size_t max)
{
	buf_t *b = arena_alloc(a, sizeof(*b));

	buf_init(b, max);
	arena_cleanup_add(a, buf_release_cb, b);
	return b;
}

/* Makes room for n more bytes plus the NUL. -1 when len + n would pass max; the buffer is unchanged. */
static int buf_reserve(buf_t *b, size_t n)
{
	size_t want, cap;
	char *d;

	if (n > b->max - b->len)
		return -1;
	if (b->cap > 0 && n < b->cap - b->len)
		return 0;
	want = b->len + n + 1;
	cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	d = realloc(b->data, cap);
	if (d == NULL)
		log_fatal("out_of_memory", "buf");
	b->data = d;
	b->cap = cap;
	return 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(buf_t *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(buf_t *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) != 0)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Length of the valid UTF-8 sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF)
 * starting at s, or 0 when the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c >= 0xc2 && c <= 0xdf)
		return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* The escape for one byte below 0x80 that JSON requires escaped (RFC 8259 §7) into out;
 * returns its length, or 0 when c needs no escape. */
static int json_escape_ascii(unsigned char c, char out[7])
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '"':  memcpy(out, "\\\"", 3); return 2;
	case '\\': memcpy(out, "\\\\", 3); return 2;
	case '\b': memcpy(out, "\\b", 3); return 2;
	case '\f': memcpy(out, "\\f", 3); return 2;
	case '\n': memcpy(out, "\\n", 3); return 2;
	case '\r': memcpy(out, "\\r", 3); return 2;
	case '\t': memcpy(out, "\\t", 3); return 2;
	default:
		break;
	}
	if (c >= 0x20)
		return 0;
	memcpy(out, "\\u00", 4);
	out[4] = hex[c >> 4];
	out[5] = hex[c & 0xf];
	out[6] = '\0';
	return 6;
}

/* Escapes per RFC 8259: quotes, backslashes and control characters; valid UTF-8 is copied as is
 * and each byte of an invalid sequence becomes U+FFFD, so the output is always valid JSON. */
int buf_json_str(buf_t *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t start = b->len, i = 0, run, seq;
	char esc[7];
	int elen;

	if (buf_putc(b, '"') != 0)
		return -1;
	while (i < n) {
		run = 0;
		while (i + run < n && u[i + run] >= 0x20 && u[i + run] < 0x80 &&
		       u[i + run] != '"' && u[i + run] != '\\')
			run++;
		if (run > 0 && buf_append(b, u + i, run) != 0)
			goto fail;
		i += run;
		if (i == n)
			break;
		if (u[i] < 0x80) {
			elen = json_escape_ascii(u[i], esc);
			if (buf_append(b, esc, (size_t)elen) != 0)
				goto fail;
			i++;
		} else if ((seq = utf8_seq(u + i, n - i)) > 0) {
			if (buf_append(b, u + i, seq) != 0)
				goto fail;
			i += seq;
		} else {
			if (buf_append(b, "\xef\xbf\xbd", 3) != 0)
				goto fail;
			i++;
		}
	}
	if (buf_putc(b, '"') != 0)
		goto fail;
	return 0;
fail:
	b->len = start;
	b->data[start] = '\0';
	return -1;
}

const char *buf_cstr(buf_t *b)
{
	return b->data != NULL ? b->data : "";
}

void buf_reset(buf_t *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}
