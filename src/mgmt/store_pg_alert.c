/* SPDX-License-Identifier: MIT */
/* Alerts on PostgreSQL: grouping state, alerts, deliveries and their
 * queue, shared by every mgmtd on the database. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"

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
#define T(x) PG_RFC3339(x)
/* An alert as its deliveries carry it (store_sqlite_alert.c's). */
#define ALERT_COLS                                                             \
	" a.alert_id, a.subject, a.body, a.sms, a.created_at, a.kind, a.app,"  \
	" a.version, a.failures, coalesce((SELECT channel FROM outcomes"       \
	"  WHERE outcome_id = a.outcome_id),"                                  \
	"  (SELECT channel FROM outcomes WHERE alert = a.id LIMIT 1), ''),"    \
	" coalesce((SELECT json_agg(upgrade_id ORDER BY id) FROM"              \
	"  (SELECT upgrade_id, id FROM outcomes WHERE outcome_id = a.outcome_id" \
	"  UNION SELECT upgrade_id, id FROM outcomes WHERE alert = a.id) u"    \
	"  WHERE upgrade_id IS NOT NULL), '[]')"
static const char *const sql[A_COUNT] = {
    /* The group's row, made when missing, locked until the transaction
     * ends: the failures of one release are grouped one after another,
     * whichever daemons ingest them. */
    [A_GROUP_GET] =
	"INSERT INTO alert_groups (app, version, announced_at, window_end,"
	" pending, due_at) VALUES ($1, $2, 0, 0, 0, 0)"
	" ON CONFLICT (app, version) DO UPDATE SET app = excluded.app"
	" RETURNING announced_at, window_end, pending, due_at",
    [A_GROUP_PUT] =
	"INSERT INTO alert_groups (app, version, announced_at, window_end,"
	" pending, due_at) VALUES ($1, $2, $3, $4, $5, $6)"
	" ON CONFLICT (app, version) DO UPDATE SET"
	" announced_at = excluded.announced_at,"
	" window_end = excluded.window_end, pending = excluded.pending,"
	" due_at = excluded.due_at",
    /* A digest is made by one daemon: the others skip its groups. */
    [A_GROUP_DUE] =
	"SELECT app, version, announced_at, window_end, pending, due_at"
	" FROM alert_groups WHERE pending > 0 AND due_at <= $1"
	" ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    [A_ALERT_INSERT] =
	"INSERT INTO alerts (alert_id, kind, app, version, outcome_id,"
	" failures, subject, body, sms, created_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    [A_DELIVERY_ADD] =
	"INSERT INTO deliveries (alert, channel, recipient, state, next_at,"
	" created_at, updated_at, sent_at) VALUES ($1, $2, $3, $4::text, $5,"
	" $5, $5, CASE WHEN $4 = 'sent' THEN $5::bigint END)",
    [A_WAIT] = "UPDATE outcomes SET waiting = 1 WHERE id = $1",
    [A_CLAIM] = "UPDATE outcomes SET waiting = 0, alert = $3"
		" WHERE waiting = 1 AND app = $1 AND to_version = $2",
    [A_WAITING] =
	"SELECT client_id, from_version, error_code, message, upgrade_id,"
	" result, finished_at FROM outcomes"
	" WHERE waiting = 1 AND app = $1 AND to_version = $2"
	" ORDER BY id LIMIT $3",
    [A_WAITING_COUNT] =
	"SELECT count(*) FROM outcomes"
	" WHERE waiting = 1 AND app = $1 AND to_version = $2",
    [A_INHIBIT] =
	"UPDATE deliveries SET state = 'inhibited', updated_at = $3,"
	" last_error = 'replaced by the release''s halt alert'"
	" WHERE state IN ('pending', 'failed') AND alert IN"
	" (SELECT id FROM alerts WHERE app = $1 AND version = $2"
	"  AND kind IN ('failure', 'digest'))",
    /* Claim: held until $2 by this daemon, skipped by the others. */
    [A_DUE] =
	"UPDATE deliveries d SET claimed_until = $2 FROM alerts a"
	" WHERE a.id = d.alert AND d.id IN (SELECT id FROM deliveries"
	"  WHERE state IN ('pending', 'failed') AND next_at <= $1"
	"  AND claimed_until <= $1 AND channel = $4"
	"  ORDER BY next_at, id LIMIT $3"
	"  FOR UPDATE SKIP LOCKED)"
	" RETURNING d.id, d.channel, d.recipient, d.attempts," ALERT_COLS,
    [A_HALTS_OPEN] =
	"SELECT a.id, '', '', 0," ALERT_COLS " FROM alerts a"
	" WHERE a.kind = 'halt' AND a.resolved_at IS NULL ORDER BY a.id"
	" LIMIT $1",
    [A_HALT_RESOLVED] = "UPDATE alerts SET resolved_at = $2 WHERE id = $1",
    /* A delivery inhibited while its attempt ran stays inhibited,
     * unless the attempt sent it. */
    [A_DONE] =
	"UPDATE deliveries SET attempts = attempts + 1, updated_at = $5,"
	" state = CASE WHEN $2::boolean THEN 'sent' WHEN state = 'inhibited'"
	"  THEN state WHEN $3::boolean THEN 'failed' ELSE 'pending' END,"
	" sent_at = CASE WHEN $2::boolean THEN $5::bigint END,"
	" last_error = CASE WHEN $2::boolean OR state = 'inhibited'"
	"  THEN last_error ELSE $4 END,"
	" next_at = $6, claimed_until = 0 WHERE id = $1",
    [A_NEXT_DUE] =
	"SELECT min(t) FROM (SELECT min(greatest(next_at, claimed_until)) AS t"
	" FROM deliveries WHERE state IN ('pending', 'failed') UNION ALL"
	" SELECT min(due_at) FROM alert_groups WHERE pending > 0) s",
    [A_NEXT_DIGEST] =
	"SELECT min(due_at) FROM alert_groups WHERE pending > 0",
    [A_NEXT_LANE] =
	"SELECT min(greatest(next_at, claimed_until)) FROM deliveries"
	" WHERE state IN ('pending', 'failed') AND channel = $1",
    /* Digests waiting for their group window, soonest first. */
    [A_DIGESTS] =
	"SELECT json_build_object('app', app, 'version', version, 'failures',"
	" pending, 'due_at', " T("due_at") "), 0 FROM alert_groups"
	" WHERE pending > 0 ORDER BY due_at LIMIT $1",
    [A_LIST] =
	"SELECT json_build_object('delivery_id', d.id,"
	" 'alert_id', a.alert_id, 'kind', a.kind, 'channel', d.channel,"
	" 'recipient', nullif(d.recipient, ''), 'state', d.state,"
	" 'attempts', d.attempts, 'last_error', d.last_error,"
	" 'next_attempt_at', CASE WHEN d.state IN ('pending', 'failed')"
	"  THEN " T("d.next_at") " END,"
	" 'created_at', " T("d.created_at") ","
	" 'sent_at', CASE WHEN d.sent_at > 0 THEN " T("d.sent_at") " END,"
	" 'app', a.app, 'version', a.version, 'outcome_id', a.outcome_id,"
	" 'failures', a.failures, 'subject', a.subject, 'text', a.sms),"
	" d.id FROM deliveries d JOIN alerts a ON a.id = d.alert"
	" WHERE ($1::text IS NULL OR d.state = $1)"
	" AND ($2::text IS NULL OR d.channel = $2)"
	" AND ($3::text IS NULL OR a.app = $3) AND d.id < $4"
	" ORDER BY d.id DESC LIMIT $5",
    [A_COUNTS] = "SELECT channel, state, sum(n) FROM delivery_counts"
		 " GROUP BY channel, state HAVING sum(n) > 0"
		 " ORDER BY channel, state",
};
/* clang-format on */

