/* SPDX-License-Identifier: MIT */
/* HTTP layer: route matching, auth, limits, JSON bodies and request metrics. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <pthread.h>

#include <sodium.h>

#include "upgate/addr.h"
#include "upgate/buf.h"
#include "upgate/connguard.h"
#include "upgate/file.h"
#include "upgate/http.h"
#include "upgate/log.h"
#include "upgate/ratelimit.h"
#include "upgate/secret.h"
#include "upgate/tls.h"
#include "upgate/ts.h"
#include "upgate/worker.h"

/* Status codes counted one by one in metrics; others count as "other". */
static const int counted_status[] = {200, 201, 204, 304, 400, 401, 403, 404,
    405, 409, 413, 415, 422, 429, 500, 501, 503};
#define N_STATUS (sizeof(counted_status) / sizeof(counted_status[0]) + 1)

static const double buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

#define HTTP_CONN_MEMORY (16 * 1024)

struct route_metrics {
	atomic_uint_fast64_t by_status[N_STATUS];
	atomic_uint_fast64_t le[N_BUCKETS + 1]; /* last: +Inf */
	atomic_uint_fast64_t sum_us;
};

/* Where a connection came in: the public listener, or [server]
 * admin_listen, the only one that serves internal routes when set. */
struct listener {
	struct http_server *s;
	struct MHD_Daemon *mhd;
	bool admin;
};

struct http_server {
	struct listener pub, adm; /* adm.mhd NULL: one listener */
	struct http_config cfg;
	struct connguard *guard;
	struct worker sweeper; /* the guard's deadlines */
	bool sweeper_started;
	struct ratelimit *rl;			    /* NULL: no limit */
	struct addr_range proxies[ADDR_RANGES_MAX]; /* trusted_proxies */
	size_t n_proxies;
	bool tls; /* HTTPS, its pair in tls.c */
	atomic_int active;
	/* Open event streams; the lock also orders their suspends and
	 * resumes (a parked request has its own: conn_req.park_lock). */
	pthread_mutex_t streams_lock;
	struct http_stream *streams;
	bool streams_closed;
	struct worker keepalive;
	bool keepalive_started;
	struct route_metrics *metrics; /* n_routes + 1: unmatched */
};

/* Per-request state, freed when MHD reports the request completed. */
struct conn_req {
	struct req r; /* first: a struct req * is a struct conn_req * */
	const struct listener *via;
	struct cg_conn *guarded; /* its connection's, NULL: unguarded */
	bool bad_target;	 /* an encoded control character */
	bool must_close;	 /* the answer closes the connection */
	const struct http_route *route;
	char *path_copy;
	char *buf;
	size_t len, cap, max;
	bool too_big;
	int status;
	struct timespec t0;
	struct resp resp;
	/* Parking (http_suspend): under park_lock, the request's own (the
	 * MHD thread and the one that resumes it are all that meet here; one
	 * lock for the server made every resume wait for other requests').
	 * cont is set from http_suspend() until it is taken to run. */
	pthread_mutex_t park_lock;
	http_cont cont;
	void *state;
	void (*state_free)(void *);
	int cont_err;
	bool suspended; /* MHD_suspend_connection() was called */
	bool resumed;	/* http_resume() came: cont may run */
	/* The client: the peer, or the address behind trusted proxies. */
	struct sockaddr_storage client;
	bool client_set, forwarded;
};

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

