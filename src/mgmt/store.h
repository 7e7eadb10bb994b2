/* SPDX-License-Identifier: MIT */
/* mgmtd's storage: the outcome archive and the alert queue, all SQL behind
 * plain structs. */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "upgate/db.h"
#include "upgate/id.h"

#define STORE_NAME_MAX 128

/* The database schema (migrations and every store's statements). */
extern const struct db_schema store_schema;

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
	const char *events;		 /* JSON array text */
	const char *detail;		 /* halt: JSON object text, else NULL */
	/* halt notices: the release's counts when it was halted */
	int64_t halt_finished, halt_failed;
	double halt_rate, halt_threshold;
	int64_t row; /* set by store_outcome_insert */
};

/* Archive o (received at now) and count it in its release's statistics.
 * Returns 0 when new (o->row set), 1 when its outcome_id was archived
 * before (nothing written), or -errno. Inside a write txn. */
int store_outcome_insert(struct db *db, struct outcome *o, int64_t now);

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
    struct db *db, struct outcome_filter *f, char **json, int64_t *next);

/* A time window holding more than n outcomes (100,000 unless set) is
 * not bounded by the ids it spans (for tests). */
void store_outcome_span_max(int64_t n);

/* One outcome with its events, as JSON object text; -ENOENT if unknown. */
int store_outcome_get(struct db *db, const char *outcome_id, char **json);

/* The outcomes the filter matches (limit 0: all), newest first, as CSV
 * rows written to out, after the header line when header; *last is the
 * id of the last row written (a cursor for f->after; 0: none), *n how
 * many were. */
int store_outcome_csv(struct db *db, struct outcome_filter *f,
    bool header, FILE *out, int64_t *last, int64_t *n);

/* {"app", "version", total, succeeded, failed, timed_out, failure_rate}
 * for every release (app NULL) or one app's, as JSON array text. */
int store_stats(struct db *db, const char *app, char **json);

/* Upgrade outcomes finished since (ms) in buckets of bucket_ms, for app
 * (NULL: all): a JSON array text of {start, succeeded, failed,
 * timed_out}, oldest first, empty buckets left out. */
int store_timeline(struct db *db, const char *app, int64_t since,
    int64_t bucket_ms, char **json);

/* For store_*.c: write st's rows (label1, label2, count) as the
 * Prometheus gauge name{l1="...",l2="..."} with its HELP and TYPE lines.
 * Returns 0 or -errno. */
int store_gauge(sqlite3_stmt *st, FILE *out, const char *name, const char *help,
    const char *l1, const char *l2);

/* Outcomes archived, by kind and result, for metrics. */
int store_outcome_counts(struct db *db, FILE *out);

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
int store_group_get(struct db *db, const char *app, const char *version,
    struct alert_group *out);
int store_group_put(struct db *db, const struct alert_group *g);
/* Up to max groups whose digest is due at now. Returns how many. */
int store_group_due(
    struct db *db, int64_t now, struct alert_group *out, int max);

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

int store_alert_insert(struct db *db, struct alert *a);

/* A delivery of alert row on channel (to recipient, "" for all) in state
 * "pending" or "sent". */
int store_delivery_add(struct db *db, int64_t alert, const char *channel,
    const char *recipient, const char *state, int64_t now);

/* The outcome at row waits for its release's digest. */
int store_outcome_wait(struct db *db, int64_t row);
/* Waiting outcomes of app/version now belong to alert row. */
int store_outcome_claim(
    struct db *db, const char *app, const char *version, int64_t alert);

/* A waiting failure, for a digest's text. Strings are malloc'd. */
struct waiting {
	char *client_id, *from_version, *error_code, *message, *upgrade_id;
	char *result;
	int64_t finished_at;
};
void store_waiting_free(struct waiting *w, size_t n);
/* The oldest max waiting failures of app/version (max 0: only count
 * them); *total counts all. Returns how many were filled or -errno. */
int store_outcome_waiting(struct db *db, const char *app, const char *version,
    struct waiting *out, int max, int64_t *total);

/* Failure and digest deliveries of app/version not yet sent become
 * "inhibited": the release's halt alert replaces them. Returns how many. */
int store_delivery_inhibit(
    struct db *db, const char *app, const char *version, int64_t now);

/* A delivery due for an attempt, with its alert's text (malloc'd). */
struct delivery {
	int64_t id;
	char channel[16];
	char recipient[STORE_NAME_MAX + 1];
	int64_t attempts;
	char alert_id[ID_LEN + 1];
	char *subject, *body, *sms;
	int64_t created_at;
};
void store_delivery_free(struct delivery *d, size_t n);
/* Up to max deliveries due at now, oldest first. Returns how many. */
int store_delivery_due(
    struct db *db, int64_t now, struct delivery *out, int max);
/* Record an attempt: sent, or failed with error and the next try at
 * next_at (state "failed" when permanent, else still "pending"). */
int store_delivery_done(struct db *db, int64_t id, bool ok, bool permanent,
    const char *error, int64_t now, int64_t next_at);
/* The earliest time anything is due (a delivery or a digest); 0: nothing. */
int store_next_due(struct db *db, int64_t *at);

/* Deliveries with their alert, newest first, as JSON array text, filtered
 * by state, channel and app (NULL: any); *next is the next page's cursor. */
int store_delivery_list(struct db *db, const char *state, const char *channel,
    const char *app, int64_t after, int64_t limit, char **json, int64_t *next);

/* Deliveries by channel and state, for metrics. */
int store_delivery_counts(struct db *db, FILE *out);

#endif
