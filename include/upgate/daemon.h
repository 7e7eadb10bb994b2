/* SPDX-License-Identifier: MIT */
/* What both daemons do the same way: options, signals, the listen URL. */
#ifndef UPGATE_DAEMON_H
#define UPGATE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upgate/addr.h"
#include "upgate/cfg.h"

struct daemon_info {
	const char *name;	    /* "upgate-gatewayd" */
	const char *default_config; /* used when -c is absent and it exists */
	const char *about;	    /* one paragraph for --help */
	const char *signals;	    /* what HUP reloads, for --help */
	bool imports;		    /* takes --import-sqlite FILE */
};

/* What the command line asks for. */
struct daemon_opts {
	const char *path;   /* NULL: built-in defaults */
	bool check;	    /* --check-config */
	const char *import; /* --import-sqlite FILE, or NULL */
};

/* Parse -c/--config, --check-config, --import-sqlite (when d imports),
 * --version, --help. Returns -1 to go on with *o set, or an exit code (0
 * after --version/--help, 2 on bad usage) with the message printed. */
int daemon_args(
    const struct daemon_info *d, int argc, char **argv, struct daemon_opts *o);

/* Block TERM, INT and HUP in the calling thread (before any thread starts,
 * so all inherit it), ignore SIGPIPE and SIGXFSZ, and cap malloc at two
 * arenas. */
void daemon_block_signals(void);

/* Wait in the main thread for TERM or INT; on each HUP reopen the log
 * file and call reload(ctx). Talks to systemd when it is there: WATCHDOG=1
 * every half WatchdogSec, RELOADING=1/READY=1 around a reload, STOPPING=1
 * at the end. Returns the signal that stopped it. */
int daemon_wait(void (*reload)(void *ctx), void *ctx);

/* "http(s)://HOST:PORT" for the log line tests and people read at start. */
void daemon_url(
    const char *listen, unsigned port, bool tls, char *buf, size_t len);

/* The [server] section and the [log] file, the same in both daemons: each
 * daemon's config struct holds one as its member `server`. */
struct daemon_server {
	char *listen;
	char *admin_listen; /* "": admin routes on listen too */
	int64_t threads;
	int64_t max_connections;
	int64_t per_address;	    /* max_connections_per_address, 0: none */
	int64_t connection_timeout; /* ms */
	int64_t request_timeout;    /* ms */
	char *tls_cert, *tls_key;   /* PEM files; both empty: plain HTTP */
	double rate_limit;	    /* requests/s per address, 0: none */
	char *trusted_proxies;	    /* addresses and ranges; "" none */
	int64_t rate_burst;
	char *log_file; /* empty: stderr */
};

/* Their key table rows, for config struct S. */
#define DAEMON_SERVER_KEY(S, sec, k, t, f, d, lo, hi)                          \
	CFG_KEY(S, sec, k, t, server.f, d, lo, hi)
#define DAEMON_SERVER_KEYS(S, listen_default)                                  \
	DAEMON_SERVER_KEY(                                                     \
	    S, "server", "listen", CFG_ADDR, listen, listen_default, 0, 0),    \
	    DAEMON_SERVER_KEY(                                                 \
		S, "server", "threads", CFG_INT, threads, "0", 0, 256),        \
	    DAEMON_SERVER_KEY(S, "server", "max_connections", CFG_INT,         \
		max_connections, "1024", 1, 65536),                            \
	    DAEMON_SERVER_KEY(S, "server", "connection_timeout", CFG_DUR,      \
		connection_timeout, "30s", 1000, CFG_MS_DAY),                  \
	    CFG_CHECKED(S, "server", "admin_listen", server.admin_listen, "",  \
		addr_listen_valid,                                             \
		"is not host:port (numeric IPv4, [IPv6] or localhost) nor "    \
		"empty"),                                                      \
	    DAEMON_SERVER_KEY(S, "server", "max_connections_per_address",      \
		CFG_INT, per_address, "64", 0, 65536),                         \
	    DAEMON_SERVER_KEY(S, "server", "request_timeout", CFG_DUR,         \
		request_timeout, "30s", 1000, CFG_MS_DAY),                     \
	    DAEMON_SERVER_KEY(                                                 \
		S, "server", "tls_cert", CFG_STR, tls_cert, "", 0, 0),         \
	    DAEMON_SERVER_KEY(                                                 \
		S, "server", "tls_key", CFG_STR, tls_key, "", 0, 0),           \
	    DAEMON_SERVER_KEY(                                                 \
		S, "server", "rate_limit", CFG_REAL, rate_limit, "0", 0, 1e6), \
	    CFG_CHECKED(S, "server", "trusted_proxies",                        \
		server.trusted_proxies, "", addr_ranges_valid,                 \
		"is not a comma-separated list of addresses and CIDR ranges"), \
	    DAEMON_SERVER_KEY(S, "server", "rate_burst", CFG_INT, rate_burst,  \
		"200", 1, 1000000),                                            \
	    DAEMON_SERVER_KEY(S, "log", "file", CFG_STR, log_file, "", 0, 0)

/* The http_config fields a struct daemon_server *s fills, for a
 * designated initializer. Not threads: the daemon resolves [server]
 * threads once with http_threads(), since it sizes its readers by it. */
