/* events: events_emit() stores each event and asks every registered consumer for its jobs (DESIGN §7) */
#include <string.h>

#include "crypto.h"
#include "events.h"
#include "integrations.h"
#include "log.h"
#include "queue.h"
#include "webhooks.h"

/* The operators' consumer: "ops.*" events become an ops/echo job, so the fan-out path can be
 * proven end to end (atriumctl jobs emit) before webhooks, integrations and mail exist. */
static err_t ops_fanout(db_t *db, arena_t *a, const struct event *ev, struct problem *p)
{
	struct job_spec spec = {
		.tenant_id = ev->tenant_id,
		.queue = "ops",
		.kind = "echo",
		.idempotency_key = arena_printf(a, "event:%s", ev->id),
	};
	char job_id[UUID_STRLEN];

	if (strncmp(ev->type, "ops.", 4) != 0)
		return ERR_OK;
	spec.payload = arena_printf(a, "{\"event\":\"%s\",\"type\":\"%s\",\"data\":%s}", ev->id,
				    ev->type, ev->data_json);
	return queue_enqueue(db, a, &spec, job_id, p);
}

/* Every consumer of events. Webhooks, integrations and mail add one line each. */
static const struct events_consumer consumers[] = {
	{ "ops", ops_fanout },
	/* -- webhooks: one delivery job per subscribed endpoint -- */
	{ "webhooks", webhooks_fanout },
	/* -- integrations: one run job per bound integration -- */
	{ "integrations", integrations_fanout },
};

bool events_type_valid(const char *t)
{
	size_t n = t != NULL ? strlen(t) : 0;
	bool seg_start = true, dot = false;

	if (n == 0 || n > 100)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];

		if (c == '.') {
			if (seg_start)
				return false;
			seg_start = true;
			dot = true;
		} else if (c >= 'a' && c <= 'z') {
			seg_start = false;
		} else if ((c >= '0' && c <= '9') || c == '_') {
			if (seg_start)
				return false;
		} else {
			return false;
		}
	}
	return dot && !seg_start;
}

static void put_json(void *o)
{
	json_object_put(o);
}

err_t events_emit(db_t *db, arena_t *a, const char *tenant_id, const char *type, json_object *data,
		  struct problem *p, char id_out[UUID_STRLEN])
{
	struct event ev = { .tenant_id = tenant_id, .type = type, .data = data };
	char id[UUID_STRLEN];
	err_t e;

	if (tenant_id == NULL || !crypto_uuid_valid(tenant_id))
		return err_set(p, a, ERR_VALIDATION, "event tenant must be a UUID");
	if (!events_type_valid(type))
		return err_set(p, a, ERR_VALIDATION, "event type must look like noun.verb");
	if (data == NULL) {
		ev.data = json_object_new_object();
		arena_cleanup_add(a, put_json, ev.data);
	} else if (!json_object_is_type(data, json_type_object)) {
		return err_set(p, a, ERR_VALIDATION, "event data must be a JSON object");
	}
	if (!db_in_tx(db))
		return err_set(p, a, ERR_INTERNAL, "events_emit outside a transaction");
	ev.data_json = arena_strdup(a, json_object_to_json_string_ext(ev.data,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	crypto_uuid7(id);
	ev.id = id;
	e = db_q(db, a, NULL,
		 "INSERT INTO events (tenant_id, id, type, payload) VALUES ($1, $2, $3, $4::jsonb)",
		 tenant_id, id, type, ev.data_json);
	if (e != ERR_OK)
		return err_set(p, a, e, "could not store the event");
	for (size_t i = 0; i < NELEM(consumers); i++) {
		if ((e = consumers[i].fanout(db, a, &ev, p)) != ERR_OK) {
			log_warn("events.fanout_failed", LF_STR("consumer", consumers[i].name),
				 LF_STR("type", type));
			return e;
		}
	}
	memcpy(id_out, id, UUID_STRLEN);
	return ERR_OK;
}
