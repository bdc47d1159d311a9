/* fuzz_json: json_parse + json_validate on arbitrary bytes must never crash, leak or accept garbage */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char *const kinds[] = { "text", "number", NULL };
static const struct jv_field leaf_fields[] = {
	{ .name = "key", .type = JV_STRING, .required = true, .min = 1, .max = 32 },
	{ .name = "type", .type = JV_ENUM, .choices = kinds },
	{ .name = "max", .type = JV_INT, .nullable = true, .min = -10, .max = 1000 },
	{ .name = "label", .type = JV_TEXT, .max = 100 },
	{ .name = NULL },
};
static const struct jv_field leaf = { .type = JV_OBJECT, .fields = leaf_fields };
static const struct jv_field str_item = { .type = JV_STRING, .max = 16 };
static const struct jv_field schema[] = {
	{ .name = "name", .type = JV_STRING, .required = true, .min = 1, .max = 64 },
	{ .name = "id", .type = JV_UUID },
	{ .name = "email", .type = JV_EMAIL },
	{ .name = "url", .type = JV_URL, .max = 200 },
	{ .name = "at", .type = JV_TIME },
	{ .name = "on", .type = JV_BOOL },
	{ .name = "items", .type = JV_ARRAY, .max = 8, .item = &leaf },
	{ .name = "tags", .type = JV_MAP, .max = 8, .item = &str_item },
	{ .name = NULL },
};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static arena_t *a;
	struct problem p;
	json_object *o;

	if (a == NULL)
		a = arena_new(8192);
	err_clear(&p);
	if (json_parse((const char *)data, size, &o, a, &p) == ERR_OK) {
		/* accepted text never contains a raw NUL, and re-serialises */
		if (memchr(data, '\0', size) != NULL)
			abort();
		(void)json_str(o);
		err_clear(&p);
		if (json_validate(o, schema, "", &p, a) == ERR_OK && json_get_str(o, "name") == NULL)
			abort();   /* a required field passed validation while missing */
		if (p.nfields > PROBLEM_MAX_FIELDS)
			abort();
	} else if (p.code == ERR_OK || p.detail == NULL) {
		abort();   /* a refusal must say why */
	}
	arena_reset(a);
	return 0;
}
