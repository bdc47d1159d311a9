/* media_pipeline: scan, then detect and decode each asset in a forked child under resource limits */
#include <errno.h>
#include <fcntl.h>
#include <magic.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "media_pipeline.h"

void media_opts_defaults(struct media_opts *o)
{
	*o = (struct media_opts){
		.scanner = "clamd",
		.clamd_socket = "/run/atrium/clamd.sock",
		.scan_timeout_ms = 10000,
		.max_pixels = 50000000,
		.max_frames = 100,
		.max_video_s = 600,
		.max_audio_s = 1800,
		.max_video_pixels = 4096LL * 2160,
		.probe_bytes = 5000000,
		.cpu_s = 60,
		.mem_bytes = 1024LL << 20,
		.timeout_s = 15,
	};
}

int media_opts_from_config(const struct config *c, struct media_opts *o, char *err, size_t errlen)
{
	media_opts_defaults(o);
	if (strcmp(c->media_scanner, "clamd") != 0 && strcmp(c->media_scanner, "none") != 0) {
		snprintf(err, errlen, "ATRIUM_MEDIA_SCANNER: must be one of clamd, none, got \"%s\"",
			 c->media_scanner);
		return -1;
	}
	o->scanner = c->media_scanner;
	o->clamd_socket = c->clamd_socket;
	o->max_pixels = (long long)c->media_max_mpixels * 1000000;
	o->max_frames = c->media_max_frames;
	o->max_video_s = c->media_max_video_s;
	o->max_audio_s = c->media_max_audio_s;
	o->max_video_pixels = c->media_max_video_pixels;
	o->cpu_s = c->media_cpu_s;
	o->mem_bytes = (long long)c->media_mem_mb << 20;
	o->timeout_s = c->media_timeout_s;
	return 0;
}

/* The allowlist by detected type (libmagic 5.44 names, non-canonical ones included). */
static const struct {
	const char *mime;
	const char *kind;
} kinds[] = {
	{ "image/jpeg", "image" }, { "image/png", "image" }, { "image/gif", "image" },
	{ "image/webp", "image" }, { "image/heic", "image" }, { "image/heif", "image" },
	{ "image/avif", "image" },
	{ "video/mp4", "video" }, { "video/quicktime", "video" }, { "video/webm", "video" },
	{ "video/ogg", "video" }, { "video/x-matroska", "video" },
	{ "audio/mpeg", "audio" }, { "audio/x-m4a", "audio" }, { "audio/mp4", "audio" },
	{ "audio/x-wav", "audio" }, { "audio/wav", "audio" }, { "audio/ogg", "audio" },
	{ "application/ogg", "audio" },
	{ "application/pdf", "document" },
	{ "application/msword", "document" }, { "application/vnd.ms-excel", "document" },
	{ "application/vnd.ms-powerpoint", "document" },
	{ "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document" },
	{ "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document" },
	{ "application/vnd.openxmlformats-officedocument.presentationml.presentation", "document" },
	{ "application/vnd.oasis.opendocument.text", "document" },
	{ "application/vnd.oasis.opendocument.spreadsheet", "document" },
	{ "application/vnd.oasis.opendocument.presentation", "document" },
};

const char *media_kind_of(const char *mime)
{
	for (size_t i = 0; i < NELEM(kinds); i++)
		if (strcmp(kinds[i].mime, mime) == 0)
			return kinds[i].kind;
	return NULL;
}

/* libmagic on the content, never on the name; MAGIC_NO_CHECK_COMPRESS keeps it from decompressing. */
static int detect_mime(const char *path, char *mime, size_t cap)
{
	magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
	const char *t;
	int rc = -1;

	if (m == NULL)
		return -1;
	if (magic_load(m, NULL) == 0 && (t = magic_file(m, path)) != NULL) {
		snprintf(mime, cap, "%s", t);
		rc = 0;
	}
	magic_close(m);
	return rc;
}

void media_process(const struct media_opts *o, const char *path, const char *out_dir,
		   struct media_result *out)
{
	const char *kind;

	out->page_count = -1;
	if (detect_mime(path, out->mime, sizeof(out->mime)) != 0) {
		media_fail(out, "libmagic could not read the file");
		return;
	}
	kind = media_kind_of(out->mime);
	if (kind == NULL) {
		media_reject(out, "unsupported_type", "content type %s is not accepted", out->mime);
		return;
	}
	snprintf(out->kind, sizeof(out->kind), "%s", kind);
	if (strcmp(kind, "image") == 0)
		media_image(o, path, out_dir, out);
	else if (strcmp(kind, "document") == 0)
		media_doc(path, out);
	else
		media_av(o, path, out_dir, out);
}

/* --- the scan --------------------------------------------------------------------------------- */

