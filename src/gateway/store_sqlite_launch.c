/* SPDX-License-Identifier: MIT */
/* Launch records (the statistics every launch call leaves, written in
 * batches by launchlog.c) and the pruning of what grows with use: old
 * launch records and the events of upgrades finished long ago. */
#include <errno.h>
#include <stdlib.h>

#include "store_sqlite.h"

/* Launch records: one row, or LAUNCH_MANY_ROWS rows in one statement. */
#define LAUNCH_INSERT                                                          \
	"INSERT INTO launches (at, client_id, app, version, platform,"         \
	" channel, action, reason, upgrade_id) VALUES "
#define LAUNCH_COLS 9
#define LAUNCH_ROW "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define LAUNCH_ROW4 LAUNCH_ROW ", " LAUNCH_ROW ", " LAUNCH_ROW ", " LAUNCH_ROW
#define LAUNCH_ROW16                                                           \
	LAUNCH_ROW4 ", " LAUNCH_ROW4 ", " LAUNCH_ROW4 ", " LAUNCH_ROW4
#define LAUNCH_MANY_ROWS 16

static const char *const sql[L_COUNT] = {
    [L_INSERT] = LAUNCH_INSERT LAUNCH_ROW,
    [L_INSERT_MANY] = LAUNCH_INSERT LAUNCH_ROW16,
    /* Of the ?2 oldest records, those from before ?1: records are
     * written in the order they were made, so this reads no further
     * than it deletes, where a test of every row's time would read the
     * whole table each time nothing is old enough. */
    [L_PRUNE_LAUNCHES] = "DELETE FROM launches WHERE id IN"
			 " (SELECT id FROM launches ORDER BY id LIMIT ?2)"
			 " AND at < ?1",
    /* Of the ?2 oldest upgrades that still have events, those that
     * finished before ?1: upgrades are numbered in the order they
     * began, and end within session_timeout of it. */
    [L_PRUNE_EVENTS] = "DELETE FROM events WHERE upgrade IN"
		       " (SELECT id FROM upgrades WHERE id IN"
		       " (SELECT DISTINCT upgrade FROM events"
		       " ORDER BY upgrade LIMIT ?2)"
		       " AND final = 1 AND finished_at < ?1)",
};

const struct db_sqlset store_sqlite_launch_sql = {"launch", sql, L_COUNT};

/* Bind l's fields from parameter first on. The strings are bound in
 * place, not copied (they outlive the step; store_launch_insert unbinds
 * them after it). NULL binds NULL. */
static void
bind_launch(sqlite3_stmt *st, int first, const struct launch_rec *l)
{
	const char *text[] = {l->client_id, l->app, l->version, l->platform,
	    l->channel, l->action, l->reason, l->upgrade_id};

	sqlite3_bind_int64(st, first, l->at);
	for (int i = 0; i < (int)(sizeof(text) / sizeof(text[0])); i++)
		sqlite3_bind_text(
		    st, first + 1 + i, text[i], -1, SQLITE_STATIC);
}

int
store_sqlite_launch_insert(
    struct store_conn *c, const struct launch_rec *l, size_t n)
{
	struct db *db = store_sqlite_db(c);
	int err = 0;

	/* LAUNCH_MANY_ROWS at a time where it can: a statement's start and
	 * end cost as much as a row, and the statistics flush inserts
	 * thousands. */
	while (err == 0 && n > 0) {
		size_t k = n >= LAUNCH_MANY_ROWS ? LAUNCH_MANY_ROWS : 1;
		sqlite3_stmt *st = db_stmt(db, &store_sqlite_launch_sql,
		    k > 1 ? L_INSERT_MANY : L_INSERT);

		for (size_t i = 0; i < k; i++)
			bind_launch(st, 1 + (int)i * LAUNCH_COLS, &l[i]);
		err = db_run(st);
		sqlite3_clear_bindings(st);
		l += k;
		n -= k;
	}
	return err;
}

int
store_sqlite_prune(
    struct store_conn *c, enum store_pruned what, int64_t before, int max)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st =
	    db_stmt(db, &store_sqlite_launch_sql, L_PRUNE_LAUNCHES + (int)what);
	int err;

	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int(st, 2, max);
	if ((err = db_run(st)) < 0)
		return err;
	return sqlite3_changes(sqlite3_db_handle(st));
}
