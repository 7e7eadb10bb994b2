/* SPDX-License-Identifier: MIT */
/* JSON request validation: typed field getters that explain what is wrong. */
#ifndef UPGATE_JV_H
#define UPGATE_JV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* What was wrong with a request body: err is -EBADMSG for a missing field
 * or a wrong type (400), -EINVAL for a bad value (422). */
struct jv_err {
	int err;
	const char *code;
	char field[64];
	char msg[256];
};

/* Record a problem in e and return e->err. */
int jv_fail(struct jv_err *e, int err, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Getters: a field that is absent or null leaves *out as it is and returns
 * 0 when optional, a "missing_field" error when required. A wrong type is
 * "invalid_type"; a bad value "invalid_value". Returned strings and
 * objects are borrowed from o. */
int jv_str(const json_t *o, const char *key, bool required, size_t max_len,
    const char **out, struct jv_err *e);
int jv_int(const json_t *o, const char *key, bool required, int64_t min,
    int64_t max, int64_t *out, struct jv_err *e);
int jv_bool(const json_t *o, const char *key, bool required, bool *out,
    struct jv_err *e);
int jv_obj(const json_t *o, const char *key, bool required, json_t **out,
    struct jv_err *e);

/* Check a string already read against a predicate; on failure record an
 * "invalid_value" problem "<field> <what>". */
int jv_check(bool ok, const char *field, const char *what, struct jv_err *e);

#endif
