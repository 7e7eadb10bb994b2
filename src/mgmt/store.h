/* SPDX-License-Identifier: MIT */
/* mgmtd's storage: the outcome archive and the alert queue, all SQL behind
 * plain structs, on SQLite (store_sqlite*.c) or PostgreSQL (store_pg*.c). */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "upgate/id.h"

#define STORE_NAME_MAX 128

struct store_ops;

/* mgmtd's storage on one engine: its connections. Every engine's struct
 * starts with this. */
struct store {
	const struct store_ops *ops;
};

/* One connection of a store: one thread at a time. Every engine's
 * connection starts with this. */
struct store_conn {
	const struct store_ops *ops;
};

/* What opening a store needs from [storage]. */
struct store_opts {
	const char *database; /* sqlite: the file */
	const char *url;      /* postgres: a libpq connection string */
	const char *password; /* postgres: NULL when none */
	size_t readers;	      /* read connections (0: one) */
	int cache_kib;	      /* sqlite: page cache of each reader */
	int writer_cache_kib; /* sqlite: the writer's */
};

/* The engines; a handler never knows which one it calls. */
extern const struct store_ops store_sqlite;
extern const struct store_ops store_pg;

/* Open (creating and migrating the schema) the store ops describes.
 * Blocks; at start-up. 0 and *out, or -errno with the reason logged. */
int store_open(const struct store_ops *ops, const struct store_opts *o,
    struct store **out);
/* Close every connection (all given back). NULL does nothing. */
void store_close(struct store *s);

/* Copy every table of from into to, which must hold no data yet, in one
 * transaction of to: -ENOTEMPTY (nothing changed) when it does, and
 * -EOPNOTSUPP when to's engine does not import. For --import-sqlite. */
int store_import(struct store *to, struct store *from);

/* Borrow a read connection, waiting while all are in use; give it back
 * from the same thread. */
struct store_conn *store_reader_get(struct store *s);
void store_reader_put(struct store *s, struct store_conn *c);
/* The one write connection: use it inside store_txn_begin/_end only. */
struct store_conn *store_writer(struct store *s);
/* c as the shared tokens and audit log SQL needs it (access.h). */
struct access_conn;
void store_access(struct store_conn *c, struct access_conn *out);
/* The writer's transaction: take it (lock) and begin; then commit when
 * err is 0, else roll back, and release. _end returns the commit's error
 * or err (-EBUSY: a deadlock with another daemon; run it again). */
int store_txn_begin(struct store_conn *c);
int store_txn_end(struct store_conn *c, int err);

/* Other daemons share s (PostgreSQL): what one of them archives is
 * learnt through store_watch, not only from this daemon's own ingest. */
bool store_shared(const struct store *s);

/* What store_watch reports: an outcome archived by any daemon sharing
 * the store that dashboards show (a failure or a halt), or a token
 * revoked by any of them (event "revoked", outcome_id its name). */
typedef void (*store_watch_fn)(
    void *arg, const char *event, const char *outcome_id);
/* Wait up to timeout_ms for such outcomes and report each to fn. Blocks;
 * one thread. 0, or -errno (-EIO: the database is away; call again,
 * it reconnects; -EOPNOTSUPP: an engine no other daemon shares). */
int store_watch(struct store *s, int timeout_ms, store_watch_fn fn, void *arg);
/* Whether store_watch hears what other daemons archive now (its last
 * wait found the database; always true for an engine not shared). Any
 * thread. */
bool store_watching(const struct store *s);

/* A rollback is an upgrade to a lower version: counted and alerted the
 * same, archived with its own kind. */
enum outcome_kind { OUTCOME_UPGRADE, OUTCOME_HALT, OUTCOME_ROLLBACK };

/* One outcome as ingested. Strings are borrowed (from the request); NULL
 * where absent. */
