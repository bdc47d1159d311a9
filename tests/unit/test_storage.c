/* test_storage: the StorageAdapter — derived keys, the local backend on a temporary directory, and
 * the s3 backend end to end against s3rver (npm) started here behind a SigV4-checking front: put, get, stat, delete, multipart,
 * presigned GET, virtual-hosted addressing, a wrong secret key and an expired presigned URL refused */
#include <curl/curl.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto.h"
#include "log.h"
#include "sigv4.h"
#include "storage.h"

#define T1 "0190a5b2-0000-7000-8000-000000000001"
#define A1 "0190a5b2-0000-7000-8000-0000000000a1"

static char tmpdir[256];
static pid_t s3rver_pid, front_pid;
static int s3_port;

static void write_random(const char *path, size_t n)
{
	FILE *f = fopen(path, "wb");
	unsigned char b[65536];

	assert_non_null(f);
	while (n > 0) {
		size_t k = n < sizeof(b) ? n : sizeof(b);

		assert_int_equal(crypto_random(b, k), 0);
		assert_int_equal(fwrite(b, 1, k, f), k);
		n -= k;
	}
	fclose(f);
}

static void sha_file(const char *path, char out[65])
{
	FILE *f = fopen(path, "rb");
	static char data[32 << 20];
	size_t n;
	unsigned char d[SHA256_LEN];

	assert_non_null(f);
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	crypto_sha256(data, n, d);
	crypto_hex(d, sizeof(d), out);
}

static void test_key(void **state)
{
	char k[STORAGE_KEY_MAX];

	(void)state;
	assert_int_equal(storage_key(k, T1, A1, "original"), 0);
	assert_string_equal(k, "t/" T1 "/media/" A1 "/original");
	assert_int_equal(storage_key(k, "0190A5B2-0000-7000-8000-000000000001", A1, "thumb_256"), 0);
	assert_string_equal(k, "t/" T1 "/media/" A1 "/thumb_256");
	assert_int_equal(storage_key(k, T1, A1, "../x"), -1);
	assert_int_equal(storage_key(k, T1, A1, "a/b"), -1);
	assert_int_equal(storage_key(k, T1, A1, ""), -1);
	assert_int_equal(storage_key(k, T1, "../../etc/passwd", "original"), -1);
	assert_int_equal(storage_key(k, "x", A1, "original"), -1);
}

static storage_t *open_local(const char *root)
{
	struct config c;
	char err[256];
	storage_t *s;

	memset(&c, 0, sizeof(c));
	c.storage_backend = "local";
	c.storage_dir = root;
	s = storage_open(&c, err, sizeof(err));
	assert_non_null(s);
	return s;
}

static void test_local(void **state)
{
	char root[512], src[512], dst[512], k[STORAGE_KEY_MAX], h1[65], h2[65], p[1024];
	struct storage_stat st;
	struct stat sb;
	struct storage_serve sv;
	const char *url;
	arena_t *a = arena_new(4096);
	storage_t *s;

	(void)state;
	snprintf(root, sizeof(root), "%s/local", tmpdir);
	mkdir(root, 0750);
	s = open_local(root);
	assert_string_equal(storage_backend_name(s), "local");
	snprintf(src, sizeof(src), "%s/src", tmpdir);
	snprintf(dst, sizeof(dst), "%s/dst", tmpdir);
	write_random(src, 300000);
	sha_file(src, h1);
	assert_int_equal(storage_key(k, T1, A1, "original"), 0);
	/* copy: the source stays */
	assert_int_equal(storage_put_file(s, k, src, "image/png", 0), ERR_OK);
	assert_int_equal(access(src, F_OK), 0);
	assert_int_equal(storage_stat(s, k, &st), ERR_OK);
	assert_int_equal(st.size, 300000);
	snprintf(p, sizeof(p), "%s/%s", root, k);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	assert_int_equal(storage_get_file(s, k, dst), ERR_OK);
	sha_file(dst, h2);
	assert_string_equal(h1, h2);
	/* move: renamed (same filesystem), the source is gone, the stored bytes are the source's */
	write_random(src, 1000);
	sha_file(src, h1);
	assert_int_equal(storage_put_file(s, k, src, NULL, STORAGE_MOVE), ERR_OK);
	assert_int_not_equal(access(src, F_OK), 0);
	sha_file(p, h2);
	assert_string_equal(h1, h2);
	/* serving is nginx's: an internal location; no presigned URLs */
	assert_int_equal(storage_serve(s, a, k, 60, NULL, NULL, &sv), ERR_OK);
	assert_int_equal(sv.kind, STORAGE_SERVE_ACCEL);
	assert_string_equal(sv.uri, "/_storage/t/" T1 "/media/" A1 "/original");
	assert_int_not_equal(storage_presign(s, a, "GET", k, 60, NULL, NULL, &url), ERR_OK);
	/* delete; deleting again is fine; a missing object is NOT_FOUND */
	assert_int_equal(storage_delete(s, k), ERR_OK);
	assert_int_equal(storage_delete(s, k), ERR_OK);
	assert_int_equal(storage_stat(s, k, &st), ERR_NOT_FOUND);
	assert_int_equal(storage_get_file(s, k, dst), ERR_NOT_FOUND);
	/* keys that are not derived never reach a path */
	assert_int_not_equal(storage_put_file(s, "../escape", dst, NULL, 0), ERR_OK);
	assert_int_not_equal(storage_stat(s, "/etc/passwd", &st), ERR_OK);
	storage_close(s);
	arena_free(a);
}

