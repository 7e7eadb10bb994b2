/* SPDX-License-Identifier: MIT */
/* SQLite connections: pragmas, migrations, statement sets and a reader pool. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upgate/buf.h"
#include "upgate/db.h"
#include "upgate/log.h"
#include "upgate/ts.h"

/* Statements every connection keeps prepared for its transactions. */
enum {
	TX_BEGIN,
	TX_BEGIN_READ,
	TX_COMMIT,
	TX_ROLLBACK,
	TX_SAVEPOINT,
	TX_RELEASE,
	TX_ROLLBACK_TO,
	TX_N
};
static const char *const tx_sql[TX_N] = {"BEGIN IMMEDIATE", "BEGIN", "COMMIT",
    "ROLLBACK", "SAVEPOINT s", "RELEASE s", "ROLLBACK TO s"};

struct db {
	sqlite3 *h;
	sqlite3_stmt *tx[TX_N];
	const struct db_schema *schema;
	sqlite3_stmt **stmts; /* every set's statements, set by set */
	size_t *first;	      /* index in stmts of each set's first */
	pthread_mutex_t lock;
	bool pooled;	       /* a reader: keeps fresh snapshots */
	uint64_t snap_commits; /* commits counted when its read began */
	int64_t snap_at;       /* and when (monotonic ms) */
	bool snap_long;	       /* it began while the WAL was long */
	void *user;	       /* db_set_user's */
};

/* Commits by any connection of this process, counted once visible. */
static atomic_uint_fast64_t commits;
/* The WAL is past the checkpoint threshold and the checkpoint could not
 * catch up (a reader still read an older part of it): kept snapshots
 * would keep it so, and the WAL from starting over. None is kept until
 * a checkpoint has caught up. */
static atomic_bool wal_long;
static atomic_int snapshot_max_ms = DB_SNAPSHOT_MAX_MS;

void
db_snapshot_max_ms(int ms)
{
	atomic_store(&snapshot_max_ms, ms);
}

/* SQLite's WAL hook: after each commit, with the write lock released.
 * It replaces the automatic checkpoint hook, so it checkpoints the same
 * way (passive, past 1,000 WAL pages). */
#define WAL_CHECKPOINT_PAGES 1000
static int
on_commit(void *arg, sqlite3 *h, const char *name, int pages)
{
	int log = 0, done = 0;

	(void)arg;
	atomic_fetch_add(&commits, 1);
	if (pages >= WAL_CHECKPOINT_PAGES)
		sqlite3_wal_checkpoint_v2(
		    h, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	/* Caught up: snapshots from now on read the database file alone
	 * and do not keep the WAL from starting over at the next write. */
	atomic_store(&wal_long, done < log);
	return SQLITE_OK;
}

/* Whether db's open read transaction may serve another borrow. */
static bool
snapshot_fresh(const struct db *db)
{
	return db->snap_commits == atomic_load(&commits) && !db->snap_long &&
	       !atomic_load(&wal_long) &&
	       ts_mono_ms() - db->snap_at < atomic_load(&snapshot_max_ms);
}

/* End db's read transaction unless it is fresh. */
static void
snapshot_check(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h) && !snapshot_fresh(db))
		db_rollback(db);
}

struct db_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct db **conns;
	size_t n, nfree;
	struct db **free_list;
};

int
db_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

const char *
db_errmsg(struct db *db)
{
	return sqlite3_errmsg(db->h);
}

int
db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		log_err(
		    "database: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return db_errno(rc);
	}
	return 0;
}

