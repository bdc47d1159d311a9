/* access: roles, permissions and the one table that says which role may do what (DESIGN §8) */
#ifndef ATRIUM_ACCESS_H
#define ATRIUM_ACCESS_H

#include "common.h"

/* Ordered by power: a caller may grant only roles at or below its own. */
enum role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_DEVELOPER, ROLE_CREATOR, ROLE_ADMIN, ROLE_OWNER };

enum perm {
	PERM_PUBLIC = 0,     /* no credentials */
	PERM_AUTHENTICATED,  /* any role */
	PERM_FLOWS_READ,
	PERM_FLOWS_WRITE,
	PERM_FLOWS_PUBLISH,
	PERM_KEYS_READ,
	PERM_KEYS_WRITE,
	/* -- integrations and secrets -- */
	PERM_INTEGRATIONS_READ,   /* owner, admin, developer */
	PERM_INTEGRATIONS_WRITE,  /* owner, admin */
	PERM_AUDIT_READ,          /* owner, admin */
	/* -- webhooks -- */
	PERM_WEBHOOKS_READ,        /* owner, admin, developer */
	PERM_WEBHOOKS_WRITE,       /* owner, admin, developer */
	PERM_WEBHOOKS_SECRET,      /* owner, admin: rotate and reveal signing secrets */
	/* -- uploads and media -- */
	PERM_MEDIA_REPROCESS,     /* owner, admin, creator (media processing) */
	PERM_MEDIA_UPLOAD,        /* owner, admin, creator: tus uploads with an API key */
	PERM_MEDIA_READ,          /* everyone: list and read media assets */
	PERM__COUNT
};

/* The principal behind an authenticated request. */
struct principal {
	char tenant_id[UUID_STRLEN];
	char key_id[UUID_STRLEN];
	enum role role;
};

bool access_allows(enum role role, enum perm perm);
/* "owner" -> ROLE_OWNER; ROLE_NONE for anything else. */
enum role access_role_parse(const char *name);
const char *access_role_name(enum role role);
/* True when a caller with role `granter` may create a credential with role `granted`. */
bool access_may_grant(enum role granter, enum role granted);
/* NULL-terminated role names, for validators. */
extern const char *const access_role_names[];

#endif