/* --- s3 against s3rver --------------------------------------------------------------------- */

static pid_t spawn(const char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* s3rver on port+1 behind tests/interop/s3_verify.js on port, which checks every SigV4
 * signature with aws4 (s3rver itself does not). */
static int start_s3rver(void)
{
	char dir[512], port[16], up[16];

	if (access("node_modules/s3rver/bin/s3rver.js", R_OK) != 0 ||
	    access("node_modules/aws4/aws4.js", R_OK) != 0 || access("/usr/bin/node", X_OK) != 0)
		return -1;
	s3_port = 20000 + 2 * (int)(getpid() % 10000);
	snprintf(port, sizeof(port), "%d", s3_port);
	snprintf(up, sizeof(up), "%d", s3_port + 1);
	snprintf(dir, sizeof(dir), "%s/s3rver", tmpdir);
	mkdir(dir, 0700);
	const char *s3rver[] = { "/usr/bin/node", "node_modules/s3rver/bin/s3rver.js", "-d", dir, "-a",
				 "127.0.0.1", "-p", up, "-s", "--service-endpoint", "localhost",
				 "--configure-bucket", "atrium", NULL };
	const char *front[] = { "/usr/bin/node", "tests/interop/s3_verify.js", port, up, "S3RVER",
				"S3RVER", NULL };

	s3rver_pid = spawn(s3rver);
	front_pid = spawn(front);
	for (int i = 0; i < 100; i++) {
		char url[128];
		CURL *c = curl_easy_init();
		long status = 0;

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s3_port + 1);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		if (curl_easy_perform(c) == CURLE_OK) {
			/* and the front answers (403: an unsigned request) */
			snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s3_port);
			curl_easy_setopt(c, CURLOPT_URL, url);
			if (curl_easy_perform(c) == CURLE_OK)
				curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		}
		curl_easy_cleanup(c);
		if (status == 403)
			return 0;
		usleep(100000);
	}
	return -1;
}

static storage_t *open_s3(const char *secret, bool path_style, int part_mb)
{
	static char ep[2][64];
	static int k;
	struct config c;
	char err[256];
	storage_t *s;

	k ^= 1;
	snprintf(ep[k], sizeof(ep[k]), "http://%s:%d", path_style ? "127.0.0.1" : "s3.localhost", s3_port);
	memset(&c, 0, sizeof(c));
	c.storage_backend = "s3";
	c.s3_endpoint = ep[k];
	c.s3_bucket = "atrium";
	c.s3_region = "us-east-1";
	c.s3_access_key = "S3RVER";
	c.s3_secret_key = secret;
	c.s3_path_style = path_style;
	c.s3_part_mb = part_mb;
	s = storage_open(&c, err, sizeof(err));
	if (!s)
		fail_msg("storage_open: %s", err);
	return s;
}

