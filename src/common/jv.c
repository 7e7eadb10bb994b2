/* SPDX-License-Identifier: MIT */
/* Typed, explained access to fields of a JSON request body. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "upgate/jv.h"

int
jv_fail(struct jv_err *e, int err, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	e->err = err;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return err;
}

/* The field's value, NULL when absent or null; errors when required. */
static int
get(const json_t *o, const char *key, bool required, json_t **v,
    struct jv_err *e)
{
	*v = json_object_get(o, key);
	if (*v != NULL && json_is_null(*v))
		*v = NULL;
	if (*v == NULL && required)
		return jv_fail(
		    e, -EBADMSG, "missing_field", key, "%s is required", key);
	return 0;
}

static int
wrong_type(struct jv_err *e, const char *key, const char *want)
{
	return jv_fail(
	    e, -EBADMSG, "invalid_type", key, "%s must be %s", key, want);
}

int
jv_str(const json_t *o, const char *key, bool required, size_t max_len,
    const char **out, struct jv_err *e)
{
	json_t *v;
	int err;

	if ((err = get(o, key, required, &v, e)) < 0 || v == NULL)
		return err;
	if (!json_is_string(v))
		return wrong_type(e, key, "a string");
	if (json_string_length(v) > max_len)
		return jv_fail(e, -EINVAL, "invalid_value", key,
		    "%s is longer than %zu bytes", key, max_len);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return jv_fail(e, -EINVAL, "invalid_value", key,
		    "%s contains a NUL character", key);
	*out = json_string_value(v);
	return 0;
}

int
jv_int(const json_t *o, const char *key, bool required, int64_t min,
    int64_t max, int64_t *out, struct jv_err *e)
{
	json_t *v;
	json_int_t x;
	int err;

	if ((err = get(o, key, required, &v, e)) < 0 || v == NULL)
		return err;
	if (!json_is_integer(v))
		return wrong_type(e, key, "a whole number");
	x = json_integer_value(v);
	if (x < min || x > max)
		return jv_fail(e, -EINVAL, "invalid_value", key,
		    "%s must be between %" PRId64 " and %" PRId64, key, min,
		    max);
	*out = x;
	return 0;
}

int
jv_bool(const json_t *o, const char *key, bool required, bool *out,
    struct jv_err *e)
{
	json_t *v;
	int err;

	if ((err = get(o, key, required, &v, e)) < 0 || v == NULL)
		return err;
	if (!json_is_boolean(v))
		return wrong_type(e, key, "true or false");
	*out = json_is_true(v);
	return 0;
}

int
jv_obj(const json_t *o, const char *key, bool required, json_t **out,
    struct jv_err *e)
{
	json_t *v;
	int err;

	if ((err = get(o, key, required, &v, e)) < 0 || v == NULL)
		return err;
	if (!json_is_object(v))
		return wrong_type(e, key, "an object");
	*out = v;
	return 0;
}

int
jv_check(bool ok, const char *field, const char *what, struct jv_err *e)
{
	if (ok)
		return 0;
	return jv_fail(
	    e, -EINVAL, "invalid_value", field, "%s %s", field, what);
}
