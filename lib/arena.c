/* arena: memory for one request or one job, released in one go, with cleanups (nginx r->pool) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "log.h"

#define ARENA_ALIGN 16
#define ALIGN_UP(n) (((n) + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1))

struct block {
	struct block *next;
	size_t size;   /* usable bytes after the header */
	size_t used;
};

/* The header is padded so that a block's data starts 16-aligned (malloc returns 16-aligned memory). */
#define BLOCK_HDR ALIGN_UP(sizeof(struct block))

struct cleanup {
	struct cleanup *next;
	void (*fn)(void *);
	void *data;
};

struct arena {
	struct block *first;     /* kept across resets */
	struct block *cur;       /* where small allocations go */
	struct block *extra;     /* every other block, freed on reset */
	struct cleanup *cleanups;  /* newest first */
	size_t block_size;
	size_t used;
};

static struct block *block_new(size_t size)
{
	struct block *b;

	if (size > SIZE_MAX - BLOCK_HDR)
		log_fatal("out_of_memory", "arena block size overflows");
	b = malloc(BLOCK_HDR + size);
	if (b == NULL)
		log_fatal("out_of_memory", "arena block");
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

static unsigned char *block_data(struct block *b)
{
	return (unsigned char *)b + BLOCK_HDR;
}

arena_t *arena_new(size_t block_size)
{
	arena_t *a = calloc(1, sizeof(*a));

	if (a == NULL)
		log_fatal("out_of_memory", "arena");
	if (block_size < 256)
		block_size = 256;
	a->block_size = ALIGN_UP(block_size);
	a->first = block_new(a->block_size);
	a->cur = a->first;
	return a;
}

/* Allocations bigger than a quarter block get a block of their own, so a large body does not
 * waste the rest of the current block. */
static void *alloc_big(arena_t *a, size_t n)
{
	struct block *b = block_new(n);

	b->used = n;
	b->next = a->extra;
	a->extra = b;
	return block_data(b);
}

void *arena_alloc(arena_t *a, size_t n)
{
	struct block *b;
	void *p;

	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - ARENA_ALIGN)
		log_fatal("out_of_memory", "arena allocation size overflows");
	n = ALIGN_UP(n);
	a->used += n;
	if (n > a->block_size / 4) {
		p = alloc_big(a, n);
	} else {
		if (n > a->cur->size - a->cur->used) {
			b = block_new(a->block_size);
			b->next = a->extra;
			a->extra = b;
			a->cur = b;
		}
		p = block_data(a->cur) + a->cur->used;
		a->cur->used += n;
	}
	memset(p, 0, n);
	return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = arena_alloc(a, len + 1);

	memcpy(d, s, len);
	return d;
}

char *arena_strdup(arena_t *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
	va_list ap, aq;
	char *s;
	int n;

	va_start(ap, fmt);
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		log_fatal("arena_printf", "bad format");
	s = arena_alloc(a, (size_t)n + 1);
	(void)vsnprintf(s, (size_t)n + 1, fmt, aq);
	va_end(aq);
	return s;
}

void arena_cleanup_add(arena_t *a, void (*fn)(void *), void *data)
{
	struct cleanup *c = arena_alloc(a, sizeof(*c));

	c->fn = fn;
	c->data = data;
	c->next = a->cleanups;
	a->cleanups = c;
}

/* Cleanups run before any block is freed: their nodes live in the arena itself. */
static void run_cleanups(arena_t *a)
{
	struct cleanup *c = a->cleanups;

	a->cleanups = NULL;
	while (c != NULL) {
		c->fn(c->data);
		c = c->next;
	}
}

static void free_extra(arena_t *a)
{
	struct block *b = a->extra, *next;

	while (b != NULL) {
		next = b->next;
		free(b);
		b = next;
	}
	a->extra = NULL;
}

void arena_reset(arena_t *a)
{
	/* A cleanup may itself register cleanups (rare): run until none are left. */
	while (a->cleanups != NULL)
		run_cleanups(a);
	free_extra(a);
	a->first->used = 0;
	a->cur = a->first;
	a->used = 0;
}

void arena_free(arena_t *a)
{
	if (a == NULL)
		return;
	arena_reset(a);
	free(a->first);
	free(a);
}

size_t arena_used(const arena_t *a)
{
	return a->used;
}
