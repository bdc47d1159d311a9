/* files: small filesystem steps shared by the upload, media and storage code */
#ifndef ATRIUM_FILES_H
#define ATRIUM_FILES_H

#include <sys/types.h>

#include "common.h"

/* open(path, flags | O_CLOEXEC), fsync, close: a file's data, or with O_RDONLY | O_DIRECTORY a
 * directory's entries (after a rename or unlink in it). 0, or -1 with errno. */
int files_fsync_path(const char *path, int flags) MUSTCHECK;

/* Removes the entries of a flat directory that we named (none starting with '.'), then the
 * directory. Best effort: what cannot be removed stays, and nothing is reported. An empty dir
 * is left alone. */
void files_remove_dir(const char *dir);

/* pwrite / pread of exactly n bytes at off, through short transfers and EINTR. 0, or -1 (errno
 * set; a read past the end of the file is -1 with errno 0). */
int files_pwrite_all(int fd, const void *p, size_t n, off_t off) MUSTCHECK;
int files_pread_all(int fd, void *p, size_t n, off_t off) MUSTCHECK;

#endif