struct outcome {
	enum outcome_kind kind;
	const char *outcome_id, *gateway_id, *upgrade_id, *client_id;
	const char *app, *platform, *channel, *from_version, *to_version;
	const char *result; /* succeeded, failed, timed_out; halted */
	const char *error_code, *message;
	int64_t started_at, finished_at; /* ms; 0 unknown */
	int64_t download_ms, install_ms; /* -1 unknown */
	/* How the bytes came (SPEC "Delta upgrades"): a delta or not (-1
	 * unknown), how many were downloaded and the whole artifact's
	 * size (-1 unknown). */
	int delta_used;
	int64_t bytes_downloaded, artifact_size;
	const char *events; /* JSON array text */
	const char *detail; /* halt: JSON object text, else NULL */
	/* halt notices: the release's counts when it was halted */
	int64_t halt_finished, halt_failed;
	double halt_rate, halt_threshold;
	int64_t row; /* set by store_outcome_insert */
};

/* What o adds to its release's bytes downloaded, and to the bytes its
 * delta saved (the whole artifact's size less what came; 0 without a
 * delta or when a number is unknown). */
int64_t store_outcome_downloaded(const struct outcome *o);
int64_t store_outcome_saved(const struct outcome *o);

/* Archive o (received at now) and count it in its release's statistics.
 * Returns 0 when new (o->row set), 1 when its outcome_id was archived
 * before (nothing written), or -errno. Inside a write txn. */
int store_outcome_insert(struct store_conn *c, struct outcome *o, int64_t now);

/* Query filters; NULL/0 means "any". after is a cursor from a previous
 * page (the archive row id). Zero the rest: the store keeps there, from
 * a filter's first query on, the ids its time window spans, so an
 * export's later pages do not count the window again. */
struct outcome_filter {
	const char *app, *version, *result, *client_id, *kind;
	int64_t since, until; /* ms, on finished_at */
	int64_t after;
	int64_t limit;
	bool spanned;
	int64_t lo, hi;
};

/* A page of outcomes, newest first, as a JSON array text (malloc'd) and
 * the cursor of the next page (0: none). */
int store_outcome_list(
    struct store_conn *c, struct outcome_filter *f, char **json, int64_t *next);

/* One outcome with its events, as JSON object text; -ENOENT if unknown. */
int store_outcome_get(
    struct store_conn *c, const char *outcome_id, char **json);

/* The outcomes the filter matches (limit 0: all), newest first, as CSV
 * rows written to out, after the header line when header; *last is the
 * id of the last row written (a cursor for f->after; 0: none), *n how
 * many were. */
int store_outcome_csv(struct store_conn *c, struct outcome_filter *f,
    bool header, FILE *out, int64_t *last, int64_t *n);

/* {"app", "version", total, succeeded, failed, timed_out, failure_rate}
 * for every release (app NULL) or one app's, as JSON array text. */
int store_stats(struct store_conn *c, const char *app, char **json);

/* Upgrade outcomes finished since (ms) in buckets of bucket_ms, for app
 * (NULL: all): a JSON array text of {start, succeeded, failed,
 * timed_out}, oldest first, empty buckets left out. */
int store_timeline(struct store_conn *c, const char *app, int64_t since,
    int64_t bucket_ms, char **json);

/* Outcomes archived, by kind and result, for metrics. */
int store_outcome_counts(struct store_conn *c, FILE *out);

/* Alert grouping state of one release (app, to_version). */
struct alert_group {
	char app[STORE_NAME_MAX + 1];
	char version[STORE_NAME_MAX + 1];
	int64_t announced_at; /* last announcement; 0 never */
	int64_t window_end;   /* failures before this join the open window */
	int64_t pending;      /* failures waiting for the digest */
	int64_t due_at;	      /* when that digest goes; 0 none */
};

/* The group of app/version, zeroed (with names) when none yet. */
int store_group_get(struct store_conn *c, const char *app, const char *version,
    struct alert_group *out);
int store_group_put(struct store_conn *c, const struct alert_group *g);
/* Up to max groups whose digest is due at now. Returns how many. */
int store_group_due(
    struct store_conn *c, int64_t now, struct alert_group *out, int max);

/* One message to admins, rendered once and stored with its deliveries. */
struct alert {
	char alert_id[ID_LEN + 1];
	const char *kind; /* failure, digest, halt */
	const char *app, *version, *outcome_id;
	int64_t failures;
	const char *subject, *body, *sms;
	int64_t created_at;
	int64_t row; /* set by store_alert_insert */
};

