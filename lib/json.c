/* json: strict parsing of untrusted JSON and declarative validation against field tables (kcgi kvalid) */
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "json.h"
#include "log.h"

#define JV_URL_MAX_DEFAULT 2048
#define JV_KEY_MAX 256

static void put_cb(void *o)
{
	json_object_put(o);
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The word at s is true, false or null; *len is its length. */
static bool literal_ok(const char *s, size_t n, size_t *len)
{
	size_t k = 0;

	while (k < n && (is_alpha(s[k]) || (s[k] >= '0' && s[k] <= '9')))
		k++;
	*len = k;
	return (k == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)) ||
	       (k == 5 && memcmp(s, "false", 5) == 0);
}

/* After json-c accepted the text, catches what its strict mode still lets through: a key holding
 * the escape \u0000 (json-c would cut it: {"name\u0000x": ...} would read as "name"), a
 * single-quoted key, NaN and Infinity, raw control characters in strings, and a number like 1. or 1.e2. The text is otherwise valid JSON, so a lexical
 * scan is enough. Returns the byte offset and sets *why, or returns -1. */
static long lex_check(const char *s, size_t n, const char **why)
{
	size_t i = 0, start = 0, j;
	bool in_str = false, has_nul = false;

	for (; i < n; i++) {
		if (!in_str) {
			if (s[i] == '"') {
				in_str = true;
				has_nul = false;
				start = i;
			} else if (s[i] == '\'') {
				*why = "single quotes";
				return (long)i;
			} else if (s[i] == '.' && (i + 1 == n || s[i + 1] < '0' || s[i + 1] > '9')) {
				*why = "a digit must follow the decimal point";
				return (long)i;
			} else if (is_alpha(s[i]) && (i == 0 || s[i - 1] < '0' || s[i - 1] > '9')) {
				if (!literal_ok(s + i, n - i, &j)) {
					*why = "unexpected word (only true, false and null are allowed)";
					return (long)i;
				}
				i += j - 1;
			}
			continue;
		}
		if ((unsigned char)s[i] < 0x20) {
			*why = "unescaped control character in a string";
			return (long)i;
		}
		if (s[i] == '\\') {
			if (i + 5 < n && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
				has_nul = true;
			i++;
			continue;
		}
		if (s[i] != '"')
			continue;
		in_str = false;
		if (!has_nul)
			continue;
		for (j = i + 1; j < n && strchr(" \t\r\n", s[j]) != NULL; j++)
			;
		if (j < n && s[j] == ':') {
			*why = "object key contains \\u0000";
			return (long)start;
		}
	}
	return -1;
}

/* Offset of the first byte that does not start a valid UTF-8 sequence (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or -1. json-c 0.16's own check lets overlongs through. */
static long bad_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0, k;
	unsigned char c;

	while (i < n) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 2;
		else if (c >= 0xe0 && c <= 0xef)
			k = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 4;
		else
			return (long)i;
		if (k > n - i)
			return (long)i;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return (long)i;
		if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f) ||
		    (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))
			return (long)i;
		i += k;
	}
	return -1;
}

/* Feeds json-c the n bytes, then (for a bare number still waiting for its end) the terminator. */
static json_object *tokenize(struct json_tokener *t, const char *s, size_t n, size_t *where,
			     enum json_tokener_error *jerr)
{
	json_object *o = json_tokener_parse_ex(t, s, (int)n);

	*jerr = json_tokener_get_error(t);
	*where = json_tokener_get_parse_end(t);
	if (o == NULL && *jerr == json_tokener_continue) {
		o = json_tokener_parse_ex(t, "", 1);
		*jerr = json_tokener_get_error(t);
		*where = n;
	}
	return o;
}

