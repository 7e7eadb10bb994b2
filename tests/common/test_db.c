/* SPDX-License-Identifier: MIT */
/* Tests of the SQLite helpers: migrations, statement sets, pool, errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdb.h"
#include "upgate/db.h"

static const char *const sql[] = {
	"INSERT INTO kv (k, v) VALUES (?1, ?2)",
	"SELECT v FROM kv WHERE k = ?1",
	"PRAGMA cache_size",
};
static const struct db_sqlset set = { "kv", sql, 3 };
static const struct db_sqlset *const sets[] = { &set };
static const char *const migrations[] = {
	"CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)",
	"ALTER TABLE kv ADD COLUMN n INTEGER",
};
static const struct db_schema schema = { migrations, 2, sets, 1 };

static const char *const bad_sql[] = { "SELEKT 1" };
static const struct db_sqlset bad_set = { "bad", bad_sql, 1 };
static const struct db_sqlset *const bad_sets[] = { &bad_set };
static const struct db_schema bad_schema = { migrations, 2, bad_sets, 1 };

static char path[64];

static int
setup(void **state)
{
	(void)state;
	tmpdb_path(path, sizeof(path), "db");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tmpdb_remove(path);
	return 0;
}

static int
get(struct db *db, const char *k, char *out, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, &set, 1);
	int r;

	db_bind_text(st, 1, k);
	if ((r = db_row(st)) == 1) {
		db_col_copy(st, 0, out, len);
		sqlite3_reset(st);
	}
	return r;
}

static int
put(struct db *db, const char *k, const char *v)
{
	sqlite3_stmt *st = db_stmt(db, &set, 0);

	db_bind_text(st, 1, k);
	db_bind_text(st, 2, v);
	return db_run(st);
}

static void
test_migrate_write_read(void **state)
{
	struct db *w, *r;
	struct db_pool *pool;
	char v[16];

	(void)state;
	assert_int_equal(db_open(path, &schema, true, &w), 0);
	assert_int_equal(db_begin(w), 0);
	assert_int_equal(put(w, "a", "1"), 0);
	assert_int_equal(put(w, "a", "2"), -EEXIST);
	assert_int_equal(db_commit(w), 0);

	/* Readers see committed data and cannot write. */
	assert_int_equal(db_pool_new(path, &schema, 2, &pool), 0);
	r = db_pool_get(pool);
	assert_int_equal(get(r, "a", v, sizeof(v)), 1);
	assert_string_equal(v, "1");
	assert_int_equal(get(r, "b", v, sizeof(v)), 0);
	assert_int_equal(put(r, "c", "d"), -EIO);
	db_pool_put(pool, r);
	db_pool_free(pool);
	db_close(w);

	/* Reopening migrates nothing twice; data stays. */
	assert_int_equal(db_open(path, &schema, true, &w), 0);
	assert_int_equal(get(w, "a", v, sizeof(v)), 1);
	db_close(w);
}

static void
test_rollback_leaves_nothing(void **state)
{
	struct db *w;
	char v[16];

	(void)state;
	assert_int_equal(db_open(path, &schema, true, &w), 0);
	assert_int_equal(db_begin(w), 0);
	assert_int_equal(put(w, "x", "y"), 0);
	db_rollback(w);
	assert_int_equal(get(w, "x", v, sizeof(v)), 0);
	db_close(w);
}

/* The connection's page cache in KiB (SQLite keeps -KiB). */
static int64_t
cache_kib(struct db *db)
{
	sqlite3_stmt *st = db_stmt(db, &set, 2);
	int64_t kib = 0;

	if (db_row(st) == 1)
		kib = -sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return kib;
}

