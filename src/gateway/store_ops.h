/* SPDX-License-Identifier: MIT */
/* The table of functions an engine gives the gateway's storage: one entry
 * per store_* call of store.h that reaches the database (store.c calls
 * through it; each engine fills one in, store_sqlite.c and store_pg.c).
 * The contracts are store.h's. */
#ifndef GW_STORE_OPS_H
#define GW_STORE_OPS_H

#include "store.h"
#include "upgate/access.h"

/* The tables an import copies, in an order their references allow, and
 * their columns: the same names on every engine. */
enum store_table {
	STORE_T_RELEASES,
	STORE_T_ARTIFACTS,
	STORE_T_ROLLBACKS,
	STORE_T_UPGRADES,
	STORE_T_EVENTS,
	STORE_T_OUTBOX,
	STORE_T_LAUNCHES,
	STORE_T_RELEASE_COUNTS,
	STORE_T_TOKENS, /* access.h */
	STORE_T_AUDIT,
	STORE_T_COUNT
};
#define STORE_COLS_RELEASES                                                    \
	"id, app, channel, version, notes, rollout_percent, mandatory,"        \
	" paused, yanked, halted, halted_at, content, created_at, updated_at," \
	" base_finished, base_failed, signed, signature, serial"
#define STORE_COLS_ARTIFACTS                                                   \
	"release_id, platform, url, size, sha256, tar_sha256, deltas"
#define STORE_COLS_ROLLBACKS                                                   \
	"app, channel, release_id, rollout_percent, signed, signature,"        \
	" serial, created_at"
#define STORE_COLS_UPGRADES                                                    \
	"id, upgrade_id, client_id, app, release_id, platform, channel,"       \
	" from_version, to_version, state, final, last_seq, progress,"         \
	" download_ms, install_ms, error_code, message, url, size, sha256,"    \
	" notes, mandatory, created_at, updated_at, finished_at,"              \
	" failure_told, signed, signature, rollback, delta_used,"              \
	" bytes_downloaded"
#define STORE_COLS_EVENTS                                                      \
	"upgrade, seq, state, error_code, message, progress, download_ms,"     \
	" install_ms, at"
#define STORE_COLS_OUTBOX "id, outcome_id, kind, body, created_at"
#define STORE_COLS_LAUNCHES                                                    \
	"id, at, client_id, app, version, platform, channel, action, reason,"  \
	" upgrade_id"
#define STORE_COLS_RELEASE_COUNTS                                              \
	"release_id, offered, downloading, downloaded, verifying, installing," \
	" succeeded, failed, timed_out"

/* The statements of the release stores. */
enum store_release_stmt {
	R_INSERT,
	R_ART_INSERT,
	R_FIND,
	R_FIND_ARTS,
	R_CHANNELS,
	R_LIST,
	R_LIST_ARTS,
	R_COUNTS,
	R_UPDATE,
	R_HALT,
	R_RESUME,
	R_RB_GET,
	R_RB_SET,
	R_RB_DELETE,
	R_SERIAL_MAX,
	R_CATALOG_VERSION,
	R_COUNT
};

/* What read_release reads, in order. */
#define RELEASE_COLS                                                           \
	"id, app, channel, version, notes, rollout_percent, "                  \
	"mandatory, paused, yanked, halted, created_at, updated_at, "          \
	"halted_at,"                                                           \
	" signed, signature, serial"

/* The statements of the upgrade stores, in their tables' order. */
enum store_upgrade_stmt {
	U_LATEST,
	U_FAILS,
	U_INSERT,
	U_GET,
	U_GET_BRIEF,
	U_GET_ROW,
	U_EVENTS,
	U_EVENT_GET,
	U_EVENT_INSERT,
	U_ADVANCE,
	U_FINISH,
	U_HALT_WINDOW,
	U_OUTBOX_OUTCOME,
	U_HALT,
	U_OUTBOX_HALT,
	U_TELL,
	U_EXPIRED,
	U_LIST, /* the forms store_upgrade_list_form() picks */
	U_LIST_CLIENT,
	U_LIST_APP,
	U_LIST_FAILED,
	U_LIST_APP_FAILED,
	U_STATE_COUNTS,
	U_STATE_MOVE,
	U_COUNT
};

/* The form of U_LIST that f's query takes: one an index answers,
 * newest first, whatever the filter leaves rare. */
int store_upgrade_list_form(const struct upgrade_filter *f);

/* store_*_launch.c's statements. */
enum {
	L_INSERT,
	L_INSERT_MANY,
	L_PRUNE_LAUNCHES, /* by enum store_pruned, in its order */
	L_PRUNE_EVENTS,
	L_COUNT
};

/* read_upgrade's columns: the upgrade's state, then what was offered. */
#define UPGRADE_STATE_COLS                                                     \
	"id, upgrade_id, client_id, app, platform, channel,"                   \
	" from_version, to_version, release_id, state, last_seq, progress,"    \
	" download_ms, install_ms, error_code, message, created_at,"           \
	" updated_at, finished_at, failure_told"
#define UPGRADE_COLS                                                           \
	UPGRADE_STATE_COLS ", url, size, sha256, notes, mandatory, rollback,"  \
			   " signed, signature"
#define EVENT_COLS                                                             \
	"seq, state, error_code, message, progress, download_ms,"              \
	" install_ms, at"

