/* SPDX-License-Identifier: MIT */
/* The SQLite engine: the schema and its migrations, one writer and a
 * pool of readers on one file, and the engine's table of functions. */
#include <errno.h>
#include <stdlib.h>

#include "store_ops.h"
#include "upgate/access.h"
#include "store_sqlite.h"

static const char *const migrations[] = {
    /* 1: releases, upgrades with their events, the outbox, launches. */
    "CREATE TABLE releases ("
    "  id INTEGER PRIMARY KEY,"
    "  app TEXT NOT NULL, channel TEXT NOT NULL, version TEXT NOT NULL,"
    "  notes TEXT NOT NULL DEFAULT '',"
    "  rollout_percent INTEGER NOT NULL,"
    "  mandatory INTEGER NOT NULL DEFAULT 0,"
    "  paused INTEGER NOT NULL DEFAULT 0,"
    "  yanked INTEGER NOT NULL DEFAULT 0,"
    "  halted INTEGER NOT NULL DEFAULT 0,"
    "  halted_at INTEGER NOT NULL DEFAULT 0,"
    "  content TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  n_succeeded INTEGER NOT NULL DEFAULT 0,"
    "  n_failed INTEGER NOT NULL DEFAULT 0,"
    "  n_timed_out INTEGER NOT NULL DEFAULT 0,"
    /* counts when the release was last resumed: the halt window */
    "  base_finished INTEGER NOT NULL DEFAULT 0,"
    "  base_failed INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (app, channel, version));"
    "CREATE TABLE artifacts ("
    "  release_id INTEGER NOT NULL REFERENCES releases(id),"
    "  platform TEXT NOT NULL, url TEXT NOT NULL,"
    "  size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    "  PRIMARY KEY (release_id, platform)) WITHOUT ROWID;"
    "CREATE TABLE upgrades ("
    "  id INTEGER PRIMARY KEY,"
    "  upgrade_id TEXT NOT NULL UNIQUE,"
    "  client_id TEXT NOT NULL, app TEXT NOT NULL,"
    "  release_id INTEGER NOT NULL REFERENCES releases(id),"
    "  platform TEXT NOT NULL, channel TEXT NOT NULL,"
    "  from_version TEXT NOT NULL, to_version TEXT NOT NULL,"
    "  state TEXT NOT NULL, final INTEGER NOT NULL DEFAULT 0,"
    "  last_seq INTEGER NOT NULL DEFAULT 0,"
    "  progress INTEGER, download_ms INTEGER, install_ms INTEGER,"
    "  error_code TEXT, message TEXT,"
    "  url TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    "  notes TEXT NOT NULL, mandatory INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL DEFAULT 0,"
    "  failure_told INTEGER NOT NULL DEFAULT 0);"
    /* at most one unfinished upgrade per client and app */
    "CREATE UNIQUE INDEX upgrades_active ON upgrades(client_id, app)"
    "  WHERE final = 0;"
    "CREATE INDEX upgrades_client ON upgrades(client_id, app, id);"
    "CREATE INDEX upgrades_unfinished ON upgrades(created_at)"
    "  WHERE final = 0;"
    "CREATE INDEX upgrades_app ON upgrades(app, id);"
    "CREATE INDEX upgrades_release ON upgrades(release_id, state);"
    "CREATE TABLE events ("
    "  upgrade INTEGER NOT NULL REFERENCES upgrades(id),"
    "  seq INTEGER NOT NULL, state TEXT NOT NULL,"
    "  error_code TEXT, message TEXT, progress INTEGER,"
    "  download_ms INTEGER, install_ms INTEGER, at INTEGER NOT NULL,"
    "  PRIMARY KEY (upgrade, seq)) WITHOUT ROWID;"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  outcome_id TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE launches ("
    "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
    "  client_id TEXT NOT NULL, app TEXT NOT NULL, version TEXT NOT NULL,"
    "  platform TEXT NOT NULL, channel TEXT NOT NULL,"
    "  action TEXT NOT NULL, reason TEXT, upgrade_id TEXT);",
    /* 2: signed releases (the signed document as published, its
     * Ed25519 signature, its serial), rollbacks, and what an upgrade was
     * offered with. */
    "ALTER TABLE releases ADD COLUMN signed TEXT;"
    "ALTER TABLE releases ADD COLUMN signature TEXT;"
    "ALTER TABLE releases ADD COLUMN serial INTEGER;"
    "ALTER TABLE upgrades ADD COLUMN signed TEXT;"
    "ALTER TABLE upgrades ADD COLUMN signature TEXT;"
    "ALTER TABLE upgrades ADD COLUMN rollback INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE rollbacks ("
    "  app TEXT NOT NULL, channel TEXT NOT NULL,"
    "  release_id INTEGER NOT NULL REFERENCES releases(id),"
    "  rollout_percent INTEGER NOT NULL,"
    "  signed TEXT, signature TEXT, serial INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (app, channel));",
    /* 3: a version of what launches decide on (releases, artifacts,
     * rollbacks), raised by triggers in the same transaction as any
     * change, so a cached copy is checked against a reader's snapshot.
     * The counters that every finished upgrade bumps do not raise it. */
    "CREATE TABLE catalog_version (v INTEGER NOT NULL);"
    "INSERT INTO catalog_version VALUES (0);"
#define BUMP " BEGIN UPDATE catalog_version SET v = v + 1; END;"
    "CREATE TRIGGER releases_added AFTER INSERT ON releases" BUMP
    "CREATE TRIGGER releases_removed AFTER DELETE ON releases" BUMP
    "CREATE TRIGGER releases_changed AFTER UPDATE OF app, channel,"
    "  version, notes, rollout_percent, mandatory, paused, yanked, halted,"
    "  signed, signature, serial ON releases" BUMP
    "CREATE TRIGGER artifacts_added AFTER INSERT ON artifacts" BUMP
    "CREATE TRIGGER artifacts_removed AFTER DELETE ON artifacts" BUMP
    "CREATE TRIGGER artifacts_changed AFTER UPDATE ON artifacts" BUMP
    "CREATE TRIGGER rollbacks_added AFTER INSERT ON rollbacks" BUMP
    "CREATE TRIGGER rollbacks_removed AFTER DELETE ON rollbacks" BUMP
    "CREATE TRIGGER rollbacks_changed AFTER UPDATE ON rollbacks" BUMP,
#undef BUMP
    /* 4: upgrades counted by release and state, one row per release
     * (release_counts), kept by store_upgrade.c in the transaction of
     * every change of state. It replaces the index on (release_id,
     * state) that counting scanned: moving a report's entry in it was a
     * quarter of the writer's work per report, and the counts it served
     * cost a scan of every upgrade for each /metrics scrape and admin
     * release list. The columns follow enum upg_state. */
    "CREATE TABLE release_counts ("
    "  release_id INTEGER PRIMARY KEY REFERENCES releases(id),"
    "  offered INTEGER NOT NULL DEFAULT 0,"
    "  downloading INTEGER NOT NULL DEFAULT 0,"
    "  downloaded INTEGER NOT NULL DEFAULT 0,"
    "  verifying INTEGER NOT NULL DEFAULT 0,"
    "  installing INTEGER NOT NULL DEFAULT 0,"
    "  succeeded INTEGER NOT NULL DEFAULT 0,"
    "  failed INTEGER NOT NULL DEFAULT 0,"
    "  timed_out INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO release_counts SELECT r.id,"
    "  count(u.id) FILTER (WHERE u.state = 'offered'),"
    "  count(u.id) FILTER (WHERE u.state = 'downloading'),"
    "  count(u.id) FILTER (WHERE u.state = 'downloaded'),"
    "  count(u.id) FILTER (WHERE u.state = 'verifying'),"
    "  count(u.id) FILTER (WHERE u.state = 'installing'),"
    "  count(u.id) FILTER (WHERE u.state = 'succeeded'),"
    "  count(u.id) FILTER (WHERE u.state = 'failed'),"
    "  count(u.id) FILTER (WHERE u.state = 'timed_out')"
    "  FROM releases r LEFT JOIN upgrades u ON u.release_id = r.id"
    "  GROUP BY r.id;"
    "DROP INDEX upgrades_release;"
    /* The finished counts are release_counts' now (the halt window
     * reads them there): the releases' own copies go. */
    "ALTER TABLE releases DROP COLUMN n_succeeded;"
    "ALTER TABLE releases DROP COLUMN n_failed;"
    "ALTER TABLE releases DROP COLUMN n_timed_out;"
    "CREATE TRIGGER releases_counted AFTER INSERT ON releases"
    " BEGIN INSERT INTO release_counts (release_id) VALUES (new.id); END;",
    /* 5: delta upgrades: the SHA-256 of each artifact's tar, and the
     * patches to it from older versions (JSON, store_deltas_text). */
    "ALTER TABLE artifacts ADD COLUMN tar_sha256 TEXT;"
    " ALTER TABLE artifacts ADD COLUMN deltas TEXT;"
    /* A final report's: a delta used (0/1), bytes downloaded; NULL
     * when the launcher did not say. */
    "ALTER TABLE upgrades ADD COLUMN delta_used INTEGER;"
    "ALTER TABLE upgrades ADD COLUMN bytes_downloaded INTEGER;",
    /* 6: named tokens and the audit log (access.h). */
    ACCESS_SQLITE_TABLES,
    /* 7: a client's failures of an app (U_FAILS, every launch of a
     * client with upgrades) from the index alone. Through
     * upgrades_client it read every upgrade the client ever had of the
     * app, a row each from all over the file: at 10M upgrades (20 per
     * client and app) a launch ran at 0.11 of its rate on an empty
     * database (docs/performance.md, "As the data grows"). Only failed
     * and timed-out upgrades have an entry, made once when they end. */
    "CREATE INDEX upgrades_failures ON upgrades(client_id, app,"
    " release_id, finished_at) WHERE state IN ('failed', 'timed_out');"
    /* And the admin list's failures, newest first, of one app or all
     * (U_LIST_FAILED): a state rare in the app was read through every
     * upgrade of it, 65-150 ms at 10M. */
    "CREATE INDEX upgrades_failed ON upgrades(id)"
    " WHERE state IN ('failed', 'timed_out');"
    "CREATE INDEX upgrades_failed_app ON upgrades(app, id)"
    " WHERE state IN ('failed', 'timed_out');",
};

