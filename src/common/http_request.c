/* SPDX-License-Identifier: MIT */
/* One request, from its request line to its answer: the edge's checks
 * (http_edge.c) and the caller's (http_access.c) in order and their
 * refusals, routing, the body, parking and resuming, and its log line
 * and counters. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

#include "upgate/connguard.h"
#include "upgate/log.h"
#include "upgate/ts.h"

/* Match path against pattern, storing {x} segments (pointers into the
 * writable copy) in params. */
static bool
match(const char *pattern, char *path, const char **params)
{
	const char *p = pattern;
	char *s = path;
	int np = 0;

	while (*p != '\0' && *s != '\0') {
		if (*p == '{') {
			char *end = strchr(s, '/');

			if (end == s || np >= HTTP_MAX_PARAMS)
				return false;
			params[np++] = s;
			p = strchr(p, '}') + 1;
			if (end == NULL) {
				s += strlen(s);
			} else if (*p == '/') {
				*end = '\0';
				s = end + 1;
				p++;
			} else {
				return false;
			}
			continue;
		}
		if (*p++ != *s++)
			return false;
	}
	return *p == '\0' && *s == '\0';
}

/* Whether a request's method is served by a route's. HEAD is answered
 * as GET is, headers alone: libmicrohttpd leaves the body out. */
static bool
method_serves(const char *route, const char *method)
{
	return strcmp(route, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(route, "GET") == 0);
}

bool
http_route_internal(const struct http_route *rt)
{
	return rt->scope == HTTP_INTERNAL || rt->auth >= HTTP_AUTH_VIEWER;
}

/* Find the route for method and path; on a path match with the wrong
 * method set *allow to the methods that would match. On the public
 * listener beside an admin one, internal routes are not there at all. */