static int error_v(struct resp *rs, int err, const char *code,
    const char *field, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static int
error_v(struct resp *rs, int err, const char *code, const char *field,
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
	error_v(rs, err, code, field, fmt, ap);
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

const char *
req_header(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

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
	return rt->scope == HTTP_INTERNAL || rt->auth == HTTP_AUTH_ADMIN;
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
		if (s->adm.mhd != NULL && !cr->via->admin &&
		    http_route_internal(rt)) {
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

/* One open text/event-stream. Its bytes wait in out until MHD asks for
 * them; with none waiting the connection is suspended, and publishing
 * resumes it. All fields under the server's streams_lock. */
struct http_stream {
	struct http_server *s;
	struct MHD_Connection *conn;
	struct buf out;
	size_t off;	/* bytes of out already given to MHD */
	bool suspended; /* MHD_suspend_connection() was called */
	bool closed;	/* end the stream at the next read */
	struct http_stream *next, **pprev;
};

#define STREAM_MAX_BEHIND (1u << 20)
#define STREAM_KEEPALIVE_MS 15000

int
http_reply_stream(struct resp *rs)
{
	rs->status = 200;
	rs->stream = true;
	return 0;
}

/* Append text to st, waking its connection. Under streams_lock. */
static void
stream_push(struct http_stream *st, const char *text, size_t len)
{
	if (st->closed)
		return;
	if (st->out.len - st->off + len > STREAM_MAX_BEHIND ||
	    buf_add(&st->out, text, len) < 0)
		st->closed = true; /* too slow: let it reconnect */
	if (st->suspended) {
		st->suspended = false;
		MHD_resume_connection(st->conn);
	}
}

void
http_stream_publish(struct http_server *s, const char *text, size_t len)
{
	pthread_mutex_lock(&s->streams_lock);
	for (struct http_stream *st = s->streams; st != NULL; st = st->next)
		stream_push(st, text, len);
	pthread_mutex_unlock(&s->streams_lock);
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *st = cls;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&st->s->streams_lock);
	if (st->off < st->out.len) {
		n = (ssize_t)(st->out.len - st->off < max
				  ? st->out.len - st->off
				  : max);
		memcpy(buf, st->out.p + st->off, (size_t)n);
		st->off += (size_t)n;
		if (st->off == st->out.len)
			st->off = st->out.len = 0; /* reuse the buffer */
	} else if (st->closed) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* Nothing to send: park the connection until stream_push. */
		st->suspended = true;
		MHD_suspend_connection(st->conn);
		n = 0;
	}
	pthread_mutex_unlock(&st->s->streams_lock);
	return n;
}

static void
stream_free(void *cls)
{
	struct http_stream *st = cls;
	struct http_server *s = st->s;

	pthread_mutex_lock(&s->streams_lock);
	*st->pprev = st->next;
	if (st->next != NULL)
		st->next->pprev = st->pprev;
	pthread_mutex_unlock(&s->streams_lock);
	buf_free(&st->out);
	free(st);
}

/* End every stream (shutdown): suspended ones are resumed to finish. */
static void
streams_close(struct http_server *s)
{
	pthread_mutex_lock(&s->streams_lock);
	s->streams_closed = true;
	for (struct http_stream *st = s->streams; st != NULL; st = st->next) {
		st->closed = true;
		if (st->suspended) {
			st->suspended = false;
			MHD_resume_connection(st->conn);
		}
	}
	pthread_mutex_unlock(&s->streams_lock);
}

static void
keepalive_main(struct worker *w, void *arg)
{
	struct http_server *s = arg;
	static const char ping[] = ": keepalive\n\n";

	while (worker_sleep(w, STREAM_KEEPALIVE_MS, false))
		http_stream_publish(s, ping, sizeof(ping) - 1);
}

/* A response that streams: register it, start the keep-alive pings. */
static struct MHD_Response *
stream_open(struct conn_req *cr)
{
	static const char hello[] = "retry: 2000\n: connected\n\n";
	struct http_server *s = cr->r.server;
	struct http_stream *st = calloc(1, sizeof(*st));
	struct MHD_Response *mr;

	if (st == NULL || buf_add(&st->out, hello, sizeof(hello) - 1) < 0) {
		free(st);
		return NULL;
	}
	st->s = s;
	st->conn = cr->r.conn;
	mr = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
	if (mr == NULL) {
		buf_free(&st->out);
		free(st);
		return NULL;
	}
	pthread_mutex_lock(&s->streams_lock);
	st->closed = s->streams_closed;
	st->next = s->streams;
	if (st->next != NULL)
		st->next->pprev = &st->next;
	st->pprev = &s->streams;
	s->streams = st;
	if (!s->keepalive_started &&
	    worker_start(&s->keepalive, keepalive_main, s) == 0)
		s->keepalive_started = true;
	pthread_mutex_unlock(&s->streams_lock);
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(mr, "X-Accel-Buffering", "no");
	return mr;
}

/* The MHD response carrying rs's body: pulled, raw, rs->json (then
 * *ctype is JSON's) or none. NULL when it cannot be made; what rs owned
 * for the body is freed then too. */
static struct MHD_Response *
body_response(struct resp *rs, const char **ctype)
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
	if (rs->stream) {
		if ((mr = stream_open(cr)) == NULL)
			return MHD_NO;
		MHD_add_response_header(
		    mr, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
		cr->status = 200;
		ret = MHD_queue_response(cr->r.conn, 200, mr);
		MHD_destroy_response(mr);
		return ret;
	}
	if ((mr = body_response(rs, &ctype)) == NULL)
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
	error_v(&rs, err, code, NULL, fmt, ap);
	va_end(ap);
	if (err == -EACCES)
		http_header(&rs, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	return send_resp(cr, &rs);
}

static bool
authorized(struct http_server *s, struct conn_req *cr)
{
	const char *h = MHD_lookup_connection_value(
	    cr->r.conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	return s->cfg.authorize != NULL &&
	       s->cfg.authorize(s->cfg.ctx, h, strlen(h));
}

/* Every X-Forwarded-For header of a request, joined by commas (an
 * intermediary may add a header rather than extend one). */
struct xff {
	char v[2100];
	size_t len;
	bool over;
};

static enum MHD_Result
xff_add(void *arg, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct xff *x = arg;
	size_t n = value ? strlen(value) : 0;

	(void)kind;
	if (strcasecmp(key, "X-Forwarded-For") != 0 || value == NULL)
		return MHD_YES;
	if (x->len + n + 2 >= sizeof(x->v)) {
		x->over = true;
		return MHD_NO;
	}
	if (x->len > 0)
		x->v[x->len++] = ',';
	memcpy(x->v + x->len, value, n + 1);
	x->len += n;
	return MHD_YES;
}

/* Set cr's client address once: the connection's peer, or, when the
 * peer is a trusted proxy, the address X-Forwarded-For names (SPEC,
 * "Behind a reverse proxy"). A forwarded list too long to be real is
 * not read: the peer it is. */
static void
client_of(struct http_server *s, struct conn_req *cr)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    cr->r.conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct xff x = {.len = 0};

	if (cr->client_set || ci == NULL || ci->client_addr == NULL)
		return;
	cr->client_set = true;
	if (s->n_proxies > 0 &&
	    addr_in_ranges(ci->client_addr, s->proxies, s->n_proxies))
		MHD_get_connection_values(
		    cr->r.conn, MHD_HEADER_KIND, xff_add, &x);
	cr->forwarded =
	    addr_client(ci->client_addr, x.len > 0 && !x.over ? x.v : NULL,
		s->proxies, s->n_proxies, &cr->client) == 1;
	cr->r.client = (const struct sockaddr *)&cr->client;
}

/* Whether this client may make one more public request now; when not,
 * *retry_ms says how long until it may. */
static bool
rate_ok(struct http_server *s, struct conn_req *cr, int64_t *retry_ms)
{
	if (!cr->client_set)
		return true;
	return ratelimit_take(s->rl, (const struct sockaddr *)&cr->client,
	    ts_mono_ms(), retry_ms);
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

/* The headers that say where a request's body ends (RFC 9112 section
 * 6), gathered from every header line: libmicrohttpd reads the first
 * Content-Length and knows only a lone "chunked". */
struct framing {
	int lengths;	/* Content-Length lines */
	int chunked;	/* "chunked" codings */
	char other[48]; /* the first other coding, "" none */
	bool te;	/* a Transfer-Encoding line */
};

static enum MHD_Result
framing_add(
    void *arg, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing *f = arg;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		/* "5, 5" is two values in one line. */
		f->lengths += value != NULL && strchr(value, ',') ? 2 : 1;
		return MHD_YES;
	}
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) != 0)
		return MHD_YES;
	f->te = true;
	for (const char *p = value ? value : ""; *p != '\0';) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 7 && strncasecmp(p, "chunked", 7) == 0)
			f->chunked++;
		else if (n > 0 && f->other[0] == '\0')
			snprintf(f->other, sizeof(f->other), "%.*s",
			    (int)(n < 40 ? n : 40), p);
		p += strcspn(p, ",");
	}
	return MHD_YES;
}

