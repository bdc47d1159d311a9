/* fuzz_route: the route matcher and query parsing against arbitrary method, path and query bytes.
 * Input: method '\n' path '\n' query. Links the fcgi/ objects except main.c (scripts/fuzz.sh). */
#include <stdint.h>
#include <string.h>

#include "crypto.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static arena_t *a;
	const char *params[REQ_MAX_PARAMS], *v;
	char *s, *path, *query, allow[64];
	size_t nparams;
	int status;
	struct req r;

	if (a == NULL)
		a = arena_new(64 * 1024);
	s = arena_strndup(a, (const char *)data, size);
	path = strchr(s, '\n');
	if (path == NULL)
		goto out;
	*path++ = '\0';
	query = strchr(path, '\n');
	if (query != NULL)
		*query++ = '\0';
	if (router_match(s, path, a, params, &nparams, &status, allow, sizeof(allow)) != NULL) {
		for (size_t i = 0; i < nparams; i++)
			if (strlen(params[i]) != 36 && strspn(params[i], "0123456789") != strlen(params[i]))
				__builtin_trap();   /* a parameter that is neither a UUID nor an integer matched */
	} else if (status != 404 && status != 405) {
		__builtin_trap();
	}
	memset(&r, 0, sizeof(r));
	r.a = a;
	r.query = query ? query : "";
	if (req_query(&r, "limit", &v) != ERR_OK || req_query(&r, "cursor", &v) != ERR_OK)
		err_clear(&r.prob);
out:
	arena_reset(a);
	return 0;
}
