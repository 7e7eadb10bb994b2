/* SPDX-License-Identifier: MIT */
/* SQLite helpers: connections, migrations, prepared statements, a reader pool.
 */
#ifndef UPGATE_DB_H
#define UPGATE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* One store's statements: sql[i] is prepared at open as statement i. */
struct db_sqlset {
	const char *name;
	const char *const *sql;
	size_t n;
};

/* A daemon's schema: migrations[i] takes user_version i to i + 1. */
struct db_schema {
	const char *const *migrations;
	size_t n_migrations;
	const struct db_sqlset *const *sets;
	size_t n_sets;
};

/* SQL text for an RFC 3339 UTC time from a millisecond column or
 * parameter x, as the APIs show times: "2026-11-24T10:00:07Z". */
#define DB_RFC3339(x)                                                          \
	"strftime('%Y-%m-%dT%H:%M:%SZ', (" x ") / 1000, 'unixepoch')"

struct db;
struct db_pool;

/* The page cache of every connection opened from now on, in KiB (SQLite's
 * default, 2000, when never called). Call before the first db_open. */
void db_cache_kib(int kib);

/* Set db's page cache to kib KiB. 0 or -errno. */
int db_cache_set(struct db *db, int kib);

/* Open path (":memory:" allowed) with WAL, synchronous=FULL, busy_timeout
 * and foreign keys. With migrate, bring the schema up to date first (one
 * transaction per step) and check that every statement of every set
 * prepares, so an SQL error fails here; without, the connection is
 * read-only (query_only). Statements are prepared on first use. Returns 0
 * and *out (free with db_close), or a negative errno with the reason
 * logged. */
int db_open(const char *path, const struct db_schema *schema, bool migrate,
    struct db **out);

/* Finalize every statement and close. NULL does nothing. */
void db_close(struct db *db);

/* Statement idx of set, reset and with bindings cleared. Borrowed: valid
 * until db_close. A connection and its statements belong to one thread at
 * a time. */
sqlite3_stmt *db_stmt(struct db *db, const struct db_sqlset *set, int idx);

/* Transactions: db_begin takes the write lock at once (IMMEDIATE);
 * db_begin_read starts a deferred one for a consistent read. On a pooled
 * reader, db_begin_read keeps using the snapshot the connection already
 * holds, if any (see db_pool_get), and the snapshot may outlive the
 * borrow: leave it to db_pool_put rather than rolling back. */
int db_begin(struct db *db);
int db_begin_read(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* A savepoint inside a transaction; _end keeps its writes (RELEASE) or
 * undoes them first (ROLLBACK TO). 0 or -errno. */
int db_savepoint(struct db *db);
int db_savepoint_end(struct db *db, bool keep);

/* The shared writer's transaction: db_lock and BEGIN IMMEDIATE (unlocked
 * again on failure); then COMMIT when err is 0, else ROLLBACK, and
 * db_unlock. _end returns the commit's error or err. */
int db_txn_begin(struct db *db);
int db_txn_end(struct db *db, int err);

/* Serialize users of a shared connection (the one writer). */
void db_lock(struct db *db);
void db_unlock(struct db *db);

/* Step until done and reset: 0 or a negative errno. */
int db_run(sqlite3_stmt *st);

/* One step: 1 for a row, 0 when done (and reset), negative errno. */
int db_row(sqlite3_stmt *st);

/* Bind s as text, or NULL when s is NULL. */
int db_bind_text(sqlite3_stmt *st, int idx, const char *s);

/* Column i as a malloc'd string ("" for NULL), or NULL when out of memory. */
char *db_col_strdup(sqlite3_stmt *st, int i);

/* Copy column i into buf (truncated to len - 1). */
void db_col_copy(sqlite3_stmt *st, int i, char *buf, size_t len);

/* Map an SQLite result code: BUSY/LOCKED -EBUSY, FULL -ENOSPC, CONSTRAINT
 * -EEXIST, NOMEM -ENOMEM, other errors -EIO. */
int db_errno(int rc);

/* Step st, joining column json_col of the first limit rows (JSON texts)
 * into one JSON array text (*out, malloc'd). When a further row exists,
 * *next is column id_col of the last row taken (the cursor of the next
 * page), else 0. st is reset. Returns 0 or -errno. */
/* Every row of statement idx of set (no parameters), in one read
 * snapshot, passed to row as text (NULL: SQL NULL) until it returns an
 * error. For copying a database elsewhere. 0 or -errno. */
int db_each_row(struct db *db, const struct db_sqlset *set, int idx,
    int (*row)(void *arg, const char *const *vals, int n), void *arg);

int db_rows_json(sqlite3_stmt *st, int json_col, int id_col, int64_t limit,
    char **out, int64_t *next);

/* Last error text of the connection. */
const char *db_errmsg(struct db *db);

/* Run a statement directly (PRAGMA, integrity checks). 0 or -errno. */
int db_exec(struct db *db, const char *sql);

/* A pool of n read-only connections to path. Returns 0 or -errno. */
int db_pool_new(const char *path, const struct db_schema *schema, size_t n,
    struct db_pool **out);

/* Borrow a connection, waiting while all are in use; give it back with
 * db_pool_put from the same thread.
 *
 * A reader's read transaction is kept across borrows while it is fresh:
 * no connection of this process has committed since it began (every
 * commit is counted, from SQLite's WAL hook, once it is visible), and it
 * is younger than DB_SNAPSHOT_MAX_MS (or what db_snapshot_max_ms set; 0
 * keeps none). So a launch needs no BEGIN and ROLLBACK (two fcntl locks
 * and a contended mutex each) while nothing changes, yet sees every write
 * of this process made before it was borrowed. Another process's writes
 * show within that age. A stale snapshot is ended when its connection is
 * borrowed or given back, and idle ones when any other is given back; and
 * none is kept while the WAL is past its checkpoint threshold (or that
 * began then), so the checkpoint can catch up and the WAL start over
 * (kept snapshots under steady commits grew it to 55 MB in ten seconds of
 * launches; with this it stays near 4 MB). */
#define DB_SNAPSHOT_MAX_MS 100
void db_snapshot_max_ms(int ms);
struct db *db_pool_get(struct db_pool *pool);
void db_pool_put(struct db_pool *pool, struct db *db);

/* Connection i (< n) of the pool, for setting its user pointer. */
struct db *db_pool_conn(struct db_pool *pool, size_t i);

/* A pointer the owner of db keeps with it (NULL until set). */
void db_set_user(struct db *db, void *user);
void *db_user(const struct db *db);

/* Close every connection; all must have been put back. NULL: nothing. */
void db_pool_free(struct db_pool *pool);

#endif
