/* arena: memory for one request or one job, released in one go, with cleanups (nginx r->pool) */
#ifndef ATRIUM_ARENA_H
#define ATRIUM_ARENA_H

#include "common.h"

typedef struct arena arena_t;

/* A new arena whose blocks are block_size bytes (bigger allocations get their own block).
 * Out of memory is fatal everywhere in Atrium: the process logs and exits, its master re-forks. */
arena_t *arena_new(size_t block_size);

/* Zeroed memory that lives until arena_reset() or arena_free(). Never NULL. */
void *arena_alloc(arena_t *a, size_t n);
char *arena_strdup(arena_t *a, const char *s);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_printf(arena_t *a, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Run fn(data) when the arena is reset or freed, newest first: PGresult, redisReply, json objects. */
void arena_cleanup_add(arena_t *a, void (*fn)(void *), void *data);

/* Runs the cleanups and forgets every allocation, keeping the first block for reuse. */
void arena_reset(arena_t *a);
void arena_free(arena_t *a);

/* Bytes handed out since the last reset (for limits and tests). */
size_t arena_used(const arena_t *a);

#endif
