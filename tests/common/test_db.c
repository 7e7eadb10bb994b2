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
};
static const struct db_sqlset set = { "kv", sql, 2 };
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
