/* uploads_validate: file names, extension allowlist, libmagic, signatures and the Office zip
 * directory agreeing with each other and with the field's accept list */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "sigv4.h"
#include "uploads.h"

/* One accepted type: its libmagic name, the extensions it may carry, its kind, its signature. */
struct utype {
	const char *mime;
	const char *exts;         /* ",jpg,jpeg," */
	const char *kind;
	bool (*sig)(const unsigned char *p, size_t n);
	bool safe;                /* in the built-in list for fields without accept */
};

static bool sig_jpeg(const unsigned char *p, size_t n)
{
	return n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff;
}

static bool sig_png(const unsigned char *p, size_t n)
{
	return n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0;
}

static bool sig_gif(const unsigned char *p, size_t n)
{
	return n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0);
}

static bool sig_webp(const unsigned char *p, size_t n)
{
	return n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0;
}

static bool sig_wav(const unsigned char *p, size_t n)
{
	return n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVE", 4) == 0;
}

static bool sig_ftyp(const unsigned char *p, size_t n)
{
	return n >= 12 && memcmp(p + 4, "ftyp", 4) == 0;
}

static bool sig_pdf(const unsigned char *p, size_t n)
{
	return n >= 5 && memcmp(p, "%PDF-", 5) == 0;
}

static bool sig_zip(const unsigned char *p, size_t n)
{
	return n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0;
}

static bool sig_ebml(const unsigned char *p, size_t n)
{
	return n >= 4 && memcmp(p, "\x1a\x45\xdf\xa3", 4) == 0;
}

static bool sig_ogg(const unsigned char *p, size_t n)
{
	return n >= 4 && memcmp(p, "OggS", 4) == 0;
}

static bool sig_mp3(const unsigned char *p, size_t n)
{
	return n >= 3 && (memcmp(p, "ID3", 3) == 0 || (p[0] == 0xff && (p[1] & 0xe0) == 0xe0));
}

#define OOXML "application/vnd.openxmlformats-officedocument."

static const struct utype types[] = {
	{ "image/jpeg", ",jpg,jpeg,", "image", sig_jpeg, true },
	{ "image/png", ",png,", "image", sig_png, true },
	{ "image/gif", ",gif,", "image", sig_gif, true },
	{ "image/webp", ",webp,", "image", sig_webp, true },
	{ "image/heic", ",heic,heif,", "image", sig_ftyp, true },
	{ "image/heif", ",heif,heic,", "image", sig_ftyp, true },
	{ "image/avif", ",avif,", "image", sig_ftyp, true },
	{ "application/pdf", ",pdf,", "document", sig_pdf, true },
	{ "video/mp4", ",mp4,m4v,", "video", sig_ftyp, true },
	{ "video/quicktime", ",mov,", "video", sig_ftyp, true },
	{ "video/webm", ",webm,", "video", sig_ebml, true },
	{ "audio/mpeg", ",mp3,", "audio", sig_mp3, true },
	{ "audio/ogg", ",ogg,oga,", "audio", sig_ogg, true },
	{ "audio/x-wav", ",wav,", "audio", sig_wav, true },
	{ OOXML "wordprocessingml.document", ",docx,", "document", sig_zip, false },
	{ OOXML "spreadsheetml.sheet", ",xlsx,", "document", sig_zip, false },
	{ OOXML "presentationml.presentation", ",pptx,", "document", sig_zip, false },
	{ "application/vnd.oasis.opendocument.text", ",odt,", "document", sig_zip, false },
	{ "application/vnd.oasis.opendocument.spreadsheet", ",ods,", "document", sig_zip, false },
};

/* Office Open XML: which part names a zip must hold for each extension. */
static const struct {
	const char *ext;
	const char *mime;
	const char *part;
} ooxml[] = {
	{ "docx", OOXML "wordprocessingml.document", "word/document.xml" },
	{ "xlsx", OOXML "spreadsheetml.sheet", "xl/workbook.xml" },
	{ "pptx", OOXML "presentationml.presentation", "ppt/presentation.xml" },
};

static bool ext_listed(const char *list, const char *ext)
{
	char pat[40];

	if (!*ext || strlen(ext) > 30)
		return false;
	snprintf(pat, sizeof(pat), ",%s,", ext);
	return strstr(list, pat) != NULL;
}

/* --- names ----------------------------------------------------------------------------------- */

/* Decodes one UTF-8 code point at s (n bytes left); its length, or 0 for invalid UTF-8. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, c = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, c = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, past U+10FFFF */
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

static bool bidi_control(uint32_t c)
{
	return c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069);
}

/* Extensions that make a file run or render somewhere: never hidden inside a name. */
static const char risky_exts[] =
	",php,php3,php4,php5,php7,phtml,phar,pl,py,cgi,asp,aspx,jsp,exe,dll,com,bat,cmd,sh,ps1,"
	"vbs,js,mjs,jar,msi,scr,html,htm,xhtml,shtml,svg,xml,hta,";