static int
user_version(struct db *db, int *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_errno(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_errno(rc);
}

static int
migrate(struct db *db, const char *path)
{
	const struct db_schema *s = db->schema;
	int v = 0, err;
	char sql[64];

	if ((err = user_version(db, &v)) < 0)
		return err;
	if (v > (int)s->n_migrations) {
		log_err("database %s: schema version %d is newer than this "
			"program knows (%zu); refusing to touch it",
		    path, v, s->n_migrations);
		return -EPROTO;
	}
	for (; v < (int)s->n_migrations; v++) {
		if ((err = db_begin(db)) < 0)
			return err;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if ((err = db_exec(db, s->migrations[v])) < 0 ||
		    (err = db_exec(db, sql)) < 0) {
			db_rollback(db);
			log_err("database %s: migration to version %d failed",
			    path, v + 1);
			return err;
		}
		if ((err = db_commit(db)) < 0)
			return err;
		log_info(
		    "database %s: schema migrated to version %d", path, v + 1);
	}
	return 0;
}

/* Make room for every set's statements. Each is prepared on its first
 * use (a reader uses a few of them; prepared, each costs kilobytes). The
 * connection that migrates checks them all once, so a statement that
 * does not fit the schema stops the daemon at start, not at first use. */
static int
prepare_all(struct db *db, bool check)
{
	const struct db_schema *s = db->schema;
	size_t total = 0, k = 0;

	db->first = calloc(s->n_sets ? s->n_sets : 1, sizeof(*db->first));
	for (size_t i = 0; i < s->n_sets; i++)
		total += s->sets[i]->n;
	db->stmts = calloc(total ? total : 1, sizeof(*db->stmts));
	if (db->first == NULL || db->stmts == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_sets; i++) {
		db->first[i] = k;
		for (size_t j = 0; check && j < s->sets[i]->n; j++) {
			sqlite3_stmt *st = NULL;
			int rc = sqlite3_prepare_v2(
			    db->h, s->sets[i]->sql[j], -1, &st, NULL);

			sqlite3_finalize(st);
			if (rc != SQLITE_OK) {
				log_err("database: statement %s[%zu] does not "
					"prepare: %s",
				    s->sets[i]->name, j, sqlite3_errmsg(db->h));
				return -EIO;
			}
		}
		k += s->sets[i]->n;
	}
	return 0;
}

static int cache_kib = 2000;

void
db_cache_kib(int kib)
{
	cache_kib = kib;
}

int
db_cache_set(struct db *db, int kib)
{
	char sql[48];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", kib);
	return db_exec(db, sql);
}

/* Process-wide settings, before the first connection: no memory
 * statistics (they take a global mutex on every allocation; every thread
 * serving requests went through it). Statement and savepoint journals
 * stay in memory up to 128 KiB - 1 instead of SQLite's 64 KiB: one
 * group-commit job (a savepoint) touches about ten pages, and past 64 KiB
 * the journal went to a temporary file for the rest of the batch, two
 * writes per page, more write calls than the WAL itself. No more: the
 * limit is also the size of the journal's memory chunks, which a spill
 * writes one call each, and the default VFS fails a write of 128 KiB or
 * more as a full disk (a statement journaling over 1 MiB did, with 1 MiB). */
#define DB_STMT_JOURNAL_MEMORY (128 * 1024 - 1)

static void
configure(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, DB_STMT_JOURNAL_MEMORY);
}

