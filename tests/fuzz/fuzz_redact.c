/* fuzz_redact: run excerpts are built from untrusted provider responses; redaction must never
 * overrun, must cut at INTEGRATION_EXCERPT_MAX, and must leave no remembered secret behind.
 * Input: up to 3 secrets separated by NUL bytes, then a NUL, then the text. */
#include <stdlib.h>
#include <string.h>

#include "integrations.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* A secret the property can be checked for: alphanumeric (so masking and control-character
 * replacement cannot recreate it) and not a piece of the "[redacted]" mark itself. */
static bool checkable(const char *s)
{
	size_t n = strlen(s);

	return n >= 4 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n &&
	       strstr("[redacted]", s) == NULL;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	arena_t *a = arena_new(65536);
	struct integration_ctx c = { .a = a };
	const char *secrets[3], *text, *out;
	size_t ns = 0, off = 0;

	while (ns < 3 && off < size) {
		const unsigned char *z = memchr(data + off, 0, size - off);

		if (z == NULL)
			break;
		secrets[ns] = arena_strndup(a, (const char *)data + off, (size_t)(z - data - off));
		integration_remember(&c, secrets[ns++]);
		off = (size_t)(z - data) + 1;
	}
	text = arena_strndup(a, (const char *)data + off, size - off);
	out = integration_redact(&c, text, strlen(text));
	if (strlen(out) > INTEGRATION_EXCERPT_MAX)
		abort();
	for (size_t i = 0; i < ns; i++)
		if (checkable(secrets[i]) && strstr(out, secrets[i]) != NULL)
			abort();
	arena_free(a);
	return 0;
}