/* Every row of each table, as an import reads them. */
static const char *const dump_sql[STORE_T_COUNT] = {
    [STORE_T_RELEASES] =
	"SELECT " STORE_COLS_RELEASES " FROM releases ORDER BY id",
    [STORE_T_ARTIFACTS] = "SELECT " STORE_COLS_ARTIFACTS " FROM artifacts",
    [STORE_T_ROLLBACKS] = "SELECT " STORE_COLS_ROLLBACKS " FROM rollbacks",
    [STORE_T_UPGRADES] =
	"SELECT " STORE_COLS_UPGRADES " FROM upgrades ORDER BY id",
    [STORE_T_EVENTS] = "SELECT " STORE_COLS_EVENTS " FROM events",
    [STORE_T_OUTBOX] = "SELECT " STORE_COLS_OUTBOX " FROM outbox ORDER BY id",
    [STORE_T_LAUNCHES] =
	"SELECT " STORE_COLS_LAUNCHES " FROM launches ORDER BY id",
    [STORE_T_RELEASE_COUNTS] =
	"SELECT " STORE_COLS_RELEASE_COUNTS " FROM release_counts",
    [STORE_T_TOKENS] = ACCESS_DUMP_TOKENS,
    [STORE_T_AUDIT] = ACCESS_DUMP_AUDIT,
};
static const struct db_sqlset dump_set = {"dump", dump_sql, STORE_T_COUNT};

