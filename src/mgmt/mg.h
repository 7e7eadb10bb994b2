/* SPDX-License-Identifier: MIT */
/* The management daemon's context, configuration and handler entry points. */
#ifndef MG_MG_H
#define MG_MG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"
#include "upgate/daemon.h"
#include "upgate/http.h"

enum mg_starttls { MG_TLS_NO, MG_TLS_TRY, MG_TLS_REQUIRED };

struct mg_conf {
	struct daemon_server server; /* [server], [log] file */
	struct daemon_storage storage;
	char *token_file;
	int64_t audit_retention; /* ms; 0: audit lines are kept */
	char *ingest_secret_file;
	int64_t max_skew; /* ms */
	char *smtp_host;
	int64_t smtp_port;
	int starttls; /* enum mg_starttls */
	char *smtp_username;
	char *smtp_password_file;
	char *smtp_ca_file; /* "": the system's CAs */
	char *mail_from;
	char *mail_to; /* comma-separated */
	char *spool_dir;
	int64_t smtp_timeout; /* ms */
	char *sms_url;
	char *sms_to; /* comma-separated */
	char *sms_auth_file;
	int64_t sms_timeout;	     /* ms */
	char *webhook_url;	     /* "": no webhook channel */
	char *alertmanager_url;	     /* comma-separated; "": none */
	int64_t alertmanager_resend; /* ms: a halt alert kept firing */
	char *webhook_secret_file;
	int64_t group_window;	  /* ms */
	int64_t repeat_interval;  /* ms */
	int64_t retry_initial;	  /* ms */
	int64_t retry_max;	  /* ms */
	char *gateway_url;	  /* the dashboard's resume action; "" none */
	char *gateway_token_file; /* "": the admin token */
	char *gateway_ca_file;
	int64_t gateway_timeout; /* ms */
	int log_level;		 /* index into the level names */
	bool token_file_set;	 /* named in the file, not defaulted */
	/* Read from the files the config names, by mg_conf_load. */
	char *admin_token;    /* NULL: admin API refused */
	char *ingest_secret;  /* NULL: ingest refused */
	char *smtp_password;  /* NULL: no AUTH */
	char *sms_auth;	      /* "user:password" or NULL */
	char *webhook_secret; /* NULL: posts unsigned */
	char *gateway_token;  /* NULL: use admin_token */
	int refs;	      /* borrowers, under mg->lock (see mg_conf_get) */
};

/* Load path (NULL: defaults only) and the secrets it names. 0, or -EINVAL
 * with *errors (malloc'd lines "file:line: [section] key: problem").
 * mg_conf_free either way. */
int mg_conf_load(const char *path, struct mg_conf *c, char **errors);
void mg_conf_free(struct mg_conf *c);
int mg_conf_log_level(const struct mg_conf *c);

struct alerter;
struct watcher;

/* The daemon context: one per process, passed to every handler. */
struct mg {
	struct store *store;
	struct store_conn *writer; /* store_writer(store) */
	struct http_server *http;
	struct alerter *alerter;
	struct watcher *watcher; /* shared stores only */
	struct access_store access;	/* tokens and the audit log */
	struct access_pruner *pruner; /* audit retention */
	const char *conf_path;
	pthread_mutex_t lock; /* guards conf and the refs of every conf */
	struct mg_conf *conf; /* the running config (holds one ref) */
};

/* ctx.c */
/* Borrow the running config (it stays valid until mg_conf_put, even across
 * a SIGHUP reload). Any thread. */
struct mg_conf *mg_conf_get(struct mg *mg);
void mg_conf_put(struct mg *mg, struct mg_conf *c);
/* Make c (heap, loaded) the running config; the old one is freed when
 * its last borrower puts it back. */
void mg_conf_swap(struct mg *mg, struct mg_conf *c);
int mg_authorize(
    void *mg, const char *token, size_t len, struct access_caller *out);
/* The store as the tokens and audit log code reaches it. */
void mg_access_init(struct mg *mg);
int mg_verify(void *mg, const struct req *r, struct resp *rs);

/* alert.c: the alert workers. One turns due digests into alerts; one per
 * channel delivers that channel's pending deliveries, so that no channel
 * waits on another's. */
int alerter_start(struct mg *mg, struct alerter **out);
/* Called inside the ingest write txn for each new outcome: decide what
 * alerts it causes (grouping, inhibition) and store them. */
int alerter_on_outcome(struct mg *mg, const struct mg_conf *c,
    const struct outcome *o, int64_t now, bool *woke);
/* Something was queued: look now. Any thread. */
void alerter_kick(struct alerter *a);
/* A release's halt may have ended: tell Alertmanager now. */
void alerter_halts_changed(struct alerter *a);
void alerter_stop(struct alerter *a);

/* h_dash.c: call the gateway's admin API ([gateway] url and token):
 * path with method and body (NULL: none). 0 when it answered, with its
 * status and parsed JSON body (*answer, NULL when none); -ENOENT when
 * no gateway is configured, -EIO when it did not answer (why says). */
int mg_gateway(struct mg *mg, const char *method, const char *path,
    const char *body, long *status, json_t **answer, char *why, size_t len);

/* watch.c: with a store other daemons share, every outcome any of them
 * archives that dashboards show is announced on this daemon's streams,
 * and wakes its alert workers. */
int watcher_start(struct mg *mg, struct watcher **out);
void watcher_stop(struct watcher *w); /* NULL: nothing */

/* routes.c */
extern const struct http_route mg_routes[];
extern const size_t mg_n_routes;

/* Handlers (h_*.c). */
int h_readyz_get(struct req *r, struct resp *rs);
int h_metrics_get(struct req *r, struct resp *rs);
int h_outcomes_post(struct req *r, struct resp *rs);
int h_outcomes_get(struct req *r, struct resp *rs);
int h_outcomes_csv_get(struct req *r, struct resp *rs);
int h_outcome_get(struct req *r, struct resp *rs);
int h_stats_get(struct req *r, struct resp *rs);
/* h_dash.c: GET /v1/releases, the gateway's releases with their state,
 * for the dashboard. */
int h_releases_get(struct req *rq, struct resp *rs);
/* h_query.c: GET /v1/alerts/digests, digests waiting for their window. */
int h_digests_get(struct req *rq, struct resp *rs);
/* h_alert_test.c: POST /v1/alerts/test. */
int h_alerts_test_post(struct req *rq, struct resp *rs);
int h_alerts_get(struct req *r, struct resp *rs);
int h_timeline_get(struct req *r, struct resp *rs);
int h_asset_get(struct req *r, struct resp *rs);
int h_events_stream(struct req *r, struct resp *rs);
int h_halted_get(struct req *r, struct resp *rs);
int h_halted_resume(struct req *r, struct resp *rs);

/* Tell every open dashboard: an SSE frame of type event with json. */
void mg_announce(struct mg *mg, const char *event, const char *json);

#endif
