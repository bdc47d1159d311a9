/* fuzz_media_doc: the document checks on untrusted bytes — zip central directory walk, PDF page count */
#include <stddef.h>
#include <stdint.h>

#include "media_pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)media_zip_has(data, size, "[Content_Types].xml");
	(void)media_zip_has(data, size, "word/document.xml");
	(void)media_pdf_count_pages((const char *)data, size);
	return 0;
}
