/* test_http_client: the SSRF address rules — refused ranges, IPv4-mapped and NAT64 IPv6 judged as
 * IPv4, the CIDR allowlist, CIDR parsing, and the URL check (scheme, credentials, numeric hosts) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "http_client.h"

static arena_t *A;

static const char *judge(const struct http_policy *p, const char *addr)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, addr, &v4.sin_addr) == 1)
		return http_addr_refused(p, A, (struct sockaddr *)&v4);
	assert_int_equal(inet_pton(AF_INET6, addr, &v6.sin6_addr), 1);
	return http_addr_refused(p, A, (struct sockaddr *)&v6);
}

static void test_refused_ranges(void **state)
{
	static const char *refused[] = {
		"127.0.0.1", "127.255.0.9", "169.254.169.254", "10.0.0.1", "172.16.5.4", "172.31.255.255",
		"192.168.1.1", "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.1.2.3",
		"255.255.255.255", "240.0.0.1", "198.18.0.1", "192.0.0.8",
		"::1", "::", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
		"64:ff9b::7f00:1", "2002:7f00:1::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1",
		"fec0::1", "2001:db8::1",
	};
	struct http_policy p = { 0 };

	(void)state;
	for (size_t i = 0; i < NELEM(refused); i++) {
		const char *why = judge(&p, refused[i]);

		if (why == NULL)
			fail_msg("%s was allowed", refused[i]);
		assert_non_null(strstr(why, "is not allowed"));
	}
	assert_non_null(strstr(judge(&p, "169.254.169.254"), "metadata"));
	assert_non_null(strstr(judge(&p, "::ffff:127.0.0.1"), "loopback address 127.0.0.1"));
}

static void test_public_allowed(void **state)
{
	static const char *ok[] = { "93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1",
				    "2606:4700::6810:84e5", "::ffff:8.8.8.8", "2002:0808:0808::" };
	struct http_policy p = { 0 };

	(void)state;
	for (size_t i = 0; i < NELEM(ok); i++)
		if (judge(&p, ok[i]) != NULL)
			fail_msg("%s was refused", ok[i]);
}

static void test_allowlist(void **state)
{
	struct http_policy p = { 0 };

	(void)state;
	assert_int_equal(http_cidr_parse("127.0.0.0/8", &p.allow[0]), 0);
	assert_int_equal(http_cidr_parse("::1", &p.allow[1]), 0);
	p.nallow = 2;
	assert_null(judge(&p, "127.0.0.1"));
	assert_null(judge(&p, "127.9.9.9"));
	assert_null(judge(&p, "::ffff:127.0.0.1"));     /* mapped: the IPv4 rule applies */
	assert_null(judge(&p, "::1"));
	assert_non_null(judge(&p, "169.254.169.254"));  /* only what is listed */
	assert_non_null(judge(&p, "10.0.0.1"));
	assert_null(judge(&p, "128.0.0.1"));
}

static void test_cidr_parse(void **state)
{
	struct http_cidr c;

	(void)state;
	assert_int_equal(http_cidr_parse("10.1.0.0/16", &c), 0);
	assert_int_equal(c.prefix, 16);
	assert_int_equal(http_cidr_parse("fd00::/8", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(http_cidr_parse("10.0.0.0/33", &c), -1);
	assert_int_equal(http_cidr_parse("10.0.0.0/", &c), -1);
	assert_int_equal(http_cidr_parse("10.0.0.0/8x", &c), -1);
	assert_int_equal(http_cidr_parse("nonsense", &c), -1);
	assert_int_equal(http_cidr_parse("", &c), -1);
}

static void expect_refused(const struct http_policy *p, const char *url, const char *needle)
{
	const char *why = NULL;

	if (http_url_check(p, A, url, &why) != ERR_VALIDATION)
		fail_msg("%s was accepted", url);
	if (strstr(why, needle) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", url, why, needle);
}

static void test_url_check(void **state)
{
	struct http_policy p = { 0 };
	const char *why = NULL;

	(void)state;
	expect_refused(&p, "http://93.184.216.34/", "must use https");
	expect_refused(&p, "ftp://93.184.216.34/", "must use https");
	expect_refused(&p, "https://127.0.0.1/hook", "loopback");
	expect_refused(&p, "https://2130706433/hook", "loopback");      /* decimal 127.0.0.1 */
	expect_refused(&p, "https://0x7f000001/hook", "loopback");
	expect_refused(&p, "https://[::1]/hook", "loopback");
	expect_refused(&p, "https://[::ffff:127.0.0.1]/hook", "loopback");
	expect_refused(&p, "https://169.254.169.254/latest/meta-data", "metadata");
	expect_refused(&p, "https://10.0.0.1/", "private");
	expect_refused(&p, "https://localhost/", "loopback");            /* a name resolving to 127.0.0.1 */
	expect_refused(&p, "https://u:pw@93.184.216.34/", "credentials");
	expect_refused(&p, "not a url", "valid absolute URL");
	assert_int_equal(http_url_check(&p, A, "https://93.184.216.34/hook", &why), ERR_OK);
	p.allow_http = true;
	assert_int_equal(http_url_check(&p, A, "http://93.184.216.34/hook", &why), ERR_OK);
	expect_refused(&p, "http://127.0.0.1:8080/", "loopback");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_ranges), cmocka_unit_test(test_public_allowed),
		cmocka_unit_test(test_allowlist),      cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_url_check),
	};
	int rc;

	A = arena_new(4096);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	arena_free(A);
	return rc;
}
