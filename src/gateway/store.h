/* SPDX-License-Identifier: MIT */
/* The gateway's storage: plain structs in and out, all SQL behind them. */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

struct store_ops;

/* A gateway's storage on one engine: its connections. Every engine's
 * struct starts with this. */
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
	const char *database; /* sqlite: the file (":memory:" allowed) */
	const char *url;      /* postgres: a libpq connection string */
	const char *password; /* postgres: NULL when none */
	size_t readers;	      /* read connections (0: the writer reads) */
	int cache_kib;	      /* sqlite: page cache of each reader */
	int writer_cache_kib; /* sqlite: the writer's */
};

/* The engines, each a table of functions; a handler never knows which
 * one it calls. The SQLite one is store_sqlite*.c, the PostgreSQL one
 * store_pg*.c. */
extern const struct store_ops store_sqlite;
extern const struct store_ops store_pg;

/* Open (creating and migrating the schema) the store ops describes.
 * Blocks; at start-up. 0 and *out, or -errno with the reason logged
 * (-EPROTO: a database of a newer schema or of another program). */
int store_open(const struct store_ops *ops, const struct store_opts *o,
    struct store **out);
/* Close every connection (all given back). NULL does nothing. */
void store_close(struct store *s);

/* Copy every table of from into to, which must hold no data yet, in one
 * transaction of to: -ENOTEMPTY (nothing changed) when it does, and
 * -EOPNOTSUPP when to's engine does not import (SQLite: one file is
 * copied whole). Blocks; for --import-sqlite. */
int store_import(struct store *to, struct store *from);

/* Borrow a read connection, waiting while all are in use; give it back
 * with store_reader_put from the same thread. Its reads may be a
 * snapshot kept from an earlier borrow while nothing changed. */
struct store_conn *store_reader_get(struct store *s);
void store_reader_put(struct store *s, struct store_conn *c);
/* The one write connection: use it inside store_txn_begin/_end only. */
struct store_conn *store_writer(struct store *s);
/* c as the shared tokens and audit log SQL needs it (access.h). */
struct access_conn;
void store_access(struct store_conn *c, struct access_conn *out);

/* A consistent read on a borrowed reader (ended when it is put back):
 * on SQLite one snapshot for every read until then; on PostgreSQL each
 * statement's own (READ COMMITTED), which is all a caller may rely on:
 * read a version before what it dates, and check again when writing. */
int store_begin_read(struct store_conn *c);
/* The writer's transaction: take it (lock) and begin, then commit when
 * err is 0, else roll back, and release. _end returns the commit's error
 * or err. */
int store_txn_begin(struct store_conn *c);
int store_txn_end(struct store_conn *c, int err);
/* A savepoint inside the writer's transaction; _end keeps its writes or
 * undoes them first. 0 or -errno. */
int store_savepoint(struct store_conn *c);
int store_savepoint_end(struct store_conn *c, bool keep);
/* The writer is about to write many rows it will not read again (bulk)
 * or is done with them: an engine may size its caches for it. */
int store_bulk(struct store_conn *c, bool bulk);

/* State names as the API spells them; parse returns 0 or -EINVAL. */
const char *store_state_name(enum upg_state s);
int store_state_parse(const char *name, enum upg_state *out);
bool store_state_final(enum upg_state s);

/* A patch to an artifact's tar from an older version's (SPEC "Delta
 * upgrades"). */
struct artifact_delta {
	char from[STORE_NAME_MAX + 1];
	char *url;
	int64_t size;
	char sha256[65];
};

struct artifact {
	char platform[STORE_NAME_MAX + 1];
	char *url;
	int64_t size;
	char sha256[65];
	char tar_sha256[65]; /* of the uncompressed tar; "" not given */
	struct artifact_delta *deltas;
	size_t n_deltas;
};

/* Free what a owns. */
void store_artifact_fini(struct artifact *a);

/* a's delta from version from, or NULL. Borrowed from a. */
const struct artifact_delta *store_artifact_delta(
    const struct artifact *a, const char *from);

