/* SPDX-License-Identifier: MIT */
/* All SQL for upgrades and their events. Launch records and pruning
 * are store_sqlite_launch.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"

#define RFC3339(x) DB_RFC3339(x)
/* The outcome mgmtd archives (SPEC "Outcomes"), from upgrade row u: ?1 is
 * its outcome_id, ?2 the gateway_id. Its events in seq order, from e. */
#define E_AT RFC3339("e.at")
#define U_STARTED RFC3339("u.created_at")
#define U_FINISHED RFC3339("u.finished_at")
#define OUTCOME_EVENTS                                                         \
	"json((SELECT json_group_array(json_object("                           \
	"   'seq', e.seq, 'state', e.state, 'at', " E_AT ","                   \
	"   'error_code', e.error_code, 'message', e.message,"                 \
	"   'progress', e.progress))"                                          \
	"   FROM (SELECT * FROM events WHERE upgrade = u.id ORDER BY seq) e))"
#define OUTCOME_JSON                                                           \
	"json_object("                                                         \
	" 'outcome_id', ?1, 'gateway_id', ?2, 'upgrade_id', u.upgrade_id,"     \
	" 'kind', CASE WHEN u.rollback THEN 'rollback' ELSE 'upgrade' END,"    \
	" 'client_id', u.client_id, 'app', u.app, 'platform', u.platform,"     \
	" 'channel', u.channel, 'from_version', u.from_version,"               \
	" 'to_version', u.to_version, 'result', u.state,"                      \
	" 'error_code', u.error_code, 'message', u.message,"                   \
	" 'started_at', " U_STARTED ", 'finished_at', " U_FINISHED ","         \
	" 'download_ms', u.download_ms, 'install_ms', u.install_ms,"           \
	" 'delta_used', CASE WHEN u.delta_used IS NULL THEN NULL"              \
	"   WHEN u.delta_used THEN json('true') ELSE json('false') END,"       \
	" 'bytes_downloaded', u.bytes_downloaded, 'artifact_size', u.size,"    \
	" 'events', " OUTCOME_EVENTS " )"

#define UPGRADE_LIST_ON(ix, app, client, failed)                               \
	"SELECT " UPGRADE_COLS " FROM upgrades" ix " WHERE " app               \
	" AND " client " AND (?3 IS NULL OR state = ?3) AND id < ?4" failed    \
	" ORDER BY id DESC LIMIT ?5"
#define UPGRADE_LIST(app, client) UPGRADE_LIST_ON("", app, client, "")
/* Failures read from the partial indexes of schema 7, which hold
 * failed and timed-out upgrades only: a state rare in the app (or in
 * all of them) is found without reading the rest. */
#define FAILED " AND state IN ('failed', 'timed_out')"

/* release_counts has a column per state, in this order (migration 4). */
_Static_assert(UPG_STATE_COUNT == 8, "a release_counts column per state");