const struct pg_sqlset store_pg_alert_sql = {"alert", sql, A_COUNT};

/* Run statement idx with p; res NULL: the rows it changed or -errno. */
static int
run(struct store_conn *c, int idx, const struct pg_params *p, PGresult **res)
{
	PGresult *r;
	int err;

	if (res != NULL)
		return pg_run(store_pg_of(c), &store_pg_alert_sql, idx, p, res);
	if ((err = pg_run(store_pg_of(c), &store_pg_alert_sql, idx, p, &r)) < 0)
		return err;
	err = (int)pg_changes(r);
	PQclear(r);
	return err;
}

static void
app_version(struct pg_params *p, const char *app, const char *version)
{
	pg_params_init(p);
	pg_param_text(p, app);
	pg_param_text(p, version);
}

static void
group_cols(const PGresult *res, int row, int i, struct alert_group *g)
{
	g->announced_at = pg_int(res, row, i);
	g->window_end = pg_int(res, row, i + 1);
	g->pending = pg_int(res, row, i + 2);
	g->due_at = pg_int(res, row, i + 3);
}

int
store_pg_group_get(struct store_conn *c, const char *app, const char *version,
    struct alert_group *out)
{
	struct pg_params p;
	PGresult *res;
	int err;

	app_version(&p, app, version);
	if ((err = run(c, A_GROUP_GET, &p, &res)) < 0)
		return err;
	if (PQntuples(res) > 0)
		group_cols(res, 0, 0, out);
	PQclear(res);
	return 0;
}

