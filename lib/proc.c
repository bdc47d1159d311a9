/* proc: process start-up shared by atrium-fcgi and the workers: privileges, systemd notify, signals */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proc.h"

volatile sig_atomic_t proc_stop;
volatile sig_atomic_t proc_reload;
volatile sig_atomic_t proc_child;

static int become(const struct passwd *pw, char *err, size_t errlen)
{
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		snprintf(err, errlen, "cannot switch to user %s: %s", pw->pw_name, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		snprintf(err, errlen, "privileges could be regained after switching to %s", pw->pw_name);
		return -1;
	}
	return 0;
}

int proc_drop_privileges(const char *user, char *err, size_t errlen)
{
	const struct passwd *pw;

	if (user != NULL && user[0] != '\0' && geteuid() == 0) {
		errno = 0;
		pw = getpwnam(user);
		if (pw == NULL) {
			snprintf(err, errlen, "unknown user %s", user);
			return -1;
		}
		if (become(pw, err, errlen) != 0)
			return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		snprintf(err, errlen, "cannot mark the process non-dumpable: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void proc_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}

static void on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		proc_stop = 1;
		break;
	case SIGHUP:
		proc_reload = 1;
		break;
	case SIGCHLD:
		proc_child = 1;
		break;
	}
}

void proc_signals(void)
{
	struct sigaction sa;
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;   /* no SA_RESTART: blocking calls return EINTR and loops see the flags */
	for (size_t i = 0; i < NELEM(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}