static const char *const sql[U_COUNT] = {
    [U_LATEST] = "SELECT " UPGRADE_COLS " FROM upgrades"
		 " WHERE client_id = ?1 AND app = ?2 ORDER BY id DESC LIMIT 1",
    [U_FAILS] = "SELECT release_id, count(*), max(finished_at)"
		" FROM upgrades WHERE client_id = ?1 AND app = ?2"
		" AND state IN ('failed', 'timed_out') GROUP BY release_id",
    [U_INSERT] =
	"INSERT INTO upgrades (upgrade_id, client_id, app,"
	" release_id, platform, channel, from_version, to_version, state,"
	" url, size, sha256, notes, mandatory, created_at, updated_at,"
	" rollback, signed, signature)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'offered', ?9, ?10, ?11,"
	" ?12, ?13, ?14, ?14, ?15, ?16, ?17)",
    [U_GET] = "SELECT " UPGRADE_COLS " FROM upgrades WHERE upgrade_id = ?1",
    /* The same columns in the same places, less what was offered (URL,
     * notes, the signed document): what a report changes and answers. */
    [U_GET_BRIEF] = "SELECT " UPGRADE_STATE_COLS ", '', 0, '', '',"
		    " mandatory, rollback, NULL, NULL FROM upgrades"
		    " WHERE upgrade_id = ?1",
    [U_GET_ROW] = "SELECT " UPGRADE_COLS " FROM upgrades WHERE id = ?1",
    [U_EVENTS] = "SELECT " EVENT_COLS " FROM events WHERE upgrade = ?1"
		 " ORDER BY seq",
    [U_EVENT_GET] = "SELECT " EVENT_COLS " FROM events"
		    " WHERE upgrade = ?1 AND seq = ?2",
    [U_EVENT_INSERT] =
	"INSERT INTO events (upgrade, seq, state,"
	" error_code, message, progress, download_ms, install_ms, at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [U_ADVANCE] = "UPDATE upgrades SET state = ?2,"
		  " last_seq = max(last_seq, ?3),"
		  " progress = coalesce(?4, progress),"
		  " download_ms = coalesce(?5, download_ms),"
		  " install_ms = coalesce(?6, install_ms), updated_at = ?7,"
		  " delta_used = coalesce(?8, delta_used),"
		  " bytes_downloaded = coalesce(?9, bytes_downloaded)"
		  " WHERE id = ?1 AND final = 0",
    [U_FINISH] =
	"UPDATE upgrades SET state = ?2, final = 1,"
	" error_code = ?3, message = ?4, finished_at = ?5, updated_at = ?5"
	" WHERE id = ?1 AND final = 0",
    /* The release's finished and failed upgrades since it was last
     * resumed (its halt window), counts as this transaction left them. */
    [U_HALT_WINDOW] =
	"SELECT c.succeeded + c.failed + c.timed_out - r.base_finished,"
	" c.failed + c.timed_out - r.base_failed, r.halted"
	" FROM release_counts c JOIN releases r ON r.id = c.release_id"
	" WHERE c.release_id = ?1",
    [U_OUTBOX_OUTCOME] = "INSERT INTO outbox (outcome_id, kind, body,"
			 " created_at) SELECT ?1, 'outcome', " OUTCOME_JSON
			 ", ?3 FROM upgrades u WHERE u.id = ?4",
    [U_HALT] = "UPDATE releases SET halted = 1, halted_at = ?2,"
	       " updated_at = ?2 WHERE id = ?1 AND halted = 0",
    [U_OUTBOX_HALT] =
	"INSERT INTO outbox (outcome_id, kind, body,"
	" created_at) SELECT ?1, 'halt', json_object("
	" 'outcome_id', ?1, 'gateway_id', ?2, 'kind', 'release_halted',"
	" 'result', 'halted', 'app', app, 'channel', channel,"
	" 'version', version, 'to_version', version,"
	" 'finished', ?4, 'failed', ?5, 'failure_rate', ?6,"
	" 'halt_failure_rate', ?7, 'halt_min_samples', ?8,"
	" 'halted_at', " RFC3339("?3") ") , ?3 FROM releases WHERE id = ?9",
    [U_TELL] = "UPDATE upgrades SET failure_told = 1"
	       " WHERE id = ?1 AND failure_told = 0",
    [U_EXPIRED] = "SELECT id FROM upgrades WHERE final = 0"
		  " AND created_at <= ?1 ORDER BY created_at LIMIT ?2",
    /* (?2 IS NULL OR client_id = ?2) cannot use an index: a list for one
     * client has a form of its own that uses upgrades_client, and one for
     * an app (any client) one that uses upgrades_app. */
    [U_LIST] = UPGRADE_LIST(
	"(?1 IS NULL OR app = ?1)", "(?2 IS NULL OR client_id = ?2)"),
    [U_LIST_CLIENT] =
	UPGRADE_LIST("(?1 IS NULL OR app = ?1)", "client_id = ?2"),
    [U_LIST_APP] = UPGRADE_LIST("app = ?1", "(?2 IS NULL OR client_id = ?2)"),
    [U_LIST_FAILED] = UPGRADE_LIST_ON(" INDEXED BY upgrades_failed",
	"(?1 IS NULL OR app = ?1)", "(?2 IS NULL OR client_id = ?2)", FAILED),
    [U_LIST_APP_FAILED] = UPGRADE_LIST_ON(" INDEXED BY upgrades_failed_app",
	"app = ?1", "(?2 IS NULL OR client_id = ?2)", FAILED),
    [U_STATE_COUNTS] = "SELECT total(offered), total(downloading),"
		       " total(downloaded), total(verifying),"
		       " total(installing), total(succeeded), total(failed),"
		       " total(timed_out) FROM release_counts",
    /* ?1 leaves state number ?1 (-1: none) for ?2, in release ?3. */
    [U_STATE_MOVE] = "UPDATE release_counts SET"
		     " offered = offered + (?2 = 0) - (?1 = 0),"
		     " downloading = downloading + (?2 = 1) - (?1 = 1),"
		     " downloaded = downloaded + (?2 = 2) - (?1 = 2),"
		     " verifying = verifying + (?2 = 3) - (?1 = 3),"
		     " installing = installing + (?2 = 4) - (?1 = 4),"
		     " succeeded = succeeded + (?2 = 5) - (?1 = 5),"
		     " failed = failed + (?2 = 6) - (?1 = 6),"
		     " timed_out = timed_out + (?2 = 7) - (?1 = 7)"
		     " WHERE release_id = ?3",
};

