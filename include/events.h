/* events: events_emit(), the one producer of events and of the jobs they fan out to (DESIGN §7) */
#ifndef ATRIUM_EVENTS_H
#define ATRIUM_EVENTS_H

#include <json-c/json.h>

#include "arena.h"
#include "common.h"
#include "db.h"
#include "err.h"

/* An event as stored, handed to each consumer. */
struct event {
	const char *tenant_id;
	const char *id;          /* UUIDv7: also the idempotency key receivers deduplicate on */
	const char *type;        /* "submission.created", "ops.ping", ... */
	json_object *data;
	const char *data_json;   /* data serialised, as stored */
};

/* A consumer creates its jobs for one event, inside the emitting transaction (queue_enqueue),
 * and returns ERR_OK when it has none to create. Webhooks, integrations and mail register here. */
struct events_consumer {
	const char *name;
	err_t (*fanout)(db_t *db, arena_t *a, const struct event *ev, struct problem *p);
};

/* Stores the event in the caller's open transaction (tenant set) and lets every consumer create
 * its jobs there too, so event and jobs commit together or not at all. type must look like
 * "noun.verb" (lowercase, dot-separated); data must be a JSON object (NULL = {}). id_out gets
 * the event id. A consumer's failure fails the whole call (the caller rolls back). */
err_t events_emit(db_t *db, arena_t *a, const char *tenant_id, const char *type, json_object *data,
		  struct problem *p, char id_out[UUID_STRLEN]) MUSTCHECK;

/* Pure: whether type is a well-formed event type. */
bool events_type_valid(const char *type);

#endif