int
db_open(const char *path, const struct db_schema *schema, bool migrate_it,
    struct db **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	static const char pragmas[] = "PRAGMA foreign_keys = ON;"
				      "PRAGMA synchronous = FULL;";
	struct db *db;
	int rc, err;

	pthread_once(&once, configure);
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return -ENOMEM;
	db->schema = schema;
	pthread_mutex_init(&db->lock, NULL);
	rc = sqlite3_open_v2(path, &db->h,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		log_err("database %s: cannot open: %s", path,
		    db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		err = db_errno(rc);
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	sqlite3_wal_hook(db->h, on_commit, NULL);
	if (strcmp(path, ":memory:") != 0 &&
	    (err = db_exec(db, "PRAGMA journal_mode = WAL")) < 0)
		goto fail;
	if ((err = db_exec(db, pragmas)) < 0)
		goto fail;
	if ((err = db_cache_set(db, cache_kib)) < 0)
		goto fail;
	for (int i = 0; i < TX_N; i++) {
		if (sqlite3_prepare_v3(db->h, tx_sql[i], -1,
			SQLITE_PREPARE_PERSISTENT, &db->tx[i],
			NULL) != SQLITE_OK) {
			err = -EIO;
			goto fail;
		}
	}
	if (migrate_it && (err = migrate(db, path)) < 0)
		goto fail;
	if (!migrate_it && (err = db_exec(db, "PRAGMA query_only = 1")) < 0)
		goto fail;
	if ((err = prepare_all(db, migrate_it)) < 0)
		goto fail;
	*out = db;
	return 0;
fail:
	db_close(db);
	return err;
}

void
db_close(struct db *db)
{
	size_t total = 0;

	if (db == NULL)
		return;
	if (db->stmts != NULL) {
		for (size_t i = 0; i < db->schema->n_sets; i++)
			total += db->schema->sets[i]->n;
		for (size_t i = 0; i < total; i++)
			sqlite3_finalize(db->stmts[i]);
	}
	for (int i = 0; i < TX_N; i++)
		sqlite3_finalize(db->tx[i]);
	sqlite3_close(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db->stmts);
	free(db->first);
	free(db);
}

sqlite3_stmt *
db_stmt(struct db *db, const struct db_sqlset *set, int idx)
{
	for (size_t i = 0; i < db->schema->n_sets; i++) {
		if (db->schema->sets[i] == set) {
			sqlite3_stmt **st =
			    &db->stmts[db->first[i] + (size_t)idx];

			if (*st == NULL) {
				/* NULL (out of memory) fails the step. */
				if (sqlite3_prepare_v3(db->h, set->sql[idx], -1,
					SQLITE_PREPARE_PERSISTENT, st,
					NULL) != SQLITE_OK)
					log_err("database: statement %s[%d]: "
						"%s",
					    set->name, idx,
					    sqlite3_errmsg(db->h));
				return *st;
			}
			sqlite3_reset(*st);
			sqlite3_clear_bindings(*st);
			return *st;
		}
	}
	fatal("database: statement set %s is not in the schema", set->name);
}

/* Run one of the transaction statements. */
static int
tx(struct db *db, int which)
{
	int rc = sqlite3_step(db->tx[which]);

	sqlite3_reset(db->tx[which]);
	if (rc != SQLITE_DONE) {
		log_err(
		    "database: %s: %s", tx_sql[which], sqlite3_errmsg(db->h));
		return db_errno(rc);
	}
	return 0;
}

int
db_begin(struct db *db)
{
	return tx(db, TX_BEGIN);
}

int
db_begin_read(struct db *db)
{
	if (db->pooled && !sqlite3_get_autocommit(db->h))
		return 0; /* the fresh snapshot db_pool_get left open */
	/* Counted before the snapshot starts: it is at least this new. */
	db->snap_commits = atomic_load(&commits);
	/* One begun while the checkpoint was behind may read a part of the
	 * WAL it has not copied yet: never kept, even once it caught up. */
	db->snap_long = atomic_load(&wal_long);
	db->snap_at = ts_mono_ms();
	return tx(db, TX_BEGIN_READ);
}

int
db_commit(struct db *db)
{
	int err = tx(db, TX_COMMIT);

	if (err < 0)
		db_rollback(db);
	return err;
}

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h)) {
		sqlite3_step(db->tx[TX_ROLLBACK]);
		sqlite3_reset(db->tx[TX_ROLLBACK]);
	}
}

int
db_savepoint(struct db *db)
{
	return tx(db, TX_SAVEPOINT);
}

int
db_savepoint_end(struct db *db, bool keep)
{
	int err = keep ? 0 : tx(db, TX_ROLLBACK_TO);

	return err < 0 ? err : tx(db, TX_RELEASE);
}

void
db_lock(struct db *db)
{
	pthread_mutex_lock(&db->lock);
}

void
db_unlock(struct db *db)
{
	pthread_mutex_unlock(&db->lock);
}

/* A constraint conflict is an answer callers handle; anything else is
 * logged here, where the statement's text is at hand. */
static int
step_failed(sqlite3_stmt *st, int rc)
{
	int err = db_errno(rc);

	if (err != -EEXIST)
		log_err("database: %s (in: %.80s)",
		    sqlite3_errmsg(sqlite3_db_handle(st)), sqlite3_sql(st));
	return err;
}

int
db_run(sqlite3_stmt *st)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return step_failed(st, rc);
	return 0;
}

int
db_row(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return step_failed(st, rc);
}

int
db_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

char *
db_col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return strdup(t ? (const char *)t : "");
}

void
db_col_copy(sqlite3_stmt *st, int i, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = t ? strlen((const char *)t) : 0;

	if (n >= len)
		n = len - 1;
	if (n > 0)
		memcpy(buf, t, n);
	buf[n] = '\0';
}