int
store_pg_group_put(struct store_conn *c, const struct alert_group *g)
{
	struct pg_params p;
	int err;

	app_version(&p, g->app, g->version);
	pg_param_int(&p, g->announced_at);
	pg_param_int(&p, g->window_end);
	pg_param_int(&p, g->pending);
	pg_param_int(&p, g->due_at);
	err = run(c, A_GROUP_PUT, &p, NULL);
	return err < 0 ? err : 0;
}

int
store_pg_group_due(
    struct store_conn *c, int64_t now, struct alert_group *out, int max)
{
	struct pg_params p;
	PGresult *res;
	int n, err;

	pg_params_init(&p);
	pg_param_int(&p, now);
	pg_param_int(&p, max);
	if ((err = run(c, A_GROUP_DUE, &p, &res)) < 0)
		return err;
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		pg_copy(res, i, 0, out[i].app, sizeof(out[i].app));
		pg_copy(res, i, 1, out[i].version, sizeof(out[i].version));
		group_cols(res, i, 2, &out[i]);
	}
	PQclear(res);
	return n;
}

int
store_pg_alert_insert(struct store_conn *c, struct alert *a)
{
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, a->alert_id);
	pg_param_text(&p, a->kind);
	pg_param_text(&p, a->app);
	pg_param_text(&p, a->version);
	pg_param_text(&p, a->outcome_id);
	pg_param_int(&p, a->failures);
	pg_param_text(&p, a->subject);
	pg_param_text(&p, a->body);
	pg_param_text(&p, a->sms);
	pg_param_int(&p, a->created_at);
	if ((err = run(c, A_ALERT_INSERT, &p, &res)) < 0)
		return err;
	a->row = pg_int(res, 0, 0);
	PQclear(res);
	return 0;
}

int
store_pg_delivery_add(struct store_conn *c, int64_t alert, const char *channel,
    const char *recipient, const char *state, int64_t now)
{
	struct pg_params p;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, alert);
	pg_param_text(&p, channel);
	pg_param_text(&p, recipient);
	pg_param_text(&p, state);
	pg_param_int(&p, now);
	err = run(c, A_DELIVERY_ADD, &p, NULL);
	return err < 0 ? err : 0;
}

int
store_pg_outcome_wait(struct store_conn *c, int64_t row)
{
	struct pg_params p;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, row);
	err = run(c, A_WAIT, &p, NULL);
	return err < 0 ? err : 0;
}

int
store_pg_outcome_claim(
    struct store_conn *c, const char *app, const char *version, int64_t alert)
{
	struct pg_params p;
	int err;

	app_version(&p, app, version);
	pg_param_int(&p, alert);
	err = run(c, A_CLAIM, &p, NULL);
	return err < 0 ? err : 0;
}

int
store_pg_outcome_waiting(struct store_conn *c, const char *app,
    const char *version, struct waiting *out, int max, int64_t *total)
{
	struct pg_params p;
	PGresult *res;
	int n, err;

	app_version(&p, app, version);
	if ((err = run(c, A_WAITING_COUNT, &p, &res)) < 0)
		return err;
	*total = pg_int(res, 0, 0);
	PQclear(res);
	if (max == 0)
		return 0;
	pg_param_int(&p, max);
	if ((err = run(c, A_WAITING, &p, &res)) < 0)
		return err;
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct waiting *w = &out[i];

		w->client_id = pg_strdup(res, i, 0);
		w->from_version = pg_strdup(res, i, 1);
		w->error_code = pg_strdup(res, i, 2);
		w->message = pg_strdup(res, i, 3);
		w->upgrade_id = pg_strdup(res, i, 4);
		w->result = pg_strdup(res, i, 5);
		w->finished_at = pg_int(res, i, 6);
		if (!w->client_id || !w->from_version || !w->error_code ||
		    !w->message || !w->upgrade_id || !w->result) {
			store_waiting_free(out, (size_t)i + 1);
			err = -ENOMEM;
			break;
		}
	}
	PQclear(res);
	return err < 0 ? err : n;
}

int
store_pg_delivery_inhibit(
    struct store_conn *c, const char *app, const char *version, int64_t now)
{
	struct pg_params p;

	app_version(&p, app, version);
	pg_param_int(&p, now);
	return run(c, A_INHIBIT, &p, NULL);
}

