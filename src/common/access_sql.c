/* SPDX-License-Identifier: MIT */
/* The tokens and audit tables on either engine: each call runs the
 * statement of the engine its connection is on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "upgate/access.h"
#include "upgate/db.h"
#include "upgate/pg.h"
#include "upgate/ts.h"

enum {
	T_FIND,
	T_INSERT,
	T_LIST,
	T_ROLE,
	T_ADMINS,
	T_DELETE,
	T_REVOKED,
	A_ADD,
	A_PAGE,
	A_PRUNE,
	ACCESS_N_SQL
};

#define TOKEN_LIST_SQL                                                         \
	"SELECT name, role, apps, created_at, created_by FROM tokens"          \
	" ORDER BY name"

static const char *const sqlite_sql[ACCESS_N_SQL] = {
    [T_FIND] = "SELECT name, role, apps FROM tokens WHERE hash = ?",
    [T_INSERT] = "INSERT INTO tokens (name, role, apps, hash, created_at,"
		 " created_by) VALUES (?, ?, ?, ?, ?, ?)",
    [T_LIST] = TOKEN_LIST_SQL,
    [T_ROLE] = "SELECT role FROM tokens WHERE name = ?",
    [T_ADMINS] = "SELECT count(*) FROM tokens WHERE role = 'admin'",
    [T_DELETE] = "DELETE FROM tokens WHERE name = ?",
    [T_REVOKED] = "SELECT 1",
    [A_ADD] = "INSERT INTO audit (at, token, role, client, method, path,"
	      " status, change) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [A_PAGE] =
	"SELECT " ACCESS_COLS_AUDIT " FROM audit WHERE id < ? AND at >= ?"
	" AND at < ? AND (?4 IS NULL OR token = ?4)"
	" ORDER BY id DESC LIMIT ?",
    [A_PRUNE] = "DELETE FROM audit WHERE id IN (SELECT id FROM audit"
		" WHERE at < ? ORDER BY id LIMIT ?)",
};

const struct db_sqlset access_sqlite_sql = {"access", sqlite_sql, ACCESS_N_SQL};

static const char *const pg_sql[ACCESS_N_SQL] = {
    [T_FIND] = "SELECT name, role, apps FROM tokens WHERE hash = $1",
    [T_INSERT] = "INSERT INTO tokens (name, role, apps, hash, created_at,"
		 " created_by) VALUES ($1, $2, $3, $4, $5, $6)",
    [T_LIST] = TOKEN_LIST_SQL,
    [T_ROLE] = "SELECT role FROM tokens WHERE name = $1 FOR UPDATE",
    /* Locked: two daemons revoking the last two admins at once do not
     * both see the other's. */
    [T_ADMINS] = "SELECT count(*) FROM (SELECT 1 FROM tokens"
		 " WHERE role = 'admin' FOR UPDATE) a",
    [T_DELETE] = "DELETE FROM tokens WHERE name = $1",
    [T_REVOKED] = "SELECT pg_notify('" ACCESS_REVOKED_CHANNEL "', $1)",
    [A_ADD] = "INSERT INTO audit (at, token, role, client, method, path,"
	      " status, change) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [A_PAGE] =
	"SELECT " ACCESS_COLS_AUDIT " FROM audit WHERE id < $1 AND at >= $2"
	" AND at < $3 AND ($4::text IS NULL OR token = $4)"
	" ORDER BY id DESC LIMIT $5",
    [A_PRUNE] = "DELETE FROM audit WHERE id IN (SELECT id FROM audit"
		" WHERE at < $1 ORDER BY id LIMIT $2)",
};

const struct pg_sqlset access_pg_sql = {"access", pg_sql, ACCESS_N_SQL};

/* One statement either way: parameters as text or numbers, then rows of
 * text columns to row() (NULL: SQL NULL). For SQLite, params holds what
 * is bound to each ? in order. */
struct param {
	const char *text;
	int64_t num;
	bool is_num;
};

#define P_TEXT(s) ((struct param){(s), 0, false})
#define P_NUM(n) ((struct param){NULL, (n), true})
#define MAX_COLS 9

typedef int (*row_fn)(void *arg, const char *const *vals, int n);

