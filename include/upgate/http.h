/* SPDX-License-Identifier: MIT */
/* A small HTTP layer over libmicrohttpd: routes, limits, JSON, errors, metrics.
 */
#ifndef UPGATE_HTTP_H
#define UPGATE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "upgate/access.h"
#include "upgate/jv.h"

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_HEADERS 6
#define HTTP_DEFAULT_MAX_BODY (64 * 1024)

struct http_server;
struct MHD_Connection;

/* Who may call a route: anyone, a sender whose request passes the
 * server's verify callback (a signed body), or a token holder with at
 * least the role named (access.h). On a publisher's token, a route's
 * {app} segment and a change's "app" field must match its apps glob. */
enum http_auth {
	HTTP_AUTH_NONE,
	HTTP_AUTH_SIGNED,
	HTTP_AUTH_VIEWER,
	HTTP_AUTH_PUBLISHER,
	HTTP_AUTH_ADMIN,
};

/* A request as handlers see it. Everything in it is borrowed and lives
 * until the handler returns. */
struct req {
	void *ctx; /* the daemon's context */
	struct http_server *server;
	const char *method;
	const char *path;
	const char *params[HTTP_MAX_PARAMS]; /* {name} segments, in order */
	json_t *body;	      /* parsed JSON object, NULL if no body */
	const char *raw_body; /* the body's bytes as received */
	size_t raw_len;
	struct MHD_Connection *conn;
	/* The client: the peer, or behind a trusted proxy the address it
	 * forwarded for (http_config trusted_proxies). */
	const struct sockaddr *client;
	/* On a route that needs a token: whose it is. */
	const struct access_caller *caller;
	/* A change written to the audit log by the handler, in the change's
	 * own transaction; else the HTTP layer writes its line (its answer
	 * and no change) when it answers. */
	bool audited;
};

/* A response under construction. http_reply* and http_error fill it. */
struct resp {
	int status;
	json_t *json; /* owned */
	char *raw;    /* owned, or NULL */
	size_t raw_len;
	const char *ctype; /* static string for raw bodies */
	struct {
		const char *name; /* static */
		char value[160];
	} hdr[HTTP_MAX_HEADERS];
	int nhdr;
	bool stream; /* http_reply_stream: an open text/event-stream */
	struct http_pull *pull; /* http_reply_pull: owned */
};

typedef int (*http_handler)(struct req *, struct resp *);

/* What a parked request does when its work is done: called on a worker
 * thread with err, the result http_resume() passed; returns like a
 * handler. */
typedef int (*http_cont)(struct req *, struct resp *, int err);

/* Where a route is served: on every listener, or only on the admin
 * listener when there is one (http_config admin_listen). */
enum http_scope { HTTP_PUBLIC, HTTP_INTERNAL };

/* One row of a daemon's route table. pattern segments "{x}" match any one
 * non-empty segment and land in req->params. max_body 0: the default.
 * Every route that needs a token is internal, whatever its scope says. */
struct http_route {
	const char *method;
	const char *pattern;
	http_handler handler;
	enum http_auth auth;
	size_t max_body;
	enum http_scope scope;
};

/* Whether rt is served only on the admin listener when there is one. */
bool http_route_internal(const struct http_route *rt);

/* Read a PEM file for HTTPS as named in a config (tls_cert, tls_key;
 * a credential name works, see secret_path): at most 1 MiB, with a
 * "-----BEGIN " line. Returns 0 and a malloc'd string in *out (wipe a
 * key with secret_free), -EFBIG when longer, -EBADMSG when not PEM, or
 * why it cannot be read. */
int http_pem_read(const char *file, char **out);

/* How many request threads to run: threads when set, else one per CPU
 * this process may run on (its affinity) less spare_cpus, at least
 * one. */
unsigned http_threads(unsigned threads, unsigned spare_cpus);