int
db_pool_new(const char *path, const struct db_schema *schema, size_t n,
    struct db_pool **out)
{
	struct db_pool *p;
	int err = 0;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->conns = calloc(n, sizeof(*p->conns));
	p->free_list = calloc(n, sizeof(*p->free_list));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	if (p->conns == NULL || p->free_list == NULL) {
		err = -ENOMEM;
		goto out;
	}
	for (; p->n < n; p->n++) {
		if ((err = db_open(path, schema, false, &p->conns[p->n])) < 0)
			goto out;
		p->conns[p->n]->pooled = true;
		p->free_list[p->nfree++] = p->conns[p->n];
	}
out:
	if (err < 0) {
		db_pool_free(p);
		return err;
	}
	*out = p;
	return 0;
}

struct db *
db_pool_get(struct db_pool *p)
{
	struct db *db;

	pthread_mutex_lock(&p->lock);
	while (p->nfree == 0)
		pthread_cond_wait(&p->freed, &p->lock);
	db = p->free_list[--p->nfree];
	pthread_mutex_unlock(&p->lock);
	snapshot_check(db);
	return db;
}

void
db_pool_put(struct db_pool *p, struct db *db)
{
	snapshot_check(db);
	pthread_mutex_lock(&p->lock);
	/* Idle ones too: a stale snapshot would keep the WAL from being
	 * checkpointed and restarted. */
	for (size_t i = 0; i < p->nfree; i++)
		snapshot_check(p->free_list[i]);
	p->free_list[p->nfree++] = db;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

struct db *
db_pool_conn(struct db_pool *p, size_t i)
{
	return i < p->n ? p->conns[i] : NULL;
}

void
db_set_user(struct db *db, void *user)
{
	db->user = user;
}

void *
db_user(const struct db *db)
{
	return db->user;
}

void
db_pool_free(struct db_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		db_close(p->conns[i]);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p->conns);
	free(p->free_list);
	free(p);
}

int
db_rows_json(sqlite3_stmt *st, int json_col, int id_col, int64_t limit,
    char **out, int64_t *next)
{
	struct buf b = {0};
	int64_t n = 0, last = 0;
	int err;

	*next = 0;
	err = buf_add(&b, "[", 1);
	while (err == 0 && (err = db_row(st)) == 1) {
		if (n == limit) {
			*next = last;
			sqlite3_reset(st);
			err = 0;
			break;
		}
		err = n > 0 ? buf_add(&b, ",", 1) : 0;
		if (err == 0)
			err = buf_add(&b, sqlite3_column_text(st, json_col),
			    (size_t)sqlite3_column_bytes(st, json_col));
		last = sqlite3_column_int64(st, id_col);
		n++;
	}
	if (err == 0)
		err = buf_add(&b, "]", 1);
	if (err < 0) {
		sqlite3_reset(st);
		buf_free(&b);
		return err;
	}
	*out = buf_steal(&b);
	return *out ? 0 : -ENOMEM;
}

int
db_txn_begin(struct db *db)
{
	int err;

	db_lock(db);
	if ((err = db_begin(db)) < 0)
		db_unlock(db);
	return err;
}

int
db_txn_end(struct db *db, int err)
{
	if (err == 0)
		err = db_commit(db);
	else
		db_rollback(db);
	db_unlock(db);
	return err;
}

/* The most columns db_each_row passes. */
#define EACH_MAX_COLS 32

int
db_each_row(struct db *db, const struct db_sqlset *set, int idx,
    int (*row)(void *arg, const char *const *vals, int n), void *arg)
{
	sqlite3_stmt *st = db_stmt(db, set, idx);
	const char *vals[EACH_MAX_COLS];
	int n, err;

	if ((err = db_begin_read(db)) < 0)
		return err;
	n = sqlite3_column_count(st);
	if (n > EACH_MAX_COLS)
		err = -E2BIG;
	while (err == 0 && (err = db_row(st)) == 1) {
		for (int i = 0; i < n; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i);
		err = row(arg, vals, n);
	}
	sqlite3_reset(st);
	db_rollback(db);
	return err;
}