static bool hidden_risky_ext(const char *name, size_t n)
{
	const char *last = NULL;

	for (const char *p = name; p < name + n; p++)
		if (*p == '.')
			last = p;
	for (const char *p = name; last && p < last; p++) {
		if (*p != '.')
			continue;
		const char *e = p + 1;
		size_t k = strcspn(e, ".");
		char ext[16];

		if (k == 0 || k >= sizeof(ext))
			continue;
		for (size_t i = 0; i < k; i++)
			ext[i] = (char)((e[i] >= 'A' && e[i] <= 'Z') ? e[i] + 32 : e[i]);
		ext[k] = '\0';
		if (ext_listed(risky_exts, ext))
			return true;
	}
	return false;
}

const char *uploads_filename_problem(const char *name, size_t n)
{
	const unsigned char *s = (const unsigned char *)name;

	if (n == 0 || n > UPLOAD_NAME_MAX)
		return "filename_invalid";
	for (size_t i = 0; i < n;) {
		uint32_t c;
		size_t k = utf8_next(s + i, n - i, &c);

		if (k == 0 || c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f))
			return "filename_invalid";
		if (bidi_control(c))
			return "filename_bidi";
		if (c == '/' || c == '\\')
			return "filename_path";
		i += k;
	}
	if (memmem(name, n, "..", 2) != NULL)
		return n == 2 ? "filename_invalid" : "filename_path";
	if (name[0] == '.' || name[0] == ' ')
		return "filename_invalid";
	if (hidden_risky_ext(name, n))
		return "double_extension";
	return NULL;
}

void uploads_extension(const char *name, char *out, size_t cap)
{
	const char *dot = strrchr(name, '.');
	size_t i = 0;

	if (dot && dot != name)
		for (const char *p = dot + 1; *p && i + 1 < cap; p++)
			out[i++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
	out[i] = '\0';
}

int uploads_content_disposition(buf_t *b, const char *type, const char *name)
{
	if (buf_printf(b, "%s; filename=\"", type) < 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_' || *p == ' ';

		if (buf_putc(b, plain ? (char)*p : '_') < 0)
			return -1;
	}
	if (buf_puts(b, "\"; filename*=UTF-8''") < 0)
		return -1;
	return sigv4_uri_encode(b, name, strlen(name), false);
}

/* --- the zip central directory --------------------------------------------------------------- */

static uint32_t le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
	return le16(p) | le16(p + 2) << 16;
}

#define ZIP_TAIL (65535 + 22)
#define ZIP_CD_MAX (4 << 20)

/* True when the zip at fd (size bytes) lists both [Content_Types].xml and part in its central
 * directory. Bounded: the directory is read whole only up to ZIP_CD_MAX. */
static bool zip_has_parts(int fd, int64_t size, const char *part)
{
	static unsigned char tail[ZIP_TAIL];
	static unsigned char cd[ZIP_CD_MAX];
	size_t tn = size < ZIP_TAIL ? (size_t)size : ZIP_TAIL;
	ssize_t got = pread(fd, tail, tn, (off_t)(size - (int64_t)tn));
	bool has_types = false, found = false;
	uint32_t cd_size, cd_off, entries;
	ssize_t e;

	if (got != (ssize_t)tn || tn < 22)
		return false;
	for (e = (ssize_t)tn - 22; e >= 0 && le32(tail + e) != 0x06054b50; e--)
		;
	if (e < 0)
		return false;
	entries = le16(tail + e + 10);
	cd_size = le32(tail + e + 12);
	cd_off = le32(tail + e + 16);
	if (cd_size > ZIP_CD_MAX || (int64_t)cd_off + cd_size > size ||
	    pread(fd, cd, cd_size, cd_off) != (ssize_t)cd_size)
		return false;
	for (uint32_t i = 0, p = 0; i < entries; i++) {
		if (p + 46 > cd_size || le32(cd + p) != 0x02014b50)
			return false;
		uint32_t nl = le16(cd + p + 28), xl = le16(cd + p + 30), cl = le16(cd + p + 32);

		if (p + 46 + nl > cd_size)
			return false;
		if (nl == 19 && memcmp(cd + p + 46, "[Content_Types].xml", 19) == 0)
			has_types = true;
		if (nl == strlen(part) && memcmp(cd + p + 46, part, nl) == 0)
			found = true;
		p += 46 + nl + xl + cl;
	}
	return has_types && found;
}

/* --- the verdict ----------------------------------------------------------------------------- */

static const struct utype *type_of_mime(const char *mime)
{
	for (size_t i = 0; i < NELEM(types); i++)
		if (strcmp(types[i].mime, mime) == 0)
			return &types[i];
	return NULL;
}

size_t uploads_safe_types(const char **out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < NELEM(types); i++)
		if (types[i].safe && n < cap)
			out[n++] = types[i].mime;
	return n;
}