static const struct db_sqlset *const sets[] = {
    &dump_set,
    &store_sqlite_release_sql,
    &store_sqlite_upgrade_sql,
    &store_sqlite_outbox_sql,
    &store_sqlite_launch_sql,
    &access_sqlite_sql,
};

const struct db_schema store_sqlite_schema = {
    migrations,
    sizeof(migrations) / sizeof(migrations[0]),
    sets,
    sizeof(sets) / sizeof(sets[0]),
};

struct store_sqlite {
	struct store base; /* first */
	struct store_sqlite_conn writer;
	struct store_sqlite_conn *readers; /* one per pooled connection */
	struct db_pool *pool;		   /* NULL: the writer reads */
	size_t n_readers;
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
	int err;

	if (s == NULL)
		return -ENOMEM;
	s->base.ops = &store_sqlite;
	s->writer.base.ops = &store_sqlite;
	s->writer.cache_kib = o->writer_cache_kib;
	s->writer.bulk_kib = o->cache_kib;
	if (o->cache_kib > 0)
		db_cache_kib(o->cache_kib);
	if ((err = db_open(
		 o->database, &store_sqlite_schema, true, &s->writer.db)) < 0 ||
	    (o->writer_cache_kib > 0 &&
		(err = db_cache_set(s->writer.db, o->writer_cache_kib)) < 0))
		goto fail;
	if (o->readers > 0) {
		s->readers = calloc(o->readers, sizeof(*s->readers));
		if (s->readers == NULL) {
			err = -ENOMEM;
			goto fail;
		}
		if ((err = db_pool_new(o->database, &store_sqlite_schema,
			 o->readers, &s->pool)) < 0)
			goto fail;
		for (size_t i = 0; i < o->readers; i++) {
			s->readers[i].base.ops = &store_sqlite;
			s->readers[i].db = db_pool_conn(s->pool, i);
			db_set_user(s->readers[i].db, &s->readers[i]);
		}
		s->n_readers = o->readers;
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
	struct store_sqlite *s = (struct store_sqlite *)base;

	if (s->pool == NULL)
		return &s->writer.base;
	return db_user(db_pool_get(s->pool));
}

static void
sqlite_reader_put(struct store *base, struct store_conn *c)
{
	struct store_sqlite *s = (struct store_sqlite *)base;

	if (s->pool != NULL)
		db_pool_put(s->pool, store_sqlite_db(c));
}

static struct store_conn *
sqlite_writer(struct store *base)
{
	return &((struct store_sqlite *)base)->writer.base;
}

static int
sqlite_begin_read(struct store_conn *c)
{
	return db_begin_read(store_sqlite_db(c));
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
sqlite_savepoint(struct store_conn *c)
{
	return db_savepoint(store_sqlite_db(c));
}

static int
sqlite_savepoint_end(struct store_conn *c, bool keep)
{
	return db_savepoint_end(store_sqlite_db(c), keep);
}

/* Rows written once and not read again (launch statistics) are written
 * at a reader's cache size: at the writer's own they would fill its
 * cache (its memory) for nothing. */
static int
sqlite_bulk(struct store_conn *c, bool bulk)
{
	struct store_sqlite_conn *sc = (struct store_sqlite_conn *)c;
	int kib = bulk ? sc->bulk_kib : sc->cache_kib;

	return kib > 0 ? db_cache_set(sc->db, kib) : 0;
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

static void
sqlite_access(struct store_conn *c, struct access_conn *out)
{
	*out = (struct access_conn){store_sqlite_db(c), NULL};
}

const struct store_ops store_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .reader_get = sqlite_reader_get,
    .reader_put = sqlite_reader_put,
    .writer = sqlite_writer,
    .access = sqlite_access,
    .begin_read = sqlite_begin_read,
    .txn_begin = sqlite_txn_begin,
    .txn_end = sqlite_txn_end,
    .savepoint = sqlite_savepoint,
    .savepoint_end = sqlite_savepoint_end,
    .bulk = sqlite_bulk,
    .rows = sqlite_rows,
    .import = sqlite_import,
    .rollback_get = store_sqlite_rollback_get,
    .rollback_set = store_sqlite_rollback_set,
    .rollback_delete = store_sqlite_rollback_delete,
    .catalog_version = store_sqlite_catalog_version,
    .serial_max = store_sqlite_serial_max,
    .release_insert = store_sqlite_release_insert,
    .release_find = store_sqlite_release_find,
    .release_channels = store_sqlite_release_channels,
    .release_list = store_sqlite_release_list,
    .release_update = store_sqlite_release_update,
    .upgrade_latest = store_sqlite_upgrade_latest,
    .upgrade_failures = store_sqlite_upgrade_failures,
    .upgrade_insert = store_sqlite_upgrade_insert,
    .upgrade_get = store_sqlite_upgrade_get,
    .upgrade_get_brief = store_sqlite_upgrade_get_brief,
    .upgrade_get_row = store_sqlite_upgrade_get_row,
    .upgrade_events = store_sqlite_upgrade_events,
    .upgrade_event_get = store_sqlite_upgrade_event_get,
    .upgrade_event_add = store_sqlite_upgrade_event_add,
    .upgrade_finish = store_sqlite_upgrade_finish,
    .upgrade_tell = store_sqlite_upgrade_tell,
    .upgrade_expired = store_sqlite_upgrade_expired,
    .upgrade_list = store_sqlite_upgrade_list,
    .upgrade_state_counts = store_sqlite_upgrade_state_counts,
    .launch_insert = store_sqlite_launch_insert,
    .prune = store_sqlite_prune,
    .outbox_depth = store_sqlite_outbox_depth,
    .outbox_claim = store_sqlite_outbox_claim,
    .outbox_delete = store_sqlite_outbox_delete,
    .outbox_release = store_sqlite_outbox_release,
};