static void
test_cache_sizes(void **state)
{
	struct db *w, *r;

	(void)state;
	db_cache_kib(300);
	assert_int_equal(db_open(path, &schema, true, &w), 0);
	assert_int_equal(cache_kib(w), 300);
	/* One connection's own size, as the writer gets. */
	assert_int_equal(db_cache_set(w, 4096), 0);
	assert_int_equal(db_open(path, &schema, false, &r), 0);
	assert_int_equal(cache_kib(w), 4096);
	assert_int_equal(cache_kib(r), 300);
	db_close(r);
	db_close(w);
	db_cache_kib(2000);
}

/* A statement whose journal outgrows what SQLite keeps in memory (here:
 * 3,000 rows rewritten with a 64 KiB page cache) commits: the spill to a
 * temporary file used to fail as a full disk. */
static void
test_big_statement_journal(void **state)
{
	struct db *w;
	char v[1024];

	(void)state;
	assert_int_equal(db_open(path, &schema, true, &w), 0);
	assert_int_equal(db_cache_set(w, 64), 0);
	assert_int_equal(db_exec(w, "WITH RECURSIVE c(i) AS (SELECT 1 "
				    "UNION ALL SELECT i + 1 FROM c WHERE i < 3000) "
				    "INSERT INTO kv (k, v) SELECT printf('%06d', i),"
				    " printf('%0900d', i) FROM c"),
	    0);
	assert_int_equal(db_begin(w), 0);
	assert_int_equal(
	    db_exec(w, "UPDATE kv SET v = printf('%0901d', CAST(k AS INTEGER))"),
	    0);
	assert_int_equal(db_commit(w), 0);
	assert_int_equal(get(w, "002999", v, sizeof(v)), 1);
	assert_int_equal(strlen(v), 901);
	assert_string_equal(v + 897, "2999");
	db_close(w);
}

static void
test_bad_sql_and_newer_schema_refused(void **state)
{
	struct db *w;
	static const struct db_schema older = { migrations, 1, sets, 1 };

	(void)state;
	assert_int_equal(db_open(path, &bad_schema, true, &w), -EIO);
	/* The file is at version 2 now; a program that knows 1 refuses. */
	assert_int_equal(db_open(path, &older, true, &w), -EPROTO);
}

/* Write k=v through a plain SQLite handle: another process's write, as
 * far as this process's commit count can tell. */
