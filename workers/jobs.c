/* atrium-jobs: the ops queue's trivial job kinds, proving the job machinery and serving operators */
#include <errno.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "worker.h"

#define SLEEP_MAX_MS 60000

/* echo: succeeds; the attempt row is the record. */
static err_t job_echo(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
		      struct job_result *res)
{
	(void)w, (void)payload, (void)a, (void)res;
	log_info("job.echo", LF_STR("kind", job->kind), LF_INT("attempt", job->attempt));
	return ERR_OK;
}

/* fail: {"fail_times": N} fails attempts 1..N and succeeds from attempt N + 1 on. */
static err_t job_fail(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
		      struct job_result *res)
{
	int64_t n = json_get_int(payload, "fail_times", 1);

	(void)w;
	if (job->attempt > n)
		return ERR_OK;
	res->error = arena_printf(a, "failing on purpose: attempt %d of fail_times %lld", job->attempt,
				  (long long)n);
	return ERR_RETRY;
}

/* sleep: {"ms": N}, 0..SLEEP_MAX_MS, sleeps that long (signals do not cut it short: a stopping
 * worker finishes its job), then succeeds. For kill tests. */
static err_t job_sleep(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
		       struct job_result *res)
{
	int64_t ms = json_get_int(payload, "ms", -1);
	struct timespec ts;

	(void)w, (void)job, (void)a;
	if (ms < 0 || ms > SLEEP_MAX_MS) {
		res->error = "sleep needs \"ms\" from 0 to 60000";
		res->permanent = true;
		return ERR_VALIDATION;
	}
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return ERR_OK;
}

static const struct worker_kind kinds[] = {
	{ "echo", job_echo },
	{ "fail", job_fail },
	{ "sleep", job_sleep },
};

static const struct worker_def def = {
	.program = "atrium-jobs",
	.queues = "ops",
	.kinds = kinds,
	.nkinds = NELEM(kinds),
};

int main(int argc, char **argv)
{
	return worker_main(&def, argc, argv);
}
