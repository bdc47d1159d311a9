/* redis: one hiredis connection per process, argv form only, reconnect on demand, reply freed with the arena */
#ifndef ATRIUM_REDIS_H
#define ATRIUM_REDIS_H

#include <hiredis.h>

#include "arena.h"
#include "common.h"
#include "err.h"

typedef struct rds rds_t;

/* addr is a unix socket path ("/run/x.sock") or "host:port". timeout_ms bounds connect and
 * every read (keep it above any BLOCK you send). Never fails: connects lazily. */
rds_t *redis_open(const char *addr, int timeout_ms);
void redis_close(rds_t *r);

/* Sends argv (lengths in argvlen, or NULL for C strings). On an I/O error the connection is
 * re-opened and the command sent once more. *out is freed with the arena (may be NULL when
 * the caller only needs success; with a NULL arena the caller frees *out). Redis error replies give ERR_INTERNAL with the reply kept in *out;
 * no connection gives ERR_UNAVAILABLE. */
err_t redis_cmd(rds_t *r, arena_t *a, redisReply **out, int argc, const char **argv,
		const size_t *argvlen) MUSTCHECK;

/* redis_c(r, a, &reply, "XADD", key, "*", "job", id) */
#define redis_c(r, a, out, ...) \
	redis_cmd((r), (a), (out), \
		  (int)(sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *)), \
		  (const char *[]){ __VA_ARGS__ }, NULL)

bool redis_ping(rds_t *r);
/* The socket fd while connected, else -1 (for poll loops). */
int redis_fd(rds_t *r);

#endif