const struct db_sqlset store_sqlite_upgrade_sql = {"upgrade", sql, U_COUNT};

static int64_t
col_opt(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL
		   ? -1
		   : sqlite3_column_int64(st, i);
}

static int
bind_opt(sqlite3_stmt *st, int i, int64_t v)
{
	return v < 0 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
}

/* Bind state s's name: a constant string, bound in place, not copied. */
static int
bind_state(sqlite3_stmt *st, int i, enum upg_state s)
{
	return sqlite3_bind_text(st, i, store_state_name(s), -1, SQLITE_STATIC);
}

/* Count u's move from state from (-1: a new upgrade) to state to. */
static int
count_move(struct db *db, const struct upgrade *u, int from, enum upg_state to)
{
	sqlite3_stmt *st;

	if (from == (int)to)
		return 0;
	st = db_stmt(db, &store_sqlite_upgrade_sql, U_STATE_MOVE);
	sqlite3_bind_int(st, 1, from);
	sqlite3_bind_int(st, 2, (int)to);
	sqlite3_bind_int64(st, 3, u->release_id);
	return db_run(st);
}

static int
read_upgrade(sqlite3_stmt *st, struct upgrade *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, 0);
	db_col_copy(st, 1, u->upgrade_id, sizeof(u->upgrade_id));
	db_col_copy(st, 2, u->client_id, sizeof(u->client_id));
	db_col_copy(st, 3, u->app, sizeof(u->app));
	db_col_copy(st, 4, u->platform, sizeof(u->platform));
	db_col_copy(st, 5, u->channel, sizeof(u->channel));
	db_col_copy(st, 6, u->from_version, sizeof(u->from_version));
	db_col_copy(st, 7, u->to_version, sizeof(u->to_version));
	u->release_id = sqlite3_column_int64(st, 8);
	if (store_state_parse(
		(const char *)sqlite3_column_text(st, 9), &u->state) < 0)
		return -EIO;
	u->last_seq = sqlite3_column_int64(st, 10);
	u->progress = (int)col_opt(st, 11);
	u->download_ms = col_opt(st, 12);
	u->install_ms = col_opt(st, 13);
	db_col_copy(st, 14, u->error_code, sizeof(u->error_code));
	if (sqlite3_column_type(st, 15) != SQLITE_NULL &&
	    (u->message = db_col_strdup(st, 15)) == NULL)
		return -ENOMEM;
	u->created_at = sqlite3_column_int64(st, 16);
	u->updated_at = sqlite3_column_int64(st, 17);
	u->finished_at = sqlite3_column_int64(st, 18);
	u->failure_told = sqlite3_column_int(st, 19);
	u->url = db_col_strdup(st, 20);
	u->size = sqlite3_column_int64(st, 21);
	db_col_copy(st, 22, u->sha256, sizeof(u->sha256));
	u->notes = db_col_strdup(st, 23);
	u->mandatory = sqlite3_column_int(st, 24);
	u->rollback = sqlite3_column_int(st, 25);
	if ((sqlite3_column_type(st, 26) != SQLITE_NULL &&
		(u->signed_doc = db_col_strdup(st, 26)) == NULL) ||
	    (sqlite3_column_type(st, 27) != SQLITE_NULL &&
		(u->signature = db_col_strdup(st, 27)) == NULL) ||
	    u->url == NULL || u->notes == NULL) {
		store_upgrade_fini(u);
		return -ENOMEM;
	}
	return 0;
}