/* Fills out->scanner; rejects or fails out unless the file is clean. Returns 0 when clean. */
static int scan(const struct media_opts *o, const char *path, struct media_result *out)
{
	bool clean;
	err_t rc;

	snprintf(out->scanner, sizeof(out->scanner), "%s", o->scanner);
	if (strcmp(o->scanner, "none") == 0)
		return 0;
	rc = media_scan_clamd(o->clamd_socket, path, o->scan_timeout_ms, &clean, out->signature,
			      sizeof(out->signature));
	if (rc != ERR_OK) {
		media_fail(out, "clamd unavailable");
		return -1;
	}
	if (clean)
		return 0;
	if (strcmp(out->signature, "size limit exceeded") == 0 || strstr(out->signature, "Limits") != NULL)
		media_reject(out, "scan_limit_exceeded", "the file is over the scanner's limits");
	else
		media_reject(out, "infected", "the scanner found %s", out->signature);
	return -1;
}

/* --- the child -------------------------------------------------------------------------------- */

static void set_limits(const struct media_opts *o)
{
	struct rlimit cpu = { (rlim_t)o->cpu_s, (rlim_t)o->cpu_s + 1 };
	struct rlimit as = { (rlim_t)o->mem_bytes, (rlim_t)o->mem_bytes };
	struct rlimit core = { 0, 0 };

	setrlimit(RLIMIT_CPU, &cpu);
#ifndef __SANITIZE_ADDRESS__
	/* ASan reserves terabytes of shadow address space: an AS limit would fail every mmap */
	setrlimit(RLIMIT_AS, &as);
#else
	(void)as;
#endif
	setrlimit(RLIMIT_CORE, &core);
}

/* What a decoder that has been taken over could reach: nothing the worker holds (its PostgreSQL
 * and Redis connections are closed here), no new privileges, and no network when the kernel lets
 * an unprivileged process have a network namespace of its own (best effort). */
static void confine(int wfd)
{
	if (wfd > 3)
		close_range(3, (unsigned)wfd - 1, 0);
	close_range((unsigned)wfd + 1, ~0U, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
		(void)unshare(CLONE_NEWNET);
}

static _Noreturn void child_main(const struct media_opts *o, const char *path, const char *out_dir,
				 int wfd)
{
	struct media_result r = { 0 };
	const char *p = (const char *)&r;
	size_t left = sizeof(r);

	confine(wfd);
	set_limits(o);
	/* one malloc arena: decoder threads would otherwise each keep their freed memory */
	mallopt(M_ARENA_MAX, 1);
	media_process(o, path, out_dir, &r);
	while (left > 0) {
		ssize_t w = write(wfd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(2);
		p += w;
		left -= (size_t)w;
	}
	_exit(0);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the child's result until EOF or the deadline. Returns the bytes read. */
static size_t read_result(int rfd, struct media_result *r, long long deadline)
{
	char *p = (char *)r;
	size_t got = 0;

	while (got < sizeof(*r)) {
		struct pollfd pfd = { .fd = rfd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			break;
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) <= 0)
			continue;
		n = read(rfd, p + got, sizeof(*r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Turns how the child ended into the result: its own, or a failure naming the signal/limit. */
static void child_outcome(int status, size_t got, struct media_result *r, struct media_result *out)
{
	char scanner[16];

	memcpy(scanner, out->scanner, sizeof(scanner));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && got == sizeof(*r)) {
		long rss = out->peak_rss_kb;

		*out = *r;
		out->peak_rss_kb = rss;
	} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU) {
		media_fail(out, "decoding child hit its CPU limit");
	} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		media_fail(out, "decoding child was killed (time limit or memory)");
	} else if (WIFSIGNALED(status)) {
		media_fail(out, "decoding child crashed with signal %d", WTERMSIG(status));
	} else {
		media_fail(out, "decoding child exited with status %d", WEXITSTATUS(status));
	}
	memcpy(out->scanner, scanner, sizeof(scanner));
}

err_t media_pipeline_run(const struct media_opts *o, const char *path, const char *out_dir,
			 struct media_result *out)
{
	struct media_result r = { 0 };
	struct rusage ru = { 0 };
	int fds[2], status = 0;
	size_t got;
	pid_t pid;

	*out = (struct media_result){ .page_count = -1 };
	if (scan(o, path, out) != 0)
		return ERR_OK;
	(void)media_image_preload();
	if (pipe2(fds, O_CLOEXEC) != 0)
		return ERR_INTERNAL;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return ERR_INTERNAL;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(o, path, out_dir, fds[1]);
	}
	close(fds[1]);
	got = read_result(fds[0], &r, now_ms() + (long long)o->timeout_s * 1000);
	if (got < sizeof(r))
		kill(pid, SIGKILL);
	close(fds[0]);
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	out->peak_rss_kb = ru.ru_maxrss;
	child_outcome(status, got, &r, out);
	return ERR_OK;
}
