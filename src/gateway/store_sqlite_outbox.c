/* SPDX-License-Identifier: MIT */
/* All SQL for the outbox: its depth, the next batch, and removal. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "upgate/buf.h"

enum { O_DEPTH, O_BATCH, O_DELETE, O_COUNT };

static const char *const sql[O_COUNT] = {
    [O_DEPTH] = "SELECT count(*), coalesce(min(created_at), 0) FROM outbox",
    [O_BATCH] = "SELECT id, body FROM outbox ORDER BY id LIMIT ?1",
    [O_DELETE] = "DELETE FROM outbox WHERE id BETWEEN ?1 AND ?2",
};

const struct db_sqlset store_sqlite_outbox_sql = {"outbox", sql, O_COUNT};

int
store_sqlite_outbox_depth(struct store_conn *c, int64_t *rows, int64_t *oldest)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_outbox_sql, O_DEPTH);
	int err;

	if ((err = db_row(st)) <= 0)
		return err == 0 ? -EIO : err;
	*rows = sqlite3_column_int64(st, 0);
	*oldest = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

/* One SQLite file has one gateway: nothing to claim against. */
int
store_sqlite_outbox_claim(struct store_conn *c, size_t max, size_t max_bytes,
    int64_t lease, struct outbox_batch *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_outbox_sql, O_BATCH);
	struct outbox_batch b = {0};
	struct buf t = {0};
	int err = 0;

	(void)lease;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	if ((b.ids = calloc(max ? max : 1, sizeof(*b.ids))) == NULL)
		return -ENOMEM;
	while (b.n < max && (err = db_row(st)) == 1 &&
	       (err = store_batch_add(&b, &t, sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1), max_bytes)) == 1)
		;
	sqlite3_reset(st);
	if (err >= 0)
		err = store_batch_end(&b, &t);
	if (err < 0) {
		buf_free(&t);
		store_outbox_batch_fini(&b);
		return err;
	}
	*out = b;
	return 0;
}

/* Nothing was claimed. */
int
store_sqlite_outbox_release(struct store_conn *c, const struct outbox_batch *b)
{
	(void)c;
	(void)b;
	return 0;
}

/* The batch's ids are one range: nothing else takes rows from a file. */
int
store_sqlite_outbox_delete(struct store_conn *c, const struct outbox_batch *b)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_outbox_sql, O_DELETE);

	if (b->n == 0)
		return 0;
	sqlite3_bind_int64(st, 1, b->ids[0]);
	sqlite3_bind_int64(st, 2, b->ids[b->n - 1]);
	return db_run(st);
}
