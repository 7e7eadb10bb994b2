/* SPDX-License-Identifier: MIT */
/* The SQLite engine: the schema and its migrations, one writer and a
 * pool of readers on one file that one daemon owns, and the engine's
 * table of functions. */
#include <errno.h>
#include <stdlib.h>

#include "store_sqlite.h"

/* Every row of each table --import-sqlite copies, by enum store_table. */
static const char *const dump_sql[STORE_T_COUNT] = {
    [STORE_T_OUTCOMES] = "SELECT " STORE_COLS_OUTCOMES " FROM outcomes",
    [STORE_T_RELEASE_STATS] =
	"SELECT " STORE_COLS_RELEASE_STATS " FROM release_stats",
    [STORE_T_ALERT_GROUPS] =
	"SELECT " STORE_COLS_ALERT_GROUPS " FROM alert_groups",
    [STORE_T_ALERTS] = "SELECT " STORE_COLS_ALERTS " FROM alerts",
    [STORE_T_DELIVERIES] = "SELECT " STORE_COLS_DELIVERIES " FROM deliveries",
    [STORE_T_TOKENS] = ACCESS_DUMP_TOKENS,
    [STORE_T_AUDIT] = ACCESS_DUMP_AUDIT,
};
static const struct db_sqlset dump_set = {"dump", dump_sql, STORE_T_COUNT};

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
    /* 5: the outcomes an alert claimed (a digest's, a halt's), which the
     * webhook and Alertmanager posts name. */
    "CREATE INDEX outcomes_alert ON outcomes(alert) WHERE alert IS NOT NULL;",
    /* 6: when a halt alert was resolved (its release resumed), for
     * Alertmanager, which is told while it lasts and when it ends. */
    "ALTER TABLE alerts ADD COLUMN resolved_at INTEGER;"
    "CREATE INDEX alerts_open_halts ON alerts(id)"
    "  WHERE kind = 'halt' AND resolved_at IS NULL;",
    /* 7: delta upgrades: how each outcome's bytes came, and per release
     * the outcomes a delta served, the bytes downloaded and the bytes
     * deltas saved (counted at ingest, as the rest). */
    "ALTER TABLE outcomes ADD COLUMN delta_used INTEGER;"
    "ALTER TABLE outcomes ADD COLUMN bytes_downloaded INTEGER;"
    "ALTER TABLE outcomes ADD COLUMN artifact_size INTEGER;"
    "ALTER TABLE release_stats ADD COLUMN deltas INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE release_stats ADD COLUMN bytes_downloaded INTEGER NOT NULL"
    "  DEFAULT 0;"
    "ALTER TABLE release_stats ADD COLUMN bytes_saved INTEGER NOT NULL"
    "  DEFAULT 0;",
#undef OUTCOME_NEW
#undef OUTCOME_OLD
#undef DELIVERY_NEW
#undef DELIVERY_OLD
    /* 8: named tokens and the audit log (access.h). */
    ACCESS_SQLITE_TABLES,
    /* 9: per hour of finished_at, the ids its outcomes span and how many
     * they are, kept by a trigger at every insert. A query with a time
     * window reads only the ids its hours span (store_outcome_list):
     * counting the window on outcomes_finished instead read up to
     * 100,000 index entries, and a wider window was read newest first
     * from the archive's end, 1.6M rows for two months at 10M outcomes
     * (docs/performance.md, "As the data grows"). Filling it reads the
     * archive once, at the upgrade to this schema. Outcomes are never
     * deleted, so only an insert moves it. */
    "CREATE TABLE outcome_hours ("
    "  hour INTEGER PRIMARY KEY,"
    "  lo INTEGER NOT NULL, hi INTEGER NOT NULL, n INTEGER NOT NULL);"
    "INSERT INTO outcome_hours SELECT finished_at / 3600000, min(id),"
    "  max(id), count(*) FROM outcomes GROUP BY 1;"
    "CREATE TRIGGER outcomes_hours AFTER INSERT ON outcomes BEGIN"
    " INSERT INTO outcome_hours VALUES (new.finished_at / 3600000,"
    " new.id, new.id, 1) ON CONFLICT (hour) DO UPDATE SET"
    " lo = min(lo, excluded.lo), hi = max(hi, excluded.hi), n = n + 1;"
    " END;",
    /* 10: failed and timed-out outcomes newest first, of one app or of
     * all (the dashboard's result filter): a result rare in an app was
     * read through every outcome of it, and one rare everywhere through
     * the whole archive. A few per cent of the rows, an entry each when
     * it is archived. */
    "CREATE INDEX outcomes_failed ON outcomes(id)"
    " WHERE result IN ('failed', 'timed_out');"
    "CREATE INDEX outcomes_app_failed ON outcomes(app, id)"
    " WHERE result IN ('failed', 'timed_out');",
    /* 11: the queue of one channel, soonest first: each channel's
     * worker reads its own deliveries (store_next_due_form), where it
     * read past every other channel's on deliveries_due, the whole
     * backlog of email during an alert storm for a channel with
     * nothing to send. deliveries_due stays for the next of all. */
    "CREATE INDEX deliveries_lane ON deliveries(channel, next_at)"
    " WHERE state IN ('pending', 'failed');",
};

static const struct db_sqlset *const sets[] = {
    &store_sqlite_outcome_sql,
    &store_sqlite_alert_sql,
    &dump_set,
    &access_sqlite_sql,
};

const struct db_schema store_sqlite_schema = {
    migrations,
    sizeof(migrations) / sizeof(migrations[0]),
    sets,
    sizeof(sets) / sizeof(sets[0]),
};

