/* test_config: defaults, overrides, strict integers, enums and messages naming the variable */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

static const char *const vars[] = {
	"ATRIUM_ENV", "ATRIUM_DB_APP", "ATRIUM_DB_WORKER", "ATRIUM_DB_OWNER", "ATRIUM_REDIS",
	"ATRIUM_FCGI_SOCKET", "ATRIUM_CHILDREN", "ATRIUM_USER", "ATRIUM_KEYS_DIR", "ATRIUM_LOG_LEVEL",
	"ATRIUM_PUBLIC_URL", "ATRIUM_DB_TIMEOUT_MS", "ATRIUM_JOB_LEASE_MS", "ATRIUM_JOB_SWEEP_MS",
	"ATRIUM_JOB_BACKOFF_BASE_MS", "ATRIUM_JOB_BACKOFF_CAP_MS", "ATRIUM_JOB_MAX_ATTEMPTS",
	"ATRIUM_JOB_BLOCK_MS", "ATRIUM_RETENTION_DAYS", "ATRIUM_SQL_DIR", "ATRIUM_WORKER_QUEUES",
};

static int clean_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(vars); i++)
		unsetenv(vars[i]);
	return 0;
}

static void test_defaults(void **state)
{
	struct config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(config_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.env, "dev");
	assert_string_equal(c.db_app, "dbname=atrium user=atrium_app");
	assert_string_equal(c.db_worker, "dbname=atrium user=atrium_worker");
	assert_string_equal(c.db_owner, "dbname=atrium user=atrium_owner");
	assert_string_equal(c.redis, "/run/atrium/redis.sock");
	assert_string_equal(c.fcgi_socket, "/run/atrium/fcgi.sock");
	assert_int_equal(c.children, 0);
	assert_string_equal(c.user, "");
	assert_string_equal(c.keys_dir, "/etc/atrium/keys");
	assert_int_equal(c.log_level, LL_INFO);
	assert_string_equal(c.public_url, "http://127.0.0.1:8080");
	assert_int_equal(c.db_timeout_ms, 5000);
	assert_int_equal(c.job_lease_ms, 30000);
	assert_int_equal(c.job_sweep_ms, 5000);
	assert_int_equal(c.job_backoff_base_ms, 1000);
	assert_int_equal(c.job_backoff_cap_ms, 3600000);
	assert_int_equal(c.job_max_attempts, 8);
	assert_int_equal(c.job_block_ms, 2000);
	assert_int_equal(c.retention_days, 30);
	assert_string_equal(c.sql_dir, "sql");
	assert_string_equal(c.worker_queues, "");
}

static void test_overrides(void **state)
{
	struct config c;
	char err[256] = "";

	(void)state;
	setenv("ATRIUM_ENV", "production", 1);
	setenv("ATRIUM_CHILDREN", "256", 1);
	setenv("ATRIUM_LOG_LEVEL", "debug", 1);
	setenv("ATRIUM_DB_TIMEOUT_MS", "100", 1);
	setenv("ATRIUM_REDIS", "127.0.0.1:6380", 1);
	setenv("ATRIUM_RETENTION_DAYS", "3650", 1);
	assert_int_equal(config_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.env, "production");
	assert_int_equal(c.children, 256);
	assert_int_equal(c.log_level, LL_DEBUG);
	assert_int_equal(c.db_timeout_ms, 100);
	assert_string_equal(c.redis, "127.0.0.1:6380");
	assert_int_equal(c.retention_days, 3650);
}

/* Each bad value fails with a message that names the variable and shows the value. */
static void expect_bad(const char *var, const char *val, const char *msg)
{
	struct config c;
	char err[256] = "";

	clean_env(NULL);
	setenv(var, val, 1);
	assert_int_equal(config_load(&c, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
	unsetenv(var);
}

static void test_bad_integers(void **state)
{
	(void)state;
	expect_bad("ATRIUM_CHILDREN", "x", "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \"x\"");
	expect_bad("ATRIUM_CHILDREN", "257", "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \"257\"");
	expect_bad("ATRIUM_CHILDREN", "-1", "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \"-1\"");
	expect_bad("ATRIUM_CHILDREN", "4x", "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \"4x\"");
	expect_bad("ATRIUM_CHILDREN", " 4", "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \" 4\"");
	expect_bad("ATRIUM_CHILDREN", "+4", "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \"+4\"");
	expect_bad("ATRIUM_CHILDREN", "", "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \"\"");
	expect_bad("ATRIUM_CHILDREN", "99999999999999999999999",
		   "ATRIUM_CHILDREN: must be an integer from 0 to 256, got \"99999999999999999999999\"");
	expect_bad("ATRIUM_DB_TIMEOUT_MS", "99",
		   "ATRIUM_DB_TIMEOUT_MS: must be an integer from 100 to 600000, got \"99\"");
	expect_bad("ATRIUM_JOB_MAX_ATTEMPTS", "0",
		   "ATRIUM_JOB_MAX_ATTEMPTS: must be an integer from 1 to 100, got \"0\"");
	expect_bad("ATRIUM_RETENTION_DAYS", "3651",
		   "ATRIUM_RETENTION_DAYS: must be an integer from 1 to 3650, got \"3651\"");
}

static void test_bad_enums(void **state)
{
	(void)state;
	expect_bad("ATRIUM_ENV", "prod", "ATRIUM_ENV: must be one of dev, test, production, got \"prod\"");
	expect_bad("ATRIUM_ENV", "", "ATRIUM_ENV: must be one of dev, test, production, got \"\"");
	expect_bad("ATRIUM_LOG_LEVEL", "INFO",
		   "ATRIUM_LOG_LEVEL: must be one of debug, info, warn, error, got \"INFO\"");
}

/* A failed load leaves the caller's struct untouched. */
static void test_failure_leaves_struct(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	memset(&c, 0x7b, sizeof(c));
	setenv("ATRIUM_CHILDREN", "many", 1);
	assert_int_equal(config_load(&c, err, sizeof(err)), -1);
	assert_int_equal(c.children, 0x7b7b7b7b);
}

static void test_backoff_cap_below_base(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	setenv("ATRIUM_JOB_BACKOFF_BASE_MS", "5000", 1);
	setenv("ATRIUM_JOB_BACKOFF_CAP_MS", "1000", 1);
	assert_int_equal(config_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ATRIUM_JOB_BACKOFF_CAP_MS: must be at least"));
}

/* A small err buffer truncates the message but never overflows. */
static void test_small_err_buffer(void **state)
{
	struct config c;
	char err[12];

	(void)state;
	memset(err, 'Z', sizeof(err));
	setenv("ATRIUM_ENV", "nope", 1);
	assert_int_equal(config_load(&c, err, sizeof(err) - 4), -1);
	assert_string_equal(err, "ATRIUM_");
	assert_int_equal(err[8], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clean_env),
		cmocka_unit_test_setup(test_overrides, clean_env),
		cmocka_unit_test_setup(test_bad_integers, clean_env),
		cmocka_unit_test_setup(test_bad_enums, clean_env),
		cmocka_unit_test_setup(test_failure_leaves_struct, clean_env),
		cmocka_unit_test_setup(test_backoff_cap_below_base, clean_env),
		cmocka_unit_test_setup(test_small_err_buffer, clean_env),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