/* Refuse a request whose body could be read two ways (request
 * smuggling behind a proxy that reads it the other way), and a target
 * with an encoded control character (which libmicrohttpd's decoding
 * would cut or pass on): 400, or 501 for a transfer coding we do not
 * have; the connection is closed after, since where the next request
 * starts is unknown. NULL when the request is well framed. */
static const char *
framing_refusal(
    struct conn_req *cr, const char *version, char *why, size_t len, int *err)
{
	struct framing f = {.lengths = 0};

	*err = -EBADMSG;
	if (cr->bad_target)
		return "the request target has an encoded control character";
	MHD_get_connection_values(cr->r.conn, MHD_HEADER_KIND, framing_add, &f);
	if (f.lengths > 1)
		return "the request has more than one Content-Length";
	if (f.te && f.lengths > 0)
		return "the request has both Content-Length and "
		       "Transfer-Encoding";
	if (f.te && strcmp(version, MHD_HTTP_VERSION_1_1) != 0)
		return "Transfer-Encoding needs HTTP/1.1";
	if (f.other[0] != '\0') {
		*err = -ENOSYS;
		snprintf(why, len,
		    "transfer coding '%s' is not supported (only chunked is)",
		    f.other);
		return why;
	}
	if (f.te && f.chunked != 1)
		return f.chunked ? "chunked is applied more than once"
				 : "Transfer-Encoding names no coding";
	return NULL;
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