#define DAEMON_HTTP_FIELDS(s)                                                  \
	.listen = (s)->listen, .conn_limit = (unsigned)(s)->max_connections,   \
	.conn_timeout_s = (unsigned)((s)->connection_timeout / 1000),          \
	.admin_listen = (s)->admin_listen,                                     \
	.per_address = (unsigned)(s)->per_address,                             \
	.request_timeout_ms = (s)->request_timeout, .tls_cert = (s)->tls_cert, \
	.tls_key = (s)->tls_key, .rate_limit = (s)->rate_limit,                \
	.rate_burst = (s)->rate_burst, .trusted_proxies = (s)->trusted_proxies

/* What loading cannot check in s: tls_cert and tls_key are both set or
 * both empty, and each names a readable PEM file (a credential name
 * works as for secrets). Problems go to *errors as cfg_problem() puts
 * them, for config path. Returns 0, -EINVAL or -ENOMEM. */
int daemon_server_check(
    const char *path, const struct daemon_server *s, char **errors);

/* [storage]: the engine and where its data is; the same keys in both
 * daemons. */
enum daemon_backend { DAEMON_SQLITE, DAEMON_POSTGRES };
extern const char *const daemon_backends[]; /* by enum daemon_backend */

struct daemon_storage {
	int backend; /* enum daemon_backend */
	char *database;
	char *url;	     /* postgres: libpq connection string */
	char *password_file; /* postgres: "" none */
	int64_t readers;
	int64_t cache_kib;	  /* sqlite: page cache per read connection */
	int64_t writer_cache_kib; /* sqlite: the write connection's */
};

/* Their key table rows, for config struct S (a field storage). */
#define DAEMON_STORAGE_KEY(S, k, t, f, d, lo, hi)                              \
	CFG_KEY(S, "storage", k, t, storage.f, d, lo, hi)
#define DAEMON_STORAGE_KEYS(S, db_dflt, cache_dflt, writer_dflt)               \
	{.section = "storage",                                                 \
	    .key = "backend",                                                  \
	    .type = CFG_ENUM,                                                  \
	    .off = offsetof(S, storage.backend),                               \
	    .dflt = "sqlite",                                                  \
	    .choices = daemon_backends},                                       \
	    DAEMON_STORAGE_KEY(                                                \
		S, "database", CFG_STR, database, db_dflt, 0, 0),              \
	    DAEMON_STORAGE_KEY(S, "url", CFG_STR, url, "", 0, 0),              \
	    DAEMON_STORAGE_KEY(                                                \
		S, "password_file", CFG_STR, password_file, "", 0, 0),         \
	    DAEMON_STORAGE_KEY(S, "readers", CFG_INT, readers, "0", 0, 256),   \
	    DAEMON_STORAGE_KEY(                                                \
		S, "cache_kib", CFG_INT, cache_kib, cache_dflt, 64, 1048576),  \
	    DAEMON_STORAGE_KEY(S, "writer_cache_kib", CFG_INT,                 \
		writer_cache_kib, writer_dflt, 64, 1048576)

/* What loading cannot check in st, from the line of each of keys[0..n)
 * (cfg_load's): a key only the other backend reads, and backend =
 * postgres without url (example: a connection string to suggest).
 * Returns 0 or -EINVAL with the problems in *errors. */
int daemon_storage_check(const char *path, const struct daemon_storage *st,
    const struct cfg_key *keys, size_t n, const int *line, const char *example,
    char **errors);

/* The password st's password_file names: 0 with *out (NULL: none; free
 * with secret_free), or -EINVAL with the problem printed. */
int daemon_storage_password(
    const char *path, const struct daemon_storage *st, char **out);

/* What logs name as the database: the file or the connection string
 * (which holds no password: that comes from a file). */
const char *daemon_storage_where(const struct daemon_storage *st);

/* --import-sqlite file: copy(file, url, password) copies that SQLite
 * database into the empty PostgreSQL one st names (0, -ENOTEMPTY when
 * it holds data, -errno); this checks, reports and returns the exit
 * code: 2 when st is not PostgreSQL, 1 on failure. */
int daemon_import(const char *path, const struct daemon_storage *st,
    const char *file,
    int (*copy)(const char *file, const char *url, const char *password));

struct http_server;

/* On SIGHUP, with the reloaded [server] c: serve new HTTPS handshakes
 * with c's certificate and key (read again). Turning HTTPS on or off
 * takes a restart, which it says; a pair that does not load is logged
 * and the running one kept. */
void daemon_tls_reload(struct http_server *s, const struct daemon_server *c);

/* Send the log to s->log_file (empty: stay on stderr). Returns 0, or a
 * negative errno after saying why. */
int daemon_log_file(const struct daemon_server *s);

struct http_config;

/* The main thread's life once the daemon is set up: start serving hc (*out
 * is set once it runs; the caller stops it with http_stop
 * and frees it with http_free), log
 * "listening on URL (database DB)" and tell systemd READY=1, wait for TERM/INT
 * calling reload(hc->ctx) on HUP, then stop accepting and let requests in
 * flight finish for up to drain_ms. Returns 0 or -errno from http_start. */
int daemon_serve(const struct http_config *hc, const char *database,
    void (*reload)(void *ctx), int drain_ms, struct http_server **out);

/* Read connections for a pool: readers when set, else the HTTP threads
 * (http_threads) + 2. */
size_t daemon_readers(int64_t readers, unsigned http_threads);

#endif
