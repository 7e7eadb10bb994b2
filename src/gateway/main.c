/* SPDX-License-Identifier: MIT */
/* upgate-gatewayd: start-up, signals and orderly shutdown. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "gw.h"
#include "upgate/log.h"
#include "upgate/secret.h"

#define DEFAULT_CONFIG "/etc/upgate/gateway.conf"
#define DRAIN_MS 10000

#ifndef UPGATE_VERSION
#define UPGATE_VERSION "0.1.0"
#endif

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: upgate-gatewayd [-c FILE] [--check-config]\n"
	    "\n"
	    "The upgate upgrade gateway: publishes releases, decides per "
	    "launch\n"
	    "whether to upgrade, and records every upgrade in SQLite.\n"
	    "\n"
	    "  -c, --config FILE   configuration (default " DEFAULT_CONFIG ";\n"
	    "                      built-in defaults when that is missing)\n"
	    "      --check-config  validate the configuration and exit:\n"
	    "                      0 valid, 2 not\n"
	    "  -V, --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n"
	    "\n"
	    "Signals: TERM/INT stop gracefully; HUP reloads the admin token,\n"
	    "the [upgrade] settings and the log level.\n");
}

/* Load the config and admin token; on any problem print it and return
 * -EINVAL. token may come back NULL when the file is missing and was not
 * named explicitly (admin API refused). */
static int
load(const char *path, struct gw_conf *c, char **token)
{
	char *errors = NULL;
	int err;

	*token = NULL;
	if ((err = gw_conf_load(path, c, &errors)) < 0) {
		fputs(
		    errors ? errors : "configuration: out of memory\n", stderr);
		free(errors);
		return err;
	}
	err = secret_read(c->token_file, token);
	if (err < 0 && (c->token_file_set || err != -ENOENT)) {
		fprintf(stderr, "%s: [admin] token_file: cannot read %s: %s\n",
		    path ? path : "(defaults)", c->token_file,
		    err == -EINVAL ? "empty or over 4096 bytes"
				   : strerror(-err));
		return -EINVAL;
	}
	if (err < 0)
		log_warn("admin token file %s does not exist: admin endpoints "
			 "will answer 401",
		    c->token_file);
	return 0;
}

static void
reload(struct gw *gw, const char *path)
{
	struct gw_conf c;
	struct gw_settings s;
	char *token = NULL, *old;

	if (load(path, &c, &token) < 0) {
		log_err(
		    "SIGHUP: configuration invalid, keeping the running one");
		gw_conf_free(&c);
		return;
	}
	gw_settings_from_conf(&c, &s);
	log_set_level((enum log_level)gw_conf_log_level(&c));
	pthread_mutex_lock(&gw->lock);
	old = gw->admin_token;
	gw->admin_token = token;
	gw->settings = s;
	pthread_mutex_unlock(&gw->lock);
	secret_free(old);
	gw_conf_free(&c);
	log_notice("SIGHUP: reloaded admin token and settings");
}

/* The host part of a listen address, for the URL printed at start. */
static void
listen_host(const char *listen, char *buf, size_t len)
{
	const char *colon = strrchr(listen, ':');
	size_t n = colon ? (size_t)(colon - listen) : strlen(listen);

	if (n >= len)
		n = len - 1;
	memcpy(buf, listen, n);
	buf[n] = '\0';
}

/* The signals the main thread takes with sigwait: stop and reload. */
static void
control_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

static int
run(struct gw *gw, const char *path)
{
	struct http_config hc;
	sigset_t set;
	char host[80];
	size_t nreaders;
	int sig, err;

	if ((err = db_open(
		 gw->conf.database, &store_schema, true, &gw->writer)) < 0)
		return err;
	nreaders =
	    gw->conf.readers
		? (size_t)gw->conf.readers
		: (size_t)(gw->conf.threads ? gw->conf.threads
					    : sysconf(_SC_NPROCESSORS_ONLN)) +
		      2;
	if ((err = db_pool_new(
		 gw->conf.database, &store_schema, nreaders, &gw->readers)) < 0)
		return err;
	if ((err = reaper_start(gw, &gw->reaper)) < 0)
		return err;
	hc = (struct http_config){
	    .listen = gw->conf.listen,
	    .threads = (unsigned)gw->conf.threads,
	    .conn_limit = (unsigned)gw->conf.max_connections,
	    .conn_timeout_s = (unsigned)(gw->conf.connection_timeout / 1000),
	    .routes = gw_routes,
	    .n_routes = gw_n_routes,
	    .ctx = gw,
	    .authorize = gw_authorize,
	};
	if ((err = http_start(&hc, &gw->http)) < 0)
		return err;
	listen_host(gw->conf.listen, host, sizeof(host));
	log_notice("listening on http://%s:%u (database %s)", host,
	    http_port(gw->http), gw->conf.database);

	control_signals(&set);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(gw, path);
			continue;
		}
		log_notice(
		    "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	http_quiesce(gw->http);
	if (!http_drain(gw->http, DRAIN_MS))
		log_warn("requests still running after %d ms; closing them",
		    DRAIN_MS);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'k'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check = false;
	struct gw gw;
	sigset_t set;
	int c, err;

	log_init("upgate-gatewayd");
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'V':
			printf("upgate-gatewayd %s\n", UPGATE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "upgate-gatewayd: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	if (path == NULL && access(DEFAULT_CONFIG, F_OK) == 0)
		path = DEFAULT_CONFIG;
	if (sodium_init() < 0)
		fatal("libsodium cannot initialise");

	memset(&gw, 0, sizeof(gw));
	pthread_mutex_init(&gw.lock, NULL);
	if (load(path, &gw.conf, &gw.admin_token) < 0) {
		gw_conf_free(&gw.conf);
		return 2;
	}
	if (check) {
		printf(
		    "%s: configuration is valid\n", path ? path : "(defaults)");
		gw_conf_free(&gw.conf);
		secret_free(gw.admin_token);
		return 0;
	}
	log_set_level((enum log_level)gw_conf_log_level(&gw.conf));
	gw_settings_from_conf(&gw.conf, &gw.settings);

	/* Signals go to sigwait in this thread only; block them before any
	 * thread starts so every thread inherits the mask. */
	control_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = run(&gw, path);
	http_stop(gw.http);
	reaper_stop(gw.reaper);
	db_pool_free(gw.readers);
	db_close(gw.writer);
	gw_conf_free(&gw.conf);
	secret_free(gw.admin_token);
	pthread_mutex_destroy(&gw.lock);
	if (err < 0) {
		log_err("stopped on error: %s", strerror(-err));
		return 1;
	}
	log_notice("stopped");
	return 0;
}