static int
run_sqlite(struct db *db, int idx, const struct param *p, int np, row_fn row,
    void *arg, int64_t *changes)
{
	sqlite3_stmt *st = db_stmt(db, &access_sqlite_sql, idx);
	const char *vals[MAX_COLS];
	int err;

	for (int i = 0; i < np; i++) {
		if (p[i].is_num)
			sqlite3_bind_int64(st, i + 1, p[i].num);
		else
			db_bind_text(st, i + 1, p[i].text);
	}
	while ((err = db_row(st)) == 1) {
		int n = sqlite3_column_count(st);

		for (int i = 0; i < n && i < MAX_COLS; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i);
		if (row != NULL && (err = row(arg, vals, n)) < 0) {
			sqlite3_reset(st);
			return err;
		}
	}
	if (err == 0 && changes != NULL)
		*changes = sqlite3_changes(sqlite3_db_handle(st));
	return err;
}

static int
run_pg(struct pg *pg, int idx, const struct param *p, int np, row_fn row,
    void *arg, int64_t *changes)
{
	struct pg_params pp;
	const char *vals[MAX_COLS];
	PGresult *res;
	int err = 0;

	pg_params_init(&pp);
	for (int i = 0; i < np; i++) {
		if (p[i].is_num)
			pg_param_int(&pp, p[i].num);
		else
			pg_param_text(&pp, p[i].text);
	}
	if ((err = pg_run(pg, &access_pg_sql, idx, &pp, &res)) < 0)
		return err;
	for (int r = 0; err == 0 && r < PQntuples(res); r++) {
		int n = PQnfields(res);

		for (int i = 0; i < n && i < MAX_COLS; i++)
			vals[i] = PQgetisnull(res, r, i)
				      ? NULL
				      : PQgetvalue(res, r, i);
		if (row != NULL)
			err = row(arg, vals, n);
	}
	if (err == 0 && changes != NULL)
		*changes = pg_changes(res);
	PQclear(res);
	return err;
}

static int
run(const struct access_conn *c, int idx, const struct param *p, int np,
    row_fn row, void *arg, int64_t *changes)
{
	return c->db != NULL ? run_sqlite(c->db, idx, p, np, row, arg, changes)
			     : run_pg(c->pg, idx, p, np, row, arg, changes);
}

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static int
caller_row(void *arg, const char *const *v, int n)
{
	struct access_caller *out = arg;

	if (n < 3)
		return -EIO;
	copy(out->name, sizeof(out->name), v[0]);
	out->role = access_role_parse(v[1]);
	copy(out->apps, sizeof(out->apps), v[2]);
	return 0;
}

int
access_token_find(
    const struct access_conn *c, const char *hash, struct access_caller *out)
{
	struct param p[] = {P_TEXT(hash)};
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = run(c, T_FIND, p, 1, caller_row, out, NULL)) < 0)
		return err;
	if (out->name[0] == '\0')
		return -ENOENT;
	return out->role != ACCESS_NONE ? 0 : -EACCES;
}

int
access_token_insert(const struct access_conn *c, const struct access_caller *t,
    const char *hash, int64_t at, const char *by)
{
	struct param p[] = {P_TEXT(t->name), P_TEXT(access_role_name(t->role)),
	    P_TEXT(t->apps), P_TEXT(hash), P_NUM(at), P_TEXT(by)};

	return run(c, T_INSERT, p, 6, NULL, NULL, NULL);
}

static json_t *
time_value(const char *ms)
{
	char ts[TS_LEN];

	ts_format(ms ? strtoll(ms, NULL, 10) : 0, ts);
	return json_string(ts);
}

static int
token_row(void *arg, const char *const *v, int n)
{
	json_t *o = n >= 5 ? json_pack("{s:s?, s:s?, s:s?, s:o, s:s?}", "name",
				 v[0], "role", v[1], "apps", v[2], "created_at",
				 time_value(v[3]), "created_by", v[4])
			   : NULL;

	return o != NULL && json_array_append_new(arg, o) == 0 ? 0 : -ENOMEM;
}

