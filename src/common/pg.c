/* SPDX-License-Identifier: MIT */
/* PostgreSQL connections: reconnection, prepared statement sets,
 * transactions, notifications and a pool. Migrations are pg_migrate.c's,
 * COPY and imports pg_import.c's. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "upgate/log.h"
#include "upgate/ts.h"

/* A broken connection is tried again at most this often, so a request
 * while the server is down fails at once rather than waiting. */
#define PG_RETRY_MS 1000
#define PG_CONNECT_TIMEOUT "3"
/* A connection drops its cached plans this often. The server makes a
 * prepared statement's generic plan from the table sizes it sees then
 * and keeps it until an ANALYZE or a change of schema: a plan made while
 * a table was empty (a gateway's first minute on a new database, or
 * after an import) may read a whole index where one entry would do,
 * long after the table grew. Re-planning costs a few planner runs per
 * statement per period. */
#define PG_REPLAN_MS 10000

/* When a connection of this process last came back (monotonic ms): a
 * connection that failed before that tries again at once rather than
 * waiting out its PG_RETRY_MS, so that once the server is back every
 * pooled connection follows the first. */
static int64_t last_up;

struct pg_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct pg **conns, **free_list;
	size_t n, nfree;
};

/* url without what may be secret: user@host:port/dbname. */
static void
describe(const char *url, char *buf, size_t len)
{
	const char *user = "", *host = "", *port = "", *db = "";
	PQconninfoOption *o = PQconninfoParse(url, NULL);

	for (PQconninfoOption *i = o; i != NULL && i->keyword != NULL; i++) {
		if (i->val == NULL)
			continue;
		if (strcmp(i->keyword, "user") == 0)
			user = i->val;
		else if (strcmp(i->keyword, "host") == 0)
			host = i->val;
		else if (strcmp(i->keyword, "port") == 0)
			port = i->val;
		else if (strcmp(i->keyword, "dbname") == 0)
			db = i->val;
	}
	snprintf(buf, len, "%s%s%s%s%s/%s", user, *user ? "@" : "",
	    *host ? host : "(default host)", *port ? ":" : "", port, db);
	PQconninfoFree(o);
}

/* libpq's message on one line, without its trailing newline. */
static const char *
conn_error(const PGconn *conn, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%s", conn ? PQerrorMessage(conn) : "no memory");
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return buf;
}

static int
sqlstate_errno(const PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (s == NULL)
		return -EIO;
	if (strcmp(s, "23505") == 0 || strcmp(s, "23503") == 0 ||
	    strcmp(s, "23P01") == 0)
		return -EEXIST;
	if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0)
		return -EBUSY;
	if (strcmp(s, "53100") == 0)
		return -ENOSPC;
	return -EIO;
}

bool
pg_ok(const struct pg *pg)
{
	return !pg->down && PQstatus(pg->conn) == CONNECTION_OK;
}

/* Make sure pg has a working connection: reconnect a broken one, at most
 * once per PG_RETRY_MS. */
int
pg_ensure(struct pg *pg)
{
	char why[512];
	int64_t now;

	if (PQstatus(pg->conn) == CONNECTION_OK)
		return 0;
	/* A transaction died with its connection: nothing more of it may
	 * run, on a new connection least of all, until it is ended. */
	if (pg->txn)
		return -EIO;
	now = ts_mono_ms();
	if (pg->down && now - pg->last_try < PG_RETRY_MS &&
	    __atomic_load_n(&last_up, __ATOMIC_RELAXED) < pg->last_try)
		return -EIO;
	pg->last_try = now;
	PQreset(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		if (!pg->down)
			log_err("database %s: connection lost: %s; retrying",
			    pg->where, conn_error(pg->conn, why, sizeof(why)));
		pg->down = true;
		return -EIO;
	}
	memset(pg->prepared, 0, pg->total * sizeof(*pg->prepared));
	pg->listening = false;
	__atomic_store_n(&last_up, ts_mono_ms(), __ATOMIC_RELAXED);
	if (pg->down)
		log_notice("database %s: reconnected", pg->where);
	pg->down = false;
	return 0;
}

