/* storage_local: the StorageAdapter on a local directory (files 0640 under ATRIUM_STORAGE_DIR) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "files.h"
#include "log.h"
#include "storage_backend.h"

#define LOCAL_PATH_MAX 4096

struct local {
	char root[LOCAL_PATH_MAX];
};

static int local_path(storage_t *s, const char *key, char *out, size_t cap)
{
	struct local *l = s->impl;
	int n = snprintf(out, cap, "%s/%s", l->root, key);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static err_t errno_err(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return ERR_INSUFFICIENT_STORAGE;
	if (e == ENOENT)
		return ERR_NOT_FOUND;
	return ERR_INTERNAL;
}

/* mkdir -p of path's parent directories (setgid bits are inherited from the root). */
static int make_parents(const char *path)
{
	char tmp[LOCAL_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 02750) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[LOCAL_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	return files_fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

/* Copies src into a new file at tmp (sendfile: no user-space copy), fsynced. 0 or an errno. */
static int copy_file(const char *src, const char *tmp)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, e = 0;
	struct stat st;
	off_t off = 0;

	if (in < 0)
		return errno;
	if (fstat(in, &st) < 0)
		goto fail;
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (out < 0)
		goto fail;
	while (off < st.st_size) {
		ssize_t n = sendfile(out, in, &off, (size_t)(st.st_size - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
	}
	if (fsync(out) < 0)
		goto fail;
	close(in);
	return close(out) < 0 ? errno : 0;
fail:
	e = errno ? errno : EIO;
	close(in);
	if (out >= 0) {
		close(out);
		unlink(tmp);
	}
	return e;
}

/* A file renamed into the tree keeps its group, unlike one created there: give it the group of
 * its directory (setgid atrium, which nginx reads through) and mode 0640, changing only what
 * differs (a file of another owner that already fits may still be renamed). 0 or -1. */
static int fit_tree(int fd, const char *dst)
{
	char dir[LOCAL_PATH_MAX];
	struct stat d, f;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", dst);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if (stat(dir, &d) < 0 || fstat(fd, &f) < 0)
		return -1;
	if (f.st_gid != d.st_gid && fchown(fd, (uid_t)-1, d.st_gid) < 0)
		return -1;
	return (f.st_mode & 07777) == 0640 ? 0 : fchmod(fd, 0640);
}

/* Put: rename when allowed and on the same filesystem (the spooled body is written once), else
 * copy to a temporary name; then fsync and rename into place, then fsync the directory. */
static err_t local_put(storage_t *s, const char *key, const char *path, const char *ctype,
		       int flags)
{
	char dst[LOCAL_PATH_MAX], tmp[LOCAL_PATH_MAX + 64], rnd[17];
	unsigned char r[8];
	int e;

	(void)ctype;
	if (local_path(s, key, dst, sizeof(dst)) < 0 || make_parents(dst) < 0)
		return errno_err(errno);
	if (flags & STORAGE_MOVE) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		bool ready = fd >= 0 && fit_tree(fd, dst) == 0 && fsync(fd) == 0;

		if (fd >= 0 && close(fd) < 0)
			ready = false;
		if (ready && rename(path, dst) == 0)
			return fsync_dir_of(dst) < 0 ? ERR_INTERNAL : ERR_OK;
		if (fd >= 0 && errno != EXDEV)
			log_warn("storage_local_move_failed", LF_STR("error", strerror(errno)));
	}
	if (crypto_random(r, sizeof(r)) < 0)
		return ERR_INTERNAL;
	crypto_hex(r, sizeof(r), rnd);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%s", dst, rnd);
	e = copy_file(path, tmp);
	if (e != 0)
		return errno_err(e == ENOENT ? EIO : e);
	if (rename(tmp, dst) < 0) {
		e = errno;
		unlink(tmp);
		return errno_err(e);
	}
	if (fsync_dir_of(dst) < 0)
		return ERR_INTERNAL;
	if (flags & STORAGE_MOVE)
		unlink(path);
	return ERR_OK;
}

static err_t local_get(storage_t *s, const char *key, const char *dest)
{
	char src[LOCAL_PATH_MAX];
	int e;

	if (local_path(s, key, src, sizeof(src)) < 0)
		return ERR_INTERNAL;
	if (access(src, F_OK) < 0)
		return ERR_NOT_FOUND;
	unlink(dest);
	e = copy_file(src, dest);
	return e == 0 ? ERR_OK : errno_err(e);
}

static err_t local_del(storage_t *s, const char *key)
{
	char p[LOCAL_PATH_MAX];

	if (local_path(s, key, p, sizeof(p)) < 0)
		return ERR_INTERNAL;
	if (unlink(p) < 0 && errno != ENOENT)
		return ERR_INTERNAL;
	return ERR_OK;
}

static err_t local_stat(storage_t *s, const char *key, struct storage_stat *st)
{
	char p[LOCAL_PATH_MAX];
	struct stat sb;

	if (local_path(s, key, p, sizeof(p)) < 0)
		return ERR_INTERNAL;
	if (stat(p, &sb) < 0)
		return errno_err(errno);
	st->size = (int64_t)sb.st_size;
	st->mtime = sb.st_mtime;
	return ERR_OK;
}

static err_t local_presign(storage_t *s, arena_t *a, const char *method, const char *key,
			   long expires, const char *rtype, const char *rdisp, const char **url)
{
	(void)s, (void)a, (void)method, (void)key, (void)expires, (void)rtype, (void)rdisp;
	*url = NULL;
	return ERR_INTERNAL;
}

static err_t local_serve(storage_t *s, arena_t *a, const char *key, long expires,
			 const char *rtype, const char *rdisp, struct storage_serve *out)
{
	(void)s, (void)expires, (void)rtype, (void)rdisp;
	out->kind = STORAGE_SERVE_ACCEL;
	out->uri = arena_printf(a, "/_storage/%s", key);
	return ERR_OK;
}

static void local_close(storage_t *s)
{
	free(s->impl);
}

static const struct storage_ops local_ops = {
	"local", local_put, local_get, local_del, local_stat, local_presign, local_serve, local_close,
};

int storage_local_init(storage_t *s, const struct config *c, char *err, size_t errlen)
{
	struct local *l = calloc(1, sizeof(*l));
	size_t n = strlen(c->storage_dir);

	if (!l || n == 0 || n >= sizeof(l->root) - STORAGE_KEY_MAX - 64 || c->storage_dir[0] != '/') {
		snprintf(err, errlen, "ATRIUM_STORAGE_DIR: must be an absolute path");
		free(l);
		return -1;
	}
	memcpy(l->root, c->storage_dir, n);
	while (n > 1 && l->root[n - 1] == '/')
		l->root[--n] = '\0';
	s->ops = &local_ops;
	s->impl = l;
	return 0;
}
