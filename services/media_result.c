/* media_result: filling a media_result (kept apart so that the document checks link alone: fuzzing) */
#include <stdarg.h>
#include <stdio.h>

#include "media_pipeline.h"

void media_reject(struct media_result *out, const char *reason, const char *fmt, ...)
{
	va_list ap;

	out->outcome = MEDIA_REJECTED;
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
}

void media_fail(struct media_result *out, const char *fmt, ...)
{
	va_list ap;

	out->outcome = MEDIA_FAILED;
	snprintf(out->reason, sizeof(out->reason), "processing_failed");
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
}