struct http_config {
	const char *listen; /* host:port, port 0 picks a free one */
	/* NULL or "": none. Else a second listener (one thread), the only
	 * one that serves internal routes; the public one answers them 404. */
	const char *admin_listen;
	/* Worker threads, 0: one per CPU this process may run on. A daemon
	 * that keeps CPUs for its own busy threads passes what
	 * http_threads() gave it, and sizes what serves them by it. */
	unsigned threads;
	unsigned conn_limit;
	/* A connection that has not sent a request line this long after
	 * opening or after its previous answer is closed, as is one still
	 * idle this long between two bytes. */
	unsigned conn_timeout_s;
	/* A request's headers and body must arrive within this of its
	 * request line (0: 30 s). */
	int64_t request_timeout_ms;
	/* Open connections per client address (an IPv6 one: its /64);
	 * trusted proxies are exempt. 0: no cap. */
	unsigned per_address;
	/* PEM files (systemd credential names allowed, see secret_path);
	 * both set: HTTPS only. */
	const char *tls_cert, *tls_key;
	/* Requests per second and burst per client address on routes
	 * anyone may call (HTTP_AUTH_NONE); 0: no limit. Over it: 429. */
	double rate_limit;
	int64_t rate_burst;
	/* Addresses and CIDR ranges (comma-separated; NULL or "": none)
	 * whose X-Forwarded-For names the client, for the request log and
	 * the rate limit. Checked by the config (addr_ranges_valid). */
	const char *trusted_proxies;
	const struct http_route *routes;
	size_t n_routes;
	void *ctx;
	/* Who holds token (len bytes, not NUL-terminated): 0 and *out,
	 * -EACCES when nobody, or why it cannot be told (503). Called on
	 * worker threads; must be thread-safe. */
	int (*authorize)(void *ctx, const char *token, size_t len,
	    struct access_caller *out);
	/* The store of tokens and of the audit log, where a request that
	 * changes something with a token is logged. */
	const struct access_store *access;
	/* For HTTP_AUTH_SIGNED routes, called with the whole raw body before
	 * it is parsed: 0 to go on, or a negative errno after filling rs with
	 * the error (http_error). Worker threads; must be thread-safe. */
	int (*verify)(void *ctx, const struct req *r, struct resp *rs);
};

/* Start serving on worker threads. Returns 0 and *out, or -errno with the
 * reason logged. */
int http_start(const struct http_config *cfg, struct http_server **out);

/* Read the PEM files again (tls_cert, tls_key as in the config) and
 * serve new handshakes with them; connections already open keep theirs.
 * Returns 0, -ENOTSUP when s serves plain HTTP, or -errno after logging
 * why (s then keeps its pair). */
int http_tls_reload(
    struct http_server *s, const char *cert_file, const char *key_file);

/* Whether s serves HTTPS. */
bool http_tls(const struct http_server *s);

/* The bound port (useful with port 0). */
unsigned http_port(struct http_server *s);

/* The admin listener's bound port, 0 when there is none. */
unsigned http_admin_port(struct http_server *s);

/* Stop accepting new connections; requests in flight go on. */
void http_quiesce(struct http_server *s);

/* Wait until no request is in flight or timeout_ms passes. Returns true
 * when drained. */
bool http_drain(struct http_server *s, int timeout_ms);

/* Close every connection and stop serving. The server stays allocated:
 * a thread that still publishes to its streams (a dashboard event from a
 * worker stopping later) publishes to none. NULL: nothing. */
void http_stop(struct http_server *s);

/* Stop if still serving, stop the server's own workers and free it, once
 * nothing else publishes to it. NULL: nothing. */
void http_free(struct http_server *s);

/* The store of tokens and audit lines the server was started with. */
const struct access_store *http_access(struct http_server *s);

/* End the event streams opened with the token named name (revoked). */
void http_streams_close_caller(struct http_server *s, const char *name);

/* Write request counters and latency histograms in Prometheus text. */
void http_metrics(struct http_server *s, FILE *out);

/* What a daemon's database says, for a scrape that answers while it is
 * away: write(arg, f) writes those metrics to f, and they reach out only
 * when it returns 0 (none of a partial read); then the gauge
 * upgate_storage_up, 1 or 0. Returns write's error, or -ENOMEM. */
