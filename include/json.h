/* json: strict parsing of untrusted JSON and declarative validation against field tables (kcgi kvalid) */
#ifndef ATRIUM_JSON_H
#define ATRIUM_JSON_H

#include <json-c/json.h>   /* not <json.h>: -Iinclude would find this file itself */

#include "arena.h"
#include "common.h"
#include "err.h"

#define JSON_MAX_DEPTH 32

/* Parses exactly n bytes as one JSON value: strict RFC 8259, valid UTF-8, depth <= JSON_MAX_DEPTH,
 * nothing after the value. The tree is released with the arena. On failure fills p
 * (ERR_INVALID_JSON, detail says where) and returns its code. */
err_t json_parse(const char *s, size_t n, json_object **out, arena_t *a, struct problem *p) MUSTCHECK;

enum jv_type {
	JV_STRING,   /* one line: no control characters, no NUL */
	JV_TEXT,     /* may hold \n, \r and \t; no other control characters, no NUL */
	JV_INT,      /* an integer in [min, max]; 1.0, 1e3 and out-of-range values are refused */
	JV_BOOL,
	JV_UUID,
	JV_EMAIL,    /* one @, a dot in the domain, <= 254 bytes, no spaces */
	JV_ENUM,     /* a string among choices */
	JV_URL,      /* absolute http or https URL, no credentials, no fragment, <= max bytes */
	JV_TIME,     /* RFC 3339 timestamp */
	JV_OBJECT,   /* validated against fields (unknown keys refused) */
	JV_MAP,      /* an object with any keys whose values are validated by item */
	JV_ARRAY,    /* elements validated by item; min/max bound the count */
};

/* One field of an object. A table ends with an entry whose name is NULL.
 * min/max: string length in bytes (0 = no max), integer range, array length, map size. */
struct jv_field {
	const char *name;
	enum jv_type type;
	bool required;
	bool nullable;
	int64_t min;
	int64_t max;
	const char *const *choices;      /* JV_ENUM: NULL-terminated */
	const struct jv_field *fields;   /* JV_OBJECT */
	const struct jv_field *item;     /* JV_ARRAY and JV_MAP: the element (its name is unused) */
};

/* Validates object o against fields, adding one field error per problem found (path-prefixed,
 * such as "steps[0].fields[2].type") to p. Returns ERR_OK or ERR_VALIDATION. A non-object o
 * is itself an error at path ("" for the body: "body must be a JSON object"). */
err_t json_validate(json_object *o, const struct jv_field *fields, const char *path,
		    struct problem *p, arena_t *a) MUSTCHECK;

/* Accessors that tolerate absence: NULL / def when key is missing, null or of another type. */
const char *json_get_str(json_object *o, const char *key);
int64_t json_get_int(json_object *o, const char *key, int64_t def);
bool json_get_bool(json_object *o, const char *key, bool def);
json_object *json_get(json_object *o, const char *key);

/* Compact serialisation ("/" not escaped); the string lives as long as o. */
const char *json_str(json_object *o);

/* A new object/array released with the arena (use json_object_object_add etc. to fill it;
 * children added to it are owned by it). */
json_object *json_new_object(arena_t *a);
json_object *json_new_array(arena_t *a);

#endif
