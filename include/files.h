/* files: small filesystem steps shared by the upload, media and storage code */
#ifndef ATRIUM_FILES_H
#define ATRIUM_FILES_H

#include "common.h"

/* open(path, flags | O_CLOEXEC), fsync, close: a file's data, or with O_RDONLY | O_DIRECTORY a
 * directory's entries (after a rename or unlink in it). 0, or -1 with errno. */
int files_fsync_path(const char *path, int flags) MUSTCHECK;

/* Removes the entries of a flat directory that we named (none starting with '.'), then the
 * directory. Best effort: what cannot be removed stays, and nothing is reported. An empty dir
 * is left alone. */
void files_remove_dir(const char *dir);

#endif
