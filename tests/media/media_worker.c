/* media_worker: the media.process job kind on its own worker (queue "media"), with no storage hooks:
 * until atrium-media (workers/media.c) carries the pipeline, the end-to-end tests start this by
 * hand against the test stack. */
#include <stdio.h>

#include "media_job.h"

static int media_before_drop(const struct config *cfg, char *err, size_t errlen)
{
	struct media_opts o;

	if (media_opts_from_config(cfg, &o, err, errlen) != 0)
		return -1;
	media_job_init(&o, NULL, cfg->media_work_dir, cfg->job_lease_ms);
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
