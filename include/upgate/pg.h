/* SPDX-License-Identifier: MIT */
/* PostgreSQL helpers over libpq: connections that reconnect by themselves,
 * statement sets prepared on first use, migrations under an advisory
 * lock, transactions, a pool of connections, and typed parameters. */
#ifndef UPGATE_PG_H
#define UPGATE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* One store's statements: sql[i] is statement i ($1, $2 ... parameters). */
struct pg_sqlset {
	const char *name;
	const char *const *sql;
	size_t n;
};

/* A program's schema in a database of its own: migrations[i] takes
 * version i to i + 1 (several statements each, run in one transaction).
 * program names the owner in the upgate_schema table, so a database of
 * another program is refused. */
struct pg_schema {
	const char *program;
	const char *const *migrations;
	size_t n_migrations;
	const struct pg_sqlset *const *sets;
	size_t n_sets;
};

struct pg;
struct pg_pool;

/* Connect to url (a libpq connection string or URI) with password (NULL:
 * none, or what url and ~/.pgpass say). With migrate, create or migrate
 * the schema under an advisory lock (several programs starting at once
 * wait for each other) and check that every statement prepares; without,
 * only check the schema version. Blocks; at start-up. 0 and *out, or
 * -EIO (cannot connect: the reason names the server and libpq's words,
 * never the password), -EPROTO (another program's database, or a newer
 * schema), -errno; the reason is logged. */
int pg_open(const char *url, const char *password,
    const struct pg_schema *schema, bool migrate, struct pg **out);

/* Close. NULL does nothing. */
void pg_close(struct pg *pg);

/* Parameters of one statement, as text: integers are formatted here. At
 * most PG_MAX_PARAMS. */
#define PG_MAX_PARAMS 160
struct pg_params {
	int n;
	const char *v[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][24];
};
void pg_params_init(struct pg_params *p);
/* Text (NULL: SQL NULL), borrowed until the statement ran. */
void pg_param_text(struct pg_params *p, const char *s);
void pg_param_int(struct pg_params *p, int64_t v);
/* v, or NULL when v is negative (an optional number). */
void pg_param_opt(struct pg_params *p, int64_t v);
void pg_param_real(struct pg_params *p, double v);

/* Run statement idx of set with p (NULL: none). A broken connection is
 * re-established first (at most once a second; otherwise the call fails
 * at once). Returns 0 and *res (PQclear it; NULL when res is NULL),
 * -EEXIST on a unique or foreign-key conflict, -EBUSY on a deadlock or
 * serialization failure, -EIO when the server cannot be reached or
 * failed (logged, except -EEXIST). */
int pg_run(struct pg *pg, const struct pg_sqlset *set, int idx,
    const struct pg_params *p, PGresult **res);

/* Rows a command changed (UPDATE, DELETE, INSERT) in res. */
int64_t pg_changes(const PGresult *res);

/* Column col of row as a number (0 for NULL), as a number or -1 for
 * NULL, as text copied into buf (truncated to len - 1, "" for NULL), as
 * a malloc'd string ("" for NULL; NULL when out of memory), or as a
 * malloc'd string or NULL for NULL (*out; -ENOMEM). */
int64_t pg_int(const PGresult *res, int row, int col);
int64_t pg_opt(const PGresult *res, int row, int col);
void pg_copy(const PGresult *res, int row, int col, char *buf, size_t len);
char *pg_strdup(const PGresult *res, int row, int col);
int pg_opt_text(const PGresult *res, int row, int col, char **out);

/* Transactions: pg_begin starts one (READ COMMITTED: each statement sees
 * what committed before it, and row locks order writers). pg_end commits
 * when err is 0, else rolls back; returns the commit's error or err. */
int pg_begin(struct pg *pg);
int pg_end(struct pg *pg, int err);
/* End whatever transaction pg is in (rolled back). */
void pg_reset_txn(struct pg *pg);
/* A savepoint inside a transaction; _end keeps its writes or undoes
 * them first. 0 or -errno. */
int pg_savepoint(struct pg *pg);
int pg_savepoint_end(struct pg *pg, bool keep);

/* Run sql (several statements allowed) as it is, outside any set: for
 * start-up and tools. 0 or -errno (logged). */
int pg_exec(struct pg *pg, const char *sql);

/* COPY ... FROM STDIN: begin with the statement sql, send rows of n
 * text values each (NULL: SQL NULL; escaped here), end. _end returns the
 * first error of the three, and 0 once the server took every row. */
int pg_copy_begin(struct pg *pg, const char *sql);
int pg_copy_row(struct pg *pg, const char *const *vals, int n);
int pg_copy_end(struct pg *pg);

/* Wait up to timeout_ms for notifications on channel (an identifier, or
 * several separated by commas; LISTEN is issued on first use and again after a reconnection) and
 * pass each to fn with its channel and payload. A connection used for
 * this is used for nothing else. 0, or -EIO when the server cannot be
 * reached (call again: it reconnects at most once a second). */
typedef void (*pg_notify_fn)(
    void *arg, const char *channel, const char *payload);
int pg_listen(struct pg *pg, const char *channel, int timeout_ms,
    pg_notify_fn fn, void *arg);

/* An RFC 3339 UTC time from a millisecond column or parameter x, as the
 * APIs show times (connections run with TIME ZONE 'UTC'). */
#define PG_RFC3339(x)                                                          \
	"to_char(to_timestamp((" x ") / 1000), "                               \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* An import's source: pass every row of table t to row (as text; NULL:
 * SQL NULL). 0 or -errno. */
typedef int (*pg_row_fn)(void *arg, const char *const *vals, int n);
typedef int (*pg_source_fn)(void *src, int t, pg_row_fn row, void *arg);

/* Copy a database into this empty one, in one transaction: lock (a LOCK
 * TABLE statement), check that statement count_idx of count_set (one
 * number) is 0 (else -ENOTEMPTY, nothing changed), then for each table
 * t < n run before[t] when there is one (before may be NULL) and COPY
 * (copy_sql[t]) src's rows, and last run after (new ids past the copied
 * ones). 0 or -errno, nothing changed then. */
int pg_import(struct pg *pg, const char *lock,
    const struct pg_sqlset *count_set, int count_idx,
    const char *const *copy_sql, const char *const *before, int n,
    pg_source_fn src_rows, void *src, const char *after);

/* Whether the last call found the server reachable. */
bool pg_ok(const struct pg *pg);

/* Serialize users of a shared connection. */
void pg_lock(struct pg *pg);
void pg_unlock(struct pg *pg);

/* A pointer the owner of pg keeps with it. */
void pg_set_user(struct pg *pg, void *user);
void *pg_user(const struct pg *pg);

/* A pool of n connections (schema checked, not migrated). 0 or -errno. */
int pg_pool_new(const char *url, const char *password,
    const struct pg_schema *schema, size_t n, struct pg_pool **out);
/* Borrow one, waiting while all are in use; give it back from the same
 * thread (an open transaction is ended). */
struct pg *pg_pool_get(struct pg_pool *pool);
void pg_pool_put(struct pg_pool *pool, struct pg *pg);
/* Connection i (< n), for setting its user pointer. */
struct pg *pg_pool_conn(struct pg_pool *pool, size_t i);
/* Close every connection; all given back. NULL does nothing. */
void pg_pool_free(struct pg_pool *pool);

#endif
