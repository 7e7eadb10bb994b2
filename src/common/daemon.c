/* SPDX-License-Identifier: MIT */
/* Daemon start-up shared by both daemons: options, signals, the URL line. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "upgate/cfg.h"
#include "upgate/daemon.h"
#include "upgate/http.h"
#include "upgate/log.h"
#include "upgate/secret.h"
#include "upgate/tls.h"
#include "upgate/version.h"

static void
usage(const struct daemon_info *d, FILE *f)
{
	fprintf(f,
	    "usage: %s [-c FILE] [--check-config]%s\n\n%s\n\n"
	    "  -c, --config FILE   configuration (default %s;\n"
	    "                      built-in defaults when that is missing)\n"
	    "      --check-config  validate the configuration and exit:\n"
	    "                      0 valid, 2 not\n"
	    "%s"
	    "  -V, --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n\n"
	    "Signals: TERM/INT stop gracefully; HUP %s.\n",
	    d->name, d->imports ? " [--import-sqlite FILE]" : "", d->about,
	    d->default_config,
	    d->imports
		? "      --import-sqlite FILE\n"
		  "                      copy the SQLite database FILE into "
		  "the "
		  "empty\n"
		  "                      PostgreSQL database [storage] url "
		  "names, in\n"
		  "                      one transaction, and exit: 0 done, 1 "
		  "not\n"
		: "",
	    d->signals);
}

int
daemon_args(
    const struct daemon_info *d, int argc, char **argv, struct daemon_opts *o)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'k'},
	    {"import-sqlite", required_argument, NULL, 'i'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->path = optarg;
			break;
		case 'k':
			o->check = true;
			break;
		case 'i':
			if (!d->imports) {
				usage(d, stderr);
				return 2;
			}
			o->import = optarg;
			break;
		case 'V':
			printf("%s %s\n", d->name, UPGATE_VERSION);
			return 0;
		case 'h':
			usage(d, stdout);
			return 0;
		default:
			usage(d, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", d->name,
		    argv[optind]);
		usage(d, stderr);
		return 2;
	}
	if (o->path == NULL && access(d->default_config, F_OK) == 0)
		o->path = d->default_config;
	return -1;
}

static void
control_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

void
daemon_block_signals(void)
{
	sigset_t set;

	/* Before any thread, so also the place for malloc's one setting:
	 * at most eight arenas (about one per thread of ours), not eight per
	 * core. With two, the MHD threads and the writer queued for the same
	 * arena lock: three quarters of the futex calls under (c). What the
	 * arenas keep after a load is small now (RSS within 0.3 MiB). */
	mallopt(M_ARENA_MAX, 8);
	control_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit makes writes fail (503), not the daemon die. */
	signal(SIGXFSZ, SIG_IGN);
}

/* Tell systemd (when it started us with NOTIFY_SOCKET) how we are. */
static void
notify(const char *state)
{
	int r = sd_notify(0, state);

	if (r < 0)
		log_warn("sd_notify %s: %s", state, strerror(-r));
}

int
daemon_wait(void (*reload)(void *ctx), void *ctx)
{
	uint64_t wd_usec = 0;
	struct timespec every = {0};
	sigset_t set;
	int sig;

	control_signals(&set);
	/* With WatchdogSec=, ping twice per period from this loop: a main
	 * thread that stops cycling gets the daemon restarted. */
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		every.tv_sec = (time_t)(wd_usec / 2 / 1000000);
		every.tv_nsec = (long)(wd_usec / 2 % 1000000 * 1000);
		notify("WATCHDOG=1");
	}
	for (;;) {
		sig = wd_usec ? sigtimedwait(&set, NULL, &every)
			      : (sigwait(&set, &sig) == 0 ? sig : -1);
		if (wd_usec)
			notify("WATCHDOG=1");
		if (sig < 0)
			continue;
		if (sig != SIGHUP)
			break;
		notify("RELOADING=1");
		if (log_reopen() < 0)
			log_err("SIGHUP: cannot reopen the log file: %s",
			    strerror(errno));
		reload(ctx);
		notify("READY=1");
	}
	log_notice("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	notify("STOPPING=1");
	return sig;
}

void
daemon_url(const char *listen, unsigned port, bool tls, char *buf, size_t len)
{
	const char *colon = strrchr(listen, ':');
	int n = colon ? (int)(colon - listen) : (int)strlen(listen);

	snprintf(
	    buf, len, "%s://%.*s:%u", tls ? "https" : "http", n, listen, port);
}

int
daemon_serve(const struct http_config *hc, const char *database,
    void (*reload)(void *ctx), int drain_ms, struct http_server **out)
{
	char url[128];
	int err;

	if ((err = http_start(hc, out)) < 0)
		return err;
	daemon_url(
	    hc->listen, http_port(*out), http_tls(*out), url, sizeof(url));
	log_notice("listening on %s (database %s)", url, database);
	if (http_admin_port(*out) != 0) {
		char admin[128];

		daemon_url(hc->admin_listen, http_admin_port(*out),
		    http_tls(*out), admin, sizeof(admin));
		log_notice("admin routes, /metrics and the dashboard on %s "
			   "only",
		    admin);
	}
	{
		char status[256];

		snprintf(status, sizeof(status),
		    "READY=1\nSTATUS=listening on %s", url);
		notify(status);
	}
	daemon_wait(reload, hc->ctx);
	http_quiesce(*out);
	if (!http_drain(*out, drain_ms))
		log_warn("requests still running after %d ms; closing them",
		    drain_ms);
	return 0;
}

