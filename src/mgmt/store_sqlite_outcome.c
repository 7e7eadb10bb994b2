/* SPDX-License-Identifier: MIT */
/* All SQL for the outcome archive: insert, queries, CSV, statistics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"

enum {
	O_INSERT,
	O_STATS_ADD,
	O_LIST, /* then the forms of store_filter_form() */
	O_LIST_CLIENT,
	O_LIST_RELEASE,
	O_LIST_APP,
	O_LIST_FAILED,
	O_LIST_APP_FAILED,
	O_GET,
	O_CSV, /* the same six */
	O_CSV_CLIENT,
	O_CSV_RELEASE,
	O_CSV_APP,
	O_CSV_FAILED,
	O_CSV_APP_FAILED,
	O_STATS,
	O_COUNTS,
	O_TIMELINE,
	O_SPAN,
	O_COUNT
};

/* clang-format off */
#define T(x) DB_RFC3339(x)
#define DELTA_USED                                                             \
	"CASE WHEN delta_used IS NULL THEN NULL WHEN delta_used"               \
	" THEN json('true') ELSE json('false') END"
/* The API's view of a row; DETAIL adds its events and halt counts. */
#define OUTCOME_JSON                                                           \
	"json_object('outcome_id', outcome_id,"                                \
	" 'kind', kind, 'gateway_id', gateway_id,"                             \
	" 'upgrade_id', upgrade_id, 'client_id', client_id, 'app', app,"       \
	" 'platform', platform, 'channel', channel,"                           \
	" 'from_version', from_version, 'to_version', to_version,"             \
	" 'result', result, 'error_code', error_code, 'message', message,"     \
	" 'started_at', CASE WHEN started_at > 0 THEN " T("started_at") " END," \
	" 'finished_at', " T("finished_at") ","                                \
	" 'received_at', " T("received_at") ","                                \
	" 'download_ms', download_ms, 'install_ms', install_ms,"              \
	" 'delta_used', " DELTA_USED ", 'bytes_downloaded', bytes_downloaded," \
	" 'artifact_size', artifact_size"
/* A query's filters, the same parameters in every form. (?1 IS NULL OR
 * app = ?1) cannot use an index, so a query that names a client, an app
 * and version, or an app, has a form of its own that can
 * (outcomes_client, outcomes_app, outcomes_app_id) and does not scan the
 * archive for a rare one. */
#define FILTER_ON(app, version, client)                                        \
	" WHERE " app " AND " version                                          \
	" AND (?3 IS NULL OR result = ?3) AND " client                         \
	" AND (CASE WHEN ?5 IS NULL THEN kind IN ('upgrade', 'rollback')"      \
	"  WHEN ?5 = 'all' THEN 1 ELSE kind = ?5 END)"                         \
	" AND (?6 = 0 OR finished_at >= ?6) AND (?7 = 0 OR finished_at <= ?7)" \
	" AND id BETWEEN ?8 AND ?10"
#define ANY_APP "(?1 IS NULL OR app = ?1)"
#define ANY_VERSION "(?2 IS NULL OR to_version = ?2)"
#define ANY_CLIENT "(?4 IS NULL OR client_id = ?4)"
#define FILTER FILTER_ON(ANY_APP, ANY_VERSION, ANY_CLIENT)
#define BY_CLIENT FILTER_ON(ANY_APP, ANY_VERSION, "client_id = ?4")
#define BY_RELEASE FILTER_ON("app = ?1", "to_version = ?2", ANY_CLIENT)
#define BY_APP FILTER_ON("app = ?1", ANY_VERSION, ANY_CLIENT)

/* The outcomes a query lists, as JSON or as CSV fields (then id). */
#define LIST "SELECT " OUTCOME_JSON "), id FROM outcomes"
#define LIST_END " ORDER BY id DESC LIMIT ?9"
#define CSV                                                                    \
	"SELECT outcome_id, kind, gateway_id, upgrade_id, client_id,"          \
	" app, platform, channel, from_version, to_version, result,"           \
	" error_code, message,"                                                \
	" CASE WHEN started_at > 0 THEN " T("started_at") " END,"              \
	" " T("finished_at") ", " T("received_at") ","                         \
	" download_ms, install_ms, id FROM outcomes"
