/* SPDX-License-Identifier: MIT */
/* The PostgreSQL engine of mgmtd's storage: its connection, and the
 * functions of store_pg_*.c that store_pg.c puts in its table. */
#ifndef MG_STORE_PG_H
#define MG_STORE_PG_H

#include "store_ops.h"
#include "upgate/pg.h"

struct store_pg_conn {
	struct store_conn base; /* first */
	struct pg *pg;
};

static inline struct pg *
store_pg_of(struct store_conn *c)
{
	return ((struct store_pg_conn *)c)->pg;
}

/* The channel of LISTEN/NOTIFY on which an ingest tells every daemon of
 * each failure and halt it archived ("failure ID", "halt ID"). */
#define STORE_PG_CHANNEL "upgate_outcomes"

extern const struct pg_schema store_pg_schema;
extern const struct pg_sqlset store_pg_outcome_sql;
extern const struct pg_sqlset store_pg_alert_sql;
extern const struct pg_sqlset store_pg_import_sql;

/* res's rows as a JSON array text of column json_col, at most limit of
 * them; *next is id_col of the last one when there were more. */
int store_pg_rows_json(const PGresult *res, int json_col, int id_col,
    int64_t limit, char **out, int64_t *next);
/* res's rows (label1, label2, count) as the gauge name. */
void store_pg_gauge(const PGresult *res, FILE *out, const char *name,
    const char *help, const char *l1, const char *l2);

int store_pg_import(struct store *to, struct store *from);

int store_pg_outcome_insert(
    struct store_conn *c, struct outcome *o, int64_t now);
int store_pg_outcome_list(
    struct store_conn *c, struct outcome_filter *f, char **json, int64_t *next);
int store_pg_outcome_get(
    struct store_conn *c, const char *outcome_id, char **json);
int store_pg_outcome_csv(struct store_conn *c, struct outcome_filter *f,
    bool header, FILE *out, int64_t *last, int64_t *n);
int store_pg_stats(struct store_conn *c, const char *app, char **json);
int store_pg_timeline(struct store_conn *c, const char *app, int64_t since,
    int64_t bucket_ms, char **json);
int store_pg_outcome_counts(struct store_conn *c, FILE *out);
int store_pg_group_get(struct store_conn *c, const char *app,
    const char *version, struct alert_group *out);
int store_pg_group_put(struct store_conn *c, const struct alert_group *g);
int store_pg_group_due(
    struct store_conn *c, int64_t now, struct alert_group *out, int max);
int store_pg_alert_insert(struct store_conn *c, struct alert *a);
int store_pg_delivery_add(struct store_conn *c, int64_t alert,
    const char *channel, const char *recipient, const char *state, int64_t now);
int store_pg_outcome_wait(struct store_conn *c, int64_t row);
int store_pg_outcome_claim(
    struct store_conn *c, const char *app, const char *version, int64_t alert);
int store_pg_outcome_waiting(struct store_conn *c, const char *app,
    const char *version, struct waiting *out, int max, int64_t *total);
int store_pg_delivery_inhibit(
    struct store_conn *c, const char *app, const char *version, int64_t now);
int store_pg_delivery_due(struct store_conn *c, const char *channel,
    int64_t now, int64_t lease, struct delivery *out, int max);
int store_pg_delivery_done(struct store_conn *c, int64_t id, bool ok,
    bool permanent, const char *error, int64_t now, int64_t next_at);
int store_pg_next_due(struct store_conn *c, const char *channel, int64_t *at);
int store_pg_digest_list(struct store_conn *c, int64_t limit, char **json);
int store_pg_delivery_list(struct store_conn *c, const char *state,
    const char *channel, const char *app, int64_t after, int64_t limit,
    char **json, int64_t *next);
int store_pg_delivery_counts(struct store_conn *c, FILE *out);
int store_pg_halts_open(struct store_conn *c, struct delivery *out, int max);
int store_pg_halt_resolved(struct store_conn *c, int64_t alert, int64_t now);

#endif