int http_storage_metrics(
    FILE *out, int (*write)(void *arg, FILE *f), void *arg);

/* GET /healthz for any daemon: {"status": "ok"} while the process runs. */
int http_healthz_get(struct req *r, struct resp *rs);

/* Query string value (decoded), or NULL. */
const char *req_query(const struct req *r, const char *key);

/* Query parameter key as an integer within [lo, hi], dflt when absent or
 * empty; else 422 invalid_value naming it. Returns 0 or that error. */
int http_query_int(struct req *rq, struct resp *rs, const char *key,
    int64_t lo, int64_t hi, int64_t dflt, int64_t *out);
/* Query parameter key as a time (RFC 3339 or Unix seconds) in ms, 0 when
 * absent or empty; else 422 invalid_value naming it. */
int http_query_time(
    struct req *rq, struct resp *rs, const char *key, int64_t *out);

/* Request header value, or NULL. */
const char *req_header(const struct req *r, const char *name);

/* Respond with status and body (stolen; NULL: no body). Returns 0. */
int http_reply(struct resp *rs, int status, json_t *body);

/* Respond with a raw body (stolen, from malloc) of type ctype. Returns 0. */
int http_reply_raw(
    struct resp *rs, int status, const char *ctype, char *body, size_t len);

/* A body made while the client reads it: read(cls, buf, max) fills buf
 * with up to max (> 0) bytes and returns how many, 0 at the end, or -1
 * when it cannot go on (the connection is cut short, so the client sees
 * an unfinished chunked body). done(cls) runs once the response is
 * over, however it ended, and also when this returns -ENOMEM. Called on
 * the connection's worker thread. Returns 0 or -ENOMEM. */
typedef long (*http_pull_read)(void *cls, char *buf, size_t max);
int http_reply_pull(struct resp *rs, int status, const char *ctype,
    http_pull_read read, void (*done)(void *cls), void *cls);

/* The same with a copy of body. Returns 0 or -ENOMEM. */
int http_reply_copy(struct resp *rs, int status, const char *ctype,
    const void *body, size_t len);

/* Answer with an open server-sent events stream (text/event-stream):
 * from now on it gets what http_stream_publish() sends, and a comment
 * line every 15 s so idle proxies and dead clients show. Returns 0. */
int http_reply_stream(struct resp *rs);

/* Send text, whole SSE frames ("event: x\ndata: {...}\n\n"), to every
 * open stream of s. A client that falls more than 1 MiB behind is
 * dropped (it reconnects). Thread-safe; never blocks on a client. */
void http_stream_publish(struct http_server *s, const char *text, size_t len);

/* Park the request instead of answering: its connection is suspended
 * (the worker thread serves others) until another thread calls
 * http_resume(); then cont makes the answer. state (may be NULL) is the
 * handler's, freed with state_free when the request ends, however it
 * ends. The handler returns what this returns (0) right after handing
 * its work over; rs stays the request's until the answer is sent, so the
 * work may fill it (an error answer) before resuming. */
int http_suspend(
    struct req *rq, http_cont cont, void *state, void (*state_free)(void *));

/* The parked request rq may go on; any thread, also before the handler
 * has returned. */
void http_resume(struct req *rq, int err);

/* The state given to http_suspend(), or NULL. */
void *req_state(const struct req *rq);

/* Add a response header (name static, value copied). */
void http_header(struct resp *rs, const char *name, const char *value);

/* Respond with the JSON error shape; the status comes from err through
 * http_status_from_err(). field may be NULL. Returns err. */
int http_error(struct resp *rs, int err, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* http_error from a validation result. Returns e->err. */
int http_error_jv(struct resp *rs, const struct jv_err *e);

/* The one mapping of negative errno to HTTP status: -EBADMSG 400, -EACCES
 * 401, -EPERM 403, -ENOENT 404, -EOPNOTSUPP 405, -EEXIST 409, -E2BIG 413,
 * -EMEDIUMTYPE 415, -EINVAL 422, -EAGAIN 429, -EBUSY/-EIO/-ENOSPC 503,
 * anything else 500. */
int http_status_from_err(int err);

#endif
