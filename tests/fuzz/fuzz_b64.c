/* fuzz_b64: decode must refuse or round-trip exactly (one canonical encoding); encode always decodes */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void roundtrip(const unsigned char *data, size_t size, bool url)
{
	static unsigned char dec[8192], dec2[8192];
	static char enc[12000];
	ssize_t n, m, e;

	/* arbitrary text: refused, or decodes to bytes whose encoding is the input (padding aside) */
	n = crypto_b64_decode((const char *)data, size, dec, sizeof(dec), url);
	if (n >= 0) {
		e = crypto_b64_encode(dec, (size_t)n, enc, sizeof(enc), url);
		if (e < 0)
			abort();
		size_t k = size;
		while (k > 0 && data[k - 1] == '=')
			k--;
		size_t ek = (size_t)e;
		while (ek > 0 && enc[ek - 1] == '=')
			ek--;
		if (ek != k || memcmp(enc, data, k) != 0)
			abort();
	}
	/* arbitrary bytes: encode, then decode gives them back */
	if (size > sizeof(dec))
		return;
	e = crypto_b64_encode(data, size, enc, sizeof(enc), url);
	if (e < 0 || (size_t)e != strlen(enc))
		abort();
	m = crypto_b64_decode(enc, (size_t)e, dec2, sizeof(dec2), url);
	if (m != (ssize_t)size || memcmp(dec2, data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	roundtrip(data, size, false);
	roundtrip(data, size, true);
	return 0;
}
