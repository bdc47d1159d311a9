/* files: small filesystem steps shared by the upload, media and storage code */
#include <dirent.h>
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
