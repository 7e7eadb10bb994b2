/* SPDX-License-Identifier: MIT */
/* All SQL for alerts: grouping state, alerts, deliveries and their queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"

enum {
	A_GROUP_GET,
	A_GROUP_PUT,
	A_GROUP_DUE,
	A_ALERT_INSERT,
	A_DELIVERY_ADD,
	A_WAIT,
	A_CLAIM,
	A_WAITING,
	A_WAITING_COUNT,
	A_INHIBIT,
	A_DUE,
	A_DONE,
	A_NEXT_DUE, /* store_next_due_form() */
	A_NEXT_DIGEST,
	A_NEXT_LANE,
	A_LIST,
	A_COUNTS,
	A_HALTS_OPEN,
	A_HALT_RESOLVED,
	A_DIGESTS,
	A_COUNT
};

/* clang-format off */
#define T(x) DB_RFC3339(x)
/* An alert as its deliveries carry it: its texts, kind, release (and the
 * release's channel), and the upgrade ids it tells of: its outcome's and
 * those it claimed (a digest's, a halt's folded ones). */
#define ALERT_COLS                                                             \
	" a.alert_id, a.subject, a.body, a.sms, a.created_at, a.kind, a.app,"  \
	" a.version, a.failures, coalesce((SELECT channel FROM outcomes"       \
	"  WHERE outcome_id = a.outcome_id),"                                  \
	"  (SELECT channel FROM outcomes WHERE alert = a.id LIMIT 1), ''),"    \
	" (SELECT json_group_array(upgrade_id) FROM (SELECT upgrade_id, id"    \
	"  FROM outcomes WHERE outcome_id = a.outcome_id UNION"                \
	"  SELECT upgrade_id, id FROM outcomes WHERE alert = a.id"             \
	"  ORDER BY id) WHERE upgrade_id IS NOT NULL)"
