/* test_sigv4: every case of the AWS SigV4 test suite (creq, sts, authz) and the S3 documentation's
 * header and presigned examples */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "crypto.h"
#include "sigv4.h"

#define SUITE_DEFAULT "../shared/testdata/aws-sig-v4-test-suite"

static const struct sigv4_credentials suite_cred = {
	"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service"
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

struct parsed {
	char method[16];
	char path[1024];
	char *query;
	struct sigv4_header h[SIGV4_MAX_HEADERS];
	size_t nh;
	char hash[65];
};

/* Parses a .req file: request line, headers (continuation lines join with ','), blank, body. */
static void parse_req(char *s, struct parsed *p, bool drop_token)
{
	char *line = s, *nl, *sp, *body = "";

	memset(p, 0, sizeof(*p));
	nl = strchr(line, '\n');
	*nl = '\0';
	sp = strchr(line, ' ');
	*sp = '\0';
	snprintf(p->method, sizeof(p->method), "%s", line);
	line = sp + 1;
	*strrchr(line, ' ') = '\0';
	p->query = strchr(line, '?');
	if (p->query)
		*p->query++ = '\0';
	snprintf(p->path, sizeof(p->path), "%s", line);
	for (line = nl + 1; line && *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		if (*line == '\0') {
			body = nl ? nl : "";
			break;
		}
		if (*line == ' ' && p->nh > 0) {
			/* a folded value: the suite expects "value1,value2" */
			char *v = line + strspn(line, " ");
			static char fold[8][512];
			static int k;
			char *j = fold[k++ % 8];

			snprintf(j, sizeof(fold[0]), "%s,%s", p->h[p->nh - 1].value, v);
			p->h[p->nh - 1].value = j;
			continue;
		}
		char *colon = strchr(line, ':');

		*colon = '\0';
		if (drop_token && strcasecmp(line, "X-Amz-Security-Token") == 0)
			continue;
		p->h[p->nh].name = line;
		p->h[p->nh++].value = colon + 1;
	}
	unsigned char d[SHA256_LEN];

	crypto_sha256(body, strlen(body), d);
	crypto_hex(d, sizeof(d), p->hash);
}

static char *case_file(const char *dir, const char *name, const char *ext)
{
	static char path[2][8192];
	static int k;

	k ^= 1;
	snprintf(path[k], sizeof(path[k]), "%s/%s.%s", dir, name, ext);
	return path[k];
}

/* True when the suite's .sts ends with the SHA-256 of its own .creq. */
static bool suite_consistent(const char *creq, const char *sts)
{
	unsigned char d[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	size_t n = strlen(sts);

	crypto_sha256(creq, strlen(creq), d);
	crypto_hex(d, sizeof(d), hex);
	return n >= 64 && strcmp(sts + n - 64, hex) == 0;
}

/* Runs one suite case; returns 1 when it ran. */
static int run_case(const char *dir, const char *name)
{
	char *req = slurp(case_file(dir, name, "req"));
	char *creq_want = slurp(case_file(dir, name, "creq"));
	char *sts_want = slurp(case_file(dir, name, "sts"));
	char *authz_want = slurp(case_file(dir, name, "authz"));
	struct parsed p;
	buf_t creq, sh, sts, authz;
	const char *date = NULL;

	if (!req || !creq_want || !sts_want || !authz_want) {
		free(req);
		free(creq_want);
		free(sts_want);
		free(authz_want);
		return 0;
	}
	parse_req(req, &p, strcmp(name, "post-sts-header-after") == 0);
	for (size_t i = 0; i < p.nh; i++)
		if (strcasecmp(p.h[i].name, "X-Amz-Date") == 0)
			date = p.h[i].value;
	assert_non_null(date);
	struct sigv4_request r = { p.method, p.path, p.query, p.h, p.nh, p.hash, true };

	buf_init(&creq, 1 << 16);
	buf_init(&sh, 4096);
	buf_init(&sts, 4096);
	buf_init(&authz, 4096);
	assert_int_equal(sigv4_canonical_request(&r, &creq, &sh), 0);
	if (strcmp(buf_cstr(&creq), creq_want) != 0)
		fail_msg("%s: canonical request\n--- got\n%s\n--- want\n%s", name, buf_cstr(&creq),
			 creq_want);
	assert_int_equal(sigv4_string_to_sign(date, &suite_cred, buf_cstr(&creq), &sts), 0);
	if (!suite_consistent(creq_want, sts_want)) {
		/* post-x-www-form-urlencoded-parameters: the published .sts hashes some other
		 * canonical request than its own .creq; only the creq can be checked */
		fprintf(stderr, "sigv4: %s: suite's .sts does not hash its .creq; creq checked only\n",
			name);
	} else {
		if (strcmp(buf_cstr(&sts), sts_want) != 0)
			fail_msg("%s: string to sign", name);
		assert_int_equal(sigv4_authorization(&r, &suite_cred, date, &authz), 0);
		assert_string_equal(buf_cstr(&authz), authz_want);
	}
	buf_release(&creq);
	buf_release(&sh);
	buf_release(&sts);
	buf_release(&authz);
	free(req);
	free(creq_want);
	free(sts_want);
	free(authz_want);
	return 1;
}

static int walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char sub[4096];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			n += run_case(sub, e->d_name) + walk(sub);
	}
	closedir(d);
	return n;
}

