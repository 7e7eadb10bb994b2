/* SPDX-License-Identifier: MIT */
/* The gateway daemon's context, configuration and handler entry points. */
#ifndef GW_GW_H
#define GW_GW_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"
#include "upgate/daemon.h"
#include "upgate/gcommit.h"
#include "upgate/http.h"

struct gw_conf {
	struct daemon_server server; /* [server], [log] file */
	struct daemon_storage storage;
	int64_t launch_retention; /* ms; 0: launch records are kept */
	int64_t event_retention;  /* ms; 0: finished upgrades' events kept */
	int64_t audit_retention;  /* ms; 0: audit lines are kept */
	char *token_file;
	int64_t session_timeout; /* ms */
	int64_t retry_backoff;	 /* ms */
	int64_t max_attempts;
	double halt_failure_rate;
	int64_t halt_min_samples;
	int64_t manifest_max_age; /* ms */
	char *mgmt_url;
	char *gateway_id;
	char *secret_file;
	int64_t forward_batch;
	int64_t forward_retry_initial; /* ms */
	int64_t forward_retry_max;     /* ms */
	int64_t forward_timeout;       /* ms */
	char *forward_ca_file;	       /* empty: the system's CAs */
	int log_level;		       /* index into the level names */
	bool token_file_set;	       /* named in the file, not defaulted */
};

/* Load path (NULL: defaults only). 0, or -EINVAL with *errors (malloc'd
 * "file:line: [section] key: problem" lines). gw_conf_free either way. */
int gw_conf_load(const char *path, struct gw_conf *c, char **errors);
void gw_conf_free(struct gw_conf *c);

/* The log level a config names (enum log_level). */
int gw_conf_log_level(const struct gw_conf *c);

/* What SIGHUP may change while running; copied out under the lock. */
struct gw_settings {
	int64_t session_timeout, retry_backoff, max_attempts;
	double halt_failure_rate;
	int64_t halt_min_samples;
	int64_t manifest_max_age;
	int64_t launch_retention;
	int64_t event_retention;
	char gateway_id[STORE_NAME_MAX + 1];
};

/* Read the optional "signed" and "signature" of a publish or rollback
 * body b and check the document says app, channel, version, rollback and
 * the artifacts arts (as in the body). Sets *doc, *sig (malloc'd) and
 * *serial when present. Returns 0 or a jv error. */
int gw_signed_parse(json_t *b, const char *app, const char *channel,
    const char *version, json_t *arts, bool rollback, char **doc, char **sig,
    int64_t *serial, struct jv_err *e);

struct reaper;
struct launchlog;
struct forward;
struct catalog;

/* The daemon context: one per process, passed to every handler. */
struct gw {
	struct gw_conf conf;
	struct store *store;	   /* releases, upgrades, the outbox */
	struct store_conn *writer; /* every write, in gw_write_begin/_end */
	struct gcommit *commits;   /* launches and reports: group commit */
	struct http_server *http;
	struct reaper *reaper;
	struct forward *forward;     /* NULL: forwarding off */
	struct launchlog *launchlog; /* batched launch statistics */
	struct catalog *catalog;     /* releases as launches read them */
	bool outbox_added;	     /* this write txn queued an outcome */
	/* Wakes whoever drains the outbox (the forwarder, as main.c sets
	 * it), after a commit that queued an outcome; NULL: nobody. */
	void (*outbox_kick)(void *arg);
	void *outbox_kick_arg;
	pthread_mutex_t lock;	      /* guards token and settings */
	char *admin_token;	      /* [admin] token_file's; NULL: none */
	struct access_store access;   /* tokens and the audit log */
	struct access_pruner *pruner; /* audit retention */
	struct gw_settings settings;
	const char *conf_path; /* NULL: defaults */
};

/* ctx.c: settings, auth, and the write transaction. */
void gw_settings_get(struct gw *gw, struct gw_settings *out);
void gw_settings_from_conf(const struct gw_conf *c, struct gw_settings *out);
int gw_authorize(
    void *gw, const char *token, size_t len, struct access_caller *out);
/* The gateway's store as the tokens and audit log code reaches it. */
void gw_access_init(struct gw *gw);
/* Take the writer and BEGIN IMMEDIATE; 0 or -errno (writer released). */
int gw_write_begin(struct gw *gw);
/* COMMIT when err is 0, else ROLLBACK; release the writer. Returns the
 * commit's error or err. A committed txn that queued an outcome (set
 * gw->outbox_added) calls gw->outbox_kick. */
int gw_write_end(struct gw *gw, int err);
/* gw_write_end for an admin change answered status (> 0; else not
 * logged here): its audit line goes in the same transaction. */
int gw_write_end_audited(struct gw *gw, struct req *rq, int status, int err);
/* Start the group committer on the writer (gw_write_begin/_end). */
int gw_commits_start(struct gw *gw);
/* run(arg) on the writer in the next group commit, for a worker thread
 * that may wait: returns once it is on disk (0) or undone (-errno).
 * After the group committer stopped (shutdown), in a transaction of its
 * own. */
int gw_write_run(struct gw *gw, int (*run)(void *), void *arg);

/* A request's writes on their way through the group commit: the first
 * member of the handler's state, so the state is what run() gets and
 * what req_state() gives back. */
struct gw_write {
	struct gcommit_job job; /* job.err: what run() returned */
	struct req *rq;
};

