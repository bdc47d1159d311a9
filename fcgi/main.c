/* atrium-fcgi: the pre-fork master (bind, drop privileges, keep N children alive, drain) and its children */
#include <errno.h>
#include <fcgiapp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "log.h"
#include "secrets.h"
#include "proc.h"
#include "queue.h"
#include "request.h"
#include "router.h"

#define MAX_CHILDREN 256
#define DRAIN_SECONDS 10

/* The listening socket: from systemd (LISTEN_FDS, or StandardInput=socket on fd 0), else bound
 * here at cfg->fcgi_socket and handed to the service user. -1 with a message on failure. */
static int listen_socket(const struct config *cfg, char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct stat st;
	struct passwd *pw;
	char *end;
	int fd;

	if (pid != NULL && fds != NULL && strcmp(fds, "1") == 0 &&
	    strtol(pid, &end, 10) == (long)getpid() && *end == '\0')
		return 3;   /* SD_LISTEN_FDS_START */
	if (fstat(0, &st) == 0 && S_ISSOCK(st.st_mode))
		return 0;
	unlink(cfg->fcgi_socket);
	fd = FCGX_OpenSocket(cfg->fcgi_socket, 1024);
	if (fd < 0) {
		snprintf(err, errlen, "cannot bind %s", cfg->fcgi_socket);
		return -1;
	}
	if (cfg->user[0] != '\0' && geteuid() == 0 && (pw = getpwnam(cfg->user)) != NULL &&
	    chown(cfg->fcgi_socket, pw->pw_uid, pw->pw_gid) != 0) {
		snprintf(err, errlen, "cannot hand %s to %s: %s", cfg->fcgi_socket, cfg->user, strerror(errno));
		return -1;
	}
	if (chmod(cfg->fcgi_socket, 0600) != 0) {
		snprintf(err, errlen, "cannot chmod %s: %s", cfg->fcgi_socket, strerror(errno));
		return -1;
	}
	return fd;
}

static bool parse_length(const char *s, size_t *out)
{
	char *end;
	unsigned long long n;

	*out = 0;
	if (s == NULL || s[0] == '\0')
		return true;
	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end != '\0' || errno == ERANGE)
		return false;
	*out = (size_t)n;
	return true;
}

/* Fills the request from nginx's parameters and runs it through the router. */
static void serve(struct app *app, FCGX_Request *fr)
{
	struct req r = { .app = app, .a = app->arena, .fcgi = fr };
	const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
	const char *q;
	char rid[UUID_STRLEN];

	r.method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	r.request_id = FCGX_GetParam("REQUEST_ID", fr->envp);
	if (r.request_id == NULL || r.request_id[0] == '\0') {
		crypto_uuid7(rid);
		r.request_id = arena_strdup(r.a, rid);
	}
	log_set_request_id(r.request_id);
	r.content_type = FCGX_GetParam("CONTENT_TYPE", fr->envp);
	if (r.content_type == NULL)
		r.content_type = "";
	if (r.method == NULL)
		r.method = "GET";
	uri = uri ? uri : "/";
	q = strchr(uri, '?');
	r.uri_path = q ? arena_strndup(r.a, uri, (size_t)(q - uri)) : uri;
	r.query = q ? q + 1 : "";
	if (!parse_length(FCGX_GetParam("CONTENT_LENGTH", fr->envp), &r.content_length)) {
		err_set(&r.prob, r.a, ERR_BAD_REQUEST, "Content-Length is not a number");
		response_send(&r, ERR_BAD_REQUEST);
	} else {
		router_dispatch(&r);
	}
	log_set_request_id(NULL);
}

