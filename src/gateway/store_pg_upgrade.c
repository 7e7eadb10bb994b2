/* SPDX-License-Identifier: MIT */
/* All SQL for upgrades and their events, on PostgreSQL (launch records
 * and pruning: store_pg_launch.c).
 * What must happen once across gateways is a conditional update whose
 * row count says who did it: an upgrade finished (final = 0), a failure
 * told (failure_told = 0), a release halted (halted = 0). Finishing one
 * upgrade of a release locks that release's release_counts row first,
 * so finishes of one release on any gateway take turns and each halt
 * check reads the counts every earlier finish left. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"

/* The outcome mgmtd archives (SPEC "Outcomes"), from upgrade row u: $1 is
 * its outcome_id, $2 the gateway_id; its events in seq order. */
#define OUTCOME_EVENTS                                                         \
	"(SELECT coalesce(json_agg(json_build_object("                         \
	"   'seq', e.seq, 'state', e.state, 'at', " PG_RFC3339(                \
	    "e.at") ","                                                        \
		    "   'error_code', e.error_code, 'message', e.message,"     \
		    "   'progress', e.progress) ORDER BY e.seq), '[]'::json)"  \
		    "   FROM events e WHERE e.upgrade = u.id)"
#define OUTCOME_JSON                                                           \
	"json_build_object("                                                   \
	" 'outcome_id', $1::text, 'gateway_id', $2::text,"                     \
	" 'upgrade_id', u.upgrade_id,"                                         \
	" 'kind', CASE WHEN u.rollback <> 0 THEN 'rollback'"                   \
	"   ELSE 'upgrade' END,"                                               \
	" 'client_id', u.client_id, 'app', u.app, 'platform', u.platform,"     \
	" 'channel', u.channel, 'from_version', u.from_version,"               \
	" 'to_version', u.to_version, 'result', u.state,"                      \
	" 'error_code', u.error_code, 'message', u.message,"                   \
	" 'started_at', " PG_RFC3339(                                          \
	    "u.created_at") ","                                                \
			    " 'finished_at', " PG_RFC3339(                     \
				"u.finished_at") ","                           \
						 " 'download_ms', "            \
						 "u.download_ms, "             \
						 "'install_ms', u.install_ms," \
						 " 'delta_used', "             \
						 "(u.delta_used <> 0),"        \
						 " 'bytes_downloaded', "       \
						 "u.bytes_downloaded,"         \
						 " 'artifact_size', u.size,"   \
						 " 'events', " OUTCOME_EVENTS  \
						 ")::text"
#define UPGRADE_LIST(app, client)                                              \
	"SELECT " UPGRADE_COLS " FROM upgrades"                                \
	" WHERE " app " AND " client                                           \
	" AND ($3::text IS NULL OR state = $3) AND id < $4"                    \
	" ORDER BY id DESC LIMIT $5"
/* An upgrade not final yet, for an update by id: the same test as
 * final = 0, written so that the planner cannot read it through the
 * partial index upgrades_unfinished. After a bulk load or a quiet spell
 * its statistics see almost no unfinished upgrade, and it chose that
 * index over the primary key, reading every unfinished upgrade for
 * each report: 31 ms a report with 7,000 sessions open, (c) at 0.08 of
 * its rate at 10M upgrades (docs/performance.md). */
#define STILL_OPEN "final <> 1"
/* Failures, newest first, found in upgrade_failures (schema 4). */
#define FAILED_LIST(app)                                                       \
	"SELECT " UPGRADE_COLS " FROM upgrades WHERE id = ANY (ARRAY("         \
	"SELECT upgrade FROM upgrade_failures WHERE " app                      \
	" AND ($2::text IS NULL OR client_id = $2)"                            \
	" AND ($3::text IS NULL OR state = $3) AND upgrade < $4"               \
	" ORDER BY upgrade DESC LIMIT $5)) ORDER BY id DESC"
/* ($1 = k)::int: 1 when state number $1 is k */
#define MOVE(col, k)                                                           \
	" " col " = " col " + ($2::int = " k ")::int - ($1::int = " k ")::int"

_Static_assert(UPG_STATE_COUNT == 8, "a release_counts column per state");