	client_of(s, cr);
	if ((refusal = framing_refusal(cr, version, why, sizeof(why), &err))) {
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
	    !rate_ok(s, cr, &retry_ms))
		return rate_refuse(cr, retry_ms);
	if (cr->route->auth == HTTP_AUTH_ADMIN && !authorized(s, cr))
		return send_error(cr, -EACCES, "unauthorized",
		    "this endpoint needs Authorization: Bearer <admin token>");
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
	return answer(cr, cr->route->handler(&cr->r, &cr->resp));
}

/* The raw request target, before libmicrohttpd decodes it, becomes the
 * request's first context: whether it encodes a control character
 * (decoded, "%00" would cut the path short). The request line is in,
 * so the rest of the request is due. */
static char bad_target_mark;

static bool
encodes_control(const char *uri)
{
	static const char hex[] = "0123456789abcdefABCDEF";

	for (const char *p = strchr(uri, '%'); p; p = strchr(p + 1, '%')) {
		const char *a = p[1] ? strchr(hex, p[1]) : NULL;
		const char *b = a && p[2] ? strchr(hex, p[2]) : NULL;
		int v;

		if (a == NULL || b == NULL)
			continue;
		v = (int)((a - hex < 16 ? a - hex : a - hex - 6) * 16 +
			  (b - hex < 16 ? b - hex : b - hex - 6));
		if (v < 0x20 || v == 0x7f)
			return true;
	}
	return false;
}

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)cls;
	if (ci != NULL && ci->socket_context != NULL)
		connguard_request(ci->socket_context, ts_mono_ms());
	return encodes_control(uri) ? &bad_target_mark : NULL;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
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

static size_t
status_index(int status)
{
	for (size_t i = 0; i < N_STATUS - 1; i++)
		if (counted_status[i] == status)
			return i;
	return N_STATUS - 1;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	const struct listener *l = cls;
	struct http_server *s = l->s;
	struct conn_req *cr = *con_cls;
	struct route_metrics *m;
	struct timespec t1;
	double secs;
	size_t b;

	if (cr == NULL || *con_cls == &bad_target_mark) {
		*con_cls = NULL; /* the connection ended in its headers */
		return;
	}
	connguard_idle(cr->guarded, ts_mono_ms());
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - cr->t0.tv_sec) +
	       (double)(t1.tv_nsec - cr->t0.tv_nsec) / 1e9;
	m = &s->metrics[cr->route ? (size_t)(cr->route - s->cfg.routes)
				  : s->cfg.n_routes];
	atomic_fetch_add(&m->by_status[status_index(cr->status)], 1);
	for (b = 0; b < N_BUCKETS && secs > buckets[b]; b++)
		;
	atomic_fetch_add(&m->le[b], 1);
	atomic_fetch_add(&m->sum_us, (uint_fast64_t)(secs * 1e6));
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

