/* atrium-integrations: runs integration actions from the integrations queue (DESIGN §5) */
#include "integrations.h"
#include "log.h"
#include "secrets.h"
#include "worker.h"

/* run: {"integration_id", "event"}: the action runs once per attempt; every attempt is a run row. */
static err_t job_run(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
		     struct job_result *res)
{
	struct integration_call out = { 0 };
	err_t e = integrations_run_job(worker_config(w), worker_db(w), a, job, payload, &out);

	if (e != ERR_OK) {
		res->error = out.error;
		res->permanent = out.permanent;
		res->retry_after_ms = out.retry_after_ms;
	}
	return e;
}

static const struct worker_kind kinds[] = {
	{ INTEGRATIONS_KIND, job_run },
};

/* A run makes at most two calls (a Google token, then the action), each under the HTTP timeout. */
static int job_ms(const struct config *cfg)
{
	return 2 * cfg->http_timeout_ms;
}

static const struct worker_def def = {
	.program = "atrium-integrations",
	.queues = INTEGRATIONS_QUEUE,
	.kinds = kinds,
	.nkinds = NELEM(kinds),
	.before_drop = secrets_before_drop,
	.job_ms = job_ms,
};

int main(int argc, char **argv)
{
	return worker_main(&def, argc, argv);
}
