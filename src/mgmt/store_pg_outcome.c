/* SPDX-License-Identifier: MIT */
/* The outcome archive on PostgreSQL: insert, queries, CSV, statistics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"

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
#define T(x) PG_RFC3339(x)
/* The API's view of a row, as on SQLite. */
#define DELTA_USED "(delta_used <> 0)"
#define OUTCOME_JSON                                                           \
	"json_build_object('outcome_id', outcome_id,"                          \
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
/* A query's filters in the forms SQLite's store has, for the same
 * indexes. */
#define FILTER_ON(app, version, client)                                        \
	" WHERE " app " AND " version                                          \
	" AND ($3::text IS NULL OR result = $3) AND " client                   \
	" AND (CASE WHEN $5::text IS NULL THEN kind IN ('upgrade', 'rollback')" \
	"  WHEN $5 = 'all' THEN true ELSE kind = $5 END)"                      \
	" AND ($6::bigint = 0 OR finished_at >= $6)"                           \
	" AND ($7::bigint = 0 OR finished_at <= $7)"                           \
	" AND id BETWEEN $8 AND $10"
#define ANY_APP "($1::text IS NULL OR app = $1)"
#define ANY_VERSION "($2::text IS NULL OR to_version = $2)"
#define ANY_CLIENT "($4::text IS NULL OR client_id = $4)"
#define FILTER FILTER_ON(ANY_APP, ANY_VERSION, ANY_CLIENT)
#define BY_CLIENT FILTER_ON(ANY_APP, ANY_VERSION, "client_id = $4")
#define BY_RELEASE FILTER_ON("app = $1", "to_version = $2", ANY_CLIENT)
#define BY_APP FILTER_ON("app = $1", ANY_VERSION, ANY_CLIENT)

#define LIST "SELECT " OUTCOME_JSON "), id FROM outcomes"
#define LIST_END " ORDER BY id DESC LIMIT $9"
#define CSV                                                                    \
	"SELECT outcome_id, kind, gateway_id, upgrade_id, client_id,"          \
	" app, platform, channel, from_version, to_version, result,"           \
	" error_code, message,"                                                \
	" CASE WHEN started_at > 0 THEN " T("started_at") " END,"              \
	" " T("finished_at") ", " T("received_at") ","                         \
	" download_ms, install_ms, id FROM outcomes"
/* Failures, from the partial indexes of schema 5. */
#define FAILED " AND result IN ('failed', 'timed_out')"