static void
put_outside(const char *k, const char *v)
{
	sqlite3 *h;
	char sqlbuf[128];

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	snprintf(sqlbuf, sizeof(sqlbuf),
	    "INSERT INTO kv (k, v) VALUES ('%s', '%s')", k, v);
	assert_int_equal(sqlite3_exec(h, sqlbuf, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static int
borrow_get_on(struct db *r, const char *k)
{
	char v[16];

	return get(r, k, v, sizeof(v));
}

/* One borrow: a read transaction, a lookup, the connection given back
 * without a rollback (as the gateway's launch path does). */
static int
borrow_get(struct db_pool *pool, const char *k)
{
	struct db *r = db_pool_get(pool);
	char v[16];
	int found;

	assert_int_equal(db_begin_read(r), 0);
	found = get(r, k, v, sizeof(v));
	db_pool_put(pool, r);
	return found;
}

static void
test_reader_snapshot_kept_while_fresh(void **state)
{
	struct db *w;
	struct db_pool *pool;

	(void)state;
	assert_int_equal(db_open(path, &schema, true, &w), 0);
	assert_int_equal(db_pool_new(path, &schema, 1, &pool), 0);
	assert_int_equal(borrow_get(pool, "a"), 0);

	/* A commit of this process ends the kept snapshot: the next borrow
	 * sees it at once. */
	assert_int_equal(db_begin(w), 0);
	assert_int_equal(put(w, "a", "1"), 0);
	assert_int_equal(db_commit(w), 0);
	assert_int_equal(borrow_get(pool, "a"), 1);
	/* So does a single-statement (autocommit) write. */
	assert_int_equal(put(w, "b", "2"), 0);
	assert_int_equal(borrow_get(pool, "b"), 1);

	/* Another process's commit is not counted: the snapshot is kept
	 * (an age limit of a minute here, so no pause can end it)... */
	db_snapshot_max_ms(60000);
	assert_int_equal(borrow_get(pool, "b"), 1);
	put_outside("c", "3");
	assert_int_equal(borrow_get(pool, "c"), 0);
	assert_int_equal(borrow_get(pool, "c"), 0);
	/* ...until it is older than the limit. */
	db_snapshot_max_ms(1);
	usleep(20 * 1000);
	assert_int_equal(borrow_get(pool, "c"), 1);
	db_snapshot_max_ms(DB_SNAPSHOT_MAX_MS);

	db_pool_free(pool);
	db_close(w);
}

/* PRAGMA wal_checkpoint(TRUNCATE) from another handle: 1 when a reader's
 * snapshot kept it from finishing (busy), else 0. */
static int
checkpoint_busy(void)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int busy;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA wal_checkpoint(TRUNCATE)",
			     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	busy = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return busy;
}

static void
test_idle_stale_snapshots_let_the_wal_go(void **state)
{
	struct db *w, *r1, *r2;
	struct db_pool *pool;

	(void)state;
	db_snapshot_max_ms(60000);
	assert_int_equal(db_open(path, &schema, true, &w), 0);
	assert_int_equal(put(w, "a", "1"), 0);
	assert_int_equal(db_pool_new(path, &schema, 2, &pool), 0);
	/* Both readers go back holding a snapshot that reads the WAL. */
	r1 = db_pool_get(pool);
	r2 = db_pool_get(pool);
	assert_int_equal(db_begin_read(r1), 0);
	assert_int_equal(db_begin_read(r2), 0);
	assert_int_equal(borrow_get_on(r1, "a"), 1);
	assert_int_equal(borrow_get_on(r2, "a"), 1);
	db_pool_put(pool, r1);
	db_pool_put(pool, r2);
	assert_int_equal(checkpoint_busy(), 1);
	/* A commit makes them stale; one borrow ends its own, and giving it
	 * back ends the idle one's: nothing holds the WAL. */
	assert_int_equal(put(w, "b", "2"), 0);
	db_pool_put(pool, db_pool_get(pool));
	assert_int_equal(checkpoint_busy(), 0);
	db_snapshot_max_ms(DB_SNAPSHOT_MAX_MS);
	db_pool_free(pool);
	db_close(w);
}

static void
test_no_snapshot_kept_while_the_wal_is_long(void **state)
{
	struct db *w;
	struct db_pool *pool;
	char k[16], big[3000];

	(void)state;
	db_snapshot_max_ms(60000);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(db_open(path, &schema, true, &w), 0);
	assert_int_equal(db_pool_new(path, &schema, 1, &pool), 0);
	/* A kept snapshot, reading the WAL... */
	assert_int_equal(put(w, "first", "1"), 0);
	assert_int_equal(borrow_get(pool, "first"), 1);
	/* ...holds back the checkpoint of a commit that takes the WAL past
	 * 1,000 pages. From then on no snapshot is kept (this borrow's
	 * neither), so the checkpoint can finish and the WAL start over. */
	assert_int_equal(db_begin(w), 0);
	for (int i = 0; i < 1500; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(put(w, k, big), 0);
	}
	assert_int_equal(db_commit(w), 0);
	assert_int_equal(borrow_get(pool, "k1"), 1);
	assert_int_equal(checkpoint_busy(), 0);
	/* Once it has started over, snapshots are kept again. */
	assert_int_equal(put(w, "small", "1"), 0);
	assert_int_equal(borrow_get(pool, "small"), 1);
	assert_int_equal(checkpoint_busy(), 1);
	db_snapshot_max_ms(DB_SNAPSHOT_MAX_MS);
	db_pool_free(pool);
	db_close(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_write_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_sql_and_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_big_statement_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reader_snapshot_kept_while_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_idle_stale_snapshots_let_the_wal_go, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_snapshot_kept_while_the_wal_is_long, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
