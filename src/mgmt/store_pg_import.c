/* SPDX-License-Identifier: MIT */
/* Import into PostgreSQL: every table of another store (a SQLite file)
 * copied into an empty database in one transaction, ids kept. */
#include <errno.h>

#include "store_pg.h"

enum { I_COUNT_ROWS, I_N };

static const char *const sql[I_N] = {
    [I_COUNT_ROWS] = "SELECT (SELECT count(*) FROM outcomes)"
		     " + (SELECT count(*) FROM release_stats)"
		     " + (SELECT count(*) FROM alert_groups)"
		     " + (SELECT count(*) FROM alerts)"
		     " + (SELECT count(*) FROM deliveries)" ACCESS_IMPORT_COUNT,
};

const struct pg_sqlset store_pg_import_sql = {"import", sql, I_N};

/* COPY cannot be prepared: these run as they are. The triggers count
 * the copied outcomes and deliveries for /metrics. */
static const char *const copy_sql[STORE_T_COUNT] = {
    [STORE_T_OUTCOMES] = "COPY outcomes (" STORE_COLS_OUTCOMES ") FROM STDIN",
    [STORE_T_RELEASE_STATS] =
	"COPY release_stats (" STORE_COLS_RELEASE_STATS ") FROM STDIN",
    [STORE_T_ALERT_GROUPS] =
	"COPY alert_groups (" STORE_COLS_ALERT_GROUPS ") FROM STDIN",
    [STORE_T_ALERTS] = "COPY alerts (" STORE_COLS_ALERTS ") FROM STDIN",
    [STORE_T_DELIVERIES] =
	"COPY deliveries (" STORE_COLS_DELIVERIES ") FROM STDIN",
    [STORE_T_TOKENS] = ACCESS_COPY_TOKENS,
    [STORE_T_AUDIT] = ACCESS_COPY_AUDIT,
};

/* No daemon writes while the copy runs; the tables are checked empty
 * under the same lock. */
static const char lock_sql[] =
    "LOCK TABLE outcomes, release_stats, alert_groups, alerts, deliveries,"
    " outcome_counts, delivery_counts" ACCESS_IMPORT_LOCK " IN EXCLUSIVE MODE";
/* New rows go on after the copied ids. */
static const char ids_sql[] =
    "SELECT" ACCESS_IMPORT_IDS
    " setval(pg_get_serial_sequence('outcomes', 'id'),"
    "  (SELECT coalesce(max(id), 0) + 1 FROM outcomes), false),"
    " setval(pg_get_serial_sequence('alerts', 'id'),"
    "  (SELECT coalesce(max(id), 0) + 1 FROM alerts), false),"
    " setval(pg_get_serial_sequence('deliveries', 'id'),"
    "  (SELECT coalesce(max(id), 0) + 1 FROM deliveries), false)";

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
	    &store_pg_import_sql, I_COUNT_ROWS, copy_sql, NULL, STORE_T_COUNT,
	    source_rows, from, ids_sql);
}