/* Accept a connection unless its address holds its share already. */
static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	const struct listener *l = cls;

	(void)len;
	return connguard_admit(l->s->guard, addr) ? MHD_YES : MHD_NO;
}

/* Each connection is guarded from its start to its close. */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	const struct listener *l = cls;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		connguard_close(l->s->guard, *socket_context);
		*socket_context = NULL;
	} else if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		if (fd != NULL && ci != NULL && ci->client_addr != NULL)
			*socket_context = connguard_open(l->s->guard,
			    ci->client_addr, fd->connect_fd, ts_mono_ms());
	}
}

static void
sweeper_main(struct worker *w, void *arg)
{
	struct http_server *s = arg;

	while (worker_sleep(w, 250, false))
		connguard_sweep(s->guard, ts_mono_ms());
}

/* MHD's messages: its format strings, checked as such. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warn("http: %s", msg);
}

static void
server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	if (s->keepalive_started)
		worker_stop(&s->keepalive);
	if (s->sweeper_started)
		worker_stop(&s->sweeper);
	connguard_free(s->guard);
	pthread_mutex_destroy(&s->streams_lock);
	ratelimit_free(s->rl);
	if (s->tls)
		tls_creds_free();
	free(s->metrics);
	free(s);
}

int
http_pem_read(const char *file, char **out)
{
	char where[4096], *pem = NULL;
	int err;

	err = file_read(
	    secret_path(file, where, sizeof(where)), 1u << 20, &pem, NULL);
	if (err < 0)
		return err;
	if (strstr(pem, "-----BEGIN ") == NULL) {
		secret_free(pem);
		return -EBADMSG;
	}
	*out = pem;
	return 0;
}

/* Read the PEM pair [server] names and make it the one the next
 * handshakes use (tls.c). Returns 0 or -errno after logging why. */
static int
tls_load(const char *cert_file, const char *key_file)
{
	const char *files[2] = {cert_file, key_file};
	char *pem[2] = {NULL, NULL};
	int err = 0;

	for (int i = 0; err == 0 && i < 2; i++)
		if ((err = http_pem_read(files[i], &pem[i])) < 0)
			log_err("http: cannot read [server] %s %s: %s",
			    i ? "tls_key" : "tls_cert", files[i],
			    strerror(-err));
	if (err == 0)
		err = tls_creds_set(pem[0], pem[1]);
	free(pem[0]);
	secret_free(pem[1]);
	return err;
}

static int
load_tls(struct http_server *s, const struct http_config *cfg)
{
	int err;

	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		log_err("http: this libmicrohttpd has no TLS support");
		return -ENOTSUP;
	}
	if ((err = tls_load(cfg->tls_cert, cfg->tls_key)) == 0)
		s->tls = true;
	return err;
}

int
http_tls_reload(
    struct http_server *s, const char *cert_file, const char *key_file)
{
	return s->tls ? tls_load(cert_file, key_file) : -ENOTSUP;
}

/* The CPUs this process may run on (its affinity: systemd's
 * CPUAffinity=, taskset, a container's cpuset), else the online ones. */
static unsigned
cpus_allowed(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

unsigned
http_threads(unsigned threads, unsigned spare_cpus)
{
	unsigned cpus;

	if (threads > 0)
		return threads;
	cpus = cpus_allowed();
	return cpus > spare_cpus ? cpus - spare_cpus : 1;
}

/* Start listening on address (host:port) with threads request threads,
 * for l. Returns 0, or -errno after logging why. */
static int
listener_start(struct http_server *s, struct listener *l, const char *address,
    unsigned threads)
{
	const struct http_config *cfg = &s->cfg;
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem opts[16];
	int n = 0;

	if (addr_parse(address, &ss, &sl) < 0) {
		log_err("http: bad listen address '%s'", address);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (s->tls)
		flags |= MHD_USE_TLS;
	l->s = s;
#define OPT(o, v, p)                                                           \
	opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
	/* Two-argument options: the function as value, its cls as pointer. */
	OPT(MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL);
	OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
	/* One thread is MHD's own polling thread, not a pool of one: MHD
	 * warns of a pool size of 1 and ignores it. */
	if (threads > 1)
		OPT(MHD_OPTION_THREAD_POOL_SIZE, threads, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT,
	    cfg->conn_limit ? cfg->conn_limit : 1024, NULL);
	/* Idle connections are closed after this; the guard holds each
	 * phase of a request to its own deadline, which no byte moves. */
	OPT(MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->conn_timeout_s ? cfg->conn_timeout_s : 30, NULL);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, l);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, l);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, on_uri, l);
	/* Each connection's buffer for headers and reads (bodies are
	 * copied out as they come): MHD's 32 KiB default made 1,000 open
	 * connections cost 26 MiB. */
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY, NULL);
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	/* With HTTPS, handshakes take the certificate and key from tls.c
	 * (which SIGHUP can replace): the callback is its own argument
	 * after the array, which ends the list without HTTPS. */
	l->mhd = MHD_start_daemon(flags, 0, on_accept, l, on_request, l,
	    MHD_OPTION_ARRAY, opts,
	    s->tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END,
	    tls_creds_retrieve, MHD_OPTION_END);
	if (l->mhd == NULL) {
		log_err(
		    "http: cannot listen on %s: %s", address, strerror(errno));
		return -EADDRINUSE;
	}
	return 0;
}