void
daemon_tls_reload(struct http_server *s, const struct daemon_server *c)
{
	bool want = c->tls_cert && *c->tls_cert;

	if (want != http_tls(s))
		log_warn("SIGHUP: turning HTTPS %s takes a restart",
		    want ? "on" : "off");
	else if (want && http_tls_reload(s, c->tls_cert, c->tls_key) == 0)
		log_notice("SIGHUP: reloaded the TLS certificate and key");
	else if (want)
		log_err("SIGHUP: keeping the running TLS certificate and key");
}

size_t
daemon_readers(int64_t readers, unsigned http_threads)
{
	return readers > 0 ? (size_t)readers : (size_t)http_threads + 2;
}

/* One of the PEM files for HTTPS, read as http_start will read it, into
 * *pem (the caller wipes it with secret_free). */
static int
pem_check(const char *path, const char *key, const char *file, char **errors,
    char **pem)
{
	int err = http_pem_read(file, pem);

	if (err == -EBADMSG)
		return cfg_file_problem(errors, path, "server", key, "use",
		    file, "not PEM (no \"-----BEGIN\" line)");
	if (err < 0)
		return cfg_file_problem(errors, path, "server", key, "read",
		    file, err == -EFBIG ? "over 1 MiB" : strerror(-err));
	return 0;
}

int
daemon_server_check(
    const char *path, const struct daemon_server *s, char **errors)
{
	bool cert = s->tls_cert && *s->tls_cert,
	     key = s->tls_key && *s->tls_key;
	char *pem[2] = {NULL, NULL};
	const char *problem;
	int err = 0, e;

	if (cert != key)
		return cfg_problem(errors, path, "server",
		    cert ? "tls_key" : "tls_cert",
		    "must be set with %s (both or neither)",
		    cert ? "tls_cert" : "tls_key");
	if (cert &&
	    (e = pem_check(path, "tls_cert", s->tls_cert, errors, &pem[0])) < 0)
		err = e;
	if (key &&
	    (e = pem_check(path, "tls_key", s->tls_key, errors, &pem[1])) < 0)
		err = e;
	/* The pair must also load, the key being the certificate's. */
	if (cert && err == 0 &&
	    (problem = tls_pair_problem(pem[0], pem[1])) != NULL)
		err = cfg_file_problem(errors, path, "server", "tls_key", "use",
		    s->tls_key, problem);
	free(pem[0]);
	secret_free(pem[1]);
	return err;
}

int
daemon_log_file(const struct daemon_server *s)
{
	int err = log_open_file(s->log_file);

	if (err < 0)
		log_err("cannot open [log] file %s: %s", s->log_file,
		    strerror(-err));
	return err;
}

const char *const daemon_backends[] = {"sqlite", "postgres", NULL};

/* The line of [storage] key in keys[0..n) (0: not in the file). */
static int
storage_line(
    const struct cfg_key *keys, size_t n, const int *line, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].section, "storage") == 0 &&
		    strcmp(keys[i].key, key) == 0)
			return line[i];
	return 0;
}

int
daemon_storage_check(const char *path, const struct daemon_storage *st,
    const struct cfg_key *keys, size_t n, const int *line, const char *example,
    char **errors)
{
	/* A key only one backend reads, set for the other, would be
	 * silently ignored. */
	static const struct {
		const char *key;
		int backend; /* the one that reads it */
	} only[] = {
	    {"database", DAEMON_SQLITE},
	    {"url", DAEMON_POSTGRES},
	    {"password_file", DAEMON_POSTGRES},
	};
	int err = 0;

	for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++) {
		int at = storage_line(keys, n, line, only[i].key);

		if (at != 0 && st->backend != only[i].backend)
			err = cfg_problem_at(errors, path, at, "storage",
			    only[i].key,
			    "only backend = %s reads it (backend is %s)",
			    daemon_backends[only[i].backend],
			    daemon_backends[st->backend]);
	}
	if (st->backend == DAEMON_POSTGRES && st->url[0] == '\0')
		err = cfg_problem_at(errors, path,
		    storage_line(keys, n, line, "backend"), "storage", "url",
		    "backend = postgres needs a connection string, e.g. %s",
		    example);
	return err;
}

int
daemon_storage_password(
    const char *path, const struct daemon_storage *st, char **out)
{
	char *errors = NULL;

	*out = NULL;
	if (st->password_file[0] == '\0')
		return 0;
	if (cfg_secret(path, "storage", "password_file", st->password_file,
		true, out, &errors) < 0) {
		fputs(
		    errors ? errors : "configuration: out of memory\n", stderr);
		free(errors);
		return -EINVAL;
	}
	return 0;
}

const char *
daemon_storage_where(const struct daemon_storage *st)
{
	return st->backend == DAEMON_POSTGRES ? st->url : st->database;
}

int
daemon_import(const char *path, const struct daemon_storage *st,
    const char *file,
    int (*copy)(const char *file, const char *url, const char *password))
{
	char *password = NULL;
	int err;

	if (st->backend != DAEMON_POSTGRES) {
		fprintf(stderr,
		    "%s: [storage] backend: --import-sqlite copies into "
		    "PostgreSQL: set backend = postgres and url\n",
		    path ? path : "(defaults)");
		return 2;
	}
	if (access(file, R_OK) != 0) {
		fprintf(stderr, "%s: cannot read: %s\n", file, strerror(errno));
		return 1;
	}
	if (daemon_storage_password(path, st, &password) < 0)
		return 2;
	err = copy(file, st->url, password);
	secret_free(password);
	if (err == 0)
		log_notice("imported %s into %s", file, st->url);
	else if (err == -ENOTEMPTY)
		log_err("%s already holds data: the import copies into an "
			"empty database only; nothing was changed",
		    st->url);
	else
		log_err("import of %s failed: %s; nothing was changed", file,
		    strerror(-err));
	return err == 0 ? 0 : 1;
}
