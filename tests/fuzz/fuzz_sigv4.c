/* fuzz_sigv4: canonicalisation of arbitrary paths, queries and headers never overruns, and its
 * output is stable: signing the same request twice gives the same Authorization */
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Splits the input at NULs: path, query, then name/value header pairs. */
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char text[4096];
	const char *part[2 + 2 * 8] = { "/", NULL };
	size_t np = 0, n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	struct sigv4_header h[8];
	struct sigv4_credentials c = { "AKID", "secret", "us-east-1", "s3" };
	buf_t a1, a2;

	memcpy(text, data, n);
	text[n] = '\0';
	for (char *p = text; np < NELEM(part) && p <= text + n; p += strlen(p) + 1)
		part[np++] = p;
	size_t nh = np > 2 ? (np - 2) / 2 : 0;

	for (size_t i = 0; i < nh; i++)
		h[i] = (struct sigv4_header){ part[2 + 2 * i][0] ? part[2 + 2 * i] : "x", part[3 + 2 * i] };
	for (int norm = 0; norm < 2; norm++) {
		struct sigv4_request r = { "GET", part[0], np > 1 ? part[1] : NULL, h, nh,
					   SIGV4_UNSIGNED, norm == 1 };

		buf_init(&a1, 1 << 16);
		buf_init(&a2, 1 << 16);
		int r1 = sigv4_authorization(&r, &c, "20150830T123600Z", &a1);
		int r2 = sigv4_authorization(&r, &c, "20150830T123600Z", &a2);

		if (r1 != r2 || (r1 == 0 && strcmp(buf_cstr(&a1), buf_cstr(&a2)) != 0))
			abort();
		buf_release(&a1);
		buf_release(&a2);
	}
	buf_init(&a1, 1 << 16);
	if (sigv4_presign("PUT", part[0], np > 1 ? part[1] : NULL, "h", &c, "20150830T123600Z", 60,
			  &a1) == 0 && strstr(buf_cstr(&a1), "X-Amz-Signature=") == NULL)
		abort();
	buf_release(&a1);
	return 0;
}