static const char *const sql[A_COUNT] = {
    [A_GROUP_GET] =
	"SELECT announced_at, window_end, pending, due_at FROM alert_groups"
	" WHERE app = ?1 AND version = ?2",
    [A_GROUP_PUT] =
	"INSERT INTO alert_groups (app, version, announced_at, window_end,"
	" pending, due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
	" ON CONFLICT (app, version) DO UPDATE SET"
	" announced_at = excluded.announced_at,"
	" window_end = excluded.window_end, pending = excluded.pending,"
	" due_at = excluded.due_at",
    [A_GROUP_DUE] =
	"SELECT app, version, announced_at, window_end, pending, due_at"
	" FROM alert_groups WHERE pending > 0 AND due_at <= ?1"
	" ORDER BY due_at LIMIT ?2",
    [A_ALERT_INSERT] =
	"INSERT INTO alerts (alert_id, kind, app, version, outcome_id,"
	" failures, subject, body, sms, created_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [A_DELIVERY_ADD] =
	"INSERT INTO deliveries (alert, channel, recipient, state, next_at,"
	" created_at, updated_at, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5,"
	" ?5, CASE WHEN ?4 = 'sent' THEN ?5 END)",
    [A_WAIT] = "UPDATE outcomes SET waiting = 1 WHERE id = ?1",
    [A_CLAIM] = "UPDATE outcomes SET waiting = 0, alert = ?3"
		" WHERE waiting = 1 AND app = ?1 AND to_version = ?2",
    [A_WAITING] =
	"SELECT client_id, from_version, error_code, message, upgrade_id,"
	" result, finished_at FROM outcomes"
	" WHERE waiting = 1 AND app = ?1 AND to_version = ?2"
	" ORDER BY id LIMIT ?3",
    [A_WAITING_COUNT] =
	"SELECT count(*) FROM outcomes"
	" WHERE waiting = 1 AND app = ?1 AND to_version = ?2",
    [A_INHIBIT] =
	"UPDATE deliveries SET state = 'inhibited', updated_at = ?3,"
	" last_error = 'replaced by the release''s halt alert'"
	" WHERE state IN ('pending', 'failed') AND alert IN"
	" (SELECT id FROM alerts WHERE app = ?1 AND version = ?2"
	"  AND kind IN ('failure', 'digest'))",
    [A_DUE] =
	"SELECT d.id, d.channel, d.recipient, d.attempts," ALERT_COLS
	" FROM deliveries d JOIN alerts a ON a.id = d.alert"
	" WHERE d.state IN ('pending', 'failed') AND d.channel = ?3"
	" AND d.next_at <= ?1"
	" ORDER BY d.next_at, d.id LIMIT ?2",
    /* Halt alerts not resolved yet, as deliveries of their alert row. */
    [A_HALTS_OPEN] =
	"SELECT a.id, '', '', 0," ALERT_COLS " FROM alerts a"
	" WHERE a.kind = 'halt' AND a.resolved_at IS NULL ORDER BY a.id"
	" LIMIT ?1",
    [A_HALT_RESOLVED] = "UPDATE alerts SET resolved_at = ?2 WHERE id = ?1",
    /* Digests waiting for their group window, soonest first. */
    [A_DIGESTS] =
	"SELECT json_object('app', app, 'version', version, 'failures',"
	" pending, 'due_at', " T("due_at") "), 0 FROM alert_groups"
	" WHERE pending > 0 ORDER BY due_at LIMIT ?1",
    /* A delivery inhibited while its attempt ran stays inhibited,
     * unless the attempt sent it. */
    [A_DONE] =
	"UPDATE deliveries SET attempts = attempts + 1, updated_at = ?5,"
	" state = CASE WHEN ?2 THEN 'sent' WHEN state = 'inhibited'"
	"  THEN state WHEN ?3 THEN 'failed' ELSE 'pending' END,"
	" sent_at = CASE WHEN ?2 THEN ?5 END,"
	" last_error = CASE WHEN ?2 OR state = 'inhibited' THEN last_error"
	"  ELSE ?4 END,"
	" next_at = ?6 WHERE id = ?1",
    [A_NEXT_DUE] =
	"SELECT min(t) FROM (SELECT min(next_at) AS t FROM deliveries"
	" WHERE state IN ('pending', 'failed') UNION ALL"
	" SELECT min(due_at) FROM alert_groups WHERE pending > 0)",
    [A_NEXT_DIGEST] =
	"SELECT min(due_at) FROM alert_groups WHERE pending > 0",
    [A_NEXT_LANE] =
	"SELECT min(next_at) FROM deliveries"
	" WHERE state IN ('pending', 'failed') AND channel = ?1",
    [A_LIST] =
	"SELECT json_object('delivery_id', d.id, 'alert_id', a.alert_id,"
	" 'kind', a.kind, 'channel', d.channel,"
	" 'recipient', nullif(d.recipient, ''), 'state', d.state,"
	" 'attempts', d.attempts, 'last_error', d.last_error,"
	" 'next_attempt_at', CASE WHEN d.state IN ('pending', 'failed')"
	"  THEN " T("d.next_at") " END,"
	" 'created_at', " T("d.created_at") ","
	" 'sent_at', CASE WHEN d.sent_at THEN " T("d.sent_at") " END,"
	" 'app', a.app, 'version', a.version, 'outcome_id', a.outcome_id,"
	" 'failures', a.failures, 'subject', a.subject, 'text', a.sms),"
	" d.id FROM deliveries d JOIN alerts a ON a.id = d.alert"
	" WHERE (?1 IS NULL OR d.state = ?1) AND (?2 IS NULL OR d.channel = ?2)"
	" AND (?3 IS NULL OR a.app = ?3) AND d.id < ?4"
	" ORDER BY d.id DESC LIMIT ?5",
    [A_COUNTS] = "SELECT channel, state, n FROM delivery_counts"
		 " WHERE n > 0 ORDER BY channel, state",
};
/* clang-format on */

const struct db_sqlset store_sqlite_alert_sql = {"alert", sql, A_COUNT};

static void
group_cols(sqlite3_stmt *st, int i, struct alert_group *g)
{
	g->announced_at = sqlite3_column_int64(st, i);
	g->window_end = sqlite3_column_int64(st, i + 1);
	g->pending = sqlite3_column_int64(st, i + 2);
	g->due_at = sqlite3_column_int64(st, i + 3);
}

int
store_sqlite_group_get(struct store_conn *c, const char *app,
    const char *version, struct alert_group *out)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_GROUP_GET);
	int err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, version);
	if ((err = db_row(st)) <= 0)
		return err;
	group_cols(st, 0, out);
	sqlite3_reset(st);
	return 0;
}

int
store_sqlite_group_put(struct store_conn *c, const struct alert_group *g)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_GROUP_PUT);

	db_bind_text(st, 1, g->app);
	db_bind_text(st, 2, g->version);
	sqlite3_bind_int64(st, 3, g->announced_at);
	sqlite3_bind_int64(st, 4, g->window_end);
	sqlite3_bind_int64(st, 5, g->pending);
	sqlite3_bind_int64(st, 6, g->due_at);
	return db_run(st);
}