static const char *const sql[U_COUNT] = {
    [U_LATEST] = "SELECT " UPGRADE_COLS " FROM upgrades"
		 " WHERE client_id = $1 AND app = $2 ORDER BY id DESC LIMIT 1",
    [U_FAILS] = "SELECT release_id, count(*), max(finished_at)"
		" FROM upgrade_failures WHERE client_id = $1 AND app = $2"
		" GROUP BY release_id",
    [U_INSERT] =
	"INSERT INTO upgrades (upgrade_id, client_id, app,"
	" release_id, platform, channel, from_version, to_version, state,"
	" url, size, sha256, notes, mandatory, created_at, updated_at,"
	" rollback, signed, signature)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'offered', $9, $10, $11,"
	" $12, $13, $14, $14, $15, $16, $17) RETURNING id",
    [U_GET] = "SELECT " UPGRADE_COLS " FROM upgrades WHERE upgrade_id = $1",
    [U_GET_BRIEF] = "SELECT " UPGRADE_STATE_COLS ", '', 0, '', '',"
		    " mandatory, rollback, NULL, NULL FROM upgrades"
		    " WHERE upgrade_id = $1",
    [U_GET_ROW] = "SELECT " UPGRADE_COLS " FROM upgrades WHERE id = $1",
    [U_EVENTS] = "SELECT " EVENT_COLS " FROM events WHERE upgrade = $1"
		 " ORDER BY seq",
    [U_EVENT_GET] = "SELECT " EVENT_COLS " FROM events"
		    " WHERE upgrade = $1 AND seq = $2",
    [U_EVENT_INSERT] =
	"INSERT INTO events (upgrade, seq, state,"
	" error_code, message, progress, download_ms, install_ms, at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    [U_ADVANCE] = "UPDATE upgrades SET state = $2,"
		  " last_seq = greatest(last_seq, $3),"
		  " progress = coalesce($4, progress),"
		  " download_ms = coalesce($5, download_ms),"
		  " install_ms = coalesce($6, install_ms), updated_at = $7,"
		  " delta_used = coalesce($8, delta_used),"
		  " bytes_downloaded = coalesce($9, bytes_downloaded)"
		  " WHERE id = $1 AND " STILL_OPEN,
    [U_FINISH] = "UPDATE upgrades SET state = $2, final = 1,"
		 " error_code = $3, message = $4, finished_at = $5,"
		 " updated_at = $5 WHERE id = $1 AND " STILL_OPEN,
    [U_HALT_WINDOW] =
	"SELECT c.succeeded + c.failed + c.timed_out - r.base_finished,"
	" c.failed + c.timed_out - r.base_failed, r.halted"
	" FROM release_counts c JOIN releases r ON r.id = c.release_id"
	" WHERE c.release_id = $1",
    [U_OUTBOX_OUTCOME] = "INSERT INTO outbox (outcome_id, kind, body,"
			 " created_at) SELECT $1, 'outcome', " OUTCOME_JSON
			 ", $3::bigint FROM upgrades u WHERE u.id = $4",
    [U_HALT] = "UPDATE releases SET halted = 1, halted_at = $2,"
	       " updated_at = $2 WHERE id = $1 AND halted = 0",
    [U_OUTBOX_HALT] =
	"INSERT INTO outbox (outcome_id, kind, body,"
	" created_at) SELECT $1, 'halt', json_build_object("
	" 'outcome_id', $1::text, 'gateway_id', $2::text,"
	" 'kind', 'release_halted',"
	" 'result', 'halted', 'app', app, 'channel', channel,"
	" 'version', version, 'to_version', version,"
	" 'finished', $4::bigint, 'failed', $5::bigint,"
	" 'failure_rate', $6::float8,"
	" 'halt_failure_rate', $7::float8, 'halt_min_samples', $8::bigint,"
	" 'halted_at', " PG_RFC3339(
	    "$3::bigint") ")::text, $3::bigint"
			  " FROM releases WHERE id = $9",
    [U_TELL] = "UPDATE upgrades SET failure_told = 1"
	       " WHERE id = $1 AND failure_told = 0",
    [U_EXPIRED] = "SELECT id FROM upgrades WHERE final = 0"
		  " AND created_at <= $1 ORDER BY created_at LIMIT $2",
    [U_LIST] = UPGRADE_LIST("($1::text IS NULL OR app = $1)",
	"($2::text IS NULL OR client_id = $2)"),
    [U_LIST_CLIENT] =
	UPGRADE_LIST("($1::text IS NULL OR app = $1)", "client_id = $2"),
    [U_LIST_APP] =
	UPGRADE_LIST("app = $1", "($2::text IS NULL OR client_id = $2)"),
    [U_LIST_FAILED] = FAILED_LIST("($1::text IS NULL OR app = $1)"),
    [U_LIST_APP_FAILED] = FAILED_LIST("app = $1"),
    [U_STATE_COUNTS] =
	"SELECT coalesce(sum(offered), 0), coalesce(sum(downloading), 0),"
	" coalesce(sum(downloaded), 0), coalesce(sum(verifying), 0),"
	" coalesce(sum(installing), 0), coalesce(sum(succeeded), 0),"
	" coalesce(sum(failed), 0), coalesce(sum(timed_out), 0)"
	" FROM release_counts",
    /* $1 leaves state number $1 (-1: none) for $2, in release $3. */
    [U_STATE_MOVE] = "UPDATE release_counts SET" MOVE("offered", "0") "," MOVE(
	"downloading", "1") "," MOVE("downloaded", "2") "," MOVE("verifying",
	"3") "," MOVE("installing", "4") "," MOVE("succeeded",
	"5") "," MOVE("failed", "6") "," MOVE("timed_out",
	"7") " WHERE release_id = $3",
};