/* GETs url into path; the HTTP status, and the Content-Disposition seen into disp. */
static size_t disp_cb(char *p, size_t size, size_t n, void *ud)
{
	if (size * n > 20 && strncasecmp(p, "content-disposition:", 20) == 0)
		snprintf(ud, 256, "%.*s", (int)(size * n - 23), p + 21);
	return size * n;
}

static long http_get(const char *url, const char *path, char disp[256])
{
	FILE *f = fopen(path, "wb");
	CURL *c = curl_easy_init();
	long status = 0;

	disp[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, disp_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, disp);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	fclose(f);
	return status;
}

static int s3_setup(void **state)
{
	(void)state;
	if (start_s3rver() < 0) {
		fprintf(stderr, "SKIPPED: s3rver + s3_verify.js (node_modules/s3rver, aws4, /usr/bin/node) did not start; "
				"the s3 backend is NOT tested\n");
		s3_port = 0;
	}
	return 0;
}

static void test_s3_roundtrip(void **state)
{
	char src[512], dst[512], k[STORAGE_KEY_MAX], h1[65], h2[65], disp[256];
	struct storage_stat st;
	const char *url;
	arena_t *a = arena_new(4096);
	storage_t *s;

	(void)state;
	if (!s3_port)
		skip();
	s = open_s3("S3RVER", true, 5);
	snprintf(src, sizeof(src), "%s/s3src", tmpdir);
	snprintf(dst, sizeof(dst), "%s/s3dst", tmpdir);
	write_random(src, 200000);
	sha_file(src, h1);
	assert_int_equal(storage_key(k, T1, A1, "original"), 0);
	assert_int_equal(storage_put_file(s, k, src, "application/pdf", 0), ERR_OK);
	assert_int_equal(storage_stat(s, k, &st), ERR_OK);
	assert_int_equal(st.size, 200000);
	assert_int_equal(storage_get_file(s, k, dst), ERR_OK);
	sha_file(dst, h2);
	assert_string_equal(h1, h2);
	/* presigned GET, with the response headers it asks for */
	assert_int_equal(storage_presign(s, a, "GET", k, 60, "application/pdf",
					 "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf", &url), ERR_OK);
	unlink(dst);
	assert_int_equal(http_get(url, dst, disp), 200);
	sha_file(dst, h2);
	assert_string_equal(h1, h2);
	assert_string_equal(disp, "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf");
	/* a changed byte in the signature: refused */
	char *bad = arena_strdup(a, url);
	char *sig = strstr(bad, "X-Amz-Signature=") + 16;

	*sig = *sig == '0' ? '1' : '0';
	assert_int_equal(http_get(bad, dst, disp), 403);
	/* delete: gone, deleting again is fine */
	assert_int_equal(storage_delete(s, k), ERR_OK);
	assert_int_equal(storage_stat(s, k, &st), ERR_NOT_FOUND);
	assert_int_equal(storage_get_file(s, k, dst), ERR_NOT_FOUND);
	assert_int_equal(storage_delete(s, k), ERR_OK);
	storage_close(s);
	arena_free(a);
}

/* 12 MiB with 5 MiB parts: three parts, completed, byte-identical. */
static void test_s3_multipart(void **state)
{
	char src[512], dst[512], k[STORAGE_KEY_MAX], h1[65], h2[65];
	struct storage_stat st;
	storage_t *s;

	(void)state;
	if (!s3_port)
		skip();
	s = open_s3("S3RVER", true, 5);
	snprintf(src, sizeof(src), "%s/mpsrc", tmpdir);
	snprintf(dst, sizeof(dst), "%s/mpdst", tmpdir);
	write_random(src, 12 << 20);
	sha_file(src, h1);
	assert_int_equal(storage_key(k, T1, A1, "big"), 0);
	assert_int_equal(storage_put_file(s, k, src, NULL, STORAGE_MOVE), ERR_OK);
	assert_int_not_equal(access(src, F_OK), 0);
	assert_int_equal(storage_stat(s, k, &st), ERR_OK);
	assert_int_equal(st.size, 12 << 20);
	assert_int_equal(storage_get_file(s, k, dst), ERR_OK);
	sha_file(dst, h2);
	assert_string_equal(h1, h2);
	assert_int_equal(storage_delete(s, k), ERR_OK);
	storage_close(s);
}

