/* storage: the StorageAdapter's front — picks the backend from config, derives object keys */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "storage_backend.h"

storage_t *storage_open(const struct config *c, char *err, size_t errlen)
{
	storage_t *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (strcmp(c->storage_backend, "s3") == 0)
		rc = storage_s3_init(s, c, err, errlen);
	else
		rc = storage_local_init(s, c, err, errlen);
	if (rc < 0) {
		free(s);
		return NULL;
	}
	return s;
}

void storage_close(storage_t *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s);
}

const char *storage_backend_name(const storage_t *s)
{
	return s->ops->name;
}

static bool variant_valid(const char *v)
{
	size_t n = strlen(v);

	if (n < 1 || n > 32)
		return false;
	return strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int storage_key(char out[STORAGE_KEY_MAX], const char *tenant_id, const char *asset_id,
		const char *variant)
{
	int n;

	if (!crypto_uuid_valid(tenant_id) || !crypto_uuid_valid(asset_id) || !variant_valid(variant))
		return -1;
	n = snprintf(out, STORAGE_KEY_MAX, "t/%s/media/%s/%s", tenant_id, asset_id, variant);
	if (n < 0 || n >= STORAGE_KEY_MAX)
		return -1;
	/* canonical ids are case-insensitive; keys are not */
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

/* Keys reach paths and URLs: only what storage_key produces passes. */
static bool key_valid(const char *key)
{
	size_t n = strlen(key);

	return n > 0 && n < STORAGE_KEY_MAX && key[0] != '/' && strstr(key, "..") == NULL &&
	       strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_-/") == n;
}

err_t storage_put_file(storage_t *s, const char *key, const char *path, const char *content_type,
		       int flags)
{
	return key_valid(key) ? s->ops->put_file(s, key, path, content_type, flags) : ERR_INTERNAL;
}

err_t storage_get_file(storage_t *s, const char *key, const char *dest)
{
	return key_valid(key) ? s->ops->get_file(s, key, dest) : ERR_INTERNAL;
}

err_t storage_delete(storage_t *s, const char *key)
{
	return key_valid(key) ? s->ops->del(s, key) : ERR_INTERNAL;
}

err_t storage_stat(storage_t *s, const char *key, struct storage_stat *st)
{
	return key_valid(key) ? s->ops->stat(s, key, st) : ERR_INTERNAL;
}

err_t storage_presign(storage_t *s, arena_t *a, const char *method, const char *key, long expires,
		      const char *response_type, const char *response_disposition, const char **url)
{
	if (!key_valid(key) || (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0))
		return ERR_INTERNAL;
	return s->ops->presign(s, a, method, key, expires, response_type, response_disposition, url);
}

err_t storage_serve(storage_t *s, arena_t *a, const char *key, long expires,
		    const char *response_type, const char *response_disposition,
		    struct storage_serve *out)
{
	if (!key_valid(key))
		return ERR_INTERNAL;
	return s->ops->serve(s, a, key, expires, response_type, response_disposition, out);
}