static const char *const sql[O_COUNT] = {
    /* Every daemon sharing the database is told of a failure or a halt
     * when its ingest commits (store_watch). */
    [O_INSERT] =
	"WITH ins AS (INSERT INTO outcomes (outcome_id, kind, gateway_id,"
	" upgrade_id, client_id, app, platform, channel, from_version,"
	" to_version, result, error_code, message, started_at, finished_at,"
	" received_at, download_ms, install_ms, events, detail, delta_used,"
	" bytes_downloaded, artifact_size)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
	" $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
	" ON CONFLICT (outcome_id) DO NOTHING RETURNING id, kind, result)"
	" SELECT id, (SELECT pg_notify('" STORE_PG_CHANNEL "',"
	"  CASE WHEN kind = 'release_halted' THEN 'halt ' ELSE 'failure ' END"
	"  || $1) WHERE kind = 'release_halted' OR result <> 'succeeded')"
	" FROM ins",
    [O_STATS_ADD] =
	"INSERT INTO release_stats (app, version, total, succeeded, failed,"
	" timed_out, deltas, bytes_downloaded, bytes_saved, slot)"
	" VALUES ($1, $2, 1, ($3 = 'succeeded')::int,"
	" ($3 = 'failed')::int, ($3 = 'timed_out')::int, $4, $5, $6,"
	" pg_backend_pid() % 16)"
	" ON CONFLICT (app, version, slot) DO UPDATE SET"
	" total = release_stats.total + 1,"
	" succeeded = release_stats.succeeded + excluded.succeeded,"
	" failed = release_stats.failed + excluded.failed,"
	" timed_out = release_stats.timed_out + excluded.timed_out,"
	" deltas = release_stats.deltas + excluded.deltas,"
	" bytes_downloaded = release_stats.bytes_downloaded"
	"  + excluded.bytes_downloaded,"
	" bytes_saved = release_stats.bytes_saved + excluded.bytes_saved",
    [O_LIST] = LIST FILTER LIST_END,
    [O_LIST_CLIENT] = LIST BY_CLIENT LIST_END,
    [O_LIST_RELEASE] = LIST BY_RELEASE LIST_END,
    [O_LIST_APP] = LIST BY_APP LIST_END,
    [O_LIST_FAILED] = LIST FILTER FAILED LIST_END,
    [O_LIST_APP_FAILED] = LIST BY_APP FAILED LIST_END,
    [O_GET] = "SELECT " OUTCOME_JSON ", 'events', events::json,"
	      " 'detail', detail::json) FROM outcomes WHERE outcome_id = $1",
    [O_CSV] = CSV FILTER LIST_END,
    [O_CSV_CLIENT] = CSV BY_CLIENT LIST_END,
    [O_CSV_RELEASE] = CSV BY_RELEASE LIST_END,
    [O_CSV_APP] = CSV BY_APP LIST_END,
    [O_CSV_FAILED] = CSV FILTER FAILED LIST_END,
    [O_CSV_APP_FAILED] = CSV BY_APP FAILED LIST_END,
    [O_STATS] =
	"SELECT json_build_object('app', app, 'version', version,"
	" 'total', total, 'succeeded', succeeded, 'failed', failed,"
	" 'timed_out', timed_out, 'failure_rate',"
	" round((failed + timed_out)::numeric / total, 4)::float8,"
	" 'deltas', deltas, 'bytes_downloaded', bytes_downloaded,"
	" 'bytes_saved', bytes_saved), 0"
	" FROM (SELECT app, version, sum(total) AS total,"
	"  sum(succeeded) AS succeeded, sum(failed) AS failed,"
	"  sum(timed_out) AS timed_out, sum(deltas) AS deltas,"
	"  sum(bytes_downloaded) AS bytes_downloaded,"
	"  sum(bytes_saved) AS bytes_saved FROM release_stats"
	"  WHERE $1::text IS NULL OR app = $1 GROUP BY app, version) s"
	" ORDER BY app, version",
    [O_COUNTS] = "SELECT kind, result, sum(n) FROM outcome_counts"
		 " GROUP BY kind, result HAVING sum(n) > 0 ORDER BY kind, result",
    [O_TIMELINE] =
	"SELECT json_build_object('start', " T("b * $1::bigint") ","
	" 'succeeded', count(*) FILTER (WHERE result = 'succeeded'),"
	" 'failed', count(*) FILTER (WHERE result = 'failed'),"
	" 'timed_out', count(*) FILTER (WHERE result = 'timed_out')), 0"
	" FROM (SELECT finished_at / $1::bigint AS b, result FROM outcomes"
	"  WHERE kind IN ('upgrade', 'rollback') AND finished_at >= $2"
	"  AND ($3::text IS NULL OR app = $3)) s"
	" GROUP BY b ORDER BY b",
    [O_SPAN] = "SELECT coalesce(sum(n), 0), min(lo), max(hi)"
	       " FROM outcome_hours"
	       " WHERE hour BETWEEN $1::bigint / 3600000"
	       " AND $2::bigint / 3600000",
};
/* clang-format on */

const struct pg_sqlset store_pg_outcome_sql = {"outcome", sql, O_COUNT};

int
store_pg_outcome_insert(struct store_conn *c, struct outcome *o, int64_t now)
{
	struct pg *pg = store_pg_of(c);
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, o->outcome_id);
	pg_param_text(&p, store_kind_name(o));
	pg_param_text(&p, o->gateway_id);
	pg_param_text(&p, o->upgrade_id);
	pg_param_text(&p, o->client_id);
	pg_param_text(&p, o->app);
	pg_param_text(&p, o->platform);
	pg_param_text(&p, o->channel);
	pg_param_text(&p, o->from_version);
	pg_param_text(&p, o->to_version);
	pg_param_text(&p, o->result);
	pg_param_text(&p, o->error_code);
	pg_param_text(&p, o->message);
	pg_param_opt(&p, o->started_at > 0 ? o->started_at : -1);
	pg_param_int(&p, o->finished_at);
	pg_param_int(&p, now);
	pg_param_opt(&p, o->download_ms);
	pg_param_opt(&p, o->install_ms);
	pg_param_text(&p, o->events ? o->events : "[]");
	pg_param_text(&p, o->detail);
	pg_param_opt(&p, o->delta_used);
	pg_param_opt(&p, o->bytes_downloaded);
	pg_param_opt(&p, o->artifact_size);
	if ((err = pg_run(pg, &store_pg_outcome_sql, O_INSERT, &p, &res)) < 0)
		return err;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 1; /* seen before */
	}
	o->row = pg_int(res, 0, 0);
	PQclear(res);
	if (o->kind == OUTCOME_HALT)
		return 0;
	pg_params_init(&p);
	pg_param_text(&p, o->app);
	pg_param_text(&p, o->to_version);
	pg_param_text(&p, o->result);
	pg_param_int(&p, o->delta_used == 1);
	pg_param_int(&p, store_outcome_downloaded(o));
	pg_param_int(&p, store_outcome_saved(o));
	return pg_run(pg, &store_pg_outcome_sql, O_STATS_ADD, &p, NULL);
}

