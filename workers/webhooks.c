/* atrium-webhooks: delivers webhook jobs from the webhooks queue, signed, one attempt per claim (DESIGN §7) */
#include "log.h"
#include "secrets.h"
#include "webhooks.h"
#include "worker.h"

static struct http_policy policy;

/* deliver: {"endpoint_id", "event_id"}: one signed POST per attempt, every attempt recorded. */
static err_t job_deliver(struct worker *w, const struct job *job, json_object *payload, arena_t *a,
			 struct job_result *res)
{
	struct webhook_send s;
	struct http_response rs;
	struct problem p = { 0 };
	err_t e = webhooks_prepare(worker_db(w), a, job, payload, &s, &p);

	if (e != ERR_OK) {
		res->error = p.detail != NULL ? p.detail : "the delivery could not be prepared";
		res->permanent = e == ERR_NOT_FOUND || e == ERR_CONFLICT || e == ERR_VALIDATION;
		return e;
	}
	(void)!http_perform(&policy, a, &s.rq, &rs);
	return webhooks_record(worker_db(w), a, worker_config(w), job, &s, &rs, res);
}

static const struct worker_kind kinds[] = {
	{ WEBHOOKS_KIND, job_deliver },
};

/* Reads the master keys (signing secrets are sealed) and the outbound HTTP policy. */
static int before_drop(const struct config *cfg, char *err, size_t errlen)
{
	if (http_policy_from_config(cfg, &policy, err, errlen) != 0)
		return -1;
	return secrets_before_drop(cfg, err, errlen);
}

static const struct worker_def def = {
	.program = "atrium-webhooks",
	.queues = WEBHOOKS_QUEUE,
	.kinds = kinds,
	.nkinds = NELEM(kinds),
	.before_drop = before_drop,
};

int main(int argc, char **argv)
{
	return worker_main(&def, argc, argv);
}