/* Virtual-hosted addressing: atrium.s3.localhost:port/key (curl resolves *.localhost to loopback;
 * s3rver takes the bucket from <bucket>.s3.<service-endpoint>). */
static void test_s3_virtual_hosted(void **state)
{
	char src[512], dst[512], k[STORAGE_KEY_MAX], h1[65], h2[65];
	storage_t *s;

	(void)state;
	if (!s3_port)
		skip();
	s = open_s3("S3RVER", false, 5);
	snprintf(src, sizeof(src), "%s/vhsrc", tmpdir);
	snprintf(dst, sizeof(dst), "%s/vhdst", tmpdir);
	write_random(src, 5000);
	sha_file(src, h1);
	assert_int_equal(storage_key(k, T1, A1, "vh"), 0);
	assert_int_equal(storage_put_file(s, k, src, NULL, 0), ERR_OK);
	storage_close(s);
	/* the same object through path-style: the addressing changed, not the bucket */
	s = open_s3("S3RVER", true, 5);
	assert_int_equal(storage_get_file(s, k, dst), ERR_OK);
	sha_file(dst, h2);
	assert_string_equal(h1, h2);
	assert_int_equal(storage_delete(s, k), ERR_OK);
	storage_close(s);
}

/* A wrong secret key: the server refuses, nothing is stored. An expired presigned URL: 403. */
static void test_s3_refusals(void **state)
{
	char src[512], dst[512], k[STORAGE_KEY_MAX], date[SIGV4_DATE_LEN], url[4096], disp[256];
	struct storage_stat st;
	storage_t *bad, *good;
	buf_t q;
	struct sigv4_credentials c = { "S3RVER", "S3RVER", "us-east-1", "s3" };

	(void)state;
	if (!s3_port)
		skip();
	bad = open_s3("WRONG-SECRET", true, 5);
	good = open_s3("S3RVER", true, 5);
	snprintf(src, sizeof(src), "%s/refsrc", tmpdir);
	snprintf(dst, sizeof(dst), "%s/refdst", tmpdir);
	write_random(src, 1000);
	assert_int_equal(storage_key(k, T1, A1, "refused"), 0);
	assert_int_equal(storage_put_file(bad, k, src, NULL, 0), ERR_INTERNAL);
	assert_int_equal(storage_stat(good, k, &st), ERR_NOT_FOUND);
	/* stored with the right key, then a URL signed two hours ago for 60 s */
	assert_int_equal(storage_put_file(good, k, src, NULL, 0), ERR_OK);
	sigv4_date(time(NULL) - 7200, date);
	char path[256];

	snprintf(path, sizeof(path), "/atrium/%s", k);
	/* the Host header carries the port, so sign for it */
	char host[64];

	buf_init(&q, 4096);

	snprintf(host, sizeof(host), "127.0.0.1:%d", s3_port);
	assert_int_equal(sigv4_presign("GET", path, NULL, host, &c, date, 60, &q), 0);
	snprintf(url, sizeof(url), "http://%s%s?%s", host, path, buf_cstr(&q));
	assert_int_equal(http_get(url, dst, disp), 403);
	/* the same URL signed now works: the 403 was the expiry */
	buf_reset(&q);
	sigv4_date(time(NULL), date);
	assert_int_equal(sigv4_presign("GET", path, NULL, host, &c, date, 60, &q), 0);
	snprintf(url, sizeof(url), "http://%s%s?%s", host, path, buf_cstr(&q));
	assert_int_equal(http_get(url, dst, disp), 200);
	buf_release(&q);
	assert_int_equal(storage_delete(good, k), ERR_OK);
	storage_close(bad);
	storage_close(good);
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	if (front_pid > 0) {
		kill(front_pid, SIGTERM);
		waitpid(front_pid, NULL, 0);
	}
	if (s3rver_pid > 0) {
		kill(s3rver_pid, SIGTERM);
		waitpid(s3rver_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_s3_roundtrip),
		cmocka_unit_test(test_s3_multipart),
		cmocka_unit_test(test_s3_virtual_hosted),
		cmocka_unit_test(test_s3_refusals),
	};

	log_init("test_storage", LL_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/atrium-storage-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	return cmocka_run_group_tests(tests, s3_setup, teardown);
}
