/* SPDX-License-Identifier: MIT */
/* Who may do what on a daemon's admin API: named tokens with a role, and
 * the audit log of every change made with one. Both daemons keep the
 * same two tables in their own store (SQLite or PostgreSQL); this module
 * holds their SQL, and the admin routes that manage them (access_http.c).
 * A daemon gives it its store through struct access_store. */
#ifndef UPGATE_ACCESS_H
#define UPGATE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct db;
struct db_sqlset;
struct pg_sqlset;
struct pg;
struct req;
struct resp;
struct http_server;

/* Roles, each allowed what the one below it is. */
enum access_role {
	ACCESS_NONE = 0,
	ACCESS_VIEWER,	  /* every admin GET, the dashboard, its stream */
	ACCESS_PUBLISHER, /* publishes and changes releases of its apps */
	ACCESS_ADMIN,	  /* tokens, the audit log, halts, test alerts */
};

#define ACCESS_NAME_MAX 64
#define ACCESS_APPS_MAX 128
/* The name the [admin] token_file token goes by. */
#define ACCESS_FILE_TOKEN_NAME "admin"

/* Whoever made a request with a valid token. */
struct access_caller {
	char name[ACCESS_NAME_MAX + 1];
	enum access_role role;
	char apps[ACCESS_APPS_MAX + 1]; /* a glob over app names */
};

const char *access_role_name(enum access_role role);
/* ACCESS_NONE when name is none of the three. */
enum access_role access_role_parse(const char *name);

/* A token name: 1-64 of [A-Za-z0-9._-], starting with a letter or digit. */
bool access_name_valid(const char *name);
/* An apps glob: 1-128 of the app-name alphabet, '*' and '?'. */
bool access_apps_valid(const char *apps);
/* Whether c may change app: any app for an admin, a matching one for a
 * publisher, none for a viewer. */
bool access_app_allowed(const struct access_caller *c, const char *app);

/* A new token: "upg_" and 43 characters of base64url (32 random bytes). */
#define ACCESS_TOKEN_LEN 47
void access_token_new(char out[ACCESS_TOKEN_LEN + 1]);
/* What a store keeps of a token: its SHA-256, in hex. */
void access_token_hash(const char *token, size_t len, char out[65]);

/* One of a daemon's store connections, as the SQL here needs it: exactly
 * one of the two is set. */
struct access_conn {
	struct db *db;
	struct pg *pg;
};

/* One line of the audit log. Borrowed strings; change may be NULL. */
struct access_audit {
	int64_t at; /* ms since the epoch */
	const char *token, *role, *client, *method, *path, *change;
	int status;
};

struct access_audit_filter {
	int64_t since, until; /* ms, -1: open */
	const char *token;    /* NULL: any */
	int64_t limit, after; /* after: the cursor, 0: from the newest */
};

/* The SQL on each engine, and the tables a migration adds to each
 * daemon's schema (the same in both). */
extern const struct db_sqlset access_sqlite_sql;
extern const struct pg_sqlset access_pg_sql;
#define ACCESS_SQLITE_TABLES                                                   \
	"CREATE TABLE tokens (name TEXT PRIMARY KEY, role TEXT NOT NULL,"      \
	" apps TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,"                      \
	" created_at INTEGER NOT NULL, created_by TEXT NOT NULL);"             \
	"CREATE TABLE audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"     \
	" token TEXT NOT NULL, role TEXT NOT NULL, client TEXT NOT NULL,"      \
	" method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,"  \
	" change TEXT);"                                                       \
	"CREATE INDEX audit_at ON audit (at);"                                 \
	"CREATE INDEX audit_token ON audit (token, id);"
#define ACCESS_PG_TABLES                                                       \
	"CREATE TABLE tokens (name text PRIMARY KEY, role text NOT NULL,"      \
	" apps text NOT NULL, hash text NOT NULL UNIQUE,"                      \
	" created_at bigint NOT NULL, created_by text NOT NULL);"              \
	"CREATE TABLE audit (id bigserial PRIMARY KEY, at bigint NOT NULL,"    \
	" token text NOT NULL, role text NOT NULL, client text NOT NULL,"      \
	" method text NOT NULL, path text NOT NULL, status integer NOT NULL,"  \
	" change text);"                                                       \
	"CREATE INDEX audit_at ON audit (at);"                                 \
	"CREATE INDEX audit_token ON audit (token, id);"

/* The PostgreSQL channel a revocation is announced on (its payload: the
 * token's name), so every daemon sharing the database ends the streams
 * the token holds. */
/* What --import-sqlite copies of these tables into PostgreSQL on either
 * daemon, each used in its place in the daemon's import lists: the
 * columns, the SQLite reads, the COPYs, the tables to lock and count
 * (added to the daemon's), and where the audit log's ids go on. A named
 * token is kept only as its hash: left behind, it could not be made
 * again with the secret its holder has. */