const struct pg_sqlset store_pg_upgrade_sql = {"upgrade", sql, U_COUNT};

/* Count u's move from state from (-1: a new upgrade) to state to. */
static int
count_move(struct pg *pg, const struct upgrade *u, int from, enum upg_state to)
{
	struct pg_params p;

	if (from == (int)to)
		return 0;
	pg_params_init(&p);
	pg_param_int(&p, from);
	pg_param_int(&p, (int)to);
	pg_param_int(&p, u->release_id);
	return pg_run(pg, &store_pg_upgrade_sql, U_STATE_MOVE, &p, NULL);
}

static int
read_upgrade(const PGresult *res, int i, struct upgrade *u)
{
	memset(u, 0, sizeof(*u));
	u->id = pg_int(res, i, 0);
	pg_copy(res, i, 1, u->upgrade_id, sizeof(u->upgrade_id));
	pg_copy(res, i, 2, u->client_id, sizeof(u->client_id));
	pg_copy(res, i, 3, u->app, sizeof(u->app));
	pg_copy(res, i, 4, u->platform, sizeof(u->platform));
	pg_copy(res, i, 5, u->channel, sizeof(u->channel));
	pg_copy(res, i, 6, u->from_version, sizeof(u->from_version));
	pg_copy(res, i, 7, u->to_version, sizeof(u->to_version));
	u->release_id = pg_int(res, i, 8);
	if (store_state_parse(PQgetvalue(res, i, 9), &u->state) < 0)
		return -EIO;
	u->last_seq = pg_int(res, i, 10);
	u->progress = (int)pg_opt(res, i, 11);
	u->download_ms = pg_opt(res, i, 12);
	u->install_ms = pg_opt(res, i, 13);
	pg_copy(res, i, 14, u->error_code, sizeof(u->error_code));
	if (pg_opt_text(res, i, 15, &u->message) < 0)
		return -ENOMEM;
	u->created_at = pg_int(res, i, 16);
	u->updated_at = pg_int(res, i, 17);
	u->finished_at = pg_int(res, i, 18);
	u->failure_told = pg_int(res, i, 19);
	u->url = pg_strdup(res, i, 20);
	u->size = pg_int(res, i, 21);
	pg_copy(res, i, 22, u->sha256, sizeof(u->sha256));
	u->notes = pg_strdup(res, i, 23);
	u->mandatory = pg_int(res, i, 24);
	u->rollback = pg_int(res, i, 25);
	if (pg_opt_text(res, i, 26, &u->signed_doc) < 0 ||
	    pg_opt_text(res, i, 27, &u->signature) < 0 || u->url == NULL ||
	    u->notes == NULL) {
		store_upgrade_fini(u);
		return -ENOMEM;
	}
	return 0;
}

/* Run statement idx with p expecting at most one upgrade row. */
static int
one_upgrade(struct store_conn *c, int idx, const struct pg_params *p,
    struct upgrade *out)
{
	struct upgrade u;
	PGresult *res;
	int err;

	if ((err = pg_run(
		 store_pg_of(c), &store_pg_upgrade_sql, idx, p, &res)) < 0)
		return err;
	err = PQntuples(res) == 0 ? -ENOENT : read_upgrade(res, 0, &u);
	PQclear(res);
	if (err < 0)
		return err;
	*out = u;
	return 0;
}

