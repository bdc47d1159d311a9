/* storage_s3: the StorageAdapter on any S3-compatible service, SigV4 on libcurl, no SDK */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "sigv4.h"
#include "storage_backend.h"

#define S3_HOST_MAX 256
#define S3_RESP_MAX (1024 * 1024)
#define S3_MAX_PARTS 10000

struct s3 {
	CURL *curl;
	char scheme[8];          /* http | https */
	char host[S3_HOST_MAX];  /* Host header: the endpoint's, or bucket.endpoint's (virtual-hosted) */
	char prefix[S3_HOST_MAX];/* "/bucket" for path-style, "" for virtual-hosted */
	struct sigv4_credentials cred;
	int64_t part_size;
	long timeout_ms;
};

/* One request's body source, response sink and what came back. */
struct s3_io {
	int in_fd;               /* -1: in_mem */
	off_t in_off;
	int64_t in_left;
	const char *in_mem;
	int out_fd;              /* -1: out_buf */
	buf_t *out_buf;
	char etag[128];
	long status;
};

static size_t read_cb(char *p, size_t size, size_t n, void *ud)
{
	struct s3_io *io = ud;
	size_t want = size * n;
	ssize_t got;

	if ((int64_t)want > io->in_left)
		want = (size_t)io->in_left;
	if (want == 0)
		return 0;
	if (io->in_fd < 0) {
		memcpy(p, io->in_mem, want);
		io->in_mem += want;
		got = (ssize_t)want;
	} else {
		got = pread(io->in_fd, p, want, io->in_off);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
	}
	io->in_off += got;
	io->in_left -= got;
	return (size_t)got;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
	struct s3_io *io = ud;
	size_t len = size * n;

	if (io->out_fd >= 0) {
		for (size_t off = 0; off < len;) {
			ssize_t w = write(io->out_fd, p + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return 0;
			off += (size_t)w;
		}
		return len;
	}
	return buf_append(io->out_buf, p, len) < 0 ? 0 : len;
}

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
	struct s3_io *io = ud;
	size_t len = size * n;

	if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
		const char *v = p + 5;
		size_t vl = len - 5;

		while (vl > 0 && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(io->etag)) {
			memcpy(io->etag, v, vl);
			io->etag[vl] = '\0';
		}
	}
	return len;
}

/* The signed headers and URL of one request; 0 or -1. */
static int s3_prepare(struct s3 *s3, const char *method, const char *key, const char *query,
		      const char *payload_hash, const char *ctype, buf_t *url,
		      struct curl_slist **hdrs)
{
	char date[SIGV4_DATE_LEN], path[S3_HOST_MAX + STORAGE_KEY_MAX + 2];
	struct sigv4_header h[4] = { { "host", s3->host },
				     { "x-amz-content-sha256", payload_hash },
				     { "x-amz-date", date },
				     { "content-type", ctype } };
	buf_t auth, line;
	int rc = -1;

	sigv4_date(time(NULL), date);
	snprintf(path, sizeof(path), "%s/%s", s3->prefix, key);
	struct sigv4_request r = { method, path, query, h, ctype ? 4 : 3, payload_hash, false };

	buf_init(&auth, 2048);
	buf_init(&line, 2048);
	if (sigv4_authorization(&r, &s3->cred, date, &auth) < 0)
		goto out_release;
	if (buf_printf(url, "%s://%s", s3->scheme, s3->host) < 0 ||
	    sigv4_uri_encode(url, path, strlen(path), true) < 0 ||
	    (query && buf_printf(url, "?%s", query) < 0))
		goto out_release;
	for (size_t i = 1; i < r.nheaders; i++) {
		buf_reset(&line);
		if (buf_printf(&line, "%s: %s", h[i].name, h[i].value) < 0)
			goto out_release;
		*hdrs = curl_slist_append(*hdrs, buf_cstr(&line));
	}
	buf_reset(&line);
	if (buf_printf(&line, "Authorization: %s", buf_cstr(&auth)) < 0)
		goto out_release;
	*hdrs = curl_slist_append(*hdrs, buf_cstr(&line));
	*hdrs = curl_slist_append(*hdrs, "Expect:");
	rc = *hdrs ? 0 : -1;
out_release:
	buf_release(&auth);
	buf_release(&line);
	return rc;
}

static err_t status_err(long status)
{
	if (status >= 200 && status < 300)
		return ERR_OK;
	if (status == 404)
		return ERR_NOT_FOUND;
	if (status == 0 || status >= 500)
		return ERR_UNAVAILABLE;
	return ERR_INTERNAL;
}