int
http_start(const struct http_config *cfg, struct http_server **out)
{
	struct http_server *s;
	bool tls_cert = cfg->tls_cert && *cfg->tls_cert;
	bool tls_key = cfg->tls_key && *cfg->tls_key;
	int err;

	if (tls_cert != tls_key) {
		log_err("http: [server] tls_cert and tls_key go together");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	pthread_mutex_init(&s->streams_lock, NULL);
	s->metrics = calloc(cfg->n_routes + 1, sizeof(*s->metrics));
	if (s->metrics == NULL) {
		server_free(s);
		return -ENOMEM;
	}
	if (cfg->rate_limit > 0 &&
	    (s->rl = ratelimit_new(cfg->rate_limit, cfg->rate_burst)) == NULL) {
		server_free(s);
		return -ENOMEM;
	}
	if (cfg->trusted_proxies != NULL) {
		int k = addr_ranges_parse(
		    cfg->trusted_proxies, s->proxies, ADDR_RANGES_MAX);

		if (k < 0) {
			log_err("http: bad trusted_proxies '%s'",
			    cfg->trusted_proxies);
			server_free(s);
			return -EINVAL;
		}
		s->n_proxies = (size_t)k;
	}
	s->guard = connguard_new(&(struct connguard_conf){
	    .per_address = cfg->per_address,
	    .idle_ms =
		(cfg->conn_timeout_s ? cfg->conn_timeout_s : 30) * 1000LL,
	    .request_ms =
		cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 30000,
	    .exempt = s->proxies,
	    .n_exempt = s->n_proxies});
	if (s->guard == NULL) {
		server_free(s);
		return -ENOMEM;
	}
	if (worker_start(&s->sweeper, sweeper_main, s) == 0)
		s->sweeper_started = true;
	if (tls_cert && (err = load_tls(s, cfg)) < 0) {
		server_free(s);
		return err;
	}
	if ((err = listener_start(
		 s, &s->pub, cfg->listen, http_threads(cfg->threads, 0))) < 0 ||
	    (cfg->admin_listen != NULL && cfg->admin_listen[0] != '\0' &&
		(err = listener_start(s, &s->adm, cfg->admin_listen, 1)) < 0)) {
		http_stop(s);
		return err;
	}
	s->adm.admin = true;
	*out = s;
	return 0;
}

bool
http_tls(const struct http_server *s)
{
	return s->tls;
}

static unsigned
listener_port(const struct listener *l)
{
	const union MHD_DaemonInfo *di =
	    l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT)
		   : NULL;

	return di ? di->port : 0;
}

unsigned
http_port(struct http_server *s)
{
	return listener_port(&s->pub);
}

unsigned
http_admin_port(struct http_server *s)
{
	return listener_port(&s->adm);
}