int
store_pg_upgrade_latest(struct store_conn *c, const char *client_id,
    const char *app, struct upgrade *out)
{
	struct pg_params p;

	pg_params_init(&p);
	pg_param_text(&p, client_id);
	pg_param_text(&p, app);
	return one_upgrade(c, U_LATEST, &p, out);
}

int
store_pg_upgrade_get(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out)
{
	struct pg_params p;

	pg_params_init(&p);
	pg_param_text(&p, upgrade_id);
	return one_upgrade(c, U_GET, &p, out);
}

int
store_pg_upgrade_get_brief(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out)
{
	struct pg_params p;

	pg_params_init(&p);
	pg_param_text(&p, upgrade_id);
	return one_upgrade(c, U_GET_BRIEF, &p, out);
}

int
store_pg_upgrade_get_row(struct store_conn *c, int64_t id, struct upgrade *out)
{
	struct pg_params p;

	pg_params_init(&p);
	pg_param_int(&p, id);
	return one_upgrade(c, U_GET_ROW, &p, out);
}

int
store_pg_upgrade_failures(struct store_conn *c, const char *client_id,
    const char *app, struct fail_stat **out, size_t *n)
{
	struct fail_stat *list = NULL;
	struct pg_params p;
	PGresult *res;
	size_t len;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, client_id);
	pg_param_text(&p, app);
	if ((err = pg_run(
		 store_pg_of(c), &store_pg_upgrade_sql, U_FAILS, &p, &res)) < 0)
		return err;
	len = (size_t)PQntuples(res);
	if (len > 0 && (list = calloc(len, sizeof(*list))) == NULL) {
		PQclear(res);
		return -ENOMEM;
	}
	for (size_t i = 0; i < len; i++) {
		list[i].release_id = pg_int(res, (int)i, 0);
		list[i].failures = pg_int(res, (int)i, 1);
		list[i].last_at = pg_int(res, (int)i, 2);
	}
	PQclear(res);
	*out = list;
	*n = len;
	return 0;
}

int
store_pg_upgrade_insert(struct store_conn *c, struct upgrade *u)
{
	struct pg *pg = store_pg_of(c);
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, u->upgrade_id);
	pg_param_text(&p, u->client_id);
	pg_param_text(&p, u->app);
	pg_param_int(&p, u->release_id);
	pg_param_text(&p, u->platform);
	pg_param_text(&p, u->channel);
	pg_param_text(&p, u->from_version);
	pg_param_text(&p, u->to_version);
	pg_param_text(&p, u->url);
	pg_param_int(&p, u->size);
	pg_param_text(&p, u->sha256);
	pg_param_text(&p, u->notes ? u->notes : "");
	pg_param_int(&p, u->mandatory);
	pg_param_int(&p, u->created_at);
	pg_param_int(&p, u->rollback);
	pg_param_text(&p, u->signed_doc);
	pg_param_text(&p, u->signature);
	if ((err = pg_run(pg, &store_pg_upgrade_sql, U_INSERT, &p, &res)) < 0)
		return err;
	u->id = pg_int(res, 0, 0);
	PQclear(res);
	return count_move(pg, u, -1, UPG_OFFERED);
}

static int
read_event(const PGresult *res, int i, struct upgrade_event *e)
{
	memset(e, 0, sizeof(*e));
	e->seq = pg_int(res, i, 0);
	if (store_state_parse(PQgetvalue(res, i, 1), &e->state) < 0)
		return -EIO;
	pg_copy(res, i, 2, e->error_code, sizeof(e->error_code));
	if (pg_opt_text(res, i, 3, &e->message) < 0)
		return -ENOMEM;
	e->progress = (int)pg_opt(res, i, 4);
	e->download_ms = pg_opt(res, i, 5);
	e->install_ms = pg_opt(res, i, 6);
	e->at = pg_int(res, i, 7);
	return 0;
}

int
store_pg_upgrade_events(
    struct store_conn *c, int64_t id, struct upgrade_event **out, size_t *n)
{
	struct upgrade_event *list = NULL;
	struct pg_params p;
	PGresult *res;
	size_t len = 0, rows;
	int err = 0;