/* Performs one signed request. A body comes from io (in_left bytes; 0 = none). */
static err_t s3_do(struct s3 *s3, const char *method, const char *key, const char *query,
		   const char *payload_hash, const char *ctype, struct s3_io *io)
{
	struct curl_slist *hdrs = NULL;
	buf_t url;
	CURLcode cc;
	err_t e = ERR_INTERNAL;
	CURL *c = s3->curl;

	buf_init(&url, 4096);
	if (s3_prepare(s3, method, key, query, payload_hash, ctype, &url, &hdrs) < 0)
		goto out_free;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, buf_cstr(&url));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s3->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, io);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, io);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	}
	if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, io);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)io->in_left);
	}
	cc = curl_easy_perform(c);
	io->status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &io->status);
	if (cc != CURLE_OK) {
		log_warn("s3_request_failed", LF_STR("method", method), LF_STR("error", curl_easy_strerror(cc)));
		e = cc == CURLE_WRITE_ERROR ? ERR_INSUFFICIENT_STORAGE : ERR_UNAVAILABLE;
		goto out_free;
	}
	e = status_err(io->status);
	if (e != ERR_OK && e != ERR_NOT_FOUND)
		log_warn("s3_request_refused", LF_STR("method", method), LF_INT("status", io->status));
out_free:
	curl_slist_free_all(hdrs);
	buf_release(&url);
	return e;
}

static void io_init(struct s3_io *io, buf_t *out)
{
	memset(io, 0, sizeof(*io));
	io->in_fd = -1;
	io->out_fd = -1;
	io->out_buf = out;
}

/* The text between <tag> and </tag> in xml, into out; 0 or -1. */
static int xml_value(const char *xml, const char *tag, char *out, size_t cap)
{
	char open[64], close[64];
	const char *b, *e;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	b = strstr(xml, open);
	if (!b)
		return -1;
	b += strlen(open);
	e = strstr(b, close);
	if (!e || (size_t)(e - b) >= cap)
		return -1;
	memcpy(out, b, (size_t)(e - b));
	out[e - b] = '\0';
	return 0;
}

static err_t s3_put_single(struct s3 *s3, const char *key, int fd, int64_t size, const char *ctype)
{
	buf_t resp;
	struct s3_io io;
	err_t e;

	buf_init(&resp, S3_RESP_MAX);
	io_init(&io, &resp);
	io.in_fd = fd;
	io.in_left = size;
	e = s3_do(s3, "PUT", key, NULL, SIGV4_UNSIGNED, ctype, &io);
	buf_release(&resp);
	return e;
}

/* CreateMultipartUpload: the upload id into id. */
static err_t mp_create(struct s3 *s3, const char *key, const char *ctype, char *id, size_t cap)
{
	static const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	buf_t resp;
	struct s3_io io;
	err_t e;

	buf_init(&resp, S3_RESP_MAX);
	io_init(&io, &resp);
	e = s3_do(s3, "POST", key, "uploads=", empty, ctype, &io);
	if (e == ERR_OK && xml_value(buf_cstr(&resp), "UploadId", id, cap) < 0)
		e = ERR_INTERNAL;
	buf_release(&resp);
	return e;
}

static err_t mp_part(struct s3 *s3, const char *key, const char *id, int part, int fd, off_t off,
		     int64_t len, buf_t *complete)
{
	buf_t resp, q;
	struct s3_io io;
	err_t e = ERR_INTERNAL;

	buf_init(&resp, S3_RESP_MAX);
	buf_init(&q, 1024);
	io_init(&io, &resp);
	io.in_fd = fd;
	io.in_off = off;
	io.in_left = len;
	if (buf_printf(&q, "partNumber=%d&uploadId=", part) < 0 ||
	    sigv4_uri_encode(&q, id, strlen(id), false) < 0)
		goto out_release;
	e = s3_do(s3, "PUT", key, buf_cstr(&q), SIGV4_UNSIGNED, NULL, &io);
	if (e == ERR_OK && (io.etag[0] == '\0' ||
			    buf_printf(complete, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
				       part, io.etag) < 0))
		e = ERR_INTERNAL;
out_release:
	buf_release(&resp);
	buf_release(&q);
	return e;
}