/* a's deltas as the JSON text the engines keep ({"1.4.2": {"url",
 * "size", "sha256"}}; malloc'd), NULL when it has none; and the other
 * way (NULL or "": none). Returns 0, -ENOMEM or -EBADMSG. */
int store_deltas_text(const struct artifact *a, char **out);
int store_deltas_parse(struct artifact *a, const char *text);

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
int store_rollback_get(struct store_conn *c, const char *app,
    const char *channel, struct rollback *out);
/* Make rb the rollback of its app/channel (replacing one). Write txn. */
int store_rollback_set(struct store_conn *c, const struct rollback *rb);
/* End the rollback of app/channel. 0, or -ENOENT when there was none. */
int store_rollback_delete(
    struct store_conn *c, const char *app, const char *channel);
/* The catalog's version: raised by every change to releases, artifacts
 * or rollbacks that a launch decision reads (not by outcome counters).
 * Inside a read transaction it dates that snapshot's catalog. */
int store_catalog_version(struct store_conn *c, int64_t *out);

/* The highest serial used on app/channel by releases and rollbacks (0:
 * none). */
int store_serial_max(
    struct store_conn *c, const char *app, const char *channel, int64_t *out);

/* Insert r with its artifacts and content (the canonical publish body used
 * to tell a same-content republish). Call inside a write transaction.
 * Returns 0 and r->id, -EEXIST when app/channel/version exists, -errno. */
int store_release_insert(
    struct store_conn *c, struct release *r, const char *content);

/* Find app/channel/version. Returns 0 with *out (fini it) and, when content
 * is not NULL, a malloc'd copy of its content; -ENOENT; -errno. */
int store_release_find(struct store_conn *c, const char *app,
    const char *channel, const char *version, struct release *out,
    char **content);

/* Channels that hold app/version: up to max names copied into names.
 * Returns the number found or -errno. */
int store_release_channels(struct store_conn *c, const char *app,
    const char *version, char names[][STORE_NAME_MAX + 1], int max);

/* Releases of app (NULL: every app) on channel (NULL: every channel), with
 * artifacts, oldest first; counts filled when with_counts. Returns 0 and a
 * malloc'd array (free with store_release_free_list) or -errno. */
int store_release_list(struct store_conn *c, const char *app,
    const char *channel, bool with_counts, struct release **out, size_t *n);

/* Change flags of release id; a negative value leaves a field as it is.
 * Resuming a halted release (halted 0) restarts its failure-rate window.
 * Returns 0 or -errno. Inside a write transaction. */