/* Failures read from the partial indexes of schema 10, which hold
 * failed and timed-out outcomes only: a result rare in an app (or in
 * all of them) is found without reading the rest of the archive. */
#define FAILED " AND result IN ('failed', 'timed_out')"
#define ALL_FAILED " INDEXED BY outcomes_failed" FILTER FAILED
#define APP_FAILED " INDEXED BY outcomes_app_failed" BY_APP FAILED

static const char *const sql[O_COUNT] = {
    [O_INSERT] =
	"INSERT INTO outcomes (outcome_id, kind, gateway_id, upgrade_id,"
	" client_id, app, platform, channel, from_version, to_version,"
	" result, error_code, message, started_at, finished_at, received_at,"
	" download_ms, install_ms, events, detail, delta_used,"
	" bytes_downloaded, artifact_size)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	" ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)"
	" ON CONFLICT (outcome_id) DO NOTHING RETURNING id",
    [O_STATS_ADD] =
	"INSERT INTO release_stats (app, version, total, succeeded, failed,"
	" timed_out, deltas, bytes_downloaded, bytes_saved)"
	" VALUES (?1, ?2, 1, ?3 = 'succeeded', ?3 = 'failed',"
	" ?3 = 'timed_out', ?4, ?5, ?6) ON CONFLICT (app, version) DO UPDATE"
	" SET total = total + 1, succeeded = succeeded + excluded.succeeded,"
	" failed = failed + excluded.failed,"
	" timed_out = timed_out + excluded.timed_out,"
	" deltas = deltas + excluded.deltas,"
	" bytes_downloaded = bytes_downloaded + excluded.bytes_downloaded,"
	" bytes_saved = bytes_saved + excluded.bytes_saved",
    [O_LIST] = LIST FILTER LIST_END,
    [O_LIST_CLIENT] = LIST BY_CLIENT LIST_END,
    [O_LIST_RELEASE] = LIST BY_RELEASE LIST_END,
    [O_LIST_APP] = LIST BY_APP LIST_END,
    [O_LIST_FAILED] = LIST ALL_FAILED LIST_END,
    [O_LIST_APP_FAILED] = LIST APP_FAILED LIST_END,
    [O_GET] = "SELECT " OUTCOME_JSON ", 'events', json(events),"
	      " 'detail', json(detail)) FROM outcomes WHERE outcome_id = ?1",
    [O_CSV] = CSV FILTER LIST_END,
    [O_CSV_CLIENT] = CSV BY_CLIENT LIST_END,
    [O_CSV_RELEASE] = CSV BY_RELEASE LIST_END,
    [O_CSV_APP] = CSV BY_APP LIST_END,
    [O_CSV_FAILED] = CSV ALL_FAILED LIST_END,
    [O_CSV_APP_FAILED] = CSV APP_FAILED LIST_END,
    [O_STATS] =
	"SELECT json_object('app', app, 'version', version, 'total', total,"
	" 'succeeded', succeeded, 'failed', failed, 'timed_out', timed_out,"
	" 'failure_rate', round(CAST(failed + timed_out AS REAL) / total, 4),"
	" 'deltas', deltas, 'bytes_downloaded', bytes_downloaded,"
	" 'bytes_saved', bytes_saved),"
	" 0 FROM release_stats WHERE ?1 IS NULL OR app = ?1"
	" ORDER BY app, version",
    [O_COUNTS] = "SELECT kind, result, n FROM outcome_counts WHERE n > 0"
		 " ORDER BY kind, result",
    /* Buckets of ?1 ms from ?2 on; outcomes_timeline covers it. */
    [O_TIMELINE] =
	"SELECT json_object('start', " T("finished_at / ?1 * ?1") ","
	" 'succeeded', sum(result = 'succeeded'),"
	" 'failed', sum(result = 'failed'),"
	" 'timed_out', sum(result = 'timed_out')), 0"
	" FROM outcomes WHERE kind IN ('upgrade', 'rollback')"
	" AND finished_at >= ?2"
	" AND (?3 IS NULL OR app = ?3)"
	" GROUP BY finished_at / ?1 ORDER BY finished_at / ?1",
    /* Whether any outcome finished in the hours from ?1 to ?2, and the
     * ids they span: read from outcome_hours alone. */
    [O_SPAN] = "SELECT coalesce(sum(n), 0), min(lo), max(hi)"
	       " FROM outcome_hours"
	       " WHERE hour BETWEEN ?1 / 3600000 AND ?2 / 3600000",
};

