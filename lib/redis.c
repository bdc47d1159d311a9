/* redis: one hiredis connection per process, argv form only, reconnect on demand, reply freed with the arena */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis.h"

struct rds {
	redisContext *c;
	char *addr;
	int timeout_ms;
};

rds_t *redis_open(const char *addr, int timeout_ms)
{
	rds_t *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->addr = strdup(addr)) == NULL)
		log_fatal("redis.open", "out of memory");
	r->timeout_ms = timeout_ms;
	return r;
}

static void disconnect(rds_t *r)
{
	if (r->c != NULL)
		redisFree(r->c);
	r->c = NULL;
}

void redis_close(rds_t *r)
{
	if (r == NULL)
		return;
	disconnect(r);
	free(r->addr);
	free(r);
}

/* Splits "host:port"; the port must be 1..65535. */
static redisContext *connect_tcp(const char *addr, struct timeval tv)
{
	const char *colon = strrchr(addr, ':');
	char host[256];
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
		return NULL;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return NULL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	return redisConnectWithTimeout(host, (int)port, tv);
}

static bool ensure(rds_t *r)
{
	struct timeval tv = { r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000 };

	if (r->c != NULL && r->c->err == 0)
		return true;
	disconnect(r);
	r->c = r->addr[0] == '/' ? redisConnectUnixWithTimeout(r->addr, tv) : connect_tcp(r->addr, tv);
	if (r->c == NULL || r->c->err != 0 || redisSetTimeout(r->c, tv) != REDIS_OK) {
		disconnect(r);
		return false;
	}
	return true;
}

static void free_reply(void *p)
{
	freeReplyObject(p);
}

static redisReply *send_argv(rds_t *r, int argc, const char **argv, const size_t *argvlen)
{
	if (!ensure(r))
		return NULL;
	return redisCommandArgv(r->c, argc, argv, argvlen);
}

err_t redis_cmd(rds_t *r, arena_t *a, redisReply **out, int argc, const char **argv,
		const size_t *argvlen)
{
	redisReply *reply = send_argv(r, argc, argv, argvlen);
	err_t e;

	if (out != NULL)
		*out = NULL;
	if (reply == NULL) {        /* I/O error: the server restarted or went away; try once more */
		disconnect(r);
		reply = send_argv(r, argc, argv, argvlen);
	}
	if (reply == NULL) {
		disconnect(r);
		log_warn("redis.unavailable", LF_STR("command", argv[0]));
		return ERR_UNAVAILABLE;
	}
	e = reply->type == REDIS_REPLY_ERROR ? ERR_INTERNAL : ERR_OK;
	if (e != ERR_OK)
		log_warn("redis.error_reply", LF_STR("command", argv[0]));
	if (a != NULL)
		arena_cleanup_add(a, free_reply, reply);
	if (out != NULL)
		*out = reply;
	else if (a == NULL)
		freeReplyObject(reply);
	return e;
}

bool redis_ping(rds_t *r)
{
	const char *argv[] = { "PING" };
	redisReply *reply = send_argv(r, 1, argv, NULL);
	bool ok;

	if (reply == NULL) {
		disconnect(r);
		reply = send_argv(r, 1, argv, NULL);
	}
	if (reply == NULL) {
		disconnect(r);
		return false;
	}
	ok = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
	freeReplyObject(reply);
	return ok;
}

int redis_fd(rds_t *r)
{
	return r->c != NULL && r->c->err == 0 ? r->c->fd : -1;
}
