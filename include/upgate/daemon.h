/* SPDX-License-Identifier: MIT */
/* What both daemons do the same way: options, signals, the listen URL. */
#ifndef UPGATE_DAEMON_H
#define UPGATE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daemon_info {
	const char *name;	    /* "upgate-gatewayd" */
	const char *default_config; /* used when -c is absent and it exists */
	const char *about;	    /* one paragraph for --help */
	const char *signals;	    /* what HUP reloads, for --help */
};

/* Parse -c/--config, --check-config, --version, --help. Returns -1 to go
 * on with *path (NULL: built-in defaults) and *check set, or an exit code
 * (0 after --version/--help, 2 on bad usage) with the message printed. */
int daemon_args(const struct daemon_info *d, int argc, char **argv,
    const char **path, bool *check);

/* Block TERM, INT and HUP in the calling thread (before any thread starts,
 * so all inherit it) and ignore SIGPIPE. */
void daemon_block_signals(void);

/* Wait in the main thread for TERM or INT, calling reload(ctx) on each HUP.
 * Returns the signal that stopped it. */
int daemon_wait(void (*reload)(void *ctx), void *ctx);

/* "http://HOST:PORT" for the log line tests and people read at start. */
void daemon_url(const char *listen, unsigned port, char *buf, size_t len);

struct http_config;
struct http_server;

/* The main thread's life once the daemon is set up: start serving hc (*out
 * is set once it runs; the caller frees it with http_stop), log
 * "listening on URL (database DB)", wait for TERM/INT calling
 * reload(hc->ctx) on HUP, then stop accepting and let requests in flight
 * finish for up to drain_ms. Returns 0 or -errno from http_start. */
int daemon_serve(const struct http_config *hc, const char *database,
    void (*reload)(void *ctx), int drain_ms, struct http_server **out);

/* Read connections for a pool: readers when set, else threads (0: one
 * per CPU) + 2. */
size_t daemon_readers(int64_t readers, int64_t threads);

#endif