/* Run st (bound) expecting at most one upgrade row. */
static int
one_upgrade(sqlite3_stmt *st, struct upgrade *out)
{
	struct upgrade u;
	int err;

	if ((err = db_row(st)) <= 0)
		return err == 0 ? -ENOENT : err;
	err = read_upgrade(st, &u);
	sqlite3_reset(st);
	if (err < 0)
		return err;
	*out = u;
	return 0;
}

int
store_sqlite_upgrade_latest(struct store_conn *c, const char *client_id,
    const char *app, struct upgrade *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_LATEST);

	db_bind_text(st, 1, client_id);
	db_bind_text(st, 2, app);
	return one_upgrade(st, out);
}

int
store_sqlite_upgrade_get(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_GET);

	db_bind_text(st, 1, upgrade_id);
	return one_upgrade(st, out);
}

int
store_sqlite_upgrade_get_brief(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_GET_BRIEF);

	db_bind_text(st, 1, upgrade_id);
	return one_upgrade(st, out);
}

int
store_sqlite_upgrade_get_row(
    struct store_conn *c, int64_t id, struct upgrade *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_GET_ROW);

	sqlite3_bind_int64(st, 1, id);
	return one_upgrade(st, out);
}

int
store_sqlite_upgrade_failures(struct store_conn *c, const char *client_id,
    const char *app, struct fail_stat **out, size_t *n)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_FAILS);
	struct fail_stat *list = NULL, *nl;
	size_t len = 0;
	int err;

	db_bind_text(st, 1, client_id);
	db_bind_text(st, 2, app);
	while ((err = db_row(st)) == 1) {
		nl = realloc(list, (len + 1) * sizeof(*list));
		if (nl == NULL) {
			err = -ENOMEM;
			sqlite3_reset(st);
			break;
		}
		list = nl;
		list[len].release_id = sqlite3_column_int64(st, 0);
		list[len].failures = sqlite3_column_int64(st, 1);
		list[len].last_at = sqlite3_column_int64(st, 2);
		len++;
	}
	if (err < 0) {
		free(list);
		return err;
	}
	*out = list;
	*n = len;
	return 0;
}

int
store_sqlite_upgrade_insert(struct store_conn *c, struct upgrade *u)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_INSERT);
	int err;

	db_bind_text(st, 1, u->upgrade_id);
	db_bind_text(st, 2, u->client_id);
	db_bind_text(st, 3, u->app);
	sqlite3_bind_int64(st, 4, u->release_id);
	db_bind_text(st, 5, u->platform);
	db_bind_text(st, 6, u->channel);
	db_bind_text(st, 7, u->from_version);
	db_bind_text(st, 8, u->to_version);
	db_bind_text(st, 9, u->url);
	sqlite3_bind_int64(st, 10, u->size);
	db_bind_text(st, 11, u->sha256);
	db_bind_text(st, 12, u->notes ? u->notes : "");
	sqlite3_bind_int(st, 13, u->mandatory);
	sqlite3_bind_int64(st, 14, u->created_at);
	sqlite3_bind_int(st, 15, u->rollback);
	db_bind_text(st, 16, u->signed_doc);
	db_bind_text(st, 17, u->signature);
	if ((err = db_run(st)) < 0)
		return err;
	u->id = sqlite3_last_insert_rowid(sqlite3_db_handle(st));
	return count_move(db, u, -1, UPG_OFFERED);
}

static int
read_event(sqlite3_stmt *st, struct upgrade_event *e)
{
	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(st, 0);
	if (store_state_parse(
		(const char *)sqlite3_column_text(st, 1), &e->state) < 0)
		return -EIO;
	db_col_copy(st, 2, e->error_code, sizeof(e->error_code));
	if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
	    (e->message = db_col_strdup(st, 3)) == NULL)
		return -ENOMEM;
	e->progress = (int)col_opt(st, 4);
	e->download_ms = col_opt(st, 5);
	e->install_ms = col_opt(st, 6);
	e->at = sqlite3_column_int64(st, 7);
	return 0;
}