int
store_sqlite_group_due(
    struct store_conn *c, int64_t now, struct alert_group *out, int max)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_GROUP_DUE);
	int n = 0, err;

	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, max);
	while ((err = db_row(st)) == 1) {
		memset(&out[n], 0, sizeof(out[n]));
		db_col_copy(st, 0, out[n].app, sizeof(out[n].app));
		db_col_copy(st, 1, out[n].version, sizeof(out[n].version));
		group_cols(st, 2, &out[n]);
		n++;
	}
	return err < 0 ? err : n;
}

int
store_sqlite_alert_insert(struct store_conn *c, struct alert *a)
{
	sqlite3_stmt *st = db_stmt(
	    store_sqlite_db(c), &store_sqlite_alert_sql, A_ALERT_INSERT);
	int err;

	db_bind_text(st, 1, a->alert_id);
	db_bind_text(st, 2, a->kind);
	db_bind_text(st, 3, a->app);
	db_bind_text(st, 4, a->version);
	db_bind_text(st, 5, a->outcome_id);
	sqlite3_bind_int64(st, 6, a->failures);
	db_bind_text(st, 7, a->subject);
	db_bind_text(st, 8, a->body);
	db_bind_text(st, 9, a->sms);
	sqlite3_bind_int64(st, 10, a->created_at);
	if ((err = db_run(st)) == 0)
		a->row = sqlite3_last_insert_rowid(sqlite3_db_handle(st));
	return err;
}

int
store_sqlite_delivery_add(struct store_conn *c, int64_t alert,
    const char *channel, const char *recipient, const char *state, int64_t now)
{
	sqlite3_stmt *st = db_stmt(
	    store_sqlite_db(c), &store_sqlite_alert_sql, A_DELIVERY_ADD);

	sqlite3_bind_int64(st, 1, alert);
	db_bind_text(st, 2, channel);
	db_bind_text(st, 3, recipient);
	db_bind_text(st, 4, state);
	sqlite3_bind_int64(st, 5, now);
	return db_run(st);
}

int
store_sqlite_outcome_wait(struct store_conn *c, int64_t row)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_WAIT);

	sqlite3_bind_int64(st, 1, row);
	return db_run(st);
}

int
store_sqlite_outcome_claim(
    struct store_conn *c, const char *app, const char *version, int64_t alert)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_CLAIM);

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, version);
	sqlite3_bind_int64(st, 3, alert);
	return db_run(st);
}

int
store_sqlite_outcome_waiting(struct store_conn *c, const char *app,
    const char *version, struct waiting *out, int max, int64_t *total)
{
	sqlite3_stmt *st = db_stmt(
	    store_sqlite_db(c), &store_sqlite_alert_sql, A_WAITING_COUNT);
	int n = 0, err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, version);
	if ((err = db_row(st)) <= 0)
		return err == 0 ? -EIO : err;
	*total = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (max == 0)
		return 0;
	st = db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_WAITING);
	db_bind_text(st, 1, app);
	db_bind_text(st, 2, version);
	sqlite3_bind_int(st, 3, max);
	while ((err = db_row(st)) == 1) {
		struct waiting *w = &out[n++];

		w->client_id = db_col_strdup(st, 0);
		w->from_version = db_col_strdup(st, 1);
		w->error_code = db_col_strdup(st, 2);
		w->message = db_col_strdup(st, 3);
		w->upgrade_id = db_col_strdup(st, 4);
		w->result = db_col_strdup(st, 5);
		w->finished_at = sqlite3_column_int64(st, 6);
		if (!w->client_id || !w->from_version || !w->error_code ||
		    !w->message || !w->upgrade_id || !w->result) {
			sqlite3_reset(st);
			err = -ENOMEM;
			break;
		}
	}
	if (err < 0) {
		store_waiting_free(out, (size_t)n);
		return err;
	}
	return n;
}

int
store_sqlite_delivery_inhibit(
    struct store_conn *c, const char *app, const char *version, int64_t now)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_INHIBIT);
	int err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, version);
	sqlite3_bind_int64(st, 3, now);
	if ((err = db_run(st)) < 0)
		return err;
	return sqlite3_changes(sqlite3_db_handle(st));
}