/* res's deliveries (the columns of A_DUE) into out. */
static int
delivery_rows(PGresult *res, struct delivery *out)
{
	int n = PQntuples(res), err = 0;

	for (int i = 0; i < n; i++) {
		struct delivery *d = &out[i];

		memset(d, 0, sizeof(*d));
		d->id = pg_int(res, i, 0);
		pg_copy(res, i, 1, d->channel, sizeof(d->channel));
		pg_copy(res, i, 2, d->recipient, sizeof(d->recipient));
		d->attempts = pg_int(res, i, 3);
		pg_copy(res, i, 4, d->alert_id, sizeof(d->alert_id));
		d->subject = pg_strdup(res, i, 5);
		d->body = pg_strdup(res, i, 6);
		d->sms = pg_strdup(res, i, 7);
		d->created_at = pg_int(res, i, 8);
		pg_copy(res, i, 9, d->kind, sizeof(d->kind));
		pg_copy(res, i, 10, d->app, sizeof(d->app));
		pg_copy(res, i, 11, d->version, sizeof(d->version));
		d->failures = pg_int(res, i, 12);
		pg_copy(
		    res, i, 13, d->release_channel, sizeof(d->release_channel));
		d->upgrade_ids = pg_strdup(res, i, 14);
		if (!d->subject || !d->body || !d->sms || !d->upgrade_ids) {
			store_delivery_free(out, (size_t)i + 1);
			err = -ENOMEM;
			break;
		}
	}
	PQclear(res);
	return err < 0 ? err : n;
}

int
store_pg_delivery_due(struct store_conn *c, const char *channel, int64_t now,
    int64_t lease, struct delivery *out, int max)
{
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, now);
	pg_param_int(&p, now + lease);
	pg_param_int(&p, max);
	pg_param_text(&p, channel);
	if ((err = run(c, A_DUE, &p, &res)) < 0)
		return err;
	return delivery_rows(res, out);
}

int
store_pg_halts_open(struct store_conn *c, struct delivery *out, int max)
{
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, max);
	if ((err = run(c, A_HALTS_OPEN, &p, &res)) < 0)
		return err;
	return delivery_rows(res, out);
}

int
store_pg_halt_resolved(struct store_conn *c, int64_t alert, int64_t now)
{
	struct pg_params p;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, alert);
	pg_param_int(&p, now);
	err = run(c, A_HALT_RESOLVED, &p, NULL);
	return err < 0 ? err : 0;
}

int
store_pg_delivery_done(struct store_conn *c, int64_t id, bool ok,
    bool permanent, const char *error, int64_t now, int64_t next_at)
{
	struct pg_params p;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, id);
	pg_param_text(&p, ok ? "true" : "false");
	pg_param_text(&p, permanent ? "true" : "false");
	pg_param_text(&p, error);
	pg_param_int(&p, now);
	pg_param_int(&p, next_at);
	err = run(c, A_DONE, &p, NULL);
	return err < 0 ? err : 0;
}

int
store_pg_next_due(struct store_conn *c, const char *channel, int64_t *at)
{
	int form = store_next_due_form(channel), err;
	struct pg_params p;
	PGresult *res;

	pg_params_init(&p);
	if (form == 2)
		pg_param_text(&p, channel);
	if ((err = run(c, A_NEXT_DUE + form, &p, &res)) < 0)
		return err;
	*at = pg_int(res, 0, 0);
	PQclear(res);
	return 0;
}

int
store_pg_delivery_list(struct store_conn *c, const char *state,
    const char *channel, const char *app, int64_t after, int64_t limit,
    char **json, int64_t *next)
{
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, state);
	pg_param_text(&p, channel);
	pg_param_text(&p, app);
	pg_param_int(&p, after > 0 ? after : INT64_MAX);
	pg_param_int(&p, limit + 1);
	if ((err = run(c, A_LIST, &p, &res)) < 0)
		return err;
	err = store_pg_rows_json(res, 0, 1, limit, json, next);
	PQclear(res);
	return err;
}

int
store_pg_digest_list(struct store_conn *c, int64_t limit, char **json)
{
	struct pg_params p;
	PGresult *res;
	int64_t next = 0;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, limit + 1);
	if ((err = run(c, A_DIGESTS, &p, &res)) < 0)
		return err;
	err = store_pg_rows_json(res, 0, 1, limit, json, &next);
	PQclear(res);
	return err;
}

int
store_pg_delivery_counts(struct store_conn *c, FILE *out)
{
	PGresult *res;
	int err;

	if ((err = run(c, A_COUNTS, NULL, &res)) < 0)
		return err;
	store_pg_gauge(res, out, "upgate_alert_deliveries",
	    "Alert deliveries by channel and state.", "channel", "state");
	PQclear(res);
	return 0;
}