err_t json_parse(const char *s, size_t n, json_object **out, arena_t *a, struct problem *p)
{
	struct json_tokener *t;
	enum json_tokener_error jerr;
	const char *nul, *why = NULL;
	json_object *o;
	size_t where;
	long k;

	*out = NULL;
	if (n == 0)
		return err_set(p, a, ERR_INVALID_JSON, "the body is empty; a JSON value is required");
	if (n > INT32_MAX)
		return err_set(p, a, ERR_TOO_LARGE, "the body is too large");
	nul = memchr(s, '\0', n);
	if (nul != NULL)
		return err_set(p, a, ERR_INVALID_JSON, "invalid JSON at byte %zu: NUL byte", (size_t)(nul - s));
	if ((k = bad_utf8((const unsigned char *)s, n)) >= 0)
		return err_set(p, a, ERR_INVALID_JSON, "invalid JSON at byte %ld: invalid utf-8", k);
	t = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (t == NULL)
		log_fatal("out_of_memory", "json_tokener_new_ex");
	json_tokener_set_flags(t, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = tokenize(t, s, n, &where, &jerr);
	json_tokener_free(t);
	if (o == NULL && jerr == json_tokener_success)
		return err_set(p, a, ERR_INVALID_JSON, "invalid JSON: the body is null");
	if (o == NULL)
		return err_set(p, a, ERR_INVALID_JSON, "invalid JSON at byte %zu: %s", where,
			       json_tokener_error_desc(jerr));
	arena_cleanup_add(a, put_cb, o);
	if (where < n)
		return err_set(p, a, ERR_INVALID_JSON, "invalid JSON at byte %zu: data after the JSON value",
			       where);
	if ((k = lex_check(s, n, &why)) >= 0)
		return err_set(p, a, ERR_INVALID_JSON, "invalid JSON at byte %ld: %s", k, why);
	*out = o;
	return ERR_OK;
}

/* ---- validation ---- */

struct vctx {
	struct problem *p;
	arena_t *a;
};

static const char *join(arena_t *a, const char *path, const char *name)
{
	if (path == NULL || path[0] == '\0')
		return name;
	return arena_printf(a, "%s.%s", path, name);
}

static bool full(const struct vctx *v)
{
	return v->p->nfields >= PROBLEM_MAX_FIELDS;
}

/* Rejects NUL (as \u0000) always, and control characters other than \n \r \t in text (and all of
 * them in a one-line string). Returns a detail or NULL. */
static const char *check_chars(const char *s, size_t len, bool text)
{
	const unsigned char *u = (const unsigned char *)s;

	if (memchr(s, '\0', len) != NULL)
		return "must not contain NUL characters";
	for (size_t i = 0; i < len; i++) {
		if (u[i] == 0x7f || (u[i] < 0x20 && !(text && (u[i] == '\n' || u[i] == '\r' || u[i] == '\t'))))
			return "must not contain control characters";
	}
	return NULL;
}

static bool check_length(struct vctx *v, const char *path, const struct jv_field *f, size_t len)
{
	if (f->min > 0 && len < (uint64_t)f->min) {
		if (f->min == 1)
			err_field(v->p, v->a, path, "must not be empty");
		else
			err_field(v->p, v->a, path, "must be at least %lld bytes long", (long long)f->min);
		return false;
	}
	if (f->max > 0 && len > (uint64_t)f->max) {
		err_field(v->p, v->a, path, "must be at most %lld bytes long", (long long)f->max);
		return false;
	}
	return true;
}

/* A string value with its checks common to every string type; NULL (after recording) if bad. */
static const char *string_of(struct vctx *v, const char *path, json_object *o, bool text, size_t *len)
{
	const char *s, *why;

	if (!json_object_is_type(o, json_type_string)) {
		err_field(v->p, v->a, path, "must be a string");
		return NULL;
	}
	s = json_object_get_string(o);
	*len = (size_t)json_object_get_string_len(o);
	why = check_chars(s, *len, text);
	if (why != NULL) {
		err_field(v->p, v->a, path, "%s", why);
		return NULL;
	}
	return s;
}

/* One @, a non-empty local part of at most 64 bytes, a domain with an inner dot, no spaces. */
static bool email_ok(const char *s, size_t len)
{
	const char *at = strchr(s, '@'), *dot;
	size_t local;

	if (len > 254 || at == NULL || strchr(at + 1, '@') != NULL || strchr(s, ' ') != NULL)
		return false;
	local = (size_t)(at - s);
	if (local == 0 || local > 64)
		return false;
	dot = strchr(at + 1, '.');
	return dot != NULL && dot != at + 1 && s[len - 1] != '.' && strstr(at + 1, "..") == NULL;
}

/* Absolute http(s) URL with a host, no credentials, no fragment, no spaces. Returns a detail or NULL. */
static const char *url_problem(const char *s)
{
	const char *rest, *end;
	size_t hostlen;

	if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else
		return "must be an absolute http or https URL";
	if (strpbrk(s, " \"<>\\^`{|}") != NULL)
		return "must not contain spaces or unsafe characters";
	if (strchr(s, '#') != NULL)
		return "must not contain a fragment";
	end = rest + strcspn(rest, "/?");
	if (memchr(rest, '@', (size_t)(end - rest)) != NULL)
		return "must not contain credentials";
	hostlen = strcspn(rest, ":/?");
	if (hostlen == 0 || hostlen > (size_t)(end - rest))
		return "must be an absolute http or https URL";
	return NULL;
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

/* RFC 3339 §5.6 date-time; seconds up to 59 (PostgreSQL rejects leap seconds), fraction 1-9 digits. */
static bool time_ok(const char *s, size_t len)
{
	int y, mo, d, h, mi, se, oh, om;
	size_t i = 19, f;

	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':')
		return false;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 59)
		return false;
	if (s[i] == '.') {
		for (f = 0; i + 1 + f < len && s[i + 1 + f] >= '0' && s[i + 1 + f] <= '9'; f++)
			;
		if (f < 1 || f > 9)
			return false;
		i += 1 + f;
	}
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	if (i + 6 != len || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
		return false;
	oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
	return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
}

static void check_enum(struct vctx *v, const char *path, const struct jv_field *f, const char *s)
{
	char list[512];
	size_t len = 0;
	int n;

	for (size_t i = 0; f->choices != NULL && f->choices[i] != NULL; i++)
		if (strcmp(s, f->choices[i]) == 0)
			return;
	list[0] = '\0';
	for (size_t i = 0; f->choices != NULL && f->choices[i] != NULL && len < sizeof(list); i++) {
		n = snprintf(list + len, sizeof(list) - len, "%s%s", i > 0 ? ", " : "", f->choices[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	err_field(v->p, v->a, path, "must be one of %s", list);
}

/* Integers: json-c 0.16 parses an integer too big for 64 bits as INT64_MAX, UINT64_MAX or
 * INT64_MIN without an error, so those boundaries are never accepted: a clamped value must not
 * pass. Doubles (1.0, 1e3, 1e400) are refused. */
static void check_int(struct vctx *v, const char *path, const struct jv_field *f, json_object *o)
{
	int64_t x;

	if (json_object_is_type(o, json_type_int)) {
		x = json_object_get_int64(o);
		if (x != INT64_MAX && x != INT64_MIN && x >= f->min && x <= f->max)
			return;
	}
	err_field(v->p, v->a, path, "must be an integer from %lld to %lld", (long long)f->min,
		  (long long)f->max);
}

static void validate_fields(struct vctx *v, json_object *o, const struct jv_field *fields, const char *path);
static void validate_value(struct vctx *v, json_object *o, const struct jv_field *f, const char *path);

static void check_array(struct vctx *v, const char *path, const struct jv_field *f, json_object *o)
{
	size_t n;

	if (!json_object_is_type(o, json_type_array)) {
		err_field(v->p, v->a, path, "must be an array");
		return;
	}
	n = json_object_array_length(o);
	if (n < (uint64_t)f->min) {
		err_field(v->p, v->a, path, "must have at least %lld items", (long long)f->min);
		return;
	}
	if (f->max > 0 && n > (uint64_t)f->max) {
		err_field(v->p, v->a, path, "must have at most %lld items", (long long)f->max);
		return;
	}
	for (size_t i = 0; i < n && f->item != NULL && !full(v); i++)
		validate_value(v, json_object_array_get_idx(o, i), f->item,
			       arena_printf(v->a, "%s[%zu]", path, i));
}

static void check_map(struct vctx *v, const char *path, const struct jv_field *f, json_object *o)
{
	const char *kpath;
	size_t n;

	if (!json_object_is_type(o, json_type_object)) {
		err_field(v->p, v->a, path, "must be an object");
		return;
	}
	n = (size_t)json_object_object_length(o);
	if (n < (uint64_t)f->min) {
		err_field(v->p, v->a, path, "must have at least %lld entries", (long long)f->min);
		return;
	}
	if (f->max > 0 && n > (uint64_t)f->max) {
		err_field(v->p, v->a, path, "must have at most %lld entries", (long long)f->max);
		return;
	}
	json_object_object_foreach(o, key, val) {
		if (full(v))
			break;
		kpath = join(v->a, path, key);
		if (key[0] == '\0' || strlen(key) > JV_KEY_MAX || check_chars(key, strlen(key), false) != NULL)
			err_field(v->p, v->a, path, "keys must be 1 to %d bytes without control characters",
				  JV_KEY_MAX);
		else if (f->item != NULL)
			validate_value(v, val, f->item, kpath);
	}
}

static void check_string_kind(struct vctx *v, const char *path, const struct jv_field *f, json_object *o)
{
	const char *s, *why;
	size_t len;

	s = string_of(v, path, o, f->type == JV_TEXT, &len);
	if (s == NULL)
		return;
	switch (f->type) {
	case JV_STRING:
	case JV_TEXT:
		(void)check_length(v, path, f, len);
		break;
	case JV_UUID:
		if (!crypto_uuid_valid(s))
			err_field(v->p, v->a, path, "must be a UUID");
		break;
	case JV_EMAIL:
		if (!email_ok(s, len))
			err_field(v->p, v->a, path, "must be an email address");
		break;
	case JV_ENUM:
		check_enum(v, path, f, s);
		break;
	case JV_URL:
		if (len > (size_t)(f->max > 0 ? f->max : JV_URL_MAX_DEFAULT))
			err_field(v->p, v->a, path, "must be at most %lld bytes long",
				  (long long)(f->max > 0 ? f->max : JV_URL_MAX_DEFAULT));
		else if ((why = url_problem(s)) != NULL)
			err_field(v->p, v->a, path, "%s", why);
		break;
	case JV_TIME:
		if (!time_ok(s, len))
			err_field(v->p, v->a, path, "must be an RFC 3339 timestamp such as 2024-01-31T09:00:00Z");
		break;
	default:
		break;
	}
}

/* o is the value found at path (NULL for a JSON null). */
static void validate_value(struct vctx *v, json_object *o, const struct jv_field *f, const char *path)
{
	if (o == NULL) {
		if (!f->nullable)
			err_field(v->p, v->a, path, "must not be null");
		return;
	}
	switch (f->type) {
	case JV_INT:
		check_int(v, path, f, o);
		break;
	case JV_BOOL:
		if (!json_object_is_type(o, json_type_boolean))
			err_field(v->p, v->a, path, "must be a boolean");
		break;
	case JV_OBJECT:
		if (!json_object_is_type(o, json_type_object))
			err_field(v->p, v->a, path, "must be an object");
		else
			validate_fields(v, o, f->fields, path);
		break;
	case JV_MAP:
		check_map(v, path, f, o);
		break;
	case JV_ARRAY:
		check_array(v, path, f, o);
		break;
	default:
		check_string_kind(v, path, f, o);
		break;
	}
}

static bool known(const struct jv_field *fields, const char *key)
{
	for (; fields != NULL && fields->name != NULL; fields++)
		if (strcmp(fields->name, key) == 0)
			return true;
	return false;
}

static void validate_fields(struct vctx *v, json_object *o, const struct jv_field *fields, const char *path)
{
	const struct jv_field *f;
	json_object *val;

	for (f = fields; f != NULL && f->name != NULL && !full(v); f++) {
		if (!json_object_object_get_ex(o, f->name, &val)) {
			if (f->required)
				err_field(v->p, v->a, join(v->a, path, f->name), "is required");
			continue;
		}
		validate_value(v, val, f, join(v->a, path, f->name));
	}
	json_object_object_foreach(o, key, unused) {
		(void)unused;
		if (full(v))
			break;
		if (!known(fields, key))
			err_field(v->p, v->a, join(v->a, path, key), "unknown field");
	}
}

err_t json_validate(json_object *o, const struct jv_field *fields, const char *path,
		    struct problem *p, arena_t *a)
{
	struct vctx v = { p, a };
	size_t before = p->nfields;

	if (path == NULL)
		path = "";
	if (!json_object_is_type(o, json_type_object)) {
		err_field(p, a, path, path[0] == '\0' ? "body must be a JSON object" : "must be an object");
		return ERR_VALIDATION;
	}
	validate_fields(&v, o, fields, path);
	return p->nfields > before || p->code == ERR_VALIDATION ? ERR_VALIDATION : ERR_OK;
}

/* ---- accessors and construction ---- */

json_object *json_get(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *json_get_str(json_object *o, const char *key)
{
	json_object *v = json_get(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t json_get_int(json_object *o, const char *key, int64_t def)
{
	json_object *v = json_get(o, key);

	return json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : def;
}

bool json_get_bool(json_object *o, const char *key, bool def)
{
	json_object *v = json_get(o, key);

	return json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) != 0 : def;
}

const char *json_str(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static json_object *owned(arena_t *a, json_object *o)
{
	if (o == NULL)
		log_fatal("out_of_memory", "json object");
	arena_cleanup_add(a, put_cb, o);
	return o;
}

json_object *json_new_object(arena_t *a)
{
	return owned(a, json_object_new_object());
}

json_object *json_new_array(arena_t *a)
{
	return owned(a, json_object_new_array());
}
