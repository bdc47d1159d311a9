/* access: roles, permissions and the one table that says which role may do what (DESIGN §8) */
#include <string.h>

#include "access.h"

const char *const access_role_names[] = { "viewer", "developer", "creator", "admin", "owner", NULL };

#define R(x) (1u << (x))
#define EVERYONE (R(ROLE_VIEWER) | R(ROLE_DEVELOPER) | R(ROLE_CREATOR) | R(ROLE_ADMIN) | R(ROLE_OWNER))

/* The permission matrix: one row per permission, one bit per role. */
static const unsigned matrix[PERM__COUNT] = {
	[PERM_PUBLIC]        = EVERYONE,
	[PERM_AUTHENTICATED] = EVERYONE,
	[PERM_FLOWS_READ]    = EVERYONE,
	[PERM_FLOWS_WRITE]   = R(ROLE_CREATOR) | R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_FLOWS_PUBLISH] = R(ROLE_CREATOR) | R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_KEYS_READ]     = R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_KEYS_WRITE]    = R(ROLE_ADMIN) | R(ROLE_OWNER),
	/* -- integrations and secrets -- */
	[PERM_INTEGRATIONS_READ]  = R(ROLE_DEVELOPER) | R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_INTEGRATIONS_WRITE] = R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_AUDIT_READ]         = R(ROLE_ADMIN) | R(ROLE_OWNER),
	/* -- webhooks -- */
	[PERM_WEBHOOKS_READ]      = R(ROLE_DEVELOPER) | R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_WEBHOOKS_WRITE]     = R(ROLE_DEVELOPER) | R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_WEBHOOKS_SECRET]    = R(ROLE_ADMIN) | R(ROLE_OWNER),
	/* -- uploads and media -- */
	[PERM_MEDIA_REPROCESS]    = R(ROLE_CREATOR) | R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_MEDIA_UPLOAD]       = R(ROLE_CREATOR) | R(ROLE_ADMIN) | R(ROLE_OWNER),
	[PERM_MEDIA_READ]         = EVERYONE,
};

bool access_allows(enum role role, enum perm perm)
{
	if ((unsigned)perm >= PERM__COUNT || role <= ROLE_NONE || role > ROLE_OWNER)
		return false;
	return (matrix[perm] & R(role)) != 0;
}

enum role access_role_parse(const char *name)
{
	for (int i = 0; name != NULL && access_role_names[i] != NULL; i++)
		if (strcmp(name, access_role_names[i]) == 0)
			return (enum role)(i + 1);
	return ROLE_NONE;
}

const char *access_role_name(enum role role)
{
	if (role <= ROLE_NONE || role > ROLE_OWNER)
		return "none";
	return access_role_names[role - 1];
}

bool access_may_grant(enum role granter, enum role granted)
{
	return granted > ROLE_NONE && granted <= granter &&
	       (granter == ROLE_OWNER || access_allows(granter, PERM_KEYS_WRITE));
}
