/* buf: bounded growable byte buffers; appending past max is an error, never a silent realloc (curl dynbuf) */
#ifndef ATRIUM_BUF_H
#define ATRIUM_BUF_H

#include "arena.h"
#include "common.h"

typedef struct buf {
	char *data;   /* always NUL-terminated after the first append */
	size_t len;
	size_t cap;
	size_t max;   /* the most bytes len may reach */
} buf_t;

/* A buffer on the stack or in a struct; release it with buf_release(). max must be > 0. */
void buf_init(buf_t *b, size_t max);
void buf_release(buf_t *b);

/* A buffer whose storage is released with the arena. */
buf_t *buf_new(arena_t *a, size_t max);

/* 0 on success, -1 when the result would exceed max (the buffer is unchanged). */
int buf_append(buf_t *b, const void *p, size_t n) MUSTCHECK;
int buf_puts(buf_t *b, const char *s) MUSTCHECK;
int buf_putc(buf_t *b, char c) MUSTCHECK;
int buf_printf(buf_t *b, const char *fmt, ...) PRINTF_LIKE(2, 3) MUSTCHECK;
/* Appends s as a JSON string literal, quotes included. */
int buf_json_str(buf_t *b, const char *s, size_t n) MUSTCHECK;

const char *buf_cstr(buf_t *b);   /* "" for an empty buffer */
void buf_reset(buf_t *b);        /* len = 0, storage kept */

#endif
