/* SPDX-License-Identifier: MIT */
/* Answers: statuses from errors, JSON, raw and pulled bodies, headers,
 * the error shape, and what a request carries (query, headers). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

#include "upgate/jv.h"
#include "upgate/log.h"
#include "upgate/ts.h"

int
http_status_from_err(int err)
{
	switch (err) {
	case -EBADMSG:
		return 400;
	case -EACCES:
		return 401;
	case -EPERM:
		return 403;
	case -ENOENT:
		return 404;
	case -EOPNOTSUPP:
		return 405;
	case -EEXIST:
		return 409;
	case -E2BIG:
		return 413;
	case -EMEDIUMTYPE:
		return 415;
	case -EINVAL:
		return 422;
	case -EAGAIN:
		return 429;
	case -ENOSYS:
		return 501;
	case -EBUSY:
	case -EIO:
	case -ENOSPC:
		return 503;
	default:
		return 500;
	}
}

int
http_healthz_get(struct req *rq, struct resp *rs)
{
	(void)rq;
	return http_reply(rs, 200, json_pack("{s:s}", "status", "ok"));
}

int
http_reply(struct resp *rs, int status, json_t *body)
{
	json_decref(rs->json);
	rs->status = status;
	rs->json = body;
	return 0;
}

int
http_reply_raw(
    struct resp *rs, int status, const char *ctype, char *body, size_t len)
{
	free(rs->raw);
	rs->status = status;
	rs->raw = body;
	rs->raw_len = len;
	rs->ctype = ctype;
	return 0;
}

struct http_pull {
	http_pull_read read;
	void (*done)(void *cls);
	void *cls;
};

int
http_reply_pull(struct resp *rs, int status, const char *ctype,
    http_pull_read read, void (*done)(void *cls), void *cls)
{
	struct http_pull *p = malloc(sizeof(*p));

	if (p == NULL) {
		done(cls);
		return -ENOMEM;
	}
	*p = (struct http_pull){read, done, cls};
	rs->status = status;
	rs->ctype = ctype;
	rs->pull = p;
	return 0;
}

static ssize_t
pull_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_pull *p = cls;
	long n = p->read(p->cls, buf, max);

	(void)pos;
	if (n > 0)
		return (ssize_t)n;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
		      : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void
pull_done(void *cls)
{
	struct http_pull *p = cls;

	p->done(p->cls);
	free(p);
}

int
http_reply_copy(struct resp *rs, int status, const char *ctype,
    const void *body, size_t len)
{
	char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, body, len);
	return http_reply_raw(rs, status, ctype, copy, len);
}

void
http_header(struct resp *rs, const char *name, const char *value)
{
	if (rs->nhdr >= HTTP_MAX_HEADERS)
		fatal("http: more than %d response headers", HTTP_MAX_HEADERS);
	rs->hdr[rs->nhdr].name = name;
	snprintf(
	    rs->hdr[rs->nhdr].value, sizeof(rs->hdr[0].value), "%s", value);
	rs->nhdr++;
}

int
http_error_v(struct resp *rs, int err, const char *code, const char *field,
    const char *fmt, va_list ap)
{
	char msg[512];
	json_t *e;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	e = json_pack("{s:s, s:s}", "code", code, "message", msg);
	if (e != NULL && field != NULL && field[0] != '\0')
		json_object_set_new(e, "field", json_string(field));
	http_reply(rs, http_status_from_err(err),
	    e ? json_pack("{s:o}", "error", e) : NULL);
	return err;
}

int
http_error(struct resp *rs, int err, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	http_error_v(rs, err, code, field, fmt, ap);
	va_end(ap);
	return err;
}

int
http_error_jv(struct resp *rs, const struct jv_err *e)
{
	return http_error(rs, e->err, e->code, e->field, "%s", e->msg);
}

const char *
req_query(const struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* A positive integer query parameter within [lo, hi]; dflt when absent. */
int
http_query_int(struct req *rq, struct resp *rs, const char *key, int64_t lo,
    int64_t hi, int64_t dflt, int64_t *out)
{
	const char *s = req_query(rq, key);
	char *end;
	long long v;

	*out = dflt;
	if (s == NULL || s[0] == '\0')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi)
		return http_error(rs, -EINVAL, "invalid_value", key,
		    "%s must be an integer from %lld to %lld", key,
		    (long long)lo, (long long)hi);
	*out = v;
	return 0;
}

int
http_query_time(struct req *rq, struct resp *rs, const char *key, int64_t *out)
{
	const char *s = req_query(rq, key);

	*out = 0;
	if (s == NULL || s[0] == '\0')
		return 0;
	if (ts_parse(s, out) < 0)
		return http_error(rs, -EINVAL, "invalid_value", key,
		    "%s must be an RFC 3339 time or Unix seconds", key);
	return 0;
}

const char *
req_header(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct MHD_Response *
http_body_response(struct resp *rs, const char **ctype)
{
	struct http_pull *p = rs->pull;
	struct MHD_Response *mr;
	char *body = rs->raw;
	size_t len = rs->raw_len;

	if (p != NULL) {
		/* Chunked; MHD calls pull_done when the response goes. */
		rs->pull = NULL;
		mr = MHD_create_response_from_callback(
		    MHD_SIZE_UNKNOWN, 32 * 1024, pull_read, p, pull_done);
		if (mr == NULL)
			pull_done(p);
		return mr;
	}
	if (body == NULL && rs->json != NULL) {
		body = json_dumps(rs->json, JSON_COMPACT);
		len = body ? strlen(body) : 0;
		*ctype = "application/json";
	} else {
		rs->raw = NULL;
	}
	if (body == NULL) {
		/* An empty body (304): MHD never reads a zero-length buffer. */
		static char empty[1];

		return MHD_create_response_from_buffer(
		    0, empty, MHD_RESPMEM_PERSISTENT);
	}
	mr = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (mr == NULL)
		free(body);
	return mr;
}
