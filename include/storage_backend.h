/* storage_backend: what a StorageAdapter backend provides (services/storage_local.c, storage_s3.c);
 * only services/storage*.c include this */
#ifndef ATRIUM_STORAGE_BACKEND_H
#define ATRIUM_STORAGE_BACKEND_H

#include "storage.h"

struct storage_ops {
	const char *name;
	err_t (*put_file)(storage_t *s, const char *key, const char *path, const char *ctype, int flags);
	err_t (*get_file)(storage_t *s, const char *key, const char *dest);
	err_t (*del)(storage_t *s, const char *key);
	err_t (*stat)(storage_t *s, const char *key, struct storage_stat *st);
	err_t (*presign)(storage_t *s, arena_t *a, const char *method, const char *key, long expires,
			 const char *rtype, const char *rdisp, const char **url);
	err_t (*serve)(storage_t *s, arena_t *a, const char *key, long expires, const char *rtype,
		       const char *rdisp, struct storage_serve *out);
	void (*close)(storage_t *s);
};

struct storage {
	const struct storage_ops *ops;
	void *impl;
};

/* Each backend's constructor: 0, or -1 with a message in err. */
int storage_local_init(storage_t *s, const struct config *c, char *err, size_t errlen);
int storage_s3_init(storage_t *s, const struct config *c, char *err, size_t errlen);

#endif