/* Read st's deliveries (the columns of A_DUE) into out, at most max. */
static int
delivery_rows(sqlite3_stmt *st, struct delivery *out, int max)
{
	int n = 0, err = 0;

	while (n < max && (err = db_row(st)) == 1) {
		struct delivery *d = &out[n++];

		memset(d, 0, sizeof(*d));
		d->id = sqlite3_column_int64(st, 0);
		db_col_copy(st, 1, d->channel, sizeof(d->channel));
		db_col_copy(st, 2, d->recipient, sizeof(d->recipient));
		d->attempts = sqlite3_column_int64(st, 3);
		db_col_copy(st, 4, d->alert_id, sizeof(d->alert_id));
		d->subject = db_col_strdup(st, 5);
		d->body = db_col_strdup(st, 6);
		d->sms = db_col_strdup(st, 7);
		d->created_at = sqlite3_column_int64(st, 8);
		db_col_copy(st, 9, d->kind, sizeof(d->kind));
		db_col_copy(st, 10, d->app, sizeof(d->app));
		db_col_copy(st, 11, d->version, sizeof(d->version));
		d->failures = sqlite3_column_int64(st, 12);
		db_col_copy(
		    st, 13, d->release_channel, sizeof(d->release_channel));
		d->upgrade_ids = db_col_strdup(st, 14);
		if (!d->subject || !d->body || !d->sms || !d->upgrade_ids) {
			err = -ENOMEM;
			break;
		}
	}
	sqlite3_reset(st);
	if (err < 0) {
		store_delivery_free(out, (size_t)n);
		return err;
	}
	return n;
}

int
store_sqlite_delivery_due(struct store_conn *c, const char *channel,
    int64_t now, int64_t lease, struct delivery *out, int max)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_DUE);

	(void)lease; /* one daemon owns the file: nobody else claims */
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, max);
	db_bind_text(st, 3, channel);
	return delivery_rows(st, out, max);
}

int
store_sqlite_halts_open(struct store_conn *c, struct delivery *out, int max)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_HALTS_OPEN);

	sqlite3_bind_int(st, 1, max);
	return delivery_rows(st, out, max);
}

int
store_sqlite_halt_resolved(struct store_conn *c, int64_t alert, int64_t now)
{
	sqlite3_stmt *st = db_stmt(
	    store_sqlite_db(c), &store_sqlite_alert_sql, A_HALT_RESOLVED);

	sqlite3_bind_int64(st, 1, alert);
	sqlite3_bind_int64(st, 2, now);
	return db_run(st);
}

int
store_sqlite_delivery_done(struct store_conn *c, int64_t id, bool ok,
    bool permanent, const char *error, int64_t now, int64_t next_at)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_DONE);

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, ok);
	sqlite3_bind_int(st, 3, permanent);
	db_bind_text(st, 4, error);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, next_at);
	return db_run(st);
}

int
store_sqlite_next_due(struct store_conn *c, const char *channel, int64_t *at)
{
	int form = store_next_due_form(channel), err;
	sqlite3_stmt *st = db_stmt(
	    store_sqlite_db(c), &store_sqlite_alert_sql, A_NEXT_DUE + form);

	if (form == 2)
		db_bind_text(st, 1, channel);
	if ((err = db_row(st)) <= 0)
		return err == 0 ? -EIO : err;
	*at = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int
store_sqlite_delivery_list(struct store_conn *c, const char *state,
    const char *channel, const char *app, int64_t after, int64_t limit,
    char **json, int64_t *next)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_LIST);

	db_bind_text(st, 1, state);
	db_bind_text(st, 2, channel);
	db_bind_text(st, 3, app);
	/* A range of ids: a page reads from its cursor on. */
	sqlite3_bind_int64(st, 4, after > 0 ? after : INT64_MAX);
	sqlite3_bind_int64(st, 5, limit + 1);
	return db_rows_json(st, 0, 1, limit, json, next);
}

int
store_sqlite_digest_list(struct store_conn *c, int64_t limit, char **json)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_DIGESTS);
	int64_t next = 0;

	sqlite3_bind_int64(st, 1, limit + 1);
	return db_rows_json(st, 0, 1, limit, json, &next);
}

int
store_sqlite_delivery_counts(struct store_conn *c, FILE *out)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_alert_sql, A_COUNTS);

	return store_sqlite_gauge(st, out, "upgate_alert_deliveries",
	    "Alert deliveries by channel and state.", "channel", "state");
}