/* A failed result: its errno, logged unless it is a conflict. */
int
pg_failed(struct pg *pg, PGresult *r, const char *what)
{
	int err = sqlstate_errno(r);
	char why[512];

	if (PQstatus(pg->conn) != CONNECTION_OK) {
		if (!pg->down)
			log_err("database %s: connection lost: %s", pg->where,
			    conn_error(pg->conn, why, sizeof(why)));
		pg->down = true;
		pg->last_try = ts_mono_ms();
		err = -EIO;
	} else if (err != -EEXIST) {
		log_err("database %s: %s (in: %.80s)", pg->where,
		    conn_error(pg->conn, why, sizeof(why)), what);
	}
	return err;
}

bool
pg_result_ok(const PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);

	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

int
pg_exec(struct pg *pg, const char *sql)
{
	PGresult *r;
	int err = 0;

	if ((err = pg_ensure(pg)) < 0)
		return err;
	r = PQexec(pg->conn, sql);
	if (!pg_result_ok(r))
		err = pg_failed(pg, r, sql);
	PQclear(r);
	return err;
}

static size_t
stmt_index(struct pg *pg, const struct pg_sqlset *set, int idx)
{
	for (size_t i = 0; i < pg->schema->n_sets; i++)
		if (pg->schema->sets[i] == set)
			return pg->first[i] + (size_t)idx;
	fatal("database: statement set %s is not in the schema", set->name);
}

int
pg_prepare(struct pg *pg, size_t k, const char *sql)
{
	char name[24];
	PGresult *r;
	int err = 0;

	snprintf(name, sizeof(name), "s%zu", k);
	r = PQprepare(pg->conn, name, sql, 0, NULL);
	if (!pg_result_ok(r))
		err = pg_failed(pg, r, sql);
	else
		pg->prepared[k] = true;
	PQclear(r);
	return err;
}

/* Drop the connection's cached plans (PG_REPLAN_MS): its prepared
 * statements are planned again as they next run, for the tables as they
 * are now. A failure is left to the statement that follows. */
static void
replan(struct pg *pg)
{
	PQclear(PQexec(pg->conn, "DISCARD PLANS"));
	pg->planned_at = ts_mono_ms();
}

int
pg_run(struct pg *pg, const struct pg_sqlset *set, int idx,
    const struct pg_params *p, PGresult **res)
{
	size_t k = stmt_index(pg, set, idx);
	char name[24];
	PGresult *r;
	int err;

	snprintf(name, sizeof(name), "s%zu", k);
	for (int attempt = 0;; attempt++) {
		bool in_txn = pg->txn;

		if ((err = pg_ensure(pg)) < 0)
			return err;
		if (!in_txn && ts_mono_ms() - pg->planned_at >= PG_REPLAN_MS)
			replan(pg);
		if (!pg->prepared[k] &&
		    (err = pg_prepare(pg, k, set->sql[idx])) < 0) {
			/* Found dead by the prepare: once more on a new
			 * connection, at once. */
			if (attempt == 0 && !in_txn &&
			    PQstatus(pg->conn) != CONNECTION_OK) {
				pg->last_try = 0;
				pg->down = false;
				continue;
			}
			return err;
		}
		r = PQexecPrepared(pg->conn, name, p ? p->n : 0,
		    p ? p->v : NULL, NULL, NULL, 0);
		if (pg_result_ok(r))
			break;
		/* A connection found dead between statements: once more on
		 * a new one, unless a transaction was lost with it. */
		if (attempt == 0 && !in_txn &&
		    PQstatus(pg->conn) != CONNECTION_OK) {
			PQclear(r);
			pg->last_try = 0;
			pg->down = false;
			continue;
		}
		err = pg_failed(pg, r, set->sql[idx]);
		PQclear(r);
		return err;
	}
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return 0;
}

int64_t
pg_changes(const PGresult *res)
{
	const char *n = PQcmdTuples((PGresult *)(uintptr_t)res);

	return *n ? strtoll(n, NULL, 10) : 0;
}

int64_t
pg_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int64_t
pg_opt(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? -1 : pg_int(res, row, col);
}

void
pg_copy(const PGresult *res, int row, int col, char *buf, size_t len)
{
	const char *t = PQgetvalue(res, row, col);
	size_t n = (size_t)PQgetlength(res, row, col);

	if (n >= len)
		n = len - 1;
	memcpy(buf, t, n);
	buf[n] = '\0';
}

char *
pg_strdup(const PGresult *res, int row, int col)
{
	return strdup(PQgetvalue(res, row, col));
}

int
pg_opt_text(const PGresult *res, int row, int col, char **out)
{
	*out = NULL;
	if (PQgetisnull(res, row, col))
		return 0;
	return (*out = pg_strdup(res, row, col)) ? 0 : -ENOMEM;
}