/* CompleteMultipartUpload (body signed), or AbortMultipartUpload when body is NULL. */
static err_t mp_finish(struct s3 *s3, const char *key, const char *id, const char *body)
{
	static const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	unsigned char d[SHA256_LEN];
	char hash[2 * SHA256_LEN + 1];
	buf_t resp, q;
	struct s3_io io;
	err_t e = ERR_INTERNAL;

	buf_init(&resp, S3_RESP_MAX);
	buf_init(&q, 1024);
	io_init(&io, &resp);
	if (buf_puts(&q, "uploadId=") < 0 || sigv4_uri_encode(&q, id, strlen(id), false) < 0)
		goto out_release;
	if (!body) {
		e = s3_do(s3, "DELETE", key, buf_cstr(&q), empty, NULL, &io);
		goto out_release;
	}
	crypto_sha256(body, strlen(body), d);
	crypto_hex(d, sizeof(d), hash);
	io.in_mem = body;
	io.in_left = (int64_t)strlen(body);
	e = s3_do(s3, "POST", key, buf_cstr(&q), hash, "application/xml", &io);
	/* a 200 may still carry an <Error> (the service failed while completing) */
	if (e == ERR_OK && strstr(buf_cstr(&resp), "<Error>"))
		e = ERR_UNAVAILABLE;
out_release:
	buf_release(&resp);
	buf_release(&q);
	return e;
}

/* Multipart upload of fd in part_size parts; aborted on any failure. */
static err_t s3_put_multipart(struct s3 *s3, const char *key, int fd, int64_t size,
			      const char *ctype)
{
	char id[1024];
	buf_t complete;
	err_t e;
	int part = 1;

	if ((size + s3->part_size - 1) / s3->part_size > S3_MAX_PARTS)
		return ERR_TOO_LARGE;
	e = mp_create(s3, key, ctype, id, sizeof(id));
	if (e != ERR_OK)
		return e;
	buf_init(&complete, S3_RESP_MAX);
	e = buf_puts(&complete, "<CompleteMultipartUpload>") < 0 ? ERR_INTERNAL : ERR_OK;
	for (int64_t off = 0; e == ERR_OK && off < size; off += s3->part_size, part++) {
		int64_t len = size - off < s3->part_size ? size - off : s3->part_size;

		e = mp_part(s3, key, id, part, fd, (off_t)off, len, &complete);
	}
	if (e == ERR_OK && buf_puts(&complete, "</CompleteMultipartUpload>") < 0)
		e = ERR_INTERNAL;
	if (e == ERR_OK)
		e = mp_finish(s3, key, id, buf_cstr(&complete));
	if (e != ERR_OK && mp_finish(s3, key, id, NULL) != ERR_OK)
		log_warn("s3_multipart_abort_failed");
	buf_release(&complete);
	return e;
}

static err_t s3_put(storage_t *s, const char *key, const char *path, const char *ctype, int flags)
{
	struct s3 *s3 = s->impl;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	err_t e;

	if (fd < 0)
		return ERR_INTERNAL;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return ERR_INTERNAL;
	}
	if (st.st_size > s3->part_size)
		e = s3_put_multipart(s3, key, fd, st.st_size, ctype);
	else
		e = s3_put_single(s3, key, fd, st.st_size, ctype);
	close(fd);
	if (e == ERR_OK && (flags & STORAGE_MOVE))
		unlink(path);
	return e;
}

static err_t s3_get(storage_t *s, const char *key, const char *dest)
{
	static const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	buf_t resp;
	struct s3_io io;
	err_t e;
	int fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

	if (fd < 0)
		return ERR_INTERNAL;
	buf_init(&resp, S3_RESP_MAX);
	io_init(&io, &resp);
	io.out_fd = fd;
	e = s3_do(s->impl, "GET", key, NULL, empty, NULL, &io);
	if (close(fd) < 0 && e == ERR_OK)
		e = ERR_INTERNAL;
	if (e != ERR_OK)
		unlink(dest);
	buf_release(&resp);
	return e;
}

