/* media_run: runs the media pipeline on files (no scan unless ATRIUM_CLAMD_SOCKET is set), one JSON
 * line per file; for the memory test and bench/thumbs.sh. Usage: media_run [--thumb-only] OUT_DIR
 * FILE... (--thumb-only: images get the thumb variant alone, bench/thumbs.sh's like-for-like run) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media_pipeline.h"

static const char *outcome_name(enum media_outcome o)
{
	return o == MEDIA_READY ? "ready" : o == MEDIA_REJECTED ? "rejected" : "failed";
}

static void print_result(const char *file, const struct media_result *r)
{
	printf("{\"file\":\"%s\",\"state\":\"%s\",\"reason\":\"%s\",\"detail\":\"%s\",\"scanner\":\"%s\","
	       "\"kind\":\"%s\",\"mime\":\"%s\",\"width\":%d,\"height\":%d,\"frames\":%d,"
	       "\"duration\":%.3f,\"bitrate\":%lld,\"codecs\":\"%s\",\"pages\":%d,\"color\":\"%s\","
	       "\"peak_rss_kb\":%ld,\"variants\":[",
	       file, outcome_name(r->outcome), r->outcome == MEDIA_READY ? "" : r->reason, r->detail,
	       r->scanner, r->kind, r->mime, r->width, r->height, r->frames, r->duration_s, r->bitrate,
	       r->codecs, r->page_count, r->color, r->peak_rss_kb);
	for (int i = 0; i < r->nvariants; i++)
		printf("%s{\"name\":\"%s\",\"path\":\"%s\",\"mime\":\"%s\",\"width\":%d,\"height\":%d}",
		       i ? "," : "", r->variants[i].name, r->variants[i].path, r->variants[i].mime,
		       r->variants[i].width, r->variants[i].height);
	printf("]}\n");
}

int main(int argc, char **argv)
{
	struct media_opts o;
	const char *sock = getenv("ATRIUM_CLAMD_SOCKET"), *mem = getenv("MEDIA_MEM_MB");

	media_opts_defaults(&o);
	if (argc > 1 && strcmp(argv[1], "--thumb-only") == 0) {
		o.thumb_only = true;
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: media_run [--thumb-only] OUT_DIR FILE...\n");
		return 2;
	}
	o.scanner = sock ? "clamd" : "none";
	if (sock)
		o.clamd_socket = sock;
	if (mem) {
		char *end;
		long long mb = strtoll(mem, &end, 10);

		if (end == mem || *end != '\0' || mb < 16 || mb > 65536) {
			fprintf(stderr, "media_run: MEDIA_MEM_MB must be 16..65536\n");
			return 2;
		}
		o.mem_bytes = mb << 20;
	}
	for (int i = 2; i < argc; i++) {
		struct media_result r;
		char dir[MEDIA_PATH_MAX];
		const char *base = strrchr(argv[i], '/');

		snprintf(dir, sizeof(dir), "%s/%d-%s", argv[1], i, base ? base + 1 : argv[i]);
		mkdir(dir, 0755);
		if (media_pipeline_run(&o, argv[i], dir, &r) != ERR_OK) {
			fprintf(stderr, "media_run: pipeline could not run on %s\n", argv[i]);
			return 1;
		}
		print_result(argv[i], &r);
	}
	return 0;
}
