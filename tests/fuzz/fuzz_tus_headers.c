/* fuzz_tus_headers: Upload-Length/Offset, Upload-Metadata, Upload-Checksum and session tokens from
 * the network never overrun; parsed sizes are in range and decoded names are length-exact */
#include <stdlib.h>
#include <string.h>

#include "uploads.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const unsigned char key[UPLOAD_KEY_LEN] = "fuzz-key-fuzz-key-fuzz-key-fuzz";
	static char s[8192];
	static arena_t *a;
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	struct tus_meta m;
	struct tus_checksum c;
	struct upload_claims cl;
	int64_t v;

	if (!a)
		a = arena_new(16384);
	memcpy(s, data, n);
	s[n] = '\0';
	if (tus_parse_size(s, &v) == 0 && (v < 0 || v > TUS_MAX_LENGTH))
		abort();
	if (tus_parse_metadata(s, a, &m) == 0) {
		if (m.filename && strlen(m.filename) > m.filename_len)
			abort();
		if (m.filename)
			(void)uploads_filename_problem(m.filename, m.filename_len);
	}
	if (tus_parse_checksum(s, &c) == 0 && c.len != 20 && c.len != 32)
		abort();
	if (upload_token_verify(key, s, 0, &cl) == 0)
		abort();   /* nobody forges a MAC by chance */
	(void)uploads_filename_problem(s, n);
	arena_reset(a);
	return 0;
}