/* clang-format on */
const struct db_sqlset store_sqlite_outcome_sql = {"outcome", sql, O_COUNT};

static void
bind_opt_int(sqlite3_stmt *st, int i, int64_t v, int64_t none)
{
	if (v == none)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

int
store_sqlite_outcome_insert(
    struct store_conn *c, struct outcome *o, int64_t now)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_outcome_sql, O_INSERT);
	int err;

	db_bind_text(st, 1, o->outcome_id);
	db_bind_text(st, 2, store_kind_name(o));
	db_bind_text(st, 3, o->gateway_id);
	db_bind_text(st, 4, o->upgrade_id);
	db_bind_text(st, 5, o->client_id);
	db_bind_text(st, 6, o->app);
	db_bind_text(st, 7, o->platform);
	db_bind_text(st, 8, o->channel);
	db_bind_text(st, 9, o->from_version);
	db_bind_text(st, 10, o->to_version);
	db_bind_text(st, 11, o->result);
	db_bind_text(st, 12, o->error_code);
	db_bind_text(st, 13, o->message);
	bind_opt_int(st, 14, o->started_at, 0);
	sqlite3_bind_int64(st, 15, o->finished_at);
	sqlite3_bind_int64(st, 16, now);
	bind_opt_int(st, 17, o->download_ms, -1);
	bind_opt_int(st, 18, o->install_ms, -1);
	db_bind_text(st, 19, o->events ? o->events : "[]");
	db_bind_text(st, 20, o->detail);
	bind_opt_int(st, 21, o->delta_used, -1);
	bind_opt_int(st, 22, o->bytes_downloaded, -1);
	bind_opt_int(st, 23, o->artifact_size, -1);
	if ((err = db_row(st)) < 0)
		return err;
	if (err == 0)
		return 1; /* seen before */
	o->row = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (o->kind == OUTCOME_HALT)
		return 0;
	st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_outcome_sql, O_STATS_ADD);
	db_bind_text(st, 1, o->app);
	db_bind_text(st, 2, o->to_version);
	db_bind_text(st, 3, o->result);
	sqlite3_bind_int(st, 4, o->delta_used == 1);
	sqlite3_bind_int64(st, 5, store_outcome_downloaded(o));
	sqlite3_bind_int64(st, 6, store_outcome_saved(o));
	return db_run(st);
}

/* Set f->lo and f->hi, once per filter, to the ids that the outcomes
 * finished in the hours of its time window span (outcome_hours). A
 * query newest first cannot tell from finished_at where a window's rows
 * end, so without them it would read from the archive's newest row down
 * to its first whenever a page is not full: an old window, or a rare
 * result in a recent one, read the whole archive (0.1-0.3 s per million
 * outcomes). With them it reads the window's ids only. The range is a
 * bound, not the answer: an outcome that reached mgmtd late widens it,
 * and the query still tests finished_at in it. */
static int
span(struct store_conn *c, struct outcome_filter *f)
{
	sqlite3_stmt *st;
	int64_t n, lo = 0, hi = INT64_MAX;
	int err;

	if (f->since != 0 || f->until != 0) {
		st = db_stmt(
		    store_sqlite_db(c), &store_sqlite_outcome_sql, O_SPAN);
		sqlite3_bind_int64(st, 1, f->since != 0 ? f->since : INT64_MIN);
		sqlite3_bind_int64(st, 2, f->until != 0 ? f->until : INT64_MAX);
		if ((err = db_row(st)) <= 0)
			return err < 0 ? err : -EIO; /* an aggregate's row */
		n = sqlite3_column_int64(st, 0);
		if (n == 0) {
			lo = 1; /* nothing finished then: an empty range */
			hi = 0;
		} else {
			lo = sqlite3_column_int64(st, 1);
			hi = sqlite3_column_int64(st, 2);
		}
		sqlite3_reset(st);
	}
	f->lo = lo;
	f->hi = hi;
	f->spanned = true;
	return 0;
}

