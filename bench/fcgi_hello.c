/* fcgi_hello: a bare pre-forked libfcgi responder, the limit atrium-fcgi is measured against
 * (bench/run.sh). Same shape as atrium-fcgi without any of its work: master binds, forks N
 * children, re-forks the dead, stops on SIGTERM; each child answers a tiny JSON. */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 256

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Parses the child count: an integer from 1 to MAX_CHILDREN. 0 on success, -1 otherwise. */
static int parse_children(const char *s, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 1 || n > MAX_CHILDREN)
		return -1;
	*out = (int)n;
	return 0;
}

static void child_loop(int fd)
{
	FCGX_Request req;
	static const char reply[] = "Status: 200 OK\r\nContent-Type: application/json\r\n"
				    "Content-Length: 12\r\n\r\n{\"ok\":true}\n";

	signal(SIGTERM, SIG_DFL);
	if (FCGX_InitRequest(&req, fd, 0) != 0)
		_exit(1);
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(reply, (int)sizeof(reply) - 1, req.out);
		FCGX_Finish_r(&req);
	}
	_exit(0);
}

static pid_t spawn(int fd)
{
	pid_t pid = fork();

	if (pid == 0)
		child_loop(fd);
	return pid;
}

/* Keeps n children alive until SIGTERM, then stops them and waits for them. */
static void supervise(int fd, int n)
{
	pid_t kids[MAX_CHILDREN];
	int i;

	for (i = 0; i < n; i++)
		kids[i] = spawn(fd);
	while (!stop) {
		pid_t dead = wait(NULL);

		if (dead < 0)
			continue; /* EINTR from SIGTERM: the loop re-checks stop */
		for (i = 0; i < n; i++)
			if (kids[i] == dead && !stop)
				kids[i] = spawn(fd);
	}
	for (i = 0; i < n; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int n, fd;

	if (argc != 3 || parse_children(argv[2], &n) != 0) {
		fprintf(stderr, "usage: fcgi_hello SOCKET CHILDREN (1-%d)\n", MAX_CHILDREN);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: wait() must return on SIGTERM */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (FCGX_Init() != 0) {
		fprintf(stderr, "fcgi_hello: FCGX_Init failed\n");
		return 1;
	}
	unlink(argv[1]);
	fd = FCGX_OpenSocket(argv[1], 1024);
	if (fd < 0) {
		fprintf(stderr, "fcgi_hello: cannot bind %s\n", argv[1]);
		return 1;
	}
	chmod(argv[1], 0666);
	supervise(fd, n);
	unlink(argv[1]);
	return 0;
}