void
pg_params_init(struct pg_params *p)
{
	p->n = 0;
}

void
pg_param_text(struct pg_params *p, const char *s)
{
	if (p->n < PG_MAX_PARAMS)
		p->v[p->n++] = s;
}

void
pg_param_int(struct pg_params *p, int64_t v)
{
	if (p->n < PG_MAX_PARAMS) {
		snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, v);
		p->v[p->n] = p->num[p->n];
		p->n++;
	}
}

void
pg_param_opt(struct pg_params *p, int64_t v)
{
	if (v < 0)
		pg_param_text(p, NULL);
	else
		pg_param_int(p, v);
}

void
pg_param_real(struct pg_params *p, double v)
{
	if (p->n < PG_MAX_PARAMS) {
		snprintf(p->num[p->n], sizeof(p->num[0]), "%.17g", v);
		p->v[p->n] = p->num[p->n];
		p->n++;
	}
}

/* A transaction statement; BEGIN is tried once more on a new connection
 * when the old one turns out dead (nothing is lost with it). */
static int
tx(struct pg *pg, const char *sql, bool begin)
{
	PGresult *r;
	int err;

	for (int attempt = 0;; attempt++) {
		if ((err = pg_ensure(pg)) < 0)
			return err;
		r = PQexec(pg->conn, sql);
		if (pg_result_ok(r)) {
			PQclear(r);
			return 0;
		}
		if (begin && attempt == 0 &&
		    PQstatus(pg->conn) != CONNECTION_OK) {
			PQclear(r);
			pg->last_try = 0;
			pg->down = false;
			continue;
		}
		err = pg_failed(pg, r, sql);
		PQclear(r);
		return err;
	}
}

int
pg_begin(struct pg *pg)
{
	int err = tx(pg, "BEGIN", true);

	pg->txn = err == 0;
	return err;
}

int
pg_end(struct pg *pg, int err)
{
	if (!pg->txn)
		return err < 0 ? err : -EIO;
	if (err == 0 && PQstatus(pg->conn) != CONNECTION_OK)
		err = -EIO; /* lost with its connection */
	if (err == 0)
		err = tx(pg, "COMMIT", false);
	else
		pg_reset_txn(pg);
	pg->txn = false;
	return err;
}

void
pg_reset_txn(struct pg *pg)
{
	if (pg->txn && PQstatus(pg->conn) == CONNECTION_OK)
		PQclear(PQexec(pg->conn, "ROLLBACK"));
	pg->txn = false;
}

int
pg_savepoint(struct pg *pg)
{
	return tx(pg, "SAVEPOINT s", false);
}

int
pg_savepoint_end(struct pg *pg, bool keep)
{
	int err = keep ? 0 : tx(pg, "ROLLBACK TO SAVEPOINT s", false);

	return err < 0 ? err : tx(pg, "RELEASE SAVEPOINT s", false);
}

void
pg_lock(struct pg *pg)
{
	pthread_mutex_lock(&pg->lock);
}

void
pg_unlock(struct pg *pg)
{
	pthread_mutex_unlock(&pg->lock);
}

void
pg_set_user(struct pg *pg, void *user)
{
	pg->user = user;
}

void *
pg_user(const struct pg *pg)
{
	return pg->user;
}

/* Pass each notification waiting on pg to fn. */
static void
notifies(struct pg *pg, pg_notify_fn fn, void *arg)
{
	PGnotify *n;

	while ((n = PQnotifies(pg->conn)) != NULL) {
		fn(arg, n->relname, n->extra);
		PQfreemem(n);
	}
}

