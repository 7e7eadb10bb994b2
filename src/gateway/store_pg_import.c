/* SPDX-License-Identifier: MIT */
/* Import into PostgreSQL: every table of another store (a SQLite file)
 * copied into an empty database in one transaction, ids kept. */
#include <errno.h>

#include "store_ops.h"
#include "store_pg.h"

enum { I_COUNT_ROWS, I_N };

static const char *const sql[I_N] = {
    [I_COUNT_ROWS] = "SELECT (SELECT count(*) FROM releases)"
		     " + (SELECT count(*) FROM rollbacks)"
		     " + (SELECT count(*) FROM upgrades)"
		     " + (SELECT count(*) FROM outbox)"
		     " + (SELECT count(*) FROM launches)" ACCESS_IMPORT_COUNT,
};

const struct pg_sqlset store_pg_import_sql = {"import", sql, I_N};

/* COPY cannot be prepared: these run as they are, without parameters. */
static const char *const copy_sql[STORE_T_COUNT] = {
    [STORE_T_RELEASES] = "COPY releases (" STORE_COLS_RELEASES ") FROM STDIN",
    [STORE_T_ARTIFACTS] =
	"COPY artifacts (" STORE_COLS_ARTIFACTS ") FROM STDIN",
    [STORE_T_ROLLBACKS] =
	"COPY rollbacks (" STORE_COLS_ROLLBACKS ") FROM STDIN",
    [STORE_T_UPGRADES] = "COPY upgrades (" STORE_COLS_UPGRADES ") FROM STDIN",
    [STORE_T_EVENTS] = "COPY events (" STORE_COLS_EVENTS ") FROM STDIN",
    [STORE_T_OUTBOX] = "COPY outbox (" STORE_COLS_OUTBOX ") FROM STDIN",
    [STORE_T_LAUNCHES] = "COPY launches (" STORE_COLS_LAUNCHES ") FROM STDIN",
    [STORE_T_RELEASE_COUNTS] =
	"COPY release_counts (" STORE_COLS_RELEASE_COUNTS ") FROM STDIN",
    [STORE_T_TOKENS] = ACCESS_COPY_TOKENS,
    [STORE_T_AUDIT] = ACCESS_COPY_AUDIT,
};

/* No gateway writes while the copy runs; the tables are checked empty
 * under the same lock. */
static const char lock_sql[] =
    "LOCK TABLE releases, artifacts, rollbacks, upgrades, events, outbox,"
    " launches, release_counts" ACCESS_IMPORT_LOCK " IN EXCLUSIVE MODE";
/* The trigger gave each copied release zero counts: the copied counts
 * replace them. */
static const char *const before_sql[STORE_T_COUNT] = {
    [STORE_T_RELEASE_COUNTS] = "DELETE FROM release_counts",
};
/* New rows go on after the copied ids. */
static const char ids_sql[] =
    "SELECT" ACCESS_IMPORT_IDS
    " setval(pg_get_serial_sequence('releases', 'id'),"
    "  (SELECT coalesce(max(id), 0) + 1 FROM releases), false),"
    " setval(pg_get_serial_sequence('upgrades', 'id'),"
    "  (SELECT coalesce(max(id), 0) + 1 FROM upgrades), false),"
    " setval(pg_get_serial_sequence('outbox', 'id'),"
    "  (SELECT coalesce(max(id), 0) + 1 FROM outbox), false),"
    " setval(pg_get_serial_sequence('launches', 'id'),"
    "  (SELECT coalesce(max(id), 0) + 1 FROM launches), false)";

/* The source store's rows of table t. */
static int
source_rows(void *src, int t, pg_row_fn row, void *arg)
{
	struct store *from = src;

	return from->ops->rows(from, (enum store_table)t, row, arg);
}

int
store_pg_import(struct store *to, struct store *from)
{
	return pg_import(store_pg_of(store_writer(to)), lock_sql,
	    &store_pg_import_sql, I_COUNT_ROWS, copy_sql, before_sql,
	    STORE_T_COUNT, source_rows, from, ids_sql);
}
