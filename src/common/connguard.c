/* SPDX-License-Identifier: MIT */
/* Open connections in a hash table keyed by client address (SipHash
 * with a random key, so nobody can aim at one bucket), chained through
 * the connections themselves: an address's count is the length of its
 * run in the chain, never a counter that could drift from the truth.
 * Deadlines are atomics the connection's own thread moves; the lock
 * guards the chains, and so the sockets the sweep may shut down. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "upgate/connguard.h"
#include "upgate/log.h"

#define BUCKETS 1024

enum phase { PHASE_IDLE, PHASE_REQUEST, PHASE_ANSWERING };

struct cg_conn {
	struct cg_conn *next, **pprev;
	unsigned char key[ADDR_KEY_LEN];
	int fd;
	struct connguard *g;
	atomic_int phase;
	_Atomic int64_t deadline_ms; /* of the phase; unused when answering */
	bool cut;		     /* shut down by the sweep */
};

struct connguard {
	struct connguard_conf conf;
	unsigned char hash_key[crypto_shorthash_KEYBYTES];
	pthread_mutex_t lock;
	struct cg_conn *bucket[BUCKETS];
	atomic_uint_fast64_t refused, cut_idle, cut_request;
};

struct connguard *
connguard_new(const struct connguard_conf *conf)
{
	struct connguard *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->conf = *conf;
	crypto_shorthash_keygen(g->hash_key);
	pthread_mutex_init(&g->lock, NULL);
	return g;
}

void
connguard_free(struct connguard *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		while (g->bucket[i] != NULL)
			connguard_close(g, g->bucket[i]);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* The key the cap counts by (an IPv6 /64), and its bucket. */
static struct cg_conn **
bucket_of(struct connguard *g, const struct sockaddr *addr,
    unsigned char key[ADDR_KEY_LEN])
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t hv;

	addr_key(addr, 64, key);
	crypto_shorthash(h, key, ADDR_KEY_LEN, g->hash_key);
	memcpy(&hv, h, sizeof(hv));
	return &g->bucket[hv % BUCKETS];
}

bool
connguard_admit(struct connguard *g, const struct sockaddr *addr)
{
	unsigned char key[ADDR_KEY_LEN];
	struct cg_conn **b;
	unsigned n = 0;

	if (g->conf.per_address == 0 ||
	    addr_in_ranges(addr, g->conf.exempt, g->conf.n_exempt))
		return true;
	b = bucket_of(g, addr, key);
	pthread_mutex_lock(&g->lock);
	for (struct cg_conn *c = *b; c != NULL && n < g->conf.per_address;
	     c = c->next)
		if (memcmp(c->key, key, ADDR_KEY_LEN) == 0)
			n++;
	pthread_mutex_unlock(&g->lock);
	if (n < g->conf.per_address)
		return true;
	atomic_fetch_add(&g->refused, 1);
	return false;
}

struct cg_conn *
connguard_open(
    struct connguard *g, const struct sockaddr *addr, int fd, int64_t now_ms)
{
	struct cg_conn *c = calloc(1, sizeof(*c));
	struct cg_conn **b;

	if (c == NULL)
		return NULL;
	c->g = g;
	c->fd = fd;
	connguard_idle(c, now_ms);
	b = bucket_of(g, addr, c->key);
	pthread_mutex_lock(&g->lock);
	c->next = *b;
	if (c->next != NULL)
		c->next->pprev = &c->next;
	c->pprev = b;
	*b = c;
	pthread_mutex_unlock(&g->lock);
	return c;
}

void
connguard_close(struct connguard *g, struct cg_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	*c->pprev = c->next;
	if (c->next != NULL)
		c->next->pprev = c->pprev;
	pthread_mutex_unlock(&g->lock);
	free(c);
}

void
connguard_request(struct cg_conn *c, int64_t now_ms)
{
	if (c == NULL)
		return;
	atomic_store(&c->deadline_ms, now_ms + c->g->conf.request_ms);
	atomic_store(&c->phase, PHASE_REQUEST);
}

void
connguard_answering(struct cg_conn *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->phase, PHASE_ANSWERING);
}

void
connguard_idle(struct cg_conn *c, int64_t now_ms)
{
	if (c == NULL)
		return;
	atomic_store(&c->deadline_ms, now_ms + c->g->conf.idle_ms);
	atomic_store(&c->phase, PHASE_IDLE);
}

int
connguard_sweep(struct connguard *g, int64_t now_ms)
{
	int n = 0;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct cg_conn *c = g->bucket[i]; c != NULL; c = c->next) {
			int phase = atomic_load(&c->phase);

			if (c->cut || phase == PHASE_ANSWERING ||
			    now_ms < atomic_load(&c->deadline_ms))
				continue;
			/* The phase may have moved on since it was read: a
			 * request that came whole at the last moment is cut
			 * all the same, as if it had come a moment later. */
			c->cut = true;
			shutdown(c->fd, SHUT_RDWR);
			atomic_fetch_add(phase == PHASE_IDLE ? &g->cut_idle
							     : &g->cut_request,
			    1);
			n++;
		}
	pthread_mutex_unlock(&g->lock);
	if (n > 0)
		log_info("http: closed %d connection(s) that sent no whole "
			 "request in time",
		    n);
	return n;
}

void
connguard_metrics(struct connguard *g, FILE *out)
{
	fprintf(out,
	    "# HELP upgate_http_connections_refused_total Connections "
	    "refused because their address held [server] "
	    "max_connections_per_address.\n"
	    "# TYPE upgate_http_connections_refused_total counter\n"
	    "upgate_http_connections_refused_total %llu\n"
	    "# HELP upgate_http_connections_timed_out_total Connections "
	    "closed because a request did not arrive in time, by phase: "
	    "request line (connection_timeout) or headers and body "
	    "(request_timeout).\n"
	    "# TYPE upgate_http_connections_timed_out_total counter\n"
	    "upgate_http_connections_timed_out_total{phase=\"request_line\"} "
	    "%llu\n"
	    "upgate_http_connections_timed_out_total{phase=\"request\"} "
	    "%llu\n",
	    (unsigned long long)atomic_load(&g->refused),
	    (unsigned long long)atomic_load(&g->cut_idle),
	    (unsigned long long)atomic_load(&g->cut_request));
}
