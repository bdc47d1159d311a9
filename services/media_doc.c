/* media_doc: documents are confirmed from their bytes and never rendered (served as attachments) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media_pipeline.h"

#define DOC_READ_MAX (8u << 20)   /* page counting reads at most this much */
#define ZIP_TAIL (65536u + 22u)   /* the end of central directory lies within this */

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Counts "/Type /Page" objects (not "/Pages") in a plain-text page tree; compressed object
 * streams hide them, and then the count is unknown (-1). */
int media_pdf_count_pages(const char *buf, size_t len)
{
	static const char key[] = "/Type";
	int n = 0;

	for (size_t i = 0; i + sizeof(key) < len; i++) {
		size_t j = i + sizeof(key) - 1;

		if (memcmp(buf + i, key, sizeof(key) - 1) != 0)
			continue;
		while (j < len && (buf[j] == ' ' || buf[j] == '\r' || buf[j] == '\n' || buf[j] == '\t'))
			j++;
		if (j + 5 <= len && memcmp(buf + j, "/Page", 5) == 0 &&
		    (j + 5 == len || buf[j + 5] != 's'))
			n++;
	}
	return n > 0 ? n : -1;
}

const char *media_ooxml_part(const char *mime)
{
	static const struct { const char *suffix, *part; } parts[] = {
		{ "wordprocessingml.document", "word/document.xml" },
		{ "spreadsheetml.sheet", "xl/workbook.xml" },
		{ "presentationml.presentation", "ppt/presentation.xml" },
	};
	static const char pre[] = "application/vnd.openxmlformats-officedocument.";

	if (strncmp(mime, pre, sizeof(pre) - 1) != 0)
		return NULL;
	for (size_t i = 0; i < NELEM(parts); i++)
		if (strcmp(mime + sizeof(pre) - 1, parts[i].suffix) == 0)
			return parts[i].part;
	return NULL;
}

/* Walks the central directory named by the end record in buf (the file's tail). The directory
 * must lie inside buf; every length is checked against it. */
bool media_zip_has(const unsigned char *buf, size_t len, const char *name)
{
	size_t nlen = strlen(name), eocd = len, p, end;

	if (len < 22)
		return false;
	for (size_t i = len - 22 + 1; i-- > 0;)
		if (le32(buf + i) == 0x06054b50) {
			eocd = i;
			break;
		}
	if (eocd == len)
		return false;
	/* the directory precedes the end record: its size tells where it starts in buf */
	if (le32(buf + eocd + 12) > eocd)
		return false;
	p = eocd - le32(buf + eocd + 12);
	end = eocd;
	while (p + 46 <= end && le32(buf + p) == 0x02014b50) {
		size_t fl = le16(buf + p + 28), el = le16(buf + p + 30), cl = le16(buf + p + 32);

		if (fl > end - p - 46)
			return false;
		if (fl == nlen && memcmp(buf + p + 46, name, nlen) == 0)
			return true;
		if (el + cl > end - p - 46 - fl)
			return false;
		p += 46 + fl + el + cl;
	}
	return false;
}

/* Reads up to cap bytes from offset off (negative: from the end). Caller frees. */
static unsigned char *read_part(const char *path, long long off, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *buf = NULL;
	struct stat st;
	ssize_t r;

	if (fd < 0 || fstat(fd, &st) != 0)
		goto out_close;
	if (off < 0)
		off = st.st_size > (long long)cap ? st.st_size - (long long)cap : 0;
	buf = malloc(cap);
	r = buf ? pread(fd, buf, cap, off) : -1;
	if (r < 0) {
		free(buf);
		buf = NULL;
	} else {
		*len = (size_t)r;
	}
out_close:
	if (fd >= 0)
		close(fd);
	return buf;
}

static void pdf(const char *path, struct media_result *out)
{
	size_t len = 0;
	unsigned char *buf = read_part(path, 0, DOC_READ_MAX, &len);

	if (buf == NULL) {
		media_fail(out, "the document could not be read");
		return;
	}
	if (len < 8 || memcmp(buf, "%PDF-", 5) != 0) {
		media_reject(out, "corrupt", "no PDF header");
	} else {
		out->page_count = media_pdf_count_pages((const char *)buf, len);
		out->outcome = MEDIA_READY;
	}
	free(buf);
}

void media_doc(const char *path, struct media_result *out)
{
	const char *part = media_ooxml_part(out->mime);
	unsigned char *tail;
	size_t len = 0;

	snprintf(out->kind, sizeof(out->kind), "document");
	if (strcmp(out->mime, "application/pdf") == 0) {
		pdf(path, out);
		return;
	}
	if (part == NULL) {          /* OLE and ODF: libmagic read their own structure */
		out->outcome = MEDIA_READY;
		return;
	}
	tail = read_part(path, -1, ZIP_TAIL, &len);
	if (tail == NULL) {
		media_fail(out, "the document could not be read");
		return;
	}
	if (media_zip_has(tail, len, "[Content_Types].xml") && media_zip_has(tail, len, part))
		out->outcome = MEDIA_READY;
	else
		media_reject(out, "corrupt", "the office file lacks %s", part);
	free(tail);
}