int
store_sqlite_gauge(sqlite3_stmt *st, FILE *out, const char *name,
    const char *help, const char *l1, const char *l2)
{
	int err;

	store_gauge_head(out, name, help);
	while ((err = db_row(st)) == 1)
		store_gauge_row(out, name, l1,
		    (const char *)sqlite3_column_text(st, 0), l2,
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int64(st, 2));
	return err;
}

struct store_sqlite {
	struct store base; /* first */
	struct store_sqlite_conn writer;
	struct store_sqlite_conn *readers; /* one per pooled connection */
	struct db_pool *pool;
};

static void
sqlite_close(struct store *base)
{
	struct store_sqlite *s = (struct store_sqlite *)base;

	db_pool_free(s->pool);
	db_close(s->writer.db);
	free(s->readers);
	free(s);
}

static int
sqlite_open(const struct store_opts *o, struct store **out)
{
	struct store_sqlite *s = calloc(1, sizeof(*s));
	size_t n = o->readers > 0 ? o->readers : 1;
	int err;

	if (s == NULL)
		return -ENOMEM;
	s->base.ops = &store_sqlite;
	s->writer.base.ops = &store_sqlite;
	if (o->cache_kib > 0)
		db_cache_kib(o->cache_kib);
	if ((err = db_open(
		 o->database, &store_sqlite_schema, true, &s->writer.db)) < 0 ||
	    (o->writer_cache_kib > 0 &&
		(err = db_cache_set(s->writer.db, o->writer_cache_kib)) < 0))
		goto fail;
	if ((s->readers = calloc(n, sizeof(*s->readers))) == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	if ((err = db_pool_new(
		 o->database, &store_sqlite_schema, n, &s->pool)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		s->readers[i].base.ops = &store_sqlite;
		s->readers[i].db = db_pool_conn(s->pool, i);
		db_set_user(s->readers[i].db, &s->readers[i]);
	}
	*out = &s->base;
	return 0;
fail:
	sqlite_close(&s->base);
	return err;
}

static struct store_conn *
sqlite_reader_get(struct store *base)
{
	return db_user(db_pool_get(((struct store_sqlite *)base)->pool));
}

static void
sqlite_reader_put(struct store *base, struct store_conn *c)
{
	db_pool_put(((struct store_sqlite *)base)->pool, store_sqlite_db(c));
}

static struct store_conn *
sqlite_writer(struct store *base)
{
	return &((struct store_sqlite *)base)->writer.base;
}

static int
sqlite_txn_begin(struct store_conn *c)
{
	return db_txn_begin(store_sqlite_db(c));
}

static int
sqlite_txn_end(struct store_conn *c, int err)
{
	return db_txn_end(store_sqlite_db(c), err);
}

static int
sqlite_rows(struct store *base, enum store_table t, store_row_fn row, void *arg)
{
	struct db *db = ((struct store_sqlite *)base)->writer.db;

	return db_each_row(db, &dump_set, (int)t, row, arg);
}

/* A SQLite database is copied as a file (docs/operations.md). */
static int
sqlite_import(struct store *to, struct store *from)
{
	(void)to;
	(void)from;
	return -EOPNOTSUPP;
}

/* One daemon owns the file: its own ingest is all there is to watch. */
static int
sqlite_watch(struct store *s, int timeout_ms, store_watch_fn fn, void *arg)
{
	(void)s;
	(void)timeout_ms;
	(void)fn;
	(void)arg;
	return -EOPNOTSUPP;
}

static bool
sqlite_watching(const struct store *s)
{
	(void)s;
	return true; /* nothing to watch: this daemon's ingest is all */
}

static void
sqlite_access(struct store_conn *c, struct access_conn *out)
{
	*out = (struct access_conn){store_sqlite_db(c), NULL};
}

const struct store_ops store_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .import = sqlite_import,
    .rows = sqlite_rows,
    .reader_get = sqlite_reader_get,
    .reader_put = sqlite_reader_put,
    .writer = sqlite_writer,
    .access = sqlite_access,
    .txn_begin = sqlite_txn_begin,
    .txn_end = sqlite_txn_end,
    .shared = false,
    .watch = sqlite_watch,
    .watching = sqlite_watching,
    .outcome_insert = store_sqlite_outcome_insert,
    .outcome_list = store_sqlite_outcome_list,
    .outcome_get = store_sqlite_outcome_get,
    .outcome_csv = store_sqlite_outcome_csv,
    .stats = store_sqlite_stats,
    .timeline = store_sqlite_timeline,
    .outcome_counts = store_sqlite_outcome_counts,
    .group_get = store_sqlite_group_get,
    .group_put = store_sqlite_group_put,
    .group_due = store_sqlite_group_due,
    .alert_insert = store_sqlite_alert_insert,
    .delivery_add = store_sqlite_delivery_add,
    .outcome_wait = store_sqlite_outcome_wait,
    .outcome_claim = store_sqlite_outcome_claim,
    .outcome_waiting = store_sqlite_outcome_waiting,
    .delivery_inhibit = store_sqlite_delivery_inhibit,
    .delivery_due = store_sqlite_delivery_due,
    .delivery_done = store_sqlite_delivery_done,
    .next_due = store_sqlite_next_due,
    .delivery_list = store_sqlite_delivery_list,
    .digest_list = store_sqlite_digest_list,
    .delivery_counts = store_sqlite_delivery_counts,
    .halts_open = store_sqlite_halts_open,
    .halt_resolved = store_sqlite_halt_resolved,
};