/* Park w->rq (state w, freed with state_free when the request ends) and
 * queue run(w) for the next batch; cont answers once it is on disk. */
void gw_write_submit(struct gw *gw, struct gw_write *w, int (*run)(void *),
    http_cont cont, void (*state_free)(void *));
/* Finish options from settings. */
void gw_finish_opts(const struct gw_settings *s, struct finish_opts *o);

/* render.c: JSON for API answers. All return new references or NULL. */
json_t *render_release(
    const struct release *r, const char *platform, bool with_counts);
/* r's artifacts (only platform's unless NULL) as a publish body has
 * them, with tar_sha256 and deltas where there are. */
json_t *render_artifacts(const struct release *r, const char *platform);
json_t *render_delta(const struct artifact_delta *d);
/* An offer of u; with a delta when a (u's artifact, NULL: unknown) has
 * one from u's from_version. */
json_t *render_offer(const struct upgrade *u, const struct artifact *a);
json_t *render_failure(const struct upgrade *u);
json_t *render_upgrade(const struct upgrade *u);
json_t *render_events(const struct upgrade_event *ev, size_t n);
json_t *render_time(int64_t ms);

/* catalog.c: each app/channel's releases (with artifacts, oldest first)
 * and rollback, cached between launch calls. Read-only to callers. */
struct catalog_view {
	struct release *releases;
	size_t n_releases;
	struct rollback *rollback; /* NULL: none */
};
int catalog_new(struct catalog **out);
void catalog_free(struct catalog *c);
/* app/channel's catalog as db's open read transaction sees it: the cached
 * copy when its catalog version is the snapshot's, else read now (and
 * kept). 0 and *out (give it back with catalog_put), or -errno. */
int catalog_get(struct catalog *c, struct store_conn *conn, const char *app,
    const char *channel, const struct catalog_view **out);
/* Give back a view from catalog_get, from any thread. NULL: nothing. */
void catalog_put(const struct catalog_view *v);
/* A value worked out from one view (a rendered manifest), kept with the
 * view and freed with it, so it follows every catalog change as the view
 * does. Callers bound the keys: one per platform a release has. */
struct catalog_memo {
	struct catalog_memo *next;
	char *value; /* NUL-terminated */
	size_t len;
	char tag[40];
	char key[];
};
/* The memo kept with v under key, or NULL. Any thread. */
const struct catalog_memo *catalog_memo_find(
    const struct catalog_view *v, const char *key);
/* Keep value (malloc'd, taken) and tag with v under key. Returns what is
 * kept: this memo, or the one another thread kept first (value is then
 * freed). NULL: out of memory. */
const struct catalog_memo *catalog_memo_add(const struct catalog_view *v,
    const char *key, char *value, size_t len, const char *tag);
void catalog_metrics(struct catalog *c, FILE *out);

/* reaper.c: times out upgrades past session_timeout. */
/* launchlog.c: launch statistics written in batches (a worker). */
int launchlog_start(struct gw *gw, struct launchlog **out);
/* Queue l (copied) for the next batch. Any thread; never blocks on I/O. */
void launchlog_add(struct launchlog *ll, const struct launch_rec *l);
/* Write what waits and stop. NULL: nothing. */
void launchlog_stop(struct launchlog *ll);

int reaper_start(struct gw *gw, struct reaper **out);
/* Finish every expired upgrade now; returns how many, or -errno. */
int reaper_run_once(struct gw *gw);
/* Finish u as timed_out at now inside the caller's write transaction.
 * Returns 0, -EALREADY when u was final already, or -errno. */
int reaper_expire(
    struct gw *gw, struct upgrade *u, int64_t now, const struct gw_settings *s);
void reaper_stop(struct reaper *r);

/* forward.c: the thread that drains the outbox to mgmtd's POST
 * /v1/outcomes. Start after the writer and readers exist; *out stays NULL
 * when [forward] mgmt_url is empty. Returns 0 or -errno. */
int forward_start(struct gw *gw, struct forward **out);
/* New outcomes are in the outbox: send them now rather than at the next
 * poll. Any thread; NULL does nothing. */
void forward_kick(struct forward *f);
/* Read the signing secret again before the next batch (SIGHUP). */
void forward_reload(struct forward *f);
/* Counters in Prometheus text; NULL writes zeros. */
void forward_metrics(struct forward *f, FILE *out);
/* Stop the thread (waits for a request in flight, bounded by its
 * timeout), free. NULL does nothing. */
void forward_stop(struct forward *f);

/* routes.c */
extern const struct http_route gw_routes[];
extern const size_t gw_n_routes;

/* Handlers (h_*.c). */
int h_readyz_get(struct req *r, struct resp *rs);
int h_metrics_get(struct req *r, struct resp *rs);
int h_releases_post(struct req *r, struct resp *rs);
int h_releases_get(struct req *r, struct resp *rs);
int h_release_patch(struct req *r, struct resp *rs);
int h_manifest_get(struct req *r, struct resp *rs);
int h_launch_post(struct req *r, struct resp *rs);
/* The launch answers given so far, by action and reason, in Prometheus
 * text. */
void h_launch_metrics(FILE *out);
int h_events_post(struct req *r, struct resp *rs);
int h_upgrade_get(struct req *r, struct resp *rs);
int h_rollback_post(struct req *r, struct resp *rs);
int h_rollback_get(struct req *r, struct resp *rs);
int h_upgrades_get(struct req *r, struct resp *rs);

#endif