int
store_sqlite_upgrade_events(
    struct store_conn *c, int64_t id, struct upgrade_event **out, size_t *n)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_EVENTS);
	struct upgrade_event *list = NULL, *nl;
	size_t len = 0;
	int err;

	sqlite3_bind_int64(st, 1, id);
	while ((err = db_row(st)) == 1) {
		nl = realloc(list, (len + 1) * sizeof(*list));
		if (nl == NULL) {
			err = -ENOMEM;
			break;
		}
		list = nl;
		if ((err = read_event(st, &list[len])) < 0)
			break;
		len++;
	}
	sqlite3_reset(st);
	if (err < 0) {
		store_event_free_list(list, len);
		return err;
	}
	*out = list;
	*n = len;
	return 0;
}

int
store_sqlite_upgrade_event_get(
    struct store_conn *c, int64_t id, int64_t seq, struct upgrade_event *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_EVENT_GET);
	int err;

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, seq);
	if ((err = db_row(st)) <= 0)
		return err == 0 ? -ENOENT : err;
	err = read_event(st, out);
	sqlite3_reset(st);
	return err;
}

int
store_sqlite_upgrade_event_add(struct store_conn *c, const struct upgrade *u,
    const struct upgrade_event *e)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st =
	    db_stmt(db, &store_sqlite_upgrade_sql, U_EVENT_INSERT);
	int err;

	sqlite3_bind_int64(st, 1, u->id);
	sqlite3_bind_int64(st, 2, e->seq);
	bind_state(st, 3, e->state);
	db_bind_text(st, 4, e->error_code[0] ? e->error_code : NULL);
	db_bind_text(st, 5, e->message);
	bind_opt(st, 6, e->progress);
	bind_opt(st, 7, e->download_ms);
	bind_opt(st, 8, e->install_ms);
	sqlite3_bind_int64(st, 9, e->at);
	if ((err = db_run(st)) < 0)
		return err;
	st = db_stmt(db, &store_sqlite_upgrade_sql, U_ADVANCE);
	sqlite3_bind_int64(st, 1, u->id);
	/* A final state is set by store_upgrade_finish; keep the last one. */
	bind_state(st, 2, store_state_final(e->state) ? u->state : e->state);
	sqlite3_bind_int64(st, 3, e->seq);
	bind_opt(st, 4, e->progress);
	bind_opt(st, 5, e->download_ms);
	bind_opt(st, 6, e->install_ms);
	sqlite3_bind_int64(st, 7, e->at);
	bind_opt(st, 8, e->delta_used);
	bind_opt(st, 9, e->bytes_downloaded);
	if ((err = db_run(st)) < 0)
		return err;
	if (store_state_final(e->state))
		return 0;
	return count_move(db, u, (int)u->state, e->state);
}

/* Queue a halt notice for release id and mark it halted. */
static int
halt_release(struct db *db, int64_t release_id, int64_t finished,
    int64_t failed, int64_t now, const struct finish_opts *o)
{
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_HALT);
	char oid[ID_LEN + 1];
	int err;

	sqlite3_bind_int64(st, 1, release_id);
	sqlite3_bind_int64(st, 2, now);
	if ((err = db_run(st)) < 0)
		return err;
	id_new(oid);
	st = db_stmt(db, &store_sqlite_upgrade_sql, U_OUTBOX_HALT);
	db_bind_text(st, 1, oid);
	db_bind_text(st, 2, o->gateway_id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, finished);
	sqlite3_bind_int64(st, 5, failed);
	sqlite3_bind_double(st, 6, (double)failed / (double)finished);
	sqlite3_bind_double(st, 7, o->halt_failure_rate);
	sqlite3_bind_int64(st, 8, o->halt_min_samples);
	sqlite3_bind_int64(st, 9, release_id);
	return db_run(st);
}

