/* media_pipeline: one uploaded asset through scan, deep validation, conversion and variants (DESIGN §6) */
#ifndef ATRIUM_MEDIA_PIPELINE_H
#define ATRIUM_MEDIA_PIPELINE_H

#include "common.h"
#include "config.h"
#include "err.h"

#define MEDIA_VARIANTS_MAX 3
#define MEDIA_PATH_MAX 512

/* What the pipeline needs to know; every limit has a config setting (lib/config.c, ATRIUM_MEDIA_*). */
struct media_opts {
	const char *scanner;          /* "clamd" or "none" (explicit choice, warned about at start-up) */
	const char *clamd_socket;     /* unix socket of clamd */
	int scan_timeout_ms;
	long long max_pixels;         /* per frame; default 50 MP */
	int max_frames;               /* animated images */
	int max_video_s;              /* default 600 */
	int max_audio_s;              /* default 1800 */
	long long max_video_pixels;   /* width x height; default 4096 x 2160 */
	long long probe_bytes;        /* libavformat probesize */
	int cpu_s;                    /* RLIMIT_CPU of the decoding child */
	long long mem_bytes;          /* RLIMIT_AS of the decoding child */
	int timeout_s;                /* wall clock: the child is killed after it */
	bool thumb_only;              /* images: the thumb variant alone (bench/thumbs.sh) */
};

/* One file the pipeline wrote into the caller's output directory. */
struct media_variant {
	char name[16];                /* "original" (re-encoded for display), "thumb", "preview" */
	char path[MEDIA_PATH_MAX];
	char mime[32];
	int width, height;
	long long bytes;
};

enum media_outcome {
	MEDIA_READY,                  /* processed: variants and metadata below */
	MEDIA_REJECTED,               /* final: reason says why; the bytes must be deleted */
	MEDIA_FAILED,                 /* the child crashed, hit a limit or a dependency failed: retry,
				       * then reject as processing_failed when the retries are spent */
};

/* The result of one asset; plain data, so that the child can hand it to the parent over a pipe. */
struct media_result {
	enum media_outcome outcome;
	char reason[32];              /* when rejected: infected, unsupported_type, corrupt, too_many_pixels,
				       * too_many_frames, too_long, resolution_too_high, scan_limit_exceeded,
				       * processing_failed */
	char detail[200];             /* one line for people and operators, no file content */
	char scanner[16];             /* which scanner passed (or rejected) the file */
	char signature[96];           /* the scanner's finding, when infected */
	char kind[16];                /* image, video, audio, document */
	char mime[64];                /* detected from the content */
	int width, height;            /* as displayed (after orientation) */
	int frames;
	double duration_s;            /* audio/video; 0 when not applicable */
	long long bitrate;            /* bits/s, audio/video */
	char codecs[64];              /* "h264,aac" */
	int page_count;               /* PDF, -1 when not cheap to tell */
	char color[8];                /* dominant colour "#rrggbb" of images and posters */
	int nvariants;
	struct media_variant variants[MEDIA_VARIANTS_MAX];
	long peak_rss_kb;             /* the decoding child's, from wait4() */
};

/* Defaults for every limit (the config's defaults too). */
void media_opts_defaults(struct media_opts *o);

/* The options from the config (ATRIUM_MEDIA_*, ATRIUM_CLAMD_SOCKET). -1 with a message naming
 * the setting when ATRIUM_MEDIA_SCANNER is neither "clamd" nor "none". */
int media_opts_from_config(const struct config *c, struct media_opts *o, char *err, size_t errlen) MUSTCHECK;

/* The whole pipeline for the file at path: scan (in this process: clamd does the parsing), then
 * detection, validation and conversion in a forked child under setrlimit CPU/AS and a wall-clock
 * kill. Variants are written into out_dir (which must exist) as <name>.<ext>. Always fills out;
 * returns ERR_OK unless the pipeline itself could not run (fork, pipe), which is ERR_INTERNAL. */
err_t media_pipeline_run(const struct media_opts *o, const char *path, const char *out_dir,
			 struct media_result *out) MUSTCHECK;

/* The same steps without the scan and without forking (the child's body; tests and fuzzing). */
void media_process(const struct media_opts *o, const char *path, const char *out_dir,
		   struct media_result *out);

/* Rejects out with reason and a formatted detail. */
void media_reject(struct media_result *out, const char *reason, const char *fmt, ...) PRINTF_LIKE(3, 4);
void media_fail(struct media_result *out, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* --- the steps (services/media_*.c) ---------------------------------------------------------- */

/* clamd INSTREAM over its unix socket. ERR_OK with *clean set, or *clean false and signature
 * filled (a FOUND, or "size limit exceeded" when clamd refuses the size: never reported clean).
 * ERR_UNAVAILABLE when clamd cannot be reached or answers nonsense (the caller retries). */
err_t media_scan_clamd(const char *socket_path, const char *path, int timeout_ms, bool *clean,
		       char *signature, size_t sigcap) MUSTCHECK;

/* Kind of a detected MIME type: "image", "video" (containers that may carry video), "audio",
 * "document", or NULL when not allowed (SVG included). Pure. */
const char *media_kind_of(const char *mime);

/* Images with libvips, only inside the child: one loader allowed, limits, variants. */
void media_image(const struct media_opts *o, const char *path, const char *out_dir,
		 struct media_result *out);
/* Starts libvips (no cache, untrusted operations and all loaders blocked) in the process that
 * forks the children, so that each child inherits it ready. Reads no file and starts no thread.
 * 0, or -1 when libvips cannot start (each child then tries again and fails its asset). */
int media_image_preload(void);
/* Audio and video with libavformat, only inside the child: allowlist, no nested opens, limits,
 * the poster frame of a video as its thumb. */
void media_av(const struct media_opts *o, const char *path, const char *out_dir,
	      struct media_result *out);
/* Documents: the type confirmed from the bytes (PDF header/trailer, OOXML parts), PDF page
 * count when the page tree is plain text. Never rendered. */
void media_doc(const char *path, struct media_result *out);

/* Pure helpers, exposed for the unit tests. */
int media_pdf_count_pages(const char *buf, size_t len);       /* -1 when unknown */
/* The OOXML part a zip must hold for mime ("word/document.xml", ...), or NULL if not OOXML. */
const char *media_ooxml_part(const char *mime);
/* Whether the zip in buf (its tail is enough: end of central directory) names an entry. */
bool media_zip_has(const unsigned char *buf, size_t len, const char *name);

/* Writes an RGB(A) buffer (from the video decoder) as a thumbnail JPEG of at most size px;
 * fills v. 0, or -1 with the vips error in out. */
int media_image_from_rgb(const unsigned char *rgb, int w, int h, int stride, const char *out_dir,
			 struct media_variant *v, char color[8]);

#endif