void
http_quiesce(struct http_server *s)
{
	struct listener *ls[] = {&s->pub, &s->adm};

	for (size_t i = 0; i < 2; i++) {
		MHD_socket fd = ls[i]->mhd ? MHD_quiesce_daemon(ls[i]->mhd)
					   : MHD_INVALID_SOCKET;

		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	/* Open streams never end by themselves: end them, so the drain
	 * does not wait for them. */
	streams_close(s);
}

bool
http_drain(struct http_server *s, int timeout_ms)
{
	struct timespec ts = {0, 10 * 1000000};

	for (int waited = 0; atomic_load(&s->active) > 0; waited += 10) {
		if (waited >= timeout_ms)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

void
http_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	streams_close(s); /* MHD must not stop with suspended connections */
	if (s->pub.mhd != NULL)
		MHD_stop_daemon(s->pub.mhd);
	if (s->adm.mhd != NULL)
		MHD_stop_daemon(s->adm.mhd);
	server_free(s);
}

int
http_storage_metrics(FILE *out, int (*write)(void *arg, FILE *f), void *arg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int err = f ? write(arg, f) : -ENOMEM;

	if (f != NULL && fclose(f) != 0 && err == 0)
		err = -ENOMEM;
	if (err == 0)
		fwrite(text, 1, len, out);
	free(text);
	fprintf(out,
	    "# HELP upgate_storage_up Whether the database answered this "
	    "scrape (1) or not (0).\n# TYPE upgate_storage_up gauge\n"
	    "upgate_storage_up %d\n",
	    err == 0 ? 1 : 0);
	return err;
}

void
http_metrics(struct http_server *s, FILE *out)
{
	connguard_metrics(s->guard, out);
	fputs("# HELP upgate_http_requests_total HTTP requests answered, by "
	      "route and status.\n# TYPE upgate_http_requests_total counter\n",
	    out);
	for (size_t i = 0; i <= s->cfg.n_routes; i++) {
		const char *meth =
		    i < s->cfg.n_routes ? s->cfg.routes[i].method : "";
		const char *pat = i < s->cfg.n_routes ? s->cfg.routes[i].pattern
						      : "unmatched";

		for (size_t k = 0; k < N_STATUS; k++) {
			uint_fast64_t v =
			    atomic_load(&s->metrics[i].by_status[k]);

			if (v == 0)
				continue;
			if (k < N_STATUS - 1)
				fprintf(out,
				    "upgate_http_requests_total{route="
				    "\"%s%s%s\",status=\"%d\"} %llu\n",
				    meth, *meth ? " " : "", pat,
				    counted_status[k], (unsigned long long)v);
			else
				fprintf(out,
				    "upgate_http_requests_total{route="
				    "\"%s%s%s\",status=\"other\"} %llu\n",
				    meth, *meth ? " " : "", pat,
				    (unsigned long long)v);
		}
	}
	fputs("# HELP upgate_http_request_duration_seconds Time from request "
	      "start to response sent.\n"
	      "# TYPE upgate_http_request_duration_seconds histogram\n",
	    out);
	for (size_t i = 0; i <= s->cfg.n_routes; i++) {
		const char *meth =
		    i < s->cfg.n_routes ? s->cfg.routes[i].method : "";
		const char *pat = i < s->cfg.n_routes ? s->cfg.routes[i].pattern
						      : "unmatched";
		uint_fast64_t cum = 0;

		for (size_t b = 0; b <= N_BUCKETS; b++) {
			cum += atomic_load(&s->metrics[i].le[b]);
			if (b < N_BUCKETS)
				fprintf(out,
				    "upgate_http_request_duration_seconds"
				    "_bucket{route=\"%s%s%s\",le=\"%g\"} "
				    "%llu\n",
				    meth, *meth ? " " : "", pat, buckets[b],
				    (unsigned long long)cum);
			else
				fprintf(out,
				    "upgate_http_request_duration_seconds"
				    "_bucket{route=\"%s%s%s\",le=\"+Inf\"} "
				    "%llu\n",
				    meth, *meth ? " " : "", pat,
				    (unsigned long long)cum);
		}
		fprintf(out,
		    "upgate_http_request_duration_seconds_sum{route="
		    "\"%s%s%s\"} %.6f\n",
		    meth, *meth ? " " : "", pat,
		    (double)atomic_load(&s->metrics[i].sum_us) / 1e6);
		fprintf(out,
		    "upgate_http_request_duration_seconds_count{route="
		    "\"%s%s%s\"} %llu\n",
		    meth, *meth ? " " : "", pat, (unsigned long long)cum);
	}
}
