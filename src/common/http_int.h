/* SPDX-License-Identifier: MIT */
/* Inside the HTTP layer: the server and per-request state its files
 * share. http.c starts and stops listeners; http_request.c takes each
 * request from its first byte to its answer, asking http_edge.c
 * (address, rate, framing) and http_access.c (token, role, audit) on
 * the way; http_reply.c builds answers; http_stream.c keeps event
 * streams; http_metrics.c counts. */
#ifndef UPGATE_HTTP_INT_H
#define UPGATE_HTTP_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "upgate/addr.h"
#include "upgate/http.h"
#include "upgate/worker.h"

struct connguard;
struct cg_conn;
struct ratelimit;
struct http_stream;

/* Where a connection came in: the public listener, or [server]
 * admin_listen, the only one that serves internal routes when set. */
struct listener {
	struct http_server *s;
	struct MHD_Daemon *mhd;
	bool admin;
};

struct http_server {
	struct listener pub, adm; /* adm.mhd NULL: one listener */
	/* [server] admin_listen is set: internal routes are the admin
	 * listener's only. Set before either listener starts. */
	bool split;
	struct http_config cfg;
	struct connguard *guard;
	struct worker sweeper; /* the guard's deadlines */
	bool sweeper_started;
	struct ratelimit *rl;			    /* NULL: no limit */
	struct addr_range proxies[ADDR_RANGES_MAX]; /* trusted_proxies */
	size_t n_proxies;
	bool tls; /* HTTPS, its pair in tls.c */
	atomic_int active;
	atomic_ullong auth_failures; /* 401s: counted, not logged */
	/* Open event streams; the lock also orders their suspends and
	 * resumes (a parked request has its own: conn_req.park_lock). */
	pthread_mutex_t streams_lock;
	struct http_stream *streams;
	bool streams_closed;
	struct worker keepalive;
	bool keepalive_started;
	struct http_counts *counts; /* by route (n_routes + 1: unmatched) */
};

/* Per-request state, freed when MHD reports the request completed. */
struct conn_req {
	struct req r; /* first: a struct req * is a struct conn_req * */
	const struct listener *via;
	struct cg_conn *guarded; /* its connection's, NULL: unguarded */
	bool bad_target;	 /* an encoded control character */
	bool must_close;	 /* the answer closes the connection */
	const struct http_route *route;
	struct access_caller caller; /* r.caller points here once known */
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

/* http_edge.c: before routing. */
/* Set cr's client address once: the peer, or the address behind it in
 * X-Forwarded-For when the peer is a trusted proxy. */
void http_client_of(struct http_server *s, struct conn_req *cr);
/* Whether cr's client may make one more public request now; when not,
 * *retry_ms says how long until it may. */
bool http_rate_ok(
    struct http_server *s, struct conn_req *cr, int64_t *retry_ms);
/* Why cr's body could be read two ways or its target is bad (why may
 * be filled), with *err -EBADMSG (400) or -ENOSYS (501); NULL when it
 * is well framed. */
const char *http_framing_refusal(
    struct conn_req *cr, const char *version, char *why, size_t len, int *err);
/* Whether a request target encodes a control character. */
bool http_encodes_control(const char *uri);

/* http_access.c: who asks, and whether they may. */
/* Whether cr changes something with a token (it is audited). */
bool http_is_change(const struct conn_req *cr);
/* Who holds cr's bearer token (cr->caller): 0, -EACCES, or why the
 * daemon cannot tell. */
int http_identify(struct http_server *s, struct conn_req *cr);
/* The {name} segment of cr's path, NULL when its route has none. */
const char *http_route_param(const struct conn_req *cr, const char *name);
/* The least role a route that needs a token needs. */
enum access_role http_route_role(const struct http_route *rt);
/* Whether cr is a change to app (NULL: none named) its caller may not
 * make: a publisher's token holds it to its apps. */
bool http_app_refused(const struct conn_req *cr, const char *app);
/* Log the audit line of a change the handler did not log with it. */
void http_audit_answer(struct conn_req *cr, int status);

/* http_request.c: libmicrohttpd's callbacks for one listener (cls). */
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_size, void **con_cls);
void http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe);

/* http_reply.c: the MHD response carrying rs's body: pulled, raw,
 * rs->json (then *ctype is JSON's) or none. NULL when it cannot be
 * made; what rs owned for the body is freed then too. */
struct MHD_Response *http_body_response(struct resp *rs, const char **ctype);

/* http_reply.c: http_error() with its message's arguments in ap. */
int http_error_v(struct resp *rs, int err, const char *code, const char *field,
    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* http_stream.c: a response that streams, registered with cr's server
 * (NULL when out of memory); and the end of every stream (shutdown). */
struct MHD_Response *http_stream_open(struct conn_req *cr);
void http_streams_close(struct http_server *s);

/* http_metrics.c: request counters and latency histograms by route. */
struct http_counts *http_counts_new(size_t n_routes);
void http_counts_free(struct http_counts *c);
/* One answer of route (n_routes: unmatched) with status, taking secs. */
void http_counts_add(
    struct http_counts *c, size_t route, int status, double secs);

#endif