bool uploads_accept_entry_valid(const char *a)
{
	size_t al = strlen(a);

	for (size_t i = 0; i < NELEM(types); i++) {
		const struct utype *t = &types[i];
		char ext[40];

		if (strcasecmp(a, t->mime) == 0)
			return true;
		if (al > 2 && al < 30 && strcmp(a + al - 2, "/*") == 0 &&
		    strncasecmp(a, t->mime, al - 1) == 0)
			return true;
		if (a[0] != '.' || al < 2 || al >= 30)
			continue;
		snprintf(ext, sizeof(ext), ",%s,", a + 1);
		if (strcasestr(t->exts, ext) != NULL)
			return true;
	}
	return false;
}

static bool accepted(const struct utype *t, const char *ext, const char *const *accept, size_t n)
{
	if (!accept || n == 0)
		return t->safe;
	for (size_t i = 0; i < n; i++) {
		const char *a = accept[i];
		size_t al = strlen(a);

		if (a[0] == '.' && strcasecmp(a + 1, ext) == 0)
			return true;
		if (strcasecmp(a, t->mime) == 0)
			return true;
		if (al > 2 && strcmp(a + al - 2, "/*") == 0 && strncasecmp(a, t->mime, al - 1) == 0)
			return true;
	}
	return false;
}

static void verdict(struct upload_verdict *v, const char *reason, const char *fmt, ...)
	PRINTF_LIKE(3, 4);

static void verdict(struct upload_verdict *v, const char *reason, const char *fmt, ...)
{
	va_list ap;

	v->reason = reason;
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
}

/* libmagic's type, corrected for Office Open XML: a zip that names itself .docx/.xlsx/.pptx is
 * that type exactly when its central directory holds the type's parts. */
static const struct utype *detect(magic_t m, int fd, int64_t size, const char *ext,
				  struct upload_verdict *v)
{
	const char *mime = magic_descriptor(m, fd);
	const struct utype *t;

	if (!mime) {
		verdict(v, "unreadable", "the file could not be read%s", "");
		return NULL;
	}
	for (size_t i = 0; i < NELEM(ooxml); i++) {
		if (strcmp(ext, ooxml[i].ext) != 0)
			continue;
		if (strcmp(mime, "application/zip") != 0 && strcmp(mime, ooxml[i].mime) != 0)
			break;
		if (!zip_has_parts(fd, size, ooxml[i].part)) {
			verdict(v, "office_invalid", "the file is not a valid .%s document", ext);
			return NULL;
		}
		return type_of_mime(ooxml[i].mime);
	}
	t = type_of_mime(mime);
	v->mime = t ? t->mime : NULL;
	if (!t)
		verdict(v, "type_mismatch", "the content is %s, which does not match its extension", mime);
	return t;
}

void uploads_validate(magic_t m, const char *path, int64_t size, const char *name,
		      const char *const *accept, size_t naccept, int64_t max_size,
		      struct upload_verdict *v)
{
	char ext[16];
	unsigned char head[64];
	const struct utype *t = NULL;
	const char *why;
	int fd = -1;
	ssize_t hn;

	memset(v, 0, sizeof(*v));
	uploads_extension(name, ext, sizeof(ext));
	if ((why = uploads_filename_problem(name, strlen(name))) != NULL)
		return verdict(v, why, "the file name is not acceptable%s", "");
	if (size <= 0)
		return verdict(v, "empty", "the file is empty%s", "");
	if (max_size > 0 && size > max_size)
		return verdict(v, "too_large", "the file is larger than this field allows%s", "");
	bool ext_ok = false;

	for (size_t i = 0; i < NELEM(types) && !ext_ok; i++)
		ext_ok = ext_listed(types[i].exts, ext);
	if (!ext_ok)
		return verdict(v, "extension_not_allowed", "files ending in .%s are not accepted",
			       ext[0] ? ext : "(none)");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return verdict(v, "unreadable", "the file could not be read%s", "");
	hn = pread(fd, head, sizeof(head), 0);
	t = detect(m, fd, size, ext, v);
	if (!t)
		goto out_close;
	v->mime = t->mime;
	v->kind = t->kind;
	if (!ext_listed(t->exts, ext))
		verdict(v, "type_mismatch", "the content is %s, which does not match its extension",
			t->mime);
	else if (hn <= 0 || !t->sig(head, (size_t)hn))
		verdict(v, "signature_mismatch", "the file does not start like a %s file", t->mime);
	else if (!accepted(t, ext, accept, naccept))
		verdict(v, "type_not_accepted", "%s files are not accepted by this field", t->mime);
out_close:
	close(fd);
}

bool uploads_inline_type(const char *mime)
{
	const struct utype *t = type_of_mime(mime);

	return t && (strcmp(t->kind, "image") == 0 || strcmp(t->kind, "video") == 0 ||
		     strcmp(t->kind, "audio") == 0);
}
