/* SPDX-License-Identifier: MIT */
/* All SQL for the outbox: its depth, the next batch, and removal. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "upgate/buf.h"

enum { O_DEPTH, O_BATCH, O_DELETE, O_COUNT };

static const char *const sql[O_COUNT] = {
    [O_DEPTH] = "SELECT count(*), coalesce(min(created_at), 0) FROM outbox",
    [O_BATCH] = "SELECT id, body FROM outbox ORDER BY id LIMIT ?1",
    [O_DELETE] = "DELETE FROM outbox WHERE id BETWEEN ?1 AND ?2",
};

const struct db_sqlset store_outbox_sql = {"outbox", sql, O_COUNT};

int
store_outbox_depth(struct db *db, int64_t *rows, int64_t *oldest)
{
	sqlite3_stmt *st = db_stmt(db, &store_outbox_sql, O_DEPTH);
	int err;

	if ((err = db_row(st)) <= 0)
		return err == 0 ? -EIO : err;
	*rows = sqlite3_column_int64(st, 0);
	*oldest = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

int
store_outbox_batch(
    struct db *db, size_t max, size_t max_bytes, struct outbox_batch *out)
{
	sqlite3_stmt *st = db_stmt(db, &store_outbox_sql, O_BATCH);
	struct outbox_batch b = {0};
	struct buf t = {0};
	int err;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	err = buf_adds(&t, "{\"outcomes\":[");
	while (err == 0 && (err = db_row(st)) == 1) {
		const char *row = (const char *)sqlite3_column_text(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);

		if (b.n > 0 && t.len + n + 3 > max_bytes) {
			sqlite3_reset(st);
			err = 0;
			break;
		}
		err = b.n > 0 ? buf_add(&t, ",", 1) : 0;
		if (err == 0)
			err = buf_add(&t, row, n);
		if (b.n == 0)
			b.first = sqlite3_column_int64(st, 0);
		b.last = sqlite3_column_int64(st, 0);
		b.n++;
	}
	if (err == 0 && b.n > 0)
		err = buf_adds(&t, "]}");
	if (err < 0) {
		sqlite3_reset(st);
		buf_free(&t);
		return err;
	}
	if (b.n > 0) {
		b.len = t.len;
		b.body = buf_steal(&t);
	}
	buf_free(&t);
	*out = b;
	return 0;
}

int
store_outbox_delete(struct db *db, int64_t first, int64_t last)
{
	sqlite3_stmt *st = db_stmt(db, &store_outbox_sql, O_DELETE);

	sqlite3_bind_int64(st, 1, first);
	sqlite3_bind_int64(st, 2, last);
	return db_run(st);
}