static const struct http_route *
find_route(struct http_server *s, struct conn_req *cr, const char *method,
    const char *url, char *allow, size_t allow_len)
{
	size_t off = 0, len = strlen(url) + 1;
	bool hidden = false;

	allow[0] = '\0';
	/* match() cuts the copy at each parameter: one copy, refreshed for
	 * every pattern tried. */
	free(cr->path_copy);
	if ((cr->path_copy = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < s->cfg.n_routes; i++) {
		const struct http_route *rt = &s->cfg.routes[i];
		const char *params[HTTP_MAX_PARAMS] = {0};

		memcpy(cr->path_copy, url, len);
		if (!match(rt->pattern, cr->path_copy, params))
			continue;
		if (s->split && !cr->via->admin && http_route_internal(rt)) {
			if (method_serves(rt->method, method))
				hidden = true;
			continue;
		}
		if (method_serves(rt->method, method)) {
			memcpy(cr->r.params, params, sizeof(params));
			return rt;
		}
		if (strstr(allow, rt->method) == NULL && off < allow_len)
			off += (size_t)snprintf(allow + off, allow_len - off,
			    "%s%s%s", off ? ", " : "", rt->method,
			    strcmp(rt->method, "GET") == 0 ? ", HEAD" : "");
	}
	if (hidden) /* a 405 would give the route away */
		allow[0] = '\0';
	return NULL;
}

static bool
is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL || strncasecmp(ct, want, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static enum MHD_Result
send_resp(struct conn_req *cr, struct resp *rs)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;
	const char *ctype = rs->ctype;

	if (rs->status == 0)
		http_error(
		    rs, -EIO, "internal", NULL, "handler gave no answer");
	connguard_answering(cr->guarded);
	http_audit_answer(cr, rs->status);
	if (rs->stream) {
		if ((mr = http_stream_open(cr)) == NULL)
			return MHD_NO;
		MHD_add_response_header(
		    mr, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
		cr->status = 200;
		ret = MHD_queue_response(cr->r.conn, 200, mr);
		MHD_destroy_response(mr);
		return ret;
	}
	if ((mr = http_body_response(rs, &ctype)) == NULL)
		return MHD_NO;
	if (ctype != NULL)
		MHD_add_response_header(
		    mr, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	for (int i = 0; i < rs->nhdr; i++)
		MHD_add_response_header(mr, rs->hdr[i].name, rs->hdr[i].value);
	/* libmicrohttpd closes the connection after an answer that says so. */
	if (cr->must_close)
		MHD_add_response_header(
		    mr, MHD_HTTP_HEADER_CONNECTION, "close");
	cr->status = rs->status;
	ret = MHD_queue_response(cr->r.conn, (unsigned)rs->status, mr);
	MHD_destroy_response(mr);
	json_decref(rs->json);
	rs->json = NULL;
	return ret;
}

/* Answer an error before the handler runs. */
static enum MHD_Result send_error(
    struct conn_req *cr, int err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum MHD_Result
send_error(struct conn_req *cr, int err, const char *code, const char *fmt, ...)
{
	struct resp rs = {0};
	va_list ap;

	va_start(ap, fmt);
	http_error_v(&rs, err, code, NULL, fmt, ap);
	va_end(ap);
	if (err == -EACCES)
		http_header(&rs, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	return send_resp(cr, &rs);
}

static enum MHD_Result
send_app_refusal(struct conn_req *cr, const char *app)
{
	return send_error(cr, -EPERM, "forbidden",
	    "token %s may change apps matching %s, not %s", cr->caller.name,
	    cr->caller.apps, app);
}

static enum MHD_Result
rate_refuse(struct conn_req *cr, int64_t retry_ms)
{
	struct resp rs = {0};
	int64_t wait_s = (retry_ms + 999) / 1000;
	char secs[24];

	snprintf(
	    secs, sizeof(secs), "%lld", (long long)(wait_s > 0 ? wait_s : 1));
	http_error(&rs, -EAGAIN, "rate_limited", NULL,
	    "too many requests from this address; retry in %s s", secs);
	http_header(&rs, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	return send_resp(cr, &rs);
}

/* First call for a request: route, auth and declared-size checks. Returns
 * MHD_YES with nothing queued when the request may go on. */
static enum MHD_Result
begin(struct http_server *s, struct conn_req *cr, const char *url,
    const char *method, const char *version)
{
	char allow[64], why[128];
	const char *cl, *ct, *refusal;
	int64_t retry_ms = 0;
	int err;

	http_client_of(s, cr);
	if ((refusal = http_framing_refusal(
		 cr, version, why, sizeof(why), &err))) {
		cr->must_close = true;
		return send_error(cr, err,
		    err == -ENOSYS ? "unsupported_transfer_coding"
				   : "malformed_request",
		    "%s", refusal);
	}
	cr->route = find_route(s, cr, method, url, allow, sizeof(allow));
	if (cr->route == NULL && allow[0] != '\0') {
		struct resp rs = {0};

		http_error(&rs, -EOPNOTSUPP, "method_not_allowed", NULL,
		    "%s is not allowed on %s (allowed: %s)", method, url,
		    allow);
		http_header(&rs, MHD_HTTP_HEADER_ALLOW, allow);
		return send_resp(cr, &rs);
	}
	if (cr->route == NULL)
		return send_error(
		    cr, -ENOENT, "not_found", "no such resource: %s", url);
	if (cr->route->auth == HTTP_AUTH_NONE && s->rl != NULL &&
	    !http_rate_ok(s, cr, &retry_ms))
		return rate_refuse(cr, retry_ms);
	if (cr->route->auth >= HTTP_AUTH_VIEWER) {
		enum access_role need = http_route_role(cr->route);
		const char *app = http_route_param(cr, "app");

		if ((err = http_identify(s, cr)) == -EACCES) {
			atomic_fetch_add(&s->auth_failures, 1);
			return send_error(cr, -EACCES, "unauthorized",
			    "this endpoint needs Authorization: Bearer "
			    "<token> with the %s role",
			    access_role_name(need));
		}
		if (err < 0)
			return send_error(cr, -EIO, "storage_unavailable",
			    "tokens cannot be checked: %s", strerror(-err));
		if (cr->caller.role < need)
			return send_error(cr, -EPERM, "forbidden",
			    "%s %s needs the %s role; token %s has the %s role",
			    method, cr->route->pattern, access_role_name(need),
			    cr->caller.name, access_role_name(cr->caller.role));
		if (http_app_refused(cr, app))
			return send_app_refusal(cr, app);
	}
	cr->max =
	    cr->route->max_body ? cr->route->max_body : HTTP_DEFAULT_MAX_BODY;
	cl = MHD_lookup_connection_value(
	    cr->r.conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > cr->max)
		return send_error(cr, -E2BIG, "body_too_large",
		    "request body is over the %zu byte limit", cr->max);
	ct = MHD_lookup_connection_value(
	    cr->r.conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if ((ct != NULL || (cl != NULL && strcmp(cl, "0") != 0)) &&
	    !is_json_type(ct) &&
	    (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
		strcmp(method, "PATCH") == 0))
		return send_error(cr, -EMEDIUMTYPE, "unsupported_media_type",
		    "Content-Type must be application/json, not %s",
		    ct ? ct : "(none)");
	return MHD_YES;
}

static void
take_upload(struct conn_req *cr, const char *data, size_t n)
{
	if (cr->too_big || cr->len + n > cr->max) {
		cr->too_big = true;
		return;
	}
	if (cr->len + n + 1 > cr->cap) {
		size_t cap = cr->cap ? cr->cap : 1024;
		char *nb;

		while (cap < cr->len + n + 1)
			cap *= 2;
		nb = realloc(cr->buf, cap);
		if (nb == NULL) {
			cr->too_big = true;
			return;
		}
		cr->buf = nb;
		cr->cap = cap;
	}
	memcpy(cr->buf + cr->len, data, n);
	cr->len += n;
}

int
http_suspend(
    struct req *rq, http_cont cont, void *state, void (*state_free)(void *))
{
	struct conn_req *cr = (struct conn_req *)rq;

	pthread_mutex_lock(&cr->park_lock);
	if (cr->state != state && cr->state_free != NULL)
		cr->state_free(cr->state);
	cr->cont = cont;
	cr->state = state;
	cr->state_free = state_free;
	cr->resumed = false;
	pthread_mutex_unlock(&cr->park_lock);
	return 0;
}

void
http_resume(struct req *rq, int err)
{
	struct conn_req *cr = (struct conn_req *)rq;

	pthread_mutex_lock(&cr->park_lock);
	cr->cont_err = err;
	cr->resumed = true;
	if (cr->suspended) {
		cr->suspended = false;
		MHD_resume_connection(rq->conn);
	}
	pthread_mutex_unlock(&cr->park_lock);
}

void *
req_state(const struct req *rq)
{
	return ((const struct conn_req *)rq)->state;
}

/* A handler or continuation returned err. While a continuation is set
 * (http_suspend), park the request until its work is done, or run it at
 * once when done already; then send the answer, or the error shape for
 * err. */
static enum MHD_Result
answer(struct conn_req *cr, int err)
{
	struct resp *rs = &cr->resp;

	for (;;) {
		http_cont cont;

		pthread_mutex_lock(&cr->park_lock);
		if (cr->cont == NULL) {
			pthread_mutex_unlock(&cr->park_lock);
			break;
		}
		if (!cr->resumed) {
			cr->suspended = true;
			MHD_suspend_connection(cr->r.conn);
			pthread_mutex_unlock(&cr->park_lock);
			return MHD_YES;
		}
		cont = cr->cont;
		cr->cont = NULL;
		pthread_mutex_unlock(&cr->park_lock);
		err = cont(&cr->r, rs, cr->cont_err);
	}
	if (err < 0 && rs->status == 0)
		http_error(rs, err,
		    err == -ENOMEM		       ? "out_of_memory"
		    : http_status_from_err(err) == 503 ? "storage_unavailable"
						       : "internal",
		    NULL, "the request could not be completed: %s",
		    strerror(-err));
	return send_resp(cr, rs);
}

/* The whole request is in: parse, call the handler, answer. */
static enum MHD_Result
finish(struct conn_req *cr)
{
	struct resp rs = {0};
	json_error_t je;
	int err;

	if (cr->cont != NULL) /* called again after http_resume() */
		return answer(cr, 0);

	if (cr->too_big)
		return send_error(cr, -E2BIG, "body_too_large",
		    "request body is over the %zu byte limit", cr->max);
	cr->r.raw_body = cr->buf ? cr->buf : "";
	cr->r.raw_len = cr->len;
	if (cr->route->auth == HTTP_AUTH_SIGNED) {
		struct http_server *s = cr->r.server;

		err = s->cfg.verify ? s->cfg.verify(s->cfg.ctx, &cr->r, &rs)
				    : -EACCES;
		if (err < 0 && rs.status == 0)
			http_error(&rs, -EACCES, "unauthorized", NULL,
			    "this endpoint needs a signed request");
		if (err < 0)
			return send_resp(cr, &rs);
	}
	if (cr->len > 0) {
		cr->r.body =
		    json_loadb(cr->buf, cr->len, JSON_REJECT_DUPLICATES, &je);
		if (cr->r.body == NULL)
			return send_error(cr, -EBADMSG, "malformed_json",
			    "body is not valid JSON: %s (line %d, column %d)",
			    je.text, je.line, je.column);
		if (!json_is_object(cr->r.body))
			return send_error(cr, -EBADMSG, "malformed_json",
			    "body must be a JSON object");
	}
	/* A publisher's change may name its app in the body (a release, a
	 * rollback) rather than in the path. Requests without a token (a
	 * launch) skip the look. */
	if (cr->r.caller != NULL) {
		const char *app =
		    json_string_value(json_object_get(cr->r.body, "app"));

		if (http_app_refused(cr, app))
			return send_app_refusal(cr, app);
	}
	return answer(cr, cr->route->handler(&cr->r, &cr->resp));
}

/* The raw request target, before libmicrohttpd decodes it, becomes the
 * request's first context: whether it encodes a control character
 * (decoded, "%00" would cut the path short). The request line is in,
 * so the rest of the request is due. */
static char bad_target_mark;

void *
http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)cls;
	if (ci != NULL && ci->socket_context != NULL)
		connguard_request(ci->socket_context, ts_mono_ms());
	return http_encodes_control(uri) ? &bad_target_mark : NULL;
}

enum MHD_Result
http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	const struct listener *l = cls;
	struct http_server *s = l->s;
	struct conn_req *cr = *con_cls;

	if (cr == NULL || *con_cls == &bad_target_mark) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		cr = calloc(1, sizeof(*cr));
		if (cr == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &cr->t0);
		pthread_mutex_init(&cr->park_lock, NULL);
		cr->bad_target = *con_cls == &bad_target_mark;
		cr->via = l;
		cr->guarded = ci ? ci->socket_context : NULL;
		cr->r.ctx = s->cfg.ctx;
		cr->r.server = s;
		cr->r.conn = conn;
		cr->r.method = method;
		cr->r.path = url;
		*con_cls = cr;
		atomic_fetch_add(&s->active, 1);
		return begin(s, cr, url, method, version);
	}
	if (*upload_size > 0) {
		take_upload(cr, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	connguard_answering(cr->guarded);
	return finish(cr);
}

void
http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	const struct listener *l = cls;
	struct http_server *s = l->s;
	struct conn_req *cr = *con_cls;
	struct timespec t1;
	double secs;

	if (cr == NULL || *con_cls == &bad_target_mark) {
		*con_cls = NULL; /* the connection ended in its headers */
		return;
	}
	connguard_idle(cr->guarded, ts_mono_ms());
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - cr->t0.tv_sec) +
	       (double)(t1.tv_nsec - cr->t0.tv_nsec) / 1e9;
	http_counts_add(s->counts,
	    cr->route ? (size_t)(cr->route - s->cfg.routes) : s->cfg.n_routes,
	    cr->status, secs);
	if (log_enabled(LOG_LVL_INFO)) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		char addr[64] = "-";

		if (cr->forwarded)
			addr_format_host((const struct sockaddr *)&cr->client,
			    addr, sizeof(addr));
		else if (ci != NULL && ci->client_addr != NULL)
			addr_format(ci->client_addr, addr, sizeof(addr));
		log_info("%s \"%s %s\" %d %.1fms route=%s%s", addr,
		    cr->r.method, cr->r.path, cr->status, secs * 1000,
		    cr->route ? cr->route->pattern : "-",
		    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
							       : " (aborted)");
	}
	/* Whoever resumed it may still be leaving http_resume(). */
	pthread_mutex_lock(&cr->park_lock);
	pthread_mutex_unlock(&cr->park_lock);
	pthread_mutex_destroy(&cr->park_lock);
	if (cr->state_free != NULL)
		cr->state_free(cr->state);
	json_decref(cr->resp.json);
	free(cr->resp.raw);
	json_decref(cr->r.body);
	free(cr->path_copy);
	free(cr->buf);
	free(cr);
	*con_cls = NULL;
	atomic_fetch_sub(&s->active, 1);
}
