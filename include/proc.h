/* proc: process start-up shared by atrium-fcgi and the workers: privileges, systemd notify, signals */
#ifndef ATRIUM_PROC_H
#define ATRIUM_PROC_H

#include <signal.h>

#include "common.h"

/* When running as root and user is non-empty: setgroups (user's groups), setgid, setuid to user,
 * then verifies root cannot be regained. Not root: no-op (user must then be "" or ourselves).
 * Always marks the process non-dumpable (PR_SET_DUMPABLE 0). 0, or -1 with a message in err. */
int proc_drop_privileges(const char *user, char *err, size_t errlen) MUSTCHECK;

/* sd_notify(3) without libsystemd: sends state ("READY=1", "STOPPING=1", "STATUS=...") to
 * $NOTIFY_SOCKET if set. Silent no-op otherwise. */
void proc_notify(const char *state);

/* The flags set by signal handlers (handlers only set flags: STYLE.md). */
extern volatile sig_atomic_t proc_stop;    /* SIGTERM, SIGINT */
extern volatile sig_atomic_t proc_reload;  /* SIGHUP */
extern volatile sig_atomic_t proc_child;   /* SIGCHLD */

/* Installs handlers for SIGTERM, SIGINT, SIGHUP and SIGCHLD with sigaction and *without*
 * SA_RESTART, so blocking calls return EINTR and loops see the flags; ignores SIGPIPE. */
void proc_signals(void);

#endif