static _Noreturn void child_main(const struct config *cfg, int listen_fd)
{
	struct app app = { .cfg = cfg };
	FCGX_Request fr;

	app.arena = arena_new(64 * 1024);
	app.db = db_connect_opts(cfg->db_app, "atrium-fcgi", cfg->db_timeout_ms);
	app.redis = redis_open(cfg->redis, 500);
	queue_init(app.redis, cfg);   /* jobs enqueued by requests are announced right after commit */
	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		log_fatal("fcgi.init", "FCGX_Init failed");
	while (!proc_stop) {
		if (FCGX_Accept_r(&fr) < 0) {
			if (errno == EINTR && !proc_stop)
				continue;
			break;
		}
		serve(&app, &fr);
		FCGX_Finish_r(&fr);
		arena_reset(app.arena);
	}
	db_close(app.db);
	redis_close(app.redis);
	exit(0);
}

struct pool {
	pid_t pids[MAX_CHILDREN];
	time_t started[MAX_CHILDREN];
	int n;
	sigset_t unblocked;   /* the mask children run with; the master blocks signals between waits */
};

static void spawn(struct pool *p, int i, const struct config *cfg, int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &p->unblocked, NULL);
		child_main(cfg, fd);
	}
	if (pid < 0) {
		log_error("fcgi.fork_failed", LF_STR("error", strerror(errno)));
		return;
	}
	p->pids[i] = pid;
	p->started[i] = time(NULL);
}

/* Re-forks every child that exited; a child that died within a second of starting is
 * re-forked after a pause, so a crash loop does not spin. */
static void reap(struct pool *p, const struct config *cfg, int fd)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < p->n; i++) {
			if (p->pids[i] != pid)
				continue;
			log_warn("fcgi.child_exited", LF_INT("pid", pid), LF_INT("status", status));
			if (time(NULL) - p->started[i] < 1)
				sleep(1);
			if (!proc_stop)
				spawn(p, i, cfg, fd);
		}
	}
}

static void drain(struct pool *p)
{
	time_t deadline = time(NULL) + DRAIN_SECONDS;
	int left = p->n;

	for (int i = 0; i < p->n; i++)
		kill(p->pids[i], SIGTERM);
	while (left > 0 && time(NULL) < deadline) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid > 0)
			left--;
		else if (pid < 0 && errno == ECHILD)
			break;
		else
			usleep(20000);
	}
	if (left > 0)
		kill(0, SIGKILL);
}

static int children_wanted(const struct config *cfg)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->children > 0)
		return cfg->children;
	return cores > 0 && cores * 2 <= MAX_CHILDREN ? (int)cores * 2 : 4;
}

static int print_routes(void)
{
	size_t n;
	const struct route *rt = router_routes(&n);

	for (size_t i = 0; i < n; i++)
		printf("%s %s\n", rt[i].method, rt[i].pattern);
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct pool pool = { .n = 0 };
	sigset_t block;
	char err[256];
	int fd;

	if (argc > 1 && strcmp(argv[1], "--routes") == 0)
		return print_routes();
	if (config_load(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "atrium-fcgi: %s\n", err);
		return 1;
	}
	log_init("atrium-fcgi", (enum log_level)cfg.log_level);
	/* The master keys are root-only: read them before dropping privileges (DESIGN §5). */
	if (secrets_load_keys(cfg.keys_dir, err, sizeof(err)) != 0 ||
	    (fd = listen_socket(&cfg, err, sizeof(err))) < 0 ||
	    proc_drop_privileges(cfg.user, err, sizeof(err)) != 0) {
		log_error("fcgi.start_failed", LF_STR("error", err));
		return 1;
	}
	proc_signals();
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &pool.unblocked);
	pool.n = children_wanted(&cfg);
	for (int i = 0; i < pool.n; i++)
		spawn(&pool, i, &cfg, fd);
	log_info("fcgi.ready", LF_INT("children", pool.n), LF_STR("socket", cfg.fcgi_socket));
	proc_notify("READY=1");
	while (!proc_stop) {
		reap(&pool, &cfg, fd);
		if (!proc_stop)
			sigsuspend(&pool.unblocked);   /* atomically unblocks and waits: no lost SIGCHLD */
	}
	proc_notify("STOPPING=1");
	log_info("fcgi.draining");
	drain(&pool);
	return 0;
}