int store_alert_insert(struct store_conn *c, struct alert *a);

/* A delivery of alert row on channel (to recipient, "" for all) in state
 * "pending" or "sent". */
int store_delivery_add(struct store_conn *c, int64_t alert, const char *channel,
    const char *recipient, const char *state, int64_t now);

/* The outcome at row waits for its release's digest. */
int store_outcome_wait(struct store_conn *c, int64_t row);
/* Waiting outcomes of app/version now belong to alert row. */
int store_outcome_claim(
    struct store_conn *c, const char *app, const char *version, int64_t alert);

/* A waiting failure, for a digest's text. Strings are malloc'd. */
struct waiting {
	char *client_id, *from_version, *error_code, *message, *upgrade_id;
	char *result;
	int64_t finished_at;
};
void store_waiting_free(struct waiting *w, size_t n);
/* The oldest max waiting failures of app/version (max 0: only count
 * them); *total counts all. Returns how many were filled or -errno. */
int store_outcome_waiting(struct store_conn *c, const char *app,
    const char *version, struct waiting *out, int max, int64_t *total);

/* Failure and digest deliveries of app/version not yet sent become
 * "inhibited": the release's halt alert replaces them. Returns how many. */
int store_delivery_inhibit(
    struct store_conn *c, const char *app, const char *version, int64_t now);

/* A delivery due for an attempt, with its alert's text (malloc'd). */
struct delivery {
	int64_t id;
	char channel[16];
	char recipient[STORE_NAME_MAX + 1];
	int64_t attempts;
	char alert_id[ID_LEN + 1];
	char *subject, *body, *sms;
	int64_t created_at;
	/* The alert's kind, release (and its channel, "" unknown), how many
	 * failures it tells of, and their upgrade ids as a JSON array text
	 * (malloc'd): what webhook and Alertmanager posts carry. */
	char kind[16];
	char app[STORE_NAME_MAX + 1];
	char version[STORE_NAME_MAX + 1];
	char release_channel[STORE_NAME_MAX + 1];
	int64_t failures;
	char *upgrade_ids;
};
void store_delivery_free(struct delivery *d, size_t n);
/* Claim up to max deliveries on channel due at now, oldest first, for
 * lease ms:
 * another daemon sharing the store skips them until the lease ends or
 * they are recorded, so one that dies holding them strands nothing.
 * Returns how many. */
int store_delivery_due(struct store_conn *c, const char *channel, int64_t now,
    int64_t lease, struct delivery *out, int max);
/* Record an attempt: sent, or failed with error and the next try at
 * next_at (state "failed" when permanent, else still "pending"). */
int store_delivery_done(struct store_conn *c, int64_t id, bool ok,
    bool permanent, const char *error, int64_t now, int64_t next_at);
/* The earliest time anything is due: a delivery or a digest (channel
 * NULL), a delivery on channel, or a digest (channel "digest"); 0:
 * nothing. */
int store_next_due(struct store_conn *c, const char *channel, int64_t *at);

/* Digests waiting for their release's group window (app, version,
 * failures, due_at), soonest first, at most limit, as JSON array text. */
int store_digest_list(struct store_conn *c, int64_t limit, char **json);

/* Deliveries with their alert, newest first, as JSON array text, filtered
 * by state, channel and app (NULL: any); *next is the next page's cursor. */
int store_delivery_list(struct store_conn *c, const char *state,
    const char *channel, const char *app, int64_t after, int64_t limit,
    char **json, int64_t *next);

/* Up to max halt alerts not resolved yet, oldest first, as deliveries
 * whose id is the alert's row (no channel or recipient). Returns how
 * many. */
int store_halts_open(struct store_conn *c, struct delivery *out, int max);
/* Halt alert row ended at now: its release was resumed. */
int store_halt_resolved(struct store_conn *c, int64_t alert, int64_t now);

/* Deliveries by channel and state, for metrics. */
int store_delivery_counts(struct store_conn *c, FILE *out);

#endif
