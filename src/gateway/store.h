/* SPDX-License-Identifier: MIT */
/* The gateway's storage: plain structs in and out, all SQL behind them. */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upgate/db.h"
#include "upgate/id.h"

#define STORE_NAME_MAX 128
#define STORE_MSG_MAX 1024
#define STORE_NOTES_MAX 4096
#define STORE_URL_MAX 2048

/* Upgrade states, in the order a report may move through them. */
enum upg_state {
	UPG_OFFERED,
	UPG_DOWNLOADING,
	UPG_DOWNLOADED,
	UPG_VERIFYING,
	UPG_INSTALLING,
	UPG_SUCCEEDED,
	UPG_FAILED,
	UPG_TIMED_OUT,
	UPG_STATE_COUNT
};

/* The database schema (migrations and every store's statements). */
extern const struct db_schema store_schema;

/* State names as the API spells them; parse returns 0 or -EINVAL. */
const char *store_state_name(enum upg_state s);
int store_state_parse(const char *name, enum upg_state *out);
bool store_state_final(enum upg_state s);

struct artifact {
	char platform[STORE_NAME_MAX + 1];
	char *url;
	int64_t size;
	char sha256[65];
};

struct release {
	int64_t id;
	char app[STORE_NAME_MAX + 1];
	char version[STORE_NAME_MAX + 1];
	char channel[STORE_NAME_MAX + 1];
	char *notes;
	int rollout_percent;
	bool mandatory, paused, yanked, halted;
	int64_t created_at, updated_at, halted_at; /* ms; 0: none */
	struct artifact *artifacts;
	size_t n_artifacts;
	int64_t counts[UPG_STATE_COUNT]; /* upgrades by state */
	/* Signed releases: the document as signed, its Ed25519 signature
	 * (base64) and serial; NULL/0 when unsigned. */
	char *signed_doc, *signature;
	int64_t serial;
};

/* Free what a release owns (not the struct). */
void store_release_fini(struct release *r);

/* Free an array of n releases from store_release_list. NULL: nothing. */
void store_release_free_list(struct release *list, size_t n);

/* The artifact for platform, or NULL. Borrowed from r. */
const struct artifact *store_release_artifact(
    const struct release *r, const char *platform);

/* An admin's rollback of app/channel to a release: clients on newer
 * versions (in the rollout) are offered it. */
struct rollback {
	char app[STORE_NAME_MAX + 1];
	char channel[STORE_NAME_MAX + 1];
	int64_t release_id;
	int rollout_percent;
	char *signed_doc, *signature; /* NULL when unsigned */
	int64_t serial;
	int64_t created_at;
};
void store_rollback_fini(struct rollback *rb);
/* The rollback of app/channel: 0, -ENOENT when none, -errno. */
int store_rollback_get(
    struct db *db, const char *app, const char *channel, struct rollback *out);
/* Make rb the rollback of its app/channel (replacing one). Write txn. */
int store_rollback_set(struct db *db, const struct rollback *rb);
/* End the rollback of app/channel. 0, or -ENOENT when there was none. */
int store_rollback_delete(struct db *db, const char *app, const char *channel);
/* The catalog's version: raised by every change to releases, artifacts
 * or rollbacks that a launch decision reads (not by outcome counters).
 * Inside a read transaction it dates that snapshot's catalog. */
int store_catalog_version(struct db *db, int64_t *out);

/* The highest serial used on app/channel by releases and rollbacks (0:
 * none). */
int store_serial_max(
    struct db *db, const char *app, const char *channel, int64_t *out);

/* Insert r with its artifacts and content (the canonical publish body used
 * to tell a same-content republish). Call inside a write transaction.
 * Returns 0 and r->id, -EEXIST when app/channel/version exists, -errno. */
int store_release_insert(struct db *db, struct release *r, const char *content);

/* Find app/channel/version. Returns 0 with *out (fini it) and, when content
 * is not NULL, a malloc'd copy of its content; -ENOENT; -errno. */
int store_release_find(struct db *db, const char *app, const char *channel,
    const char *version, struct release *out, char **content);

/* Channels that hold app/version: up to max names copied into names.
 * Returns the number found or -errno. */
int store_release_channels(struct db *db, const char *app, const char *version,
    char names[][STORE_NAME_MAX + 1], int max);

/* Releases of app (NULL: every app) on channel (NULL: every channel), with
 * artifacts, oldest first; counts filled when with_counts. Returns 0 and a
 * malloc'd array (free with store_release_free_list) or -errno. */
int store_release_list(struct db *db, const char *app, const char *channel,
    bool with_counts, struct release **out, size_t *n);

/* Change flags of release id; a negative value leaves a field as it is.
 * Resuming a halted release (halted 0) restarts its failure-rate window.
 * Returns 0 or -errno. Inside a write transaction. */
int store_release_update(struct db *db, int64_t id, int rollout_percent,
    int paused, int yanked, int halted, int64_t now);

struct upgrade {
	int64_t id; /* row id */
	char upgrade_id[ID_LEN + 1];
	char client_id[STORE_NAME_MAX + 1];
	char app[STORE_NAME_MAX + 1];
	char platform[STORE_NAME_MAX + 1];
	char channel[STORE_NAME_MAX + 1];
	char from_version[STORE_NAME_MAX + 1];
	char to_version[STORE_NAME_MAX + 1];
	int64_t release_id;
	enum upg_state state;
	int64_t last_seq;
	int progress;			 /* -1: not reported */
	int64_t download_ms, install_ms; /* -1: not reported */
	char error_code[65];
	char *message;				     /* NULL: none */
	int64_t created_at, updated_at, finished_at; /* finished 0: not */
	bool failure_told;
	/* What was offered, kept with the upgrade. */
	char *url;
	int64_t size;
	char sha256[65];
	char *notes;
	bool mandatory;
	bool rollback;		      /* offered as a rollback */
	char *signed_doc, *signature; /* what it was offered with, or NULL */
};

