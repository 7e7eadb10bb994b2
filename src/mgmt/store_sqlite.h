/* SPDX-License-Identifier: MIT */
/* The SQLite engine of mgmtd's storage: its connection, and the functions
 * of store_sqlite_*.c that store_sqlite.c puts in its table. */
#ifndef MG_STORE_SQLITE_H
#define MG_STORE_SQLITE_H

#include "store_ops.h"
#include "upgate/db.h"

struct store_sqlite_conn {
	struct store_conn base; /* first */
	struct db *db;
};

static inline struct db *
store_sqlite_db(struct store_conn *c)
{
	return ((struct store_sqlite_conn *)c)->db;
}

extern const struct db_schema store_sqlite_schema;
extern const struct db_sqlset store_sqlite_outcome_sql;
extern const struct db_sqlset store_sqlite_alert_sql;

/* Write st's rows (label1, label2, count) as the Prometheus gauge
 * name{l1="...",l2="..."}. Returns 0 or -errno. */
int store_sqlite_gauge(sqlite3_stmt *st, FILE *out, const char *name,
    const char *help, const char *l1, const char *l2);

int store_sqlite_outcome_insert(
    struct store_conn *c, struct outcome *o, int64_t now);
int store_sqlite_outcome_list(
    struct store_conn *c, struct outcome_filter *f, char **json, int64_t *next);
int store_sqlite_outcome_get(
    struct store_conn *c, const char *outcome_id, char **json);
int store_sqlite_outcome_csv(struct store_conn *c, struct outcome_filter *f,
    bool header, FILE *out, int64_t *last, int64_t *n);
int store_sqlite_stats(struct store_conn *c, const char *app, char **json);
int store_sqlite_timeline(struct store_conn *c, const char *app, int64_t since,
    int64_t bucket_ms, char **json);
int store_sqlite_outcome_counts(struct store_conn *c, FILE *out);
int store_sqlite_group_get(struct store_conn *c, const char *app,
    const char *version, struct alert_group *out);
int store_sqlite_group_put(struct store_conn *c, const struct alert_group *g);
int store_sqlite_group_due(
    struct store_conn *c, int64_t now, struct alert_group *out, int max);
int store_sqlite_alert_insert(struct store_conn *c, struct alert *a);
int store_sqlite_delivery_add(struct store_conn *c, int64_t alert,
    const char *channel, const char *recipient, const char *state, int64_t now);
int store_sqlite_outcome_wait(struct store_conn *c, int64_t row);
int store_sqlite_outcome_claim(
    struct store_conn *c, const char *app, const char *version, int64_t alert);
int store_sqlite_outcome_waiting(struct store_conn *c, const char *app,
    const char *version, struct waiting *out, int max, int64_t *total);
int store_sqlite_delivery_inhibit(
    struct store_conn *c, const char *app, const char *version, int64_t now);
int store_sqlite_delivery_due(struct store_conn *c, const char *channel,
    int64_t now, int64_t lease, struct delivery *out, int max);
int store_sqlite_delivery_done(struct store_conn *c, int64_t id, bool ok,
    bool permanent, const char *error, int64_t now, int64_t next_at);
int store_sqlite_next_due(
    struct store_conn *c, const char *channel, int64_t *at);
int store_sqlite_digest_list(struct store_conn *c, int64_t limit, char **json);
int store_sqlite_delivery_list(struct store_conn *c, const char *state,
    const char *channel, const char *app, int64_t after, int64_t limit,
    char **json, int64_t *next);
int store_sqlite_delivery_counts(struct store_conn *c, FILE *out);
int store_sqlite_halts_open(
    struct store_conn *c, struct delivery *out, int max);
int store_sqlite_halt_resolved(
    struct store_conn *c, int64_t alert, int64_t now);

#endif
