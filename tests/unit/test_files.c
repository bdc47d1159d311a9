/* test_files: fsync of a file and a directory, and removing a flat directory of our own files */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "files.h"

static void touch(const char *dir, const char *name)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("data", f);
	fclose(f);
}

static void test_fsync_file_and_directory(void **state)
{
	char dir[] = "/tmp/atrium-files-XXXXXX", p[512];

	(void)state;
	assert_non_null(mkdtemp(dir));
	touch(dir, "a");
	snprintf(p, sizeof(p), "%s/a", dir);
	assert_int_equal(files_fsync_path(p, O_RDONLY), 0);
	assert_int_equal(files_fsync_path(dir, O_RDONLY | O_DIRECTORY), 0);
	/* a file is not a directory, and a missing path says so through errno */
	assert_int_equal(files_fsync_path(p, O_RDONLY | O_DIRECTORY), -1);
	assert_int_equal(errno, ENOTDIR);
	snprintf(p, sizeof(p), "%s/missing", dir);
	assert_int_equal(files_fsync_path(p, O_RDONLY), -1);
	assert_int_equal(errno, ENOENT);
	files_remove_dir(dir);
	assert_int_equal(access(dir, F_OK), -1);
}

static void test_remove_dir_takes_files_and_directory(void **state)
{
	char dir[] = "/tmp/atrium-files-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	touch(dir, "00000000000000000000");
	touch(dir, "00000000000052428800");
	touch(dir, "assembled");
	files_remove_dir(dir);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	files_remove_dir(dir);          /* already gone: nothing happens */
}

/* Names starting with '.' are not ours: they stay, and so does the directory holding them. */
static void test_remove_dir_leaves_what_it_did_not_name(void **state)
{
	char dir[] = "/tmp/atrium-files-XXXXXX", p[512];

	(void)state;
	assert_non_null(mkdtemp(dir));
	touch(dir, "part");
	touch(dir, ".keep");
	files_remove_dir(dir);
	snprintf(p, sizeof(p), "%s/part", dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/.keep", dir);
	assert_int_equal(access(p, F_OK), 0);
	unlink(p);
	files_remove_dir(dir);
	assert_int_equal(access(dir, F_OK), -1);
	files_remove_dir("");           /* an empty path is left alone */
}

static void test_pwrite_pread_all(void **state)
{
	char path[] = "/tmp/atrium-files-XXXXXX", back[8] = { 0 };
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(files_pwrite_all(fd, "abcdefgh", 8, 4), 0);      /* a hole, then 8 bytes */
	assert_int_equal(files_pread_all(fd, back, 8, 4), 0);
	assert_memory_equal(back, "abcdefgh", 8);
	assert_int_equal(files_pread_all(fd, back, 8, 8), -1);            /* only 4 bytes are there */
	assert_int_equal(files_pwrite_all(-1, "x", 1, 0), -1);
	assert_int_equal(errno, EBADF);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsync_file_and_directory),
		cmocka_unit_test(test_remove_dir_takes_files_and_directory),
		cmocka_unit_test(test_remove_dir_leaves_what_it_did_not_name),
		cmocka_unit_test(test_pwrite_pread_all),
	};

	return cmocka_run_group_tests_name("files", tests, NULL, NULL);
}