	pg_params_init(&p);
	pg_param_int(&p, id);
	if ((err = pg_run(store_pg_of(c), &store_pg_upgrade_sql, U_EVENTS, &p,
		 &res)) < 0)
		return err;
	rows = (size_t)PQntuples(res);
	if (rows > 0 && (list = calloc(rows, sizeof(*list))) == NULL)
		err = -ENOMEM;
	for (; err == 0 && len < rows; len++)
		err = read_event(res, (int)len, &list[len]);
	PQclear(res);
	if (err < 0) {
		store_event_free_list(list, len);
		return err;
	}
	*out = list;
	*n = len;
	return 0;
}

int
store_pg_upgrade_event_get(
    struct store_conn *c, int64_t id, int64_t seq, struct upgrade_event *out)
{
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, id);
	pg_param_int(&p, seq);
	if ((err = pg_run(store_pg_of(c), &store_pg_upgrade_sql, U_EVENT_GET,
		 &p, &res)) < 0)
		return err;
	err = PQntuples(res) == 0 ? -ENOENT : read_event(res, 0, out);
	PQclear(res);
	return err;
}

int
store_pg_upgrade_event_add(struct store_conn *c, const struct upgrade *u,
    const struct upgrade_event *e)
{
	struct pg *pg = store_pg_of(c);
	struct pg_params p;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, u->id);
	pg_param_int(&p, e->seq);
	pg_param_text(&p, store_state_name(e->state));
	pg_param_text(&p, e->error_code[0] ? e->error_code : NULL);
	pg_param_text(&p, e->message);
	pg_param_opt(&p, e->progress);
	pg_param_opt(&p, e->download_ms);
	pg_param_opt(&p, e->install_ms);
	pg_param_int(&p, e->at);
	if ((err = pg_run(
		 pg, &store_pg_upgrade_sql, U_EVENT_INSERT, &p, NULL)) < 0)
		return err;
	pg_params_init(&p);
	pg_param_int(&p, u->id);
	/* A final state is set by store_upgrade_finish; keep the last one. */
	pg_param_text(
	    &p, store_state_name(
		    store_state_final(e->state) ? u->state : e->state));
	pg_param_int(&p, e->seq);
	pg_param_opt(&p, e->progress);
	pg_param_opt(&p, e->download_ms);
	pg_param_opt(&p, e->install_ms);
	pg_param_int(&p, e->at);
	pg_param_opt(&p, e->delta_used);
	pg_param_opt(&p, e->bytes_downloaded);
	if ((err = pg_run(pg, &store_pg_upgrade_sql, U_ADVANCE, &p, NULL)) < 0)
		return err;
	if (store_state_final(e->state))
		return 0;
	return count_move(pg, u, (int)u->state, e->state);
}

/* Mark release_id halted and queue its notice, when no other gateway
 * did first. *done tells whether this call halted it. */
static int
halt_release(struct pg *pg, int64_t release_id, int64_t finished,
    int64_t failed, int64_t now, const struct finish_opts *o, bool *done)
{
	char oid[ID_LEN + 1];
	struct pg_params p;
	PGresult *res;
	int err;

	*done = false;
	pg_params_init(&p);
	pg_param_int(&p, release_id);
	pg_param_int(&p, now);
	if ((err = pg_run(pg, &store_pg_upgrade_sql, U_HALT, &p, &res)) < 0)
		return err;
	*done = pg_changes(res) > 0;
	PQclear(res);
	if (!*done)
		return 0;
	id_new(oid);
	pg_params_init(&p);
	pg_param_text(&p, oid);
	pg_param_text(&p, o->gateway_id);
	pg_param_int(&p, now);
	pg_param_int(&p, finished);
	pg_param_int(&p, failed);
	pg_param_real(&p, (double)failed / (double)finished);
	pg_param_real(&p, o->halt_failure_rate);
	pg_param_int(&p, o->halt_min_samples);
	pg_param_int(&p, release_id);
	return pg_run(pg, &store_pg_upgrade_sql, U_OUTBOX_HALT, &p, NULL);
}