static err_t s3_del(storage_t *s, const char *key)
{
	static const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	buf_t resp;
	struct s3_io io;
	err_t e;

	buf_init(&resp, S3_RESP_MAX);
	io_init(&io, &resp);
	e = s3_do(s->impl, "DELETE", key, NULL, empty, NULL, &io);
	buf_release(&resp);
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

static err_t s3_stat(storage_t *s, const char *key, struct storage_stat *st)
{
	static const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct s3 *s3 = s->impl;
	buf_t resp;
	struct s3_io io;
	curl_off_t len = -1;
	long filetime = -1;
	err_t e;

	buf_init(&resp, S3_RESP_MAX);
	io_init(&io, &resp);
	e = s3_do(s3, "HEAD", key, NULL, empty, NULL, &io);
	if (e == ERR_OK) {
		curl_easy_getinfo(s3->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		curl_easy_getinfo(s3->curl, CURLINFO_FILETIME, &filetime);
		st->size = (int64_t)len;
		st->mtime = filetime > 0 ? (time_t)filetime : 0;
	}
	buf_release(&resp);
	return e;
}

/* Appends "&name=<encoded value>" when value is set. */
static int add_param(buf_t *q, const char *name, const char *value)
{
	if (!value)
		return 0;
	if (q->len > 0 && buf_putc(q, '&') < 0)
		return -1;
	return buf_printf(q, "%s=", name) < 0 ? -1 : sigv4_uri_encode(q, value, strlen(value), false);
}

static err_t s3_presign(storage_t *s, arena_t *a, const char *method, const char *key,
			long expires, const char *rtype, const char *rdisp, const char **url)
{
	struct s3 *s3 = s->impl;
	char date[SIGV4_DATE_LEN], path[S3_HOST_MAX + STORAGE_KEY_MAX + 2];
	buf_t extra, q, u;
	err_t e = ERR_INTERNAL;

	sigv4_date(time(NULL), date);
	snprintf(path, sizeof(path), "%s/%s", s3->prefix, key);
	buf_init(&extra, 2048);
	buf_init(&q, 4096);
	buf_init(&u, 8192);
	if (add_param(&extra, "response-content-disposition", rdisp) < 0 ||
	    add_param(&extra, "response-content-type", rtype) < 0)
		goto out_release;
	if (sigv4_presign(method, path, buf_cstr(&extra), s3->host, &s3->cred, date, expires, &q) < 0)
		goto out_release;
	if (buf_printf(&u, "%s://%s", s3->scheme, s3->host) < 0 ||
	    sigv4_uri_encode(&u, path, strlen(path), true) < 0 || buf_printf(&u, "?%s", buf_cstr(&q)) < 0)
		goto out_release;
	*url = arena_strdup(a, buf_cstr(&u));
	e = ERR_OK;
out_release:
	buf_release(&extra);
	buf_release(&q);
	buf_release(&u);
	return e;
}

static err_t s3_serve(storage_t *s, arena_t *a, const char *key, long expires, const char *rtype,
		      const char *rdisp, struct storage_serve *out)
{
	out->kind = STORAGE_SERVE_REDIRECT;
	return s3_presign(s, a, "GET", key, expires, rtype, rdisp, &out->uri);
}

static void s3_close(storage_t *s)
{
	struct s3 *s3 = s->impl;

	curl_easy_cleanup(s3->curl);
	free(s3);
}

static const struct storage_ops s3_ops = {
	"s3", s3_put, s3_get, s3_del, s3_stat, s3_presign, s3_serve, s3_close,
};

/* Splits "scheme://host[:port][/]" into s3->scheme and the host part; 0 or -1. */
static int parse_endpoint(struct s3 *s3, const char *ep, const char *bucket, bool path_style)
{
	const char *host = strstr(ep, "://");
	size_t n;

	if (!host || (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0))
		return -1;
	snprintf(s3->scheme, sizeof(s3->scheme), "%.*s", (int)(host - ep), ep);
	host += 3;
	n = strcspn(host, "/?#");
	if (n == 0 || host[n] == '?' || host[n] == '#' || (host[n] == '/' && host[n + 1] != '\0'))
		return -1;
	if (strspn(bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(bucket) || !*bucket)
		return -1;
	if (path_style) {
		snprintf(s3->host, sizeof(s3->host), "%.*s", (int)n, host);
		snprintf(s3->prefix, sizeof(s3->prefix), "/%s", bucket);
	} else {
		snprintf(s3->host, sizeof(s3->host), "%s.%.*s", bucket, (int)n, host);
		s3->prefix[0] = '\0';
	}
	return 0;
}

int storage_s3_init(storage_t *s, const struct config *c, char *err, size_t errlen)
{
	struct s3 *s3 = calloc(1, sizeof(*s3));

	if (!s3)
		goto fail;
	if (parse_endpoint(s3, c->s3_endpoint, c->s3_bucket, c->s3_path_style != 0) < 0) {
		snprintf(err, errlen, "ATRIUM_S3_ENDPOINT/ATRIUM_S3_BUCKET: need http(s)://host[:port] "
			 "and a bucket name [a-z0-9.-]");
		goto fail;
	}
	if (!*c->s3_access_key || !*c->s3_secret_key || !*c->s3_region) {
		snprintf(err, errlen, "ATRIUM_S3_ACCESS_KEY, ATRIUM_S3_SECRET_KEY, ATRIUM_S3_REGION: required");
		goto fail;
	}
	s3->cred = (struct sigv4_credentials){ c->s3_access_key, c->s3_secret_key, c->s3_region, "s3" };
	s3->part_size = (int64_t)c->s3_part_mb * 1024 * 1024;
	s3->timeout_ms = 15 * 60 * 1000;
	s3->curl = curl_easy_init();
	if (!s3->curl) {
		snprintf(err, errlen, "curl_easy_init failed");
		goto fail;
	}
	s->ops = &s3_ops;
	s->impl = s3;
	return 0;
fail:
	free(s3);
	return -1;
}
