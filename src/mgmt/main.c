/* SPDX-License-Identifier: MIT */
/* upgate-mgmtd: start-up, signals and orderly shutdown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "mg.h"
#include "upgate/daemon.h"
#include "upgate/log.h"
#include "upgate/secret.h"

#define DEFAULT_CONFIG "/etc/upgate/mgmt.conf"
#define DRAIN_MS 10000

/* Load path into a new config; print problems and return NULL. */
static struct mg_conf *
load(const char *path)
{
	struct mg_conf *c = calloc(1, sizeof(*c));
	char *errors = NULL;

	if (c == NULL) {
		fputs("configuration: out of memory\n", stderr);
		return NULL;
	}
	if (mg_conf_load(path, c, &errors) < 0) {
		fputs(
		    errors ? errors : "configuration: out of memory\n", stderr);
		free(errors);
		mg_conf_free(c);
		free(c);
		return NULL;
	}
	return c;
}

/* Say once what a missing secret or channel means for this run. */
static void
explain(const struct mg_conf *c)
{
	if (c->admin_token == NULL)
		log_warn("admin token file %s does not exist: admin endpoints "
			 "will answer 401",
		    c->token_file);
	if (c->ingest_secret == NULL)
		log_warn("ingest secret file %s does not exist: POST "
			 "/v1/outcomes will answer 401",
		    c->ingest_secret_file);
	if (c->smtp_host[0] == '\0')
		log_info("email: no smtp_host; alerts are written as .eml "
			 "files to %s",
		    c->spool_dir);
}

static void
on_hup(void *arg)
{
	struct mg *mg = arg;
	struct mg_conf *c = load(mg->conf_path);

	if (c == NULL) {
		log_err(
		    "SIGHUP: configuration invalid, keeping the running one");
		return;
	}
	log_set_level((enum log_level)mg_conf_log_level(c));
	daemon_tls_reload(mg->http, &c->server);
	explain(c);
	mg_conf_swap(mg, c);
	log_notice("SIGHUP: reloaded tokens, secrets and alert routing");
}

static int
open_store(struct mg *mg, unsigned threads)
{
	const struct daemon_storage *c = &mg->conf->storage;
	char *password = NULL;
	struct store_opts o = {
	    .database = c->database,
	    .url = c->url,
	    .readers = daemon_readers(c->readers, threads),
	    .cache_kib = (int)c->cache_kib,
	    .writer_cache_kib = (int)c->writer_cache_kib,
	};
	int err;

	if (daemon_storage_password(mg->conf_path, c, &password) < 0)
		return -EINVAL;
	o.password = password;
	err = store_open(
	    c->backend == DAEMON_POSTGRES ? &store_pg : &store_sqlite, &o,
	    &mg->store);
	secret_free(password);
	if (err < 0)
		return err;
	mg->writer = store_writer(mg->store);
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

static int
run(struct mg *mg)
{
	const struct mg_conf *c = mg->conf;
	unsigned threads = http_threads((unsigned)c->server.threads, 0);
	struct http_config hc;
	int err;

	if ((err = open_store(mg, threads)) < 0)
		return err;
	if ((err = alerter_start(mg, &mg->alerter)) < 0)
		return err;
	if (store_shared(mg->store) &&
	    (err = watcher_start(mg, &mg->watcher)) < 0)
		return err;
	mg_access_init(mg);
	mg->pruner = access_pruner_start(&mg->access, c->audit_retention);
	hc = (struct http_config){
	    DAEMON_HTTP_FIELDS(&c->server),
	    .threads = threads,
	    .routes = mg_routes,
	    .n_routes = mg_n_routes,
	    .ctx = mg,
	    .authorize = mg_authorize,
	    .access = &mg->access,
	    .verify = mg_verify,
	};
	return daemon_serve(&hc, daemon_storage_where(&c->storage), on_hup,
	    DRAIN_MS, &mg->http);
}

int
main(int argc, char **argv)
{
	static const struct daemon_info info = {
	    .name = "upgate-mgmtd",
	    .default_config = DEFAULT_CONFIG,
	    .about = "The upgate management daemon: archives every upgrade "
		     "outcome the gateways\nforward, alerts admins on "
		     "failures (email, SMS, dashboard pop-up) and\nanswers "
		     "queries and statistics.",
	    .signals = "reloads the admin token, the ingest secret, the\n"
		       "alert routing ([email], [sms], [webhook],\n"
		       "[alertmanager], [alerts]), the log level and the TLS\n"
		       "certificate",
	    .imports = true,
	};
	struct daemon_opts opts;
	const char *path;
	bool check;
	struct mg mg;
	struct mg_conf *c;
	int err;

	log_init(info.name);
	if ((err = daemon_args(&info, argc, argv, &opts)) >= 0)
		return err;
	path = opts.path;
	check = opts.check;
	if (sodium_init() < 0)
		fatal("libsodium cannot initialise");
	if ((c = load(path)) == NULL)
		return 2;
	if (check) {
		char *pw = NULL;

		if (daemon_storage_password(path, &c->storage, &pw) < 0) {
			mg_conf_free(c);
			free(c);
			return 2;
		}
		secret_free(pw);
		printf(
		    "%s: configuration is valid\n", path ? path : "(defaults)");
		mg_conf_free(c);
		free(c);
		return 0;
	}
	log_set_level((enum log_level)mg_conf_log_level(c));
	if (opts.import != NULL) {
		err =
		    daemon_import(path, &c->storage, opts.import, import_copy);
		mg_conf_free(c);
		free(c);
		return err;
	}
	if (daemon_log_file(&c->server) < 0) {
		mg_conf_free(c);
		free(c);
		return 1;
	}
	explain(c);

	memset(&mg, 0, sizeof(mg));
	mg.conf_path = path;
	pthread_mutex_init(&mg.lock, NULL);
	mg_conf_swap(&mg, c);

	/* Before any thread: signals go to daemon_wait in this thread only,
	 * and libcurl's global state is set up once. */
	daemon_block_signals();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatal("libcurl cannot initialise");

	err = run(&mg);
	/* The watcher and the alerter publish dashboard events to the
	 * server's streams: it is freed after them. */
	http_stop(mg.http);
	watcher_stop(mg.watcher);
	alerter_stop(mg.alerter);
	http_free(mg.http);
	access_pruner_stop(mg.pruner);
	store_close(mg.store);
	mg_conf_put(&mg, mg.conf);
	pthread_mutex_destroy(&mg.lock);
	curl_global_cleanup();
	if (err < 0) {
		log_err("stopped on error: %s", strerror(-err));
		return 1;
	}
	log_notice("stopped");
	return 0;
}