int
store_sqlite_upgrade_finish(struct store_conn *c, const struct upgrade *u,
    enum upg_state state, const char *error_code, const char *message,
    int64_t now, const struct finish_opts *o, bool *halted)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_FINISH);
	char oid[ID_LEN + 1];
	int64_t finished, failed;
	bool was_halted;
	int err;

	*halted = false;
	sqlite3_bind_int64(st, 1, u->id);
	bind_state(st, 2, state);
	db_bind_text(st, 3, error_code && *error_code ? error_code : NULL);
	db_bind_text(st, 4, message);
	sqlite3_bind_int64(st, 5, now);
	if ((err = db_run(st)) < 0)
		return err;
	if (sqlite3_changes(sqlite3_db_handle(st)) == 0)
		return -EALREADY;
	if ((err = count_move(db, u, (int)u->state, state)) < 0)
		return err;

	id_new(oid);
	st = db_stmt(db, &store_sqlite_upgrade_sql, U_OUTBOX_OUTCOME);
	db_bind_text(st, 1, oid);
	db_bind_text(st, 2, o->gateway_id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, u->id);
	if ((err = db_run(st)) < 0)
		return err;

	st = db_stmt(db, &store_sqlite_upgrade_sql, U_HALT_WINDOW);
	sqlite3_bind_int64(st, 1, u->release_id);
	if ((err = db_row(st)) <= 0)
		return err == 0 ? -EIO : err;
	finished = sqlite3_column_int64(st, 0);
	failed = sqlite3_column_int64(st, 1);
	was_halted = sqlite3_column_int(st, 2);
	sqlite3_reset(st);
	if (was_halted || finished < o->halt_min_samples || finished == 0 ||
	    (double)failed / (double)finished <= o->halt_failure_rate)
		return 0;
	if ((err = halt_release(db, u->release_id, finished, failed, now, o)) <
	    0)
		return err;
	*halted = true;
	return 0;
}

int
store_sqlite_upgrade_tell(struct store_conn *c, int64_t id)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_TELL);
	int err;

	sqlite3_bind_int64(st, 1, id);
	if ((err = db_run(st)) < 0)
		return err;
	return sqlite3_changes(sqlite3_db_handle(st)) > 0;
}

int
store_sqlite_upgrade_expired(
    struct store_conn *c, int64_t cutoff, int64_t *ids, int max)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_upgrade_sql, U_EXPIRED);
	int n = 0, err;

	sqlite3_bind_int64(st, 1, cutoff);
	sqlite3_bind_int(st, 2, max);
	while ((err = db_row(st)) == 1 && n < max)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return err < 0 ? err : n;
}

int
store_sqlite_upgrade_list(struct store_conn *c, const struct upgrade_filter *f,
    struct upgrade **out, size_t *n)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st =
	    db_stmt(db, &store_sqlite_upgrade_sql, store_upgrade_list_form(f));
	struct upgrade *list;
	size_t len = 0;
	int err;

	list = calloc((size_t)(f->limit > 0 ? f->limit : 1), sizeof(*list));
	if (list == NULL)
		return -ENOMEM;
	db_bind_text(st, 1, f->app);
	db_bind_text(st, 2, f->client_id);
	db_bind_text(st, 3,
	    f->state >= 0 ? store_state_name((enum upg_state)f->state) : NULL);
	/* A range of ids, not (?4 = 0 OR id < ?4): a page reads from its
	 * cursor on, not from the newest row down to it. */
	sqlite3_bind_int64(st, 4, f->after > 0 ? f->after : INT64_MAX);
	sqlite3_bind_int(st, 5, f->limit);
	while ((err = db_row(st)) == 1 && len < (size_t)f->limit) {
		if ((err = read_upgrade(st, &list[len])) < 0)
			break;
		len++;
	}
	sqlite3_reset(st);
	if (err < 0) {
		store_upgrade_free_list(list, len);
		return err;
	}
	*out = list;
	*n = len;
	return 0;
}

int
store_sqlite_upgrade_state_counts(
    struct store_conn *c, int64_t counts[UPG_STATE_COUNT])
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st =
	    db_stmt(db, &store_sqlite_upgrade_sql, U_STATE_COUNTS);
	int err;

	memset(counts, 0, sizeof(int64_t) * UPG_STATE_COUNT);
	if ((err = db_row(st)) <= 0)
		return err == 0 ? -EIO : err;
	for (int i = 0; i < UPG_STATE_COUNT; i++)
		counts[i] = sqlite3_column_int64(st, i);
	sqlite3_reset(st);
	return 0;
}
