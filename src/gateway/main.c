/* SPDX-License-Identifier: MIT */
/* upgate-gatewayd: start-up, signals and orderly shutdown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "gw.h"
#include "upgate/cfg.h"
#include "upgate/daemon.h"
#include "upgate/log.h"
#include "upgate/secret.h"

#define DEFAULT_CONFIG "/etc/upgate/gateway.conf"
#define DRAIN_MS 10000
/* With [server] threads = 0 on SQLite, a CPU is left to the group-commit
 * writer, which every durable request waits on: with as many HTTP threads
 * as CPUs it waited for a CPU a quarter of each cycle. On two cores one
 * HTTP thread gives the durable paths the same throughput and the launch
 * path's p99 4.4-6 ms instead of 8 (docs/performance.md). On PostgreSQL
 * an HTTP thread waits for the server in most requests and the writer
 * for its commits: none is left aside (one thread read 1.2k launches/s
 * there, two 11k). */
#define SPARE_CPUS(backend) ((backend) == DAEMON_SQLITE ? 1u : 0u)

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
	err = cfg_secret(path, "admin", "token_file", c->token_file,
	    c->token_file_set, token, &errors);
	if (err < 0) {
		fputs(
		    errors ? errors : "configuration: out of memory\n", stderr);
		free(errors);
		return -EINVAL;
	}
	if (*token == NULL)
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
	daemon_tls_reload(gw->http, &c.server);
	pthread_mutex_lock(&gw->lock);
	old = gw->admin_token;
	gw->admin_token = token;
	gw->settings = s;
	pthread_mutex_unlock(&gw->lock);
	secret_free(old);
	gw_conf_free(&c);
	log_notice("SIGHUP: reloaded admin token and settings");
}

static void
on_hup(void *arg)
{
	struct gw *gw = arg;

	reload(gw, gw->conf_path);
	forward_reload(gw->forward);
}

static int
open_store(struct gw *gw, unsigned threads)
{
	const struct daemon_storage *c = &gw->conf.storage;
	char *password = NULL;
	struct store_opts o = {
	    .database = c->database,
	    .url = c->url,
	    .readers = daemon_readers(c->readers, threads),
	    .cache_kib = (int)c->cache_kib,
	    .writer_cache_kib = (int)c->writer_cache_kib,
	};
	int err;

	if (daemon_storage_password(gw->conf_path, c, &password) < 0)
		return -EINVAL;
	o.password = password;
	err = store_open(
	    c->backend == DAEMON_POSTGRES ? &store_pg : &store_sqlite, &o,
	    &gw->store);
	secret_free(password);
	if (err < 0)
		return err;
	gw->writer = store_writer(gw->store);
	return 0;
}

/* --import-sqlite: copy the SQLite database at file into the empty
 * PostgreSQL database at url. */
static int
import_copy(const char *file, const char *url, const char *password)
{
	struct store_opts from_o = {.database = file};
	struct store_opts to_o = {.url = url, .password = password};
	struct store *from = NULL, *to = NULL;
	int err;

	if ((err = store_open(&store_sqlite, &from_o, &from)) == 0 &&
	    (err = store_open(&store_pg, &to_o, &to)) == 0)
		err = store_import(to, from);
	store_close(to);
	store_close(from);
	return err;
}

static void
kick_forwarder(void *forward)
{
	forward_kick(forward);
}

