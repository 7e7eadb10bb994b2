/* SPDX-License-Identifier: MIT */
/* The connection guard: how many connections one address may hold open,
 * and how long a connection may take to send a request. Slow clients
 * (slowloris) that trickle bytes reset an idle timeout forever; here
 * each phase of a connection has a deadline that no byte moves, and a
 * sweep shuts down the socket of every connection past its own. Knows
 * sockets and addresses, not HTTP: the server says when each phase
 * starts. */
#ifndef UPGATE_CONNGUARD_H
#define UPGATE_CONNGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "upgate/addr.h"

struct connguard;
struct cg_conn;

struct connguard_conf {
	/* Open connections per client address (an IPv6 client is its
	 * /64, which one host usually holds whole); 0: no cap. */
	unsigned per_address;
	/* The request line must arrive within idle_ms of the connection
	 * opening or of the previous answer; the rest of the request,
	 * headers and body, within request_ms of its request line. */
	int64_t idle_ms, request_ms;
	/* Addresses the cap does not apply to (trusted proxies carry many
	 * clients); borrowed, must outlive the guard. */
	const struct addr_range *exempt;
	size_t n_exempt;
};

/* NULL when out of memory. sodium_init() must have succeeded. */
struct connguard *connguard_new(const struct connguard_conf *conf);
void connguard_free(struct connguard *g);

/* Whether a connection from addr may be accepted: its address holds
 * fewer than per_address (exempt addresses always may). Counted as a
 * refusal when not. Connections accepted at the same moment on several
 * threads may pass the cap by one each. Thread-safe. */
bool connguard_admit(struct connguard *g, const struct sockaddr *addr);

/* A connection was accepted on socket fd at now_ms (monotonic): it waits
 * for its request line. NULL when out of memory (it is then not
 * guarded). */
struct cg_conn *connguard_open(
    struct connguard *g, const struct sockaddr *addr, int fd, int64_t now_ms);

/* It is being closed: forget it before its socket is (the sweep never
 * touches a socket it no longer knows). NULL: nothing. */
void connguard_close(struct connguard *g, struct cg_conn *c);

/* The phases of c (NULL: an unguarded connection, nothing happens).
 * Its request line arrived at now_ms: headers and body are due within
 * request_ms. */
void connguard_request(struct cg_conn *c, int64_t now_ms);

/* The request is in (or answered early): no deadline while the server
 * works on it and answers. */
void connguard_answering(struct cg_conn *c);

/* Answered at now_ms: it waits for its next request line. */
void connguard_idle(struct cg_conn *c, int64_t now_ms);

/* Shut down (both ways) the socket of every connection past its
 * deadline at now_ms; the server then sees it end and closes it.
 * Returns how many. Thread-safe. */
int connguard_sweep(struct connguard *g, int64_t now_ms);

/* Counters in Prometheus text: refused at the cap, cut at a deadline. */
void connguard_metrics(struct connguard *g, FILE *out);

#endif
