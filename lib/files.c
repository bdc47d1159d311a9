/* files: small filesystem steps shared by the upload, media and storage code */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "files.h"

int files_fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

void files_remove_dir(const char *dir)
{
	DIR *d = dir[0] != '\0' ? opendir(dir) : NULL;
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)rmdir(dir);
}

/* One loop for both directions: write when out is NULL (from in), else read into out. */
static int pio_all(int fd, const unsigned char *in, unsigned char *out, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t k;

		errno = 0;
		k = out != NULL ? pread(fd, out, n, off) : pwrite(fd, in, n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		if (out != NULL)
			out += k;
		else
			in += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

int files_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	return pio_all(fd, p, NULL, n, off);
}

int files_pread_all(int fd, void *p, size_t n, off_t off)
{
	return pio_all(fd, NULL, p, n, off);
}
