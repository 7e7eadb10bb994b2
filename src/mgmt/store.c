/* SPDX-License-Identifier: MIT */
/* mgmtd's schema and its migrations. */
#include "store.h"

extern const struct db_sqlset store_outcome_sql;
extern const struct db_sqlset store_alert_sql;

static const char *const migrations[] = {
    /* 1: the archive, per-release counts, alert groups, alerts and their
     * deliveries. */
    "CREATE TABLE outcomes ("
    "  id INTEGER PRIMARY KEY,"
    "  outcome_id TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL," /* upgrade | release_halted */
    "  gateway_id TEXT NOT NULL,"
    "  upgrade_id TEXT, client_id TEXT,"
    "  app TEXT NOT NULL, platform TEXT, channel TEXT,"
    "  from_version TEXT, to_version TEXT NOT NULL,"
    "  result TEXT NOT NULL, error_code TEXT, message TEXT,"
    "  started_at INTEGER, finished_at INTEGER NOT NULL,"
    "  received_at INTEGER NOT NULL,"
    "  download_ms INTEGER, install_ms INTEGER,"
    "  events TEXT NOT NULL DEFAULT '[]',"
    "  detail TEXT,"
    "  waiting INTEGER NOT NULL DEFAULT 0," /* for its release's digest */
    "  alert INTEGER);"			    /* the alert that told it */
    "CREATE INDEX outcomes_app ON outcomes(app, to_version, id);"
    "CREATE INDEX outcomes_client ON outcomes(client_id, id);"
    "CREATE INDEX outcomes_finished ON outcomes(finished_at);"
    "CREATE INDEX outcomes_waiting ON outcomes(app, to_version, id)"
    "  WHERE waiting = 1;"
    "CREATE TABLE release_stats ("
    "  app TEXT NOT NULL, version TEXT NOT NULL,"
    "  total INTEGER NOT NULL DEFAULT 0,"
    "  succeeded INTEGER NOT NULL DEFAULT 0,"
    "  failed INTEGER NOT NULL DEFAULT 0,"
    "  timed_out INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (app, version)) WITHOUT ROWID;"
    "CREATE TABLE alert_groups ("
    "  app TEXT NOT NULL, version TEXT NOT NULL,"
    "  announced_at INTEGER NOT NULL, window_end INTEGER NOT NULL,"
    "  pending INTEGER NOT NULL, due_at INTEGER NOT NULL,"
    "  PRIMARY KEY (app, version)) WITHOUT ROWID;"
    "CREATE INDEX alert_groups_due ON alert_groups(due_at)"
    "  WHERE pending > 0;"
    "CREATE TABLE alerts ("
    "  id INTEGER PRIMARY KEY,"
    "  alert_id TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL," /* failure | digest | halt */
    "  app TEXT NOT NULL, version TEXT NOT NULL,"
    "  outcome_id TEXT,"
    "  failures INTEGER NOT NULL,"
    "  subject TEXT NOT NULL, body TEXT NOT NULL, sms TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX alerts_release ON alerts(app, version);"
    "CREATE TABLE deliveries ("
    "  id INTEGER PRIMARY KEY,"
    "  alert INTEGER NOT NULL REFERENCES alerts(id),"
    "  channel TEXT NOT NULL," /* email | sms | popup */
    "  recipient TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL," /* pending | sent | failed | inhibited */
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  last_error TEXT,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  sent_at INTEGER);"
    "CREATE INDEX deliveries_due ON deliveries(next_at)"
    "  WHERE state IN ('pending', 'failed');"
    "CREATE INDEX deliveries_alert ON deliveries(alert);",
    /* 2: the dashboard's outcomes-over-time chart reads only this. */
    "CREATE INDEX outcomes_timeline ON outcomes(kind, finished_at, app,"
    " result);",
#define OUTCOME_NEW                                                            \
	" INSERT INTO outcome_counts VALUES (new.kind, new.result, 1)"         \
	" ON CONFLICT (kind, result) DO UPDATE SET n = n + 1;"
#define OUTCOME_OLD                                                            \
	" UPDATE outcome_counts SET n = n - 1"                                 \
	" WHERE kind = old.kind AND result = old.result;"
#define DELIVERY_NEW                                                           \
	" INSERT INTO delivery_counts VALUES (new.channel, new.state, 1)"      \
	" ON CONFLICT (channel, state) DO UPDATE SET n = n + 1;"
#define DELIVERY_OLD                                                           \
	" UPDATE delivery_counts SET n = n - 1"                                \
	" WHERE channel = old.channel AND state = old.state;"
    /* 3: /metrics counts outcomes by kind and result and deliveries by
     * channel and state. Counting the rows scanned the whole archive at
     * every scrape (2 s at 2M outcomes, past Prometheus's timeout well
     * before 10M); these tables keep the counts, triggers keep them in
     * the transaction of every change. */
    "CREATE TABLE outcome_counts ("
    "  kind TEXT NOT NULL, result TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, result)) WITHOUT ROWID;"
    "INSERT INTO outcome_counts SELECT kind, result, count(*)"
    "  FROM outcomes GROUP BY kind, result;"
    "CREATE TRIGGER outcomes_counted AFTER INSERT ON outcomes"
    " BEGIN" OUTCOME_NEW " END;"
    "CREATE TRIGGER outcomes_moved AFTER UPDATE OF kind, result ON outcomes"
    " BEGIN" OUTCOME_OLD OUTCOME_NEW " END;"
    "CREATE TRIGGER outcomes_removed AFTER DELETE ON outcomes"
    " BEGIN" OUTCOME_OLD " END;"
    "CREATE TABLE delivery_counts ("
    "  channel TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (channel, state)) WITHOUT ROWID;"
    "INSERT INTO delivery_counts SELECT channel, state, count(*)"
    "  FROM deliveries GROUP BY channel, state;"
    "CREATE TRIGGER deliveries_counted AFTER INSERT ON deliveries"
    " BEGIN" DELIVERY_NEW " END;"
    "CREATE TRIGGER deliveries_moved AFTER UPDATE OF channel, state"
    " ON deliveries WHEN old.channel IS NOT new.channel"
    " OR old.state IS NOT new.state"
    " BEGIN" DELIVERY_OLD DELIVERY_NEW " END;"
    "CREATE TRIGGER deliveries_removed AFTER DELETE ON deliveries"
    " BEGIN" DELIVERY_OLD " END;",
    /* 4: one app's outcomes newest first (the dashboard's app filter).
     * outcomes_app orders them by version first, so a query for an app
     * read the archive newest first instead, to its first row whenever
     * the page was not full: 80 ms at 1M outcomes for a rare app's
     * failures, at every dashboard refresh. */
    "CREATE INDEX outcomes_app_id ON outcomes(app, id);",
#undef OUTCOME_NEW
#undef OUTCOME_OLD
#undef DELIVERY_NEW
#undef DELIVERY_OLD
};

static const struct db_sqlset *const sets[] = {
    &store_outcome_sql,
    &store_alert_sql,
};

const struct db_schema store_schema = {
    migrations,
    sizeof(migrations) / sizeof(migrations[0]),
    sets,
    sizeof(sets) / sizeof(sets[0]),
};

int
store_gauge(sqlite3_stmt *st, FILE *out, const char *name, const char *help,
    const char *l1, const char *l2)
{
	int err;

	fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	while ((err = db_row(st)) == 1)
		fprintf(out, "%s{%s=\"%s\",%s=\"%s\"} %lld\n", name, l1,
		    sqlite3_column_text(st, 0), l2, sqlite3_column_text(st, 1),
		    (long long)sqlite3_column_int64(st, 2));
	return err;
}
