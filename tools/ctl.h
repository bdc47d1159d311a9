/* ctl: the subcommands of atriumctl, one function per command group (tools/ctl_<group>.c) */
#ifndef ATRIUM_CTL_H
#define ATRIUM_CTL_H

#include "config.h"

/* Each returns the process exit status: 0 ok, 1 failure, 2 usage. argv[0] is the group name
 * ("jobs", "tenant", ...). Output for scripts is JSON on stdout; diagnostics go to stderr. */
int ctl_migrate(const struct config *cfg, int argc, char **argv);
int ctl_tenant(const struct config *cfg, int argc, char **argv);
int ctl_jobs(const struct config *cfg, int argc, char **argv);
int ctl_keys(const struct config *cfg, int argc, char **argv);
int ctl_webhooks(const struct config *cfg, int argc, char **argv);
int ctl_storage(const struct config *cfg, int argc, char **argv);

#endif