/* *stp: f's query in the form idx (O_LIST or O_CSV) takes, bound. */
static int
filtered(struct store_conn *c, int idx, struct outcome_filter *f, int64_t extra,
    sqlite3_stmt **stp)
{
	sqlite3_stmt *st;
	int64_t hi;
	int err;

	if (!f->spanned && (err = span(c, f)) < 0)
		return err;
	hi = f->after > 0 && f->after - 1 < f->hi ? f->after - 1 : f->hi;
	/* The forms follow O_LIST and O_CSV in that order. */
	idx += store_filter_form(f);
	st = db_stmt(store_sqlite_db(c), &store_sqlite_outcome_sql, idx);
	db_bind_text(st, 1, f->app);
	db_bind_text(st, 2, f->version);
	db_bind_text(st, 3, f->result);
	db_bind_text(st, 4, f->client_id);
	db_bind_text(st, 5, f->kind);
	sqlite3_bind_int64(st, 6, f->since);
	sqlite3_bind_int64(st, 7, f->until);
	sqlite3_bind_int64(st, 8, f->lo);
	sqlite3_bind_int64(st, 9, f->limit > 0 ? f->limit + extra : -1);
	sqlite3_bind_int64(st, 10, hi);
	*stp = st;
	return 0;
}

int
store_sqlite_outcome_list(
    struct store_conn *c, struct outcome_filter *f, char **json, int64_t *next)
{
	sqlite3_stmt *st;
	int err;

	if ((err = filtered(c, O_LIST, f, 1, &st)) < 0)
		return err;
	return db_rows_json(st, 0, 1, f->limit, json, next);
}

int
store_sqlite_outcome_get(
    struct store_conn *c, const char *outcome_id, char **json)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_outcome_sql, O_GET);
	int err;

	db_bind_text(st, 1, outcome_id);
	if ((err = db_row(st)) <= 0)
		return err == 0 ? -ENOENT : err;
	*json = db_col_strdup(st, 0);
	sqlite3_reset(st);
	return *json ? 0 : -ENOMEM;
}

int
store_sqlite_outcome_csv(struct store_conn *c, struct outcome_filter *f,
    bool header, FILE *out, int64_t *last, int64_t *n)
{
	sqlite3_stmt *st;
	int ncol, err;

	*last = *n = 0;
	if ((err = filtered(c, O_CSV, f, 0, &st)) < 0)
		return err;
	ncol = sqlite3_column_count(st) - 1; /* the last: id */
	if (header)
		store_csv_header(out);
	while ((err = db_row(st)) == 1) {
		*last = sqlite3_column_int64(st, ncol);
		++*n;
		for (int i = 0; i < ncol; i++) {
			const char *v =
			    (const char *)sqlite3_column_text(st, i);

			if (i > 0)
				fputc(',', out);
			store_csv_field(out, v ? v : "");
		}
		fputs("\r\n", out);
	}
	return err;
}

int
store_sqlite_stats(struct store_conn *c, const char *app, char **json)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_outcome_sql, O_STATS);
	int64_t next;

	db_bind_text(st, 1, app);
	return db_rows_json(st, 0, 1, INT64_MAX, json, &next);
}

int
store_sqlite_timeline(struct store_conn *c, const char *app, int64_t since,
    int64_t bucket_ms, char **json)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_outcome_sql, O_TIMELINE);
	int64_t next;

	sqlite3_bind_int64(st, 1, bucket_ms);
	sqlite3_bind_int64(st, 2, since);
	db_bind_text(st, 3, app);
	return db_rows_json(st, 0, 1, INT64_MAX, json, &next);
}

int
store_sqlite_outcome_counts(struct store_conn *c, FILE *out)
{
	sqlite3_stmt *st =
	    db_stmt(store_sqlite_db(c), &store_sqlite_outcome_sql, O_COUNTS);

	return store_sqlite_gauge(st, out, "upgate_outcomes",
	    "Archived outcomes by kind and result.", "kind", "result");
}