int
access_token_list(const struct access_conn *c, json_t **out)
{
	int err;

	if ((*out = json_array()) == NULL)
		return -ENOMEM;
	if ((err = run(c, T_LIST, NULL, 0, token_row, *out, NULL)) < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

static int
count_row(void *arg, const char *const *v, int n)
{
	*(int64_t *)arg = n > 0 && v[0] ? strtoll(v[0], NULL, 10) : 0;
	return 0;
}

static int
role_row(void *arg, const char *const *v, int n)
{
	*(enum access_role *)arg =
	    n > 0 ? access_role_parse(v[0]) : ACCESS_NONE;
	return 0;
}

int
access_token_delete(
    const struct access_conn *c, const char *name, int extra_admins)
{
	struct param p[] = {P_TEXT(name)};
	enum access_role role = ACCESS_NONE;
	int64_t admins = 0, changed = 0;
	int err;

	if ((err = run(c, T_ROLE, p, 1, role_row, &role, NULL)) < 0)
		return err;
	if (role == ACCESS_ADMIN) {
		if ((err = run(
			 c, T_ADMINS, NULL, 0, count_row, &admins, NULL)) < 0)
			return err;
		if (admins + extra_admins <= 1)
			return -EBUSY;
	}
	if ((err = run(c, T_DELETE, p, 1, NULL, NULL, &changed)) < 0)
		return err;
	if (changed == 0)
		return -ENOENT;
	return c->pg != NULL ? run(c, T_REVOKED, p, 1, NULL, NULL, NULL) : 0;
}

int
access_audit_add(const struct access_conn *c, const struct access_audit *a)
{
	struct param p[] = {P_NUM(a->at), P_TEXT(a->token), P_TEXT(a->role),
	    P_TEXT(a->client), P_TEXT(a->method), P_TEXT(a->path),
	    P_NUM(a->status), P_TEXT(a->change)};

	return run(c, A_ADD, p, 8, NULL, NULL, NULL);
}

struct page {
	json_t *rows;
	int64_t limit, n, last, next;
};

static int
audit_row(void *arg, const char *const *v, int n)
{
	struct page *pg = arg;
	json_t *o, *change = NULL;

	if (n < 9)
		return -EIO;
	if (pg->n == pg->limit) {
		pg->next = pg->last;
		return 0;
	}
	if (v[8] != NULL && (change = json_loads(v[8], 0, NULL)) == NULL)
		change = json_string(v[8]);
	o = json_pack("{s:I, s:o, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:o?}",
	    "id", (json_int_t)strtoll(v[0] ? v[0] : "0", NULL, 10), "at",
	    time_value(v[1]), "token", v[2], "role", v[3], "client", v[4],
	    "method", v[5], "path", v[6], "status",
	    (json_int_t)strtoll(v[7] ? v[7] : "0", NULL, 10), "change", change);
	if (o == NULL || json_array_append_new(pg->rows, o) < 0)
		return -ENOMEM;
	pg->last = strtoll(v[0], NULL, 10);
	pg->n++;
	return 0;
}

int
access_audit_page(const struct access_conn *c,
    const struct access_audit_filter *f, json_t **out)
{
	struct page pg = {json_array(), f->limit, 0, 0, 0};
	struct param p[] = {P_NUM(f->after > 0 ? f->after : INT64_MAX),
	    P_NUM(f->since >= 0 ? f->since : INT64_MIN),
	    P_NUM(f->until >= 0 ? f->until : INT64_MAX), P_TEXT(f->token),
	    P_NUM(f->limit + 1)};
	char cursor[24];
	int err;

	*out = NULL;
	if (pg.rows == NULL)
		return -ENOMEM;
	if ((err = run(c, A_PAGE, p, 5, audit_row, &pg, NULL)) < 0) {
		json_decref(pg.rows);
		return err;
	}
	snprintf(cursor, sizeof(cursor), "%lld", (long long)pg.next);
	*out = json_pack(
	    "{s:o, s:s?}", "audit", pg.rows, "next", pg.next ? cursor : NULL);
	return *out ? 0 : -ENOMEM;
}

int
access_audit_prune(const struct access_conn *c, int64_t before, int max)
{
	struct param p[] = {P_NUM(before), P_NUM(max)};
	int64_t n = 0;
	int err;

	err = run(c, A_PRUNE, p, 2, NULL, NULL, &n);
	return err < 0 ? err : (int)n;
}