int
store_pg_upgrade_finish(struct store_conn *c, const struct upgrade *u,
    enum upg_state state, const char *error_code, const char *message,
    int64_t now, const struct finish_opts *o, bool *halted)
{
	struct pg *pg = store_pg_of(c);
	char oid[ID_LEN + 1];
	int64_t finished, failed, changed;
	struct pg_params p;
	PGresult *res;
	bool was_halted;
	int err;

	*halted = false;
	pg_params_init(&p);
	pg_param_int(&p, u->id);
	pg_param_text(&p, store_state_name(state));
	pg_param_text(&p, error_code && *error_code ? error_code : NULL);
	pg_param_text(&p, message);
	pg_param_int(&p, now);
	if ((err = pg_run(pg, &store_pg_upgrade_sql, U_FINISH, &p, &res)) < 0)
		return err;
	changed = pg_changes(res);
	PQclear(res);
	if (changed == 0)
		return -EALREADY;
	/* Locks the release's counts until commit: the halt window below
	 * includes every finish committed before. */
	if ((err = count_move(pg, u, (int)u->state, state)) < 0)
		return err;

	id_new(oid);
	pg_params_init(&p);
	pg_param_text(&p, oid);
	pg_param_text(&p, o->gateway_id);
	pg_param_int(&p, now);
	pg_param_int(&p, u->id);
	if ((err = pg_run(
		 pg, &store_pg_upgrade_sql, U_OUTBOX_OUTCOME, &p, NULL)) < 0)
		return err;

	pg_params_init(&p);
	pg_param_int(&p, u->release_id);
	if ((err = pg_run(pg, &store_pg_upgrade_sql, U_HALT_WINDOW, &p, &res)) <
	    0)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return -EIO;
	}
	finished = pg_int(res, 0, 0);
	failed = pg_int(res, 0, 1);
	was_halted = pg_int(res, 0, 2);
	PQclear(res);
	if (was_halted || finished < o->halt_min_samples || finished == 0 ||
	    (double)failed / (double)finished <= o->halt_failure_rate)
		return 0;
	return halt_release(
	    pg, u->release_id, finished, failed, now, o, halted);
}

int
store_pg_upgrade_tell(struct store_conn *c, int64_t id)
{
	struct pg_params p;
	PGresult *res;
	int64_t n;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, id);
	if ((err = pg_run(
		 store_pg_of(c), &store_pg_upgrade_sql, U_TELL, &p, &res)) < 0)
		return err;
	n = pg_changes(res);
	PQclear(res);
	return n > 0;
}

int
store_pg_upgrade_expired(
    struct store_conn *c, int64_t cutoff, int64_t *ids, int max)
{
	struct pg_params p;
	PGresult *res;
	int n, err;

	pg_params_init(&p);
	pg_param_int(&p, cutoff);
	pg_param_int(&p, max);
	if ((err = pg_run(store_pg_of(c), &store_pg_upgrade_sql, U_EXPIRED, &p,
		 &res)) < 0)
		return err;
	n = PQntuples(res) < max ? PQntuples(res) : max;
	for (int i = 0; i < n; i++)
		ids[i] = pg_int(res, i, 0);
	PQclear(res);
	return n;
}

int
store_pg_upgrade_list(struct store_conn *c, const struct upgrade_filter *f,
    struct upgrade **out, size_t *n)
{
	struct upgrade *list;
	struct pg_params p;
	PGresult *res;
	size_t len = 0, rows;
	int err = 0;

	pg_params_init(&p);
	pg_param_text(&p, f->app);
	pg_param_text(&p, f->client_id);
	pg_param_text(&p,
	    f->state >= 0 ? store_state_name((enum upg_state)f->state) : NULL);
	pg_param_int(&p, f->after > 0 ? f->after : INT64_MAX);
	pg_param_int(&p, f->limit);
	if ((err = pg_run(store_pg_of(c), &store_pg_upgrade_sql,
		 store_upgrade_list_form(f), &p, &res)) < 0)
		return err;
	rows = (size_t)PQntuples(res);
	if ((list = calloc(rows ? rows : 1, sizeof(*list))) == NULL)
		err = -ENOMEM;
	for (; err == 0 && len < rows; len++)
		if ((err = read_upgrade(res, (int)len, &list[len])) < 0)
			break;
	PQclear(res);
	if (err < 0) {
		store_upgrade_free_list(list, len);
		return err;
	}
	*out = list;
	*n = len;
	return 0;
}

int
store_pg_upgrade_state_counts(
    struct store_conn *c, int64_t counts[UPG_STATE_COUNT])
{
	PGresult *res;
	int err;

	memset(counts, 0, sizeof(int64_t) * UPG_STATE_COUNT);
	if ((err = pg_run(store_pg_of(c), &store_pg_upgrade_sql, U_STATE_COUNTS,
		 NULL, &res)) < 0)
		return err;
	for (int i = 0; i < UPG_STATE_COUNT && PQntuples(res) == 1; i++)
		counts[i] = pg_int(res, 0, i);
	PQclear(res);
	return 0;
}