int store_release_update(struct store_conn *c, int64_t id, int rollout_percent,
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
	/* A final report's: whether a delta made the artifact (-1: not
	 * said), and the bytes downloaded (-1: not said). Kept on the
	 * upgrade, for its outcome; not an event column. */
	int delta_used;
	int64_t bytes_downloaded;
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
int store_upgrade_latest(struct store_conn *c, const char *client_id,
    const char *app, struct upgrade *out);

/* Per-release failure counts of client for app. 0 or -errno; *out is
 * malloc'd (may be NULL when *n is 0). */
int store_upgrade_failures(struct store_conn *c, const char *client_id,
    const char *app, struct fail_stat **out, size_t *n);

/* Insert a new offered upgrade (u->id set). -EEXIST when the client already
 * has an unfinished upgrade of that app. Inside a write transaction. */
int store_upgrade_insert(struct store_conn *c, struct upgrade *u);

/* By public id. 0, -ENOENT, -errno. */
int store_upgrade_get(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out);

/* The same, without what was offered (url, notes and sha256 empty, no
 * signed document): what a progress report needs. */
int store_upgrade_get_brief(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out);

/* Events of upgrade row id in seq order. 0 or -errno. */
int store_upgrade_events(
    struct store_conn *c, int64_t id, struct upgrade_event **out, size_t *n);

/* One event by seq. 0, -ENOENT, -errno. */
int store_upgrade_event_get(
    struct store_conn *c, int64_t id, int64_t seq, struct upgrade_event *out);

/* Store event e of upgrade u and move u to e's state (not final states:
 * use store_upgrade_finish after); *u follows the row. Inside a write
 * transaction. */
int store_upgrade_event_add(
    struct store_conn *c, struct upgrade *u, const struct upgrade_event *e);

/* Put u into final state with error code and message (may be NULL) at
 * now, queue its outcome in the outbox, count it for its release and halt
 * the release when it fails too often (*halted true then); *u follows the
 * row. Returns 0, -EALREADY when u was final already, -errno. Inside a
 * write transaction. */
int store_upgrade_finish(struct store_conn *c, struct upgrade *u,
    enum upg_state state, const char *error_code, const char *message,
    int64_t now, const struct finish_opts *o, bool *halted);

/* Mark u's failure as told to the client. Returns 1 when this call marked
 * it, 0 when it had been told already, -errno. */
int store_upgrade_tell(struct store_conn *c, int64_t id);

/* Up to max unfinished upgrades created at or before cutoff. Returns the
 * number written to ids, or -errno. */
int store_upgrade_expired(
    struct store_conn *c, int64_t cutoff, int64_t *ids, int max);

/* By row id. 0, -ENOENT, -errno. */
int store_upgrade_get_row(
    struct store_conn *c, int64_t id, struct upgrade *out);

struct upgrade_filter {
	const char *app, *client_id;
	int state;     /* -1: any */
	int64_t after; /* row id cursor, 0: from the newest */
	int limit;
};

/* Upgrades matching f, newest first. 0 or -errno; *out malloc'd. */
int store_upgrade_list(struct store_conn *c, const struct upgrade_filter *f,
    struct upgrade **out, size_t *n);

/* Number of upgrades in each state. 0 or -errno. */
int store_upgrade_state_counts(
    struct store_conn *c, int64_t counts[UPG_STATE_COUNT]);

struct launch_rec {
	int64_t at;
	const char *client_id, *app, *version, *platform, *channel;
	const char *action, *reason, *upgrade_id; /* reason, id: may be NULL */
};

/* Record n launch calls (l[0..n-1]). Inside a write transaction. */
int store_launch_insert(
    struct store_conn *c, const struct launch_rec *l, size_t n);
/* What the pruning worker deletes when it is old: launch records, and
 * the events of finished upgrades (the upgrade keeps its final state,
 * error and timings; mgmtd's archive keeps the events). */
enum store_pruned { STORE_PRUNE_LAUNCHES, STORE_PRUNE_EVENTS };

/* Delete those of the max oldest launch records that were made before
 * (ms). Returns how many it deleted, or -errno. Inside a write txn. */
int store_launch_prune(struct store_conn *c, int64_t before, int max);
/* Delete the events of those of the max oldest upgrades that still have
 * events which finished before (ms). Returns how many events it
 * deleted, or -errno. Inside a write txn. */
int store_events_prune(struct store_conn *c, int64_t before, int max);

/* store_outbox.c: outcomes waiting to be forwarded to mgmtd. */

/* Rows waiting in the outbox and the creation time of the oldest (0 when
 * empty). */
int store_outbox_depth(struct store_conn *c, int64_t *rows, int64_t *oldest);

/* The oldest rows no other gateway holds, as one ingest body
 * {"outcomes": [...]}: at most max rows and, past the first row, at most
 * max_bytes. */
struct outbox_batch {
	int64_t *ids; /* outbox ids, ascending; malloc'd */
	size_t n;     /* rows; 0 when the outbox is empty */
	char *body;   /* malloc'd, NUL-terminated; NULL when n == 0 */
	size_t len;
};
void store_outbox_batch_fini(struct outbox_batch *b);

/* Claim a batch for lease ms (on a reader): another gateway sharing the
 * database skips claimed rows until the lease ends, so a gateway that
 * dies holding them strands nothing. Fill out (fini it) or -errno. */
int store_outbox_claim(struct store_conn *c, size_t max, size_t max_bytes,
    int64_t lease, struct outbox_batch *out);

/* Remove b's rows once mgmtd has them. Inside a write txn. */
int store_outbox_delete(struct store_conn *c, const struct outbox_batch *b);

/* End the claim on b's rows unsent (mgmtd refused or is away), so any
 * gateway may take them at its next try. On a reader. */
int store_outbox_release(struct store_conn *c, const struct outbox_batch *b);

#endif