void store_upgrade_fini(struct upgrade *u);
void store_upgrade_free_list(struct upgrade *list, size_t n);

struct upgrade_event {
	int64_t seq;
	enum upg_state state;
	char error_code[65];		 /* "" none */
	char *message;			 /* NULL none */
	int progress;			 /* -1 none */
	int64_t download_ms, install_ms; /* -1 none */
	int64_t at;
};

void store_event_fini(struct upgrade_event *e);
void store_event_free_list(struct upgrade_event *list, size_t n);

/* Failed or timed-out attempts of one client at one release. */
struct fail_stat {
	int64_t release_id;
	int64_t failures;
	int64_t last_at;
};

/* What finishing an upgrade needs from configuration. */
struct finish_opts {
	const char *gateway_id;
	double halt_failure_rate;
	int64_t halt_min_samples;
};

/* The client's most recent upgrade of app. 0, -ENOENT or -errno. */
int store_upgrade_latest(
    struct db *db, const char *client_id, const char *app, struct upgrade *out);

/* Per-release failure counts of client for app. 0 or -errno; *out is
 * malloc'd (may be NULL when *n is 0). */
int store_upgrade_failures(struct db *db, const char *client_id,
    const char *app, struct fail_stat **out, size_t *n);

/* Insert a new offered upgrade (u->id set). -EEXIST when the client already
 * has an unfinished upgrade of that app. Inside a write transaction. */
int store_upgrade_insert(struct db *db, struct upgrade *u);

/* By public id. 0, -ENOENT, -errno. */
int store_upgrade_get(
    struct db *db, const char *upgrade_id, struct upgrade *out);

/* The same, without what was offered (url, notes and sha256 empty, no
 * signed document): what a progress report needs. */
int store_upgrade_get_brief(
    struct db *db, const char *upgrade_id, struct upgrade *out);

/* Events of upgrade row id in seq order. 0 or -errno. */
int store_upgrade_events(
    struct db *db, int64_t id, struct upgrade_event **out, size_t *n);

/* One event by seq. 0, -ENOENT, -errno. */
int store_upgrade_event_get(
    struct db *db, int64_t id, int64_t seq, struct upgrade_event *out);

/* Store event e of upgrade u and move u to e's state (not final states:
 * use store_upgrade_finish after); *u follows the row. Inside a write
 * transaction. */
int store_upgrade_event_add(
    struct db *db, struct upgrade *u, const struct upgrade_event *e);

/* Put u into final state with error code and message (may be NULL) at
 * now, queue its outcome in the outbox, count it for its release and halt
 * the release when it fails too often (*halted true then); *u follows the
 * row. Returns 0, -EALREADY when u was final already, -errno. Inside a
 * write transaction. */
int store_upgrade_finish(struct db *db, struct upgrade *u,
    enum upg_state state, const char *error_code, const char *message,
    int64_t now, const struct finish_opts *o, bool *halted);

/* Mark u's failure as told to the client. Returns 1 when this call marked
 * it, 0 when it had been told already, -errno. */
int store_upgrade_tell(struct db *db, int64_t id);

/* Up to max unfinished upgrades created at or before cutoff. Returns the
 * number written to ids, or -errno. */
int store_upgrade_expired(struct db *db, int64_t cutoff, int64_t *ids, int max);

/* By row id. 0, -ENOENT, -errno. */
int store_upgrade_get_row(struct db *db, int64_t id, struct upgrade *out);

struct upgrade_filter {
	const char *app, *client_id;
	int state;     /* -1: any */
	int64_t after; /* row id cursor, 0: from the newest */
	int limit;
};

/* Upgrades matching f, newest first. 0 or -errno; *out malloc'd. */
int store_upgrade_list(struct db *db, const struct upgrade_filter *f,
    struct upgrade **out, size_t *n);

/* Number of upgrades in each state. 0 or -errno. */
int store_upgrade_state_counts(struct db *db, int64_t counts[UPG_STATE_COUNT]);

struct launch_rec {
	int64_t at;
	const char *client_id, *app, *version, *platform, *channel;
	const char *action, *reason, *upgrade_id; /* reason, id: may be NULL */
};

/* Record n launch calls (l[0..n-1]). Inside a write transaction. */
int store_launch_insert(struct db *db, const struct launch_rec *l, size_t n);
/* Delete those of the max oldest launch records that were made before
 * (ms). Returns how many it deleted, or -errno. Inside a write txn. */
int store_launch_prune(struct db *db, int64_t before, int max);

/* store_outbox.c: outcomes waiting to be forwarded to mgmtd. */

/* Rows waiting in the outbox and the creation time of the oldest (0 when
 * empty). */
int store_outbox_depth(struct db *db, int64_t *rows, int64_t *oldest);

/* The oldest rows, as one ingest body {"outcomes": [...]}: at most max
 * rows and, past the first row, at most max_bytes. */
struct outbox_batch {
	int64_t first, last; /* outbox ids covered, inclusive */
	size_t n;	     /* rows; 0 when the outbox is empty */
	char *body;	     /* malloc'd, NUL-terminated; NULL when n == 0 */
	size_t len;
};

/* Fill out (free out->body) or return -errno. */
int store_outbox_batch(
    struct db *db, size_t max, size_t max_bytes, struct outbox_batch *out);

/* Remove rows first..last once mgmtd has them. Inside a write txn. */
int store_outbox_delete(struct db *db, int64_t first, int64_t last);

#endif