static int
run(struct gw *gw)
{
	unsigned threads = http_threads((unsigned)gw->conf.server.threads,
	    SPARE_CPUS(gw->conf.storage.backend));
	struct http_config hc;
	int err;

	if ((err = open_store(gw, threads)) < 0)
		return err;
	gw_access_init(gw);
	if ((err = catalog_new(&gw->catalog)) < 0)
		return err;
	if ((err = gw_commits_start(gw)) < 0)
		return err;
	/* The forwarder first: every commit that queues an outcome from
	 * then on wakes it (gw_write_end). */
	if ((err = forward_start(gw, &gw->forward)) < 0)
		return err;
	if (gw->forward != NULL) {
		gw->outbox_kick_arg = gw->forward;
		gw->outbox_kick = kick_forwarder;
	}
	if ((err = reaper_start(gw, &gw->reaper)) < 0)
		return err;
	if ((err = launchlog_start(gw, &gw->launchlog)) < 0)
		return err;
	gw->pruner = access_pruner_start(&gw->access, gw->conf.audit_retention);
	hc = (struct http_config){
	    DAEMON_HTTP_FIELDS(&gw->conf.server),
	    .threads = threads,
	    .routes = gw_routes,
	    .n_routes = gw_n_routes,
	    .ctx = gw,
	    .authorize = gw_authorize,
	    .access = &gw->access,
	};
	return daemon_serve(&hc, daemon_storage_where(&gw->conf.storage),
	    on_hup, DRAIN_MS, &gw->http);
}

int
main(int argc, char **argv)
{
	static const struct daemon_info info = {
	    .name = "upgate-gatewayd",
	    .default_config = DEFAULT_CONFIG,
	    .about = "The upgate upgrade gateway: publishes releases, decides "
		     "per launch\nwhether to upgrade, records every upgrade "
		     "in SQLite or PostgreSQL and\nforwards each outcome to "
		     "upgate-mgmtd.",
	    .signals = "reloads the admin token, the [upgrade] settings,\n"
		       "launch_retention, event_retention, the log level, the "
		       "forward\nsecret and the TLS certificate",
	    .imports = true,
	};
	struct daemon_opts opts;
	const char *path;
	bool check;
	struct gw gw;
	int err;

	log_init(info.name);
	if ((err = daemon_args(&info, argc, argv, &opts)) >= 0)
		return err;
	path = opts.path;
	check = opts.check;
	if (sodium_init() < 0)
		fatal("libsodium cannot initialise");

	memset(&gw, 0, sizeof(gw));
	gw.conf_path = path;
	pthread_mutex_init(&gw.lock, NULL);
	if (load(path, &gw.conf, &gw.admin_token) < 0) {
		gw_conf_free(&gw.conf);
		return 2;
	}
	if (check) {
		char *pw = NULL;

		if (daemon_storage_password(path, &gw.conf.storage, &pw) < 0) {
			gw_conf_free(&gw.conf);
			secret_free(gw.admin_token);
			return 2;
		}
		secret_free(pw);
		printf(
		    "%s: configuration is valid\n", path ? path : "(defaults)");
		gw_conf_free(&gw.conf);
		secret_free(gw.admin_token);
		return 0;
	}
	log_set_level((enum log_level)gw_conf_log_level(&gw.conf));
	if (opts.import != NULL) {
		err = daemon_import(
		    path, &gw.conf.storage, opts.import, import_copy);
		gw_conf_free(&gw.conf);
		secret_free(gw.admin_token);
		return err;
	}
	if (daemon_log_file(&gw.conf.server) < 0) {
		gw_conf_free(&gw.conf);
		secret_free(gw.admin_token);
		return 1;
	}
	gw_settings_from_conf(&gw.conf, &gw.settings);

	/* Before any thread: signals go to daemon_wait in this thread only,
	 * and libcurl's global state is set up once. */
	daemon_block_signals();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatal("libcurl cannot initialise");

	err = run(&gw);
	/* Parked requests are resumed (their batch committed) before MHD
	 * stops: it must not stop with suspended connections. */
	gcommit_stop(gw.commits);
	http_free(gw.http);
	gcommit_free(gw.commits);
	launchlog_stop(gw.launchlog);
	access_pruner_stop(gw.pruner);
	/* Nothing writes after the reaper: then nothing wakes the
	 * forwarder, which can go. */
	reaper_stop(gw.reaper);
	gw.outbox_kick = NULL;
	forward_stop(gw.forward);
	catalog_free(gw.catalog);
	store_close(gw.store);
	gw_conf_free(&gw.conf);
	secret_free(gw.admin_token);
	pthread_mutex_destroy(&gw.lock);
	curl_global_cleanup();
	if (err < 0) {
		log_err("stopped on error: %s", strerror(-err));
		return 1;
	}
	log_notice("stopped");
	return 0;
}