/* f->lo and f->hi, as store_sqlite_outcome.c's span() sets them. */
static int
span(struct pg *pg, struct outcome_filter *f)
{
	struct pg_params p;
	PGresult *res;
	int64_t n, lo = 0, hi = INT64_MAX;
	int err;

	if (f->since != 0 || f->until != 0) {
		pg_params_init(&p);
		pg_param_int(&p, f->since != 0 ? f->since : INT64_MIN);
		pg_param_int(&p, f->until != 0 ? f->until : INT64_MAX);
		if ((err = pg_run(
			 pg, &store_pg_outcome_sql, O_SPAN, &p, &res)) < 0)
			return err;
		n = pg_int(res, 0, 0);
		if (n == 0) {
			lo = 1;
			hi = 0;
		} else {
			lo = pg_int(res, 0, 1);
			hi = pg_int(res, 0, 2);
		}
		PQclear(res);
	}
	f->lo = lo;
	f->hi = hi;
	f->spanned = true;
	return 0;
}

/* Run f's query in the form idx (O_LIST or O_CSV) takes. */
static int
filtered(struct pg *pg, int idx, struct outcome_filter *f, int64_t extra,
    PGresult **res)
{
	struct pg_params p;
	int64_t hi;
	int err;

	if (!f->spanned && (err = span(pg, f)) < 0)
		return err;
	hi = f->after > 0 && f->after - 1 < f->hi ? f->after - 1 : f->hi;
	pg_params_init(&p);
	pg_param_text(&p, f->app);
	pg_param_text(&p, f->version);
	pg_param_text(&p, f->result);
	pg_param_text(&p, f->client_id);
	pg_param_text(&p, f->kind);
	pg_param_int(&p, f->since);
	pg_param_int(&p, f->until);
	pg_param_int(&p, f->lo);
	pg_param_opt(&p, f->limit > 0 ? f->limit + extra : -1);
	pg_param_int(&p, hi);
	return pg_run(
	    pg, &store_pg_outcome_sql, idx + store_filter_form(f), &p, res);
}

int
store_pg_outcome_list(
    struct store_conn *c, struct outcome_filter *f, char **json, int64_t *next)
{
	PGresult *res;
	int err;

	if ((err = filtered(store_pg_of(c), O_LIST, f, 1, &res)) < 0)
		return err;
	err = store_pg_rows_json(res, 0, 1, f->limit, json, next);
	PQclear(res);
	return err;
}

int
store_pg_outcome_get(struct store_conn *c, const char *outcome_id, char **json)
{
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, outcome_id);
	if ((err = pg_run(
		 store_pg_of(c), &store_pg_outcome_sql, O_GET, &p, &res)) < 0)
		return err;
	if (PQntuples(res) == 0)
		err = -ENOENT;
	else if ((*json = pg_strdup(res, 0, 0)) == NULL)
		err = -ENOMEM;
	PQclear(res);
	return err;
}

int
store_pg_outcome_csv(struct store_conn *c, struct outcome_filter *f,
    bool header, FILE *out, int64_t *last, int64_t *n)
{
	PGresult *res;
	int ncol, err;

	*last = *n = 0;
	if ((err = filtered(store_pg_of(c), O_CSV, f, 0, &res)) < 0)
		return err;
	ncol = PQnfields(res) - 1; /* the last: id */
	if (header)
		store_csv_header(out);
	for (int r = 0; r < PQntuples(res); r++) {
		*last = pg_int(res, r, ncol);
		++*n;
		for (int i = 0; i < ncol; i++) {
			if (i > 0)
				fputc(',', out);
			store_csv_field(out, PQgetvalue(res, r, i));
		}
		fputs("\r\n", out);
	}
	PQclear(res);
	return 0;
}

int
store_pg_stats(struct store_conn *c, const char *app, char **json)
{
	struct pg_params p;
	PGresult *res;
	int64_t next;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, app);
	if ((err = pg_run(
		 store_pg_of(c), &store_pg_outcome_sql, O_STATS, &p, &res)) < 0)
		return err;
	err = store_pg_rows_json(res, 0, 1, INT64_MAX, json, &next);
	PQclear(res);
	return err;
}

int
store_pg_timeline(struct store_conn *c, const char *app, int64_t since,
    int64_t bucket_ms, char **json)
{
	struct pg_params p;
	PGresult *res;
	int64_t next;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, bucket_ms);
	pg_param_int(&p, since);
	pg_param_text(&p, app);
	if ((err = pg_run(store_pg_of(c), &store_pg_outcome_sql, O_TIMELINE, &p,
		 &res)) < 0)
		return err;
	err = store_pg_rows_json(res, 0, 1, INT64_MAX, json, &next);
	PQclear(res);
	return err;
}

int
store_pg_outcome_counts(struct store_conn *c, FILE *out)
{
	PGresult *res;
	int err;

	if ((err = pg_run(store_pg_of(c), &store_pg_outcome_sql, O_COUNTS, NULL,
		 &res)) < 0)
		return err;
	store_pg_gauge(res, out, "upgate_outcomes",
	    "Archived outcomes by kind and result.", "kind", "result");
	PQclear(res);
	return 0;
}