#define ACCESS_COLS_TOKENS "name, role, apps, hash, created_at, created_by"
#define ACCESS_COLS_AUDIT                                                      \
	"id, at, token, role, client, method, path, status, change"
#define ACCESS_DUMP_TOKENS "SELECT " ACCESS_COLS_TOKENS " FROM tokens"
#define ACCESS_DUMP_AUDIT "SELECT " ACCESS_COLS_AUDIT " FROM audit ORDER BY id"
#define ACCESS_COPY_TOKENS "COPY tokens (" ACCESS_COLS_TOKENS ") FROM STDIN"
#define ACCESS_COPY_AUDIT "COPY audit (" ACCESS_COLS_AUDIT ") FROM STDIN"
#define ACCESS_IMPORT_LOCK ", tokens, audit"
#define ACCESS_IMPORT_COUNT                                                    \
	" + (SELECT count(*) FROM tokens) + (SELECT count(*) FROM audit)"
#define ACCESS_IMPORT_IDS                                                      \
	" setval(pg_get_serial_sequence('audit', 'id'),"                       \
	"  (SELECT coalesce(max(id), 0) + 1 FROM audit), false),"

#define ACCESS_REVOKED_CHANNEL "upgate_token_revoked"

/* The caller whose token hashes to hash: 0, -ENOENT, or -errno. */
int access_token_find(
    const struct access_conn *c, const char *hash, struct access_caller *out);
/* Store a new token: 0, -EEXIST when the name is taken, or -errno. */
int access_token_insert(const struct access_conn *c,
    const struct access_caller *t, const char *hash, int64_t at,
    const char *by);
/* Every token (name, role, apps, created_at, created_by), by name. */
int access_token_list(const struct access_conn *c, json_t **out);
/* Revoke name: 0, -ENOENT, or -EBUSY when it is the last admin token
 * (extra_admins: admin tokens outside the table, the token_file one). On
 * PostgreSQL the revocation is announced at commit. */
int access_token_delete(
    const struct access_conn *c, const char *name, int extra_admins);

int access_audit_add(const struct access_conn *c, const struct access_audit *a);
/* A page of the log, newest first: {"audit": [...], "next": cursor|null}. */
int access_audit_page(const struct access_conn *c,
    const struct access_audit_filter *f, json_t **out);
/* Delete at most max lines older than before: how many, or -errno. */
int access_audit_prune(const struct access_conn *c, int64_t before, int max);

/* How the routes and the HTTP layer reach a daemon's store. */
struct access_store {
	void *ctx;
	/* Run fn on a reader (read) or inside a write transaction on the
	 * writer (write: committed when fn returns 0, else rolled back).
	 * Return what fn returned, or why the store could not run it. */
	int (*read)(void *ctx, int (*fn)(const struct access_conn *, void *),
	    void *arg);
	int (*write)(void *ctx, int (*fn)(const struct access_conn *, void *),
	    void *arg);
	/* Whether an [admin] token_file token is set (it counts as an
	 * admin token that cannot be revoked here). */
	bool (*file_token)(void *ctx);
};

/* Who holds token: the token_file admin when the daemon found it is that
 * one (is_file_token, compared in constant time), else the named token
 * it is. 0 and *out, -EACCES when unknown or revoked, or why the store
 * could not answer. Constant time in the token: only its hash is
 * compared, by the store's index. */
int access_identify(const struct access_store *st, bool is_file_token,
    const char *token, size_t len, struct access_caller *out);

/* Delete audit lines older than keep_ms (0: keep all), in short
 * transactions: how many, or -errno. */
int access_audit_expire(const struct access_store *st, int64_t keep_ms);

/* A thread deleting audit lines older than keep_ms (0: none) now and
 * every hour. NULL when it cannot start (logged). */
struct access_pruner *access_pruner_start(
    const struct access_store *st, int64_t keep_ms);
/* Stop and free. NULL: nothing. */
void access_pruner_stop(struct access_pruner *p);

/* The audit line of request r answered with status (its body is what
 * changed), written in the transaction c is in. */
int access_audit_req(
    const struct access_conn *c, const struct req *r, int status);

/* The admin routes of both daemons: POST/GET /v1/admin/tokens, DELETE
 * /v1/admin/tokens/{name}, GET /v1/admin/audit, GET /v1/admin/whoami. */
int access_h_tokens_post(struct req *r, struct resp *rs);
int access_h_tokens_get(struct req *r, struct resp *rs);
int access_h_token_delete(struct req *r, struct resp *rs);
int access_h_audit_get(struct req *r, struct resp *rs);
int access_h_whoami_get(struct req *r, struct resp *rs);

#endif
