/* media_worker: the media.process job kind with no storage hooks (or the storage hooks alone), for
 * tests/reliability/test_media_jobs.py, which starts it by hand on a queue of its own (atrium-media,
 * workers/media.c, serves "media" over uploads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media_job.h"
#include "storage.h"

/* MEDIA_TEST_STORAGE=1: variants go to the StorageAdapter (ATRIUM_STORAGE_*) through
 * media_job_storage_hooks, as atrium-media would store them. */
static int media_before_drop(const struct config *cfg, char *err, size_t errlen)
{
	static struct media_job_hooks hooks;
	const char *use = getenv("MEDIA_TEST_STORAGE");
	struct media_opts o;
	storage_t *st;

	if (media_opts_from_config(cfg, &o, err, errlen) != 0)
		return -1;
	if (use == NULL || strcmp(use, "1") != 0) {
		media_job_init(&o, NULL, cfg->media_work_dir, cfg->job_lease_ms);
		return 0;
	}
	if ((st = storage_open(cfg, err, errlen)) == NULL)
		return -1;
	hooks = media_job_storage_hooks(st);
	media_job_init(&o, &hooks, cfg->media_work_dir, cfg->job_lease_ms);
	return 0;
}

static const struct worker_kind kinds[] = {
	{ MEDIA_JOB_KIND, media_job_process },
};

int main(int argc, char **argv)
{
	static const struct worker_def def = {
		.program = "atrium-media-test",
		.queues = MEDIA_QUEUE,
		.kinds = kinds,
		.nkinds = NELEM(kinds),
		.before_drop = media_before_drop,
	};

	return worker_main(&def, argc, argv);
}