/* The release with id in list (sorted by id), or NULL. */
struct release *store_release_by_id(struct release *list, size_t n, int64_t id);

/* Put outbox row id (an outcome's JSON, n bytes) into b (ids with room
 * for it) and its body, unless the body would pass max_bytes (the first
 * row always goes in). 1: added, 0: full, -ENOMEM. store_batch_end
 * closes the body and hands it to b (body is empty after). */
struct buf;
int store_batch_add(struct outbox_batch *b, struct buf *body, int64_t id,
    const char *row, size_t n, size_t max_bytes);
int store_batch_end(struct outbox_batch *b, struct buf *body);

/* One row of a table as text values (NULL: SQL NULL). */
typedef int (*store_row_fn)(void *arg, const char *const *vals, int n);

struct store_ops {
	const char *name;

	/* Connections and transactions. */
	int (*open)(const struct store_opts *o, struct store **out);
	void (*close)(struct store *s);
	struct store_conn *(*reader_get)(struct store *s);
	void (*reader_put)(struct store *s, struct store_conn *c);
	struct store_conn *(*writer)(struct store *s);
	/* c as the tokens and audit log SQL (access.h) needs it. */
	void (*access)(struct store_conn *c, struct access_conn *out);
	int (*begin_read)(struct store_conn *c);
	int (*txn_begin)(struct store_conn *c);
	int (*txn_end)(struct store_conn *c, int err);
	int (*savepoint)(struct store_conn *c);
	int (*savepoint_end)(struct store_conn *c, bool keep);
	int (*bulk)(struct store_conn *c, bool bulk);
	/* Call row() for every row of table t (as an import's source). */
	int (*rows)(
	    struct store *s, enum store_table t, store_row_fn row, void *arg);
	int (*import)(struct store *to, struct store *from);

	/* Releases and rollbacks. */
	int (*rollback_get)(struct store_conn *c, const char *app,
	    const char *channel, struct rollback *out);
	int (*rollback_set)(struct store_conn *c, const struct rollback *rb);
	int (*rollback_delete)(
	    struct store_conn *c, const char *app, const char *channel);
	int (*catalog_version)(struct store_conn *c, int64_t *out);
	int (*serial_max)(struct store_conn *c, const char *app,
	    const char *channel, int64_t *out);
	int (*release_insert)(
	    struct store_conn *c, struct release *r, const char *content);
	int (*release_find)(struct store_conn *c, const char *app,
	    const char *channel, const char *version, struct release *out,
	    char **content);
	int (*release_channels)(struct store_conn *c, const char *app,
	    const char *version, char names[][STORE_NAME_MAX + 1], int max);
	int (*release_list)(struct store_conn *c, const char *app,
	    const char *channel, bool with_counts, struct release **out,
	    size_t *n);
	int (*release_update)(struct store_conn *c, int64_t id,
	    int rollout_percent, int paused, int yanked, int halted,
	    int64_t now);

	/* Upgrades and their events. */
	int (*upgrade_latest)(struct store_conn *c, const char *client_id,
	    const char *app, struct upgrade *out);
	int (*upgrade_failures)(struct store_conn *c, const char *client_id,
	    const char *app, struct fail_stat **out, size_t *n);
	int (*upgrade_insert)(struct store_conn *c, struct upgrade *u);
	int (*upgrade_get)(
	    struct store_conn *c, const char *upgrade_id, struct upgrade *out);
	int (*upgrade_get_brief)(
	    struct store_conn *c, const char *upgrade_id, struct upgrade *out);
	int (*upgrade_get_row)(
	    struct store_conn *c, int64_t id, struct upgrade *out);
	int (*upgrade_events)(struct store_conn *c, int64_t id,
	    struct upgrade_event **out, size_t *n);
	int (*upgrade_event_get)(struct store_conn *c, int64_t id, int64_t seq,
	    struct upgrade_event *out);
	/* The next three write the rows only: u (as it was read) is
	 * brought up to date by store.c once they succeed. insert sets
	 * u->id. */
	int (*upgrade_event_add)(struct store_conn *c, const struct upgrade *u,
	    const struct upgrade_event *e);
	int (*upgrade_finish)(struct store_conn *c, const struct upgrade *u,
	    enum upg_state state, const char *error_code, const char *message,
	    int64_t now, const struct finish_opts *o, bool *halted);
	int (*upgrade_tell)(struct store_conn *c, int64_t id);
	int (*upgrade_expired)(
	    struct store_conn *c, int64_t cutoff, int64_t *ids, int max);
	int (*upgrade_list)(struct store_conn *c,
	    const struct upgrade_filter *f, struct upgrade **out, size_t *n);
	int (*upgrade_state_counts)(
	    struct store_conn *c, int64_t counts[UPG_STATE_COUNT]);
	int (*launch_insert)(
	    struct store_conn *c, const struct launch_rec *l, size_t n);
	int (*prune)(struct store_conn *c, enum store_pruned what,
	    int64_t before, int max);

	/* The outbox. */
	int (*outbox_depth)(
	    struct store_conn *c, int64_t *rows, int64_t *oldest);
	int (*outbox_claim)(struct store_conn *c, size_t max, size_t max_bytes,
	    int64_t lease, struct outbox_batch *out);
	int (*outbox_delete)(
	    struct store_conn *c, const struct outbox_batch *b);
	int (*outbox_release)(
	    struct store_conn *c, const struct outbox_batch *b);
};

#endif