/* All 31 cases of the suite; SKIPPED (loudly) when the suite is not on this machine. */
static void test_aws_suite(void **state)
{
	const char *root = getenv("SIGV4_SUITE") ? getenv("SIGV4_SUITE") : SUITE_DEFAULT;
	struct stat st;

	(void)state;
	if (stat(root, &st) != 0) {
		fprintf(stderr, "SKIPPED: SigV4 test suite not found at %s (set SIGV4_SUITE)\n", root);
		skip();
	}
	int n = walk(root);

	fprintf(stderr, "sigv4: %d suite cases passed\n", n);
	assert_true(n >= 30);
}

/* S3 docs "Example: GET Object": header auth with x-amz-content-sha256 and Range, path not
 * normalised. */
static void test_s3_get_object_example(void **state)
{
	static const struct sigv4_credentials c = { "AKIAIOSFODNN7EXAMPLE",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3" };
	const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct sigv4_header h[] = { { "Host", "examplebucket.s3.amazonaws.com" },
				    { "Range", "bytes=0-9" },
				    { "x-amz-content-sha256", empty },
				    { "x-amz-date", "20130524T000000Z" } };
	struct sigv4_request r = { "GET", "/test.txt", NULL, h, NELEM(h), empty, false };
	buf_t out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(sigv4_authorization(&r, &c, "20130524T000000Z", &out), 0);
	assert_non_null(strstr(buf_cstr(&out), "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"));
	assert_non_null(strstr(buf_cstr(&out),
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
	buf_release(&out);
}

/* S3 docs presigned URL example (GET /test.txt, 86400 s). */
static void test_s3_presign_example(void **state)
{
	static const struct sigv4_credentials c = { "AKIAIOSFODNN7EXAMPLE",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3" };
	buf_t q;

	(void)state;
	buf_init(&q, 4096);
	assert_int_equal(sigv4_presign("GET", "/test.txt", NULL, "examplebucket.s3.amazonaws.com", &c,
				       "20130524T000000Z", 86400, &q), 0);
	assert_non_null(strstr(buf_cstr(&q),
		"X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
	assert_non_null(strstr(buf_cstr(&q), "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"));
	buf_reset(&q);
	/* more than 7 days or nothing is refused */
	assert_int_equal(sigv4_presign("GET", "/t", NULL, "h", &c, "20130524T000000Z", 604801, &q), -1);
	assert_int_equal(sigv4_presign("GET", "/t", NULL, "h", &c, "20130524T000000Z", 0, &q), -1);
	buf_release(&q);
}

static void test_encode_and_date(void **state)
{
	buf_t b;
	char d[SIGV4_DATE_LEN];

	(void)state;
	buf_init(&b, 256);
	assert_int_equal(sigv4_uri_encode(&b, "a b/c~+*", 8, true), 0);
	assert_string_equal(buf_cstr(&b), "a%20b/c~%2B%2A");
	buf_release(&b);
	sigv4_date(1440938160, d);
	assert_string_equal(d, "20150830T123600Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_suite),
		cmocka_unit_test(test_s3_get_object_example),
		cmocka_unit_test(test_s3_presign_example),
		cmocka_unit_test(test_encode_and_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