int
pg_listen(struct pg *pg, const char *channel, int timeout_ms, pg_notify_fn fn,
    void *arg)
{
	struct pollfd p;
	char sql[256];
	size_t off = 0;
	int err;

	if ((err = pg_ensure(pg)) < 0)
		return err;
	if (!pg->listening) {
		for (const char *c = channel; *c && off < sizeof(sql);) {
			size_t n = strcspn(c, ",");

			off += (size_t)snprintf(sql + off, sizeof(sql) - off,
			    "LISTEN %.*s;", (int)n, c);
			c += n + (c[n] == ',');
		}
		if (off >= sizeof(sql))
			return -ENAMETOOLONG;
		if ((err = pg_exec(pg, sql)) < 0)
			return err;
		pg->listening = true;
	}
	notifies(pg, fn, arg);
	p = (struct pollfd){.fd = PQsocket(pg->conn), .events = POLLIN};
	if (poll(&p, 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	if (p.revents != 0 && PQconsumeInput(pg->conn) == 0) {
		pg_failed(pg, NULL, "LISTEN");
		return -EIO;
	}
	notifies(pg, fn, arg);
	return 0;
}

int
pg_open(const char *url, const char *password, const struct pg_schema *schema,
    bool migrate_it, struct pg **out)
{
	const char *kw[6], *val[6];
	struct pg *pg;
	char why[512];
	int64_t v;
	int n = 0, err;

	if ((pg = calloc(1, sizeof(*pg))) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&pg->lock, NULL);
	pg->schema = schema;
	describe(url, pg->where, sizeof(pg->where));
	pg->first =
	    calloc(schema->n_sets ? schema->n_sets : 1, sizeof(*pg->first));
	for (size_t i = 0; pg->first != NULL && i < schema->n_sets; i++) {
		pg->first[i] = pg->total;
		pg->total += schema->sets[i]->n;
	}
	pg->prepared = calloc(pg->total ? pg->total : 1, sizeof(bool));
	if (pg->first == NULL || pg->prepared == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	/* Later values win: the URL may set its own timeout; a password
	 * file wins over one in the URL. */
	kw[n] = "connect_timeout", val[n++] = PG_CONNECT_TIMEOUT;
	kw[n] = "application_name", val[n++] = schema->program;
	kw[n] = "dbname", val[n++] = url;
	if (password != NULL)
		kw[n] = "password", val[n++] = password;
	kw[n] = NULL, val[n] = NULL;
	pg->conn = PQconnectdbParams(kw, val, 1);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		log_err("database %s: cannot connect: %s", pg->where,
		    conn_error(pg->conn, why, sizeof(why)));
		err = -EIO;
		goto fail;
	}
	/* Times as the APIs show them, whatever the server's zone. */
	if ((err = pg_exec(pg, "SET TIME ZONE 'UTC'")) < 0)
		goto fail;
	if (migrate_it)
		err = pg_migrate(pg);
	else if ((err = pg_schema_version(pg, &v)) == 0 &&
		 v != (int64_t)schema->n_migrations) {
		log_err("database %s: schema version %" PRId64 ", expected "
			"%zu",
		    pg->where, v, schema->n_migrations);
		err = -EPROTO;
	}
	if (err < 0)
		goto fail;
	*out = pg;
	return 0;
fail:
	pg_close(pg);
	return err;
}

void
pg_close(struct pg *pg)
{
	if (pg == NULL)
		return;
	PQfinish(pg->conn);
	free(pg->copy);
	pthread_mutex_destroy(&pg->lock);
	free(pg->prepared);
	free(pg->first);
	free(pg);
}

int
pg_pool_new(const char *url, const char *password,
    const struct pg_schema *schema, size_t n, struct pg_pool **out)
{
	struct pg_pool *p = calloc(1, sizeof(*p));
	int err = 0;

	if (p == NULL)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->conns = calloc(n ? n : 1, sizeof(*p->conns));
	p->free_list = calloc(n ? n : 1, sizeof(*p->free_list));
	if (p->conns == NULL || p->free_list == NULL)
		err = -ENOMEM;
	for (; err == 0 && p->n < n; p->n++) {
		if ((err = pg_open(
			 url, password, schema, false, &p->conns[p->n])) < 0)
			break;
		p->free_list[p->nfree++] = p->conns[p->n];
	}
	if (err < 0) {
		pg_pool_free(p);
		return err;
	}
	*out = p;
	return 0;
}

struct pg *
pg_pool_get(struct pg_pool *p)
{
	struct pg *pg;

	pthread_mutex_lock(&p->lock);
	while (p->nfree == 0)
		pthread_cond_wait(&p->freed, &p->lock);
	pg = p->free_list[--p->nfree];
	pthread_mutex_unlock(&p->lock);
	return pg;
}

void
pg_pool_put(struct pg_pool *p, struct pg *pg)
{
	pg_reset_txn(pg);
	pthread_mutex_lock(&p->lock);
	p->free_list[p->nfree++] = pg;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

struct pg *
pg_pool_conn(struct pg_pool *p, size_t i)
{
	return i < p->n ? p->conns[i] : NULL;
}

void
pg_pool_free(struct pg_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		pg_close(p->conns[i]);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p->conns);
	free(p->free_list);
	free(p);
}
