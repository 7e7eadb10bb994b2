/* SPDX-License-Identifier: MIT */
/* The PostgreSQL engine of the gateway's storage: its connection, and the
 * functions of store_pg_*.c that store_pg.c puts in its table. */
#ifndef GW_STORE_PG_H
#define GW_STORE_PG_H

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

extern const struct pg_schema store_pg_schema;
extern const struct pg_sqlset store_pg_release_sql;
extern const struct pg_sqlset store_pg_upgrade_sql;
extern const struct pg_sqlset store_pg_outbox_sql;
extern const struct pg_sqlset store_pg_launch_sql;
extern const struct pg_sqlset store_pg_import_sql;

int store_pg_import(struct store *to, struct store *from);

int store_pg_release_insert(
    struct store_conn *c, struct release *r, const char *content);
int store_pg_release_find(struct store_conn *c, const char *app,
    const char *channel, const char *version, struct release *out,
    char **content);
int store_pg_release_channels(struct store_conn *c, const char *app,
    const char *version, char names[][STORE_NAME_MAX + 1], int max);
int store_pg_release_list(struct store_conn *c, const char *app,
    const char *channel, bool with_counts, struct release **out, size_t *n);
int store_pg_release_update(struct store_conn *c, int64_t id,
    int rollout_percent, int paused, int yanked, int halted, int64_t now);
int store_pg_rollback_get(struct store_conn *c, const char *app,
    const char *channel, struct rollback *out);
int store_pg_rollback_set(struct store_conn *c, const struct rollback *rb);
int store_pg_rollback_delete(
    struct store_conn *c, const char *app, const char *channel);
int store_pg_serial_max(
    struct store_conn *c, const char *app, const char *channel, int64_t *out);
int store_pg_catalog_version(struct store_conn *c, int64_t *out);
int store_pg_upgrade_latest(struct store_conn *c, const char *client_id,
    const char *app, struct upgrade *out);
int store_pg_upgrade_get(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out);
int store_pg_upgrade_get_brief(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out);
int store_pg_upgrade_get_row(
    struct store_conn *c, int64_t id, struct upgrade *out);
int store_pg_upgrade_failures(struct store_conn *c, const char *client_id,
    const char *app, struct fail_stat **out, size_t *n);
int store_pg_upgrade_insert(struct store_conn *c, struct upgrade *u);
int store_pg_upgrade_events(
    struct store_conn *c, int64_t id, struct upgrade_event **out, size_t *n);
int store_pg_upgrade_event_get(
    struct store_conn *c, int64_t id, int64_t seq, struct upgrade_event *out);
int store_pg_upgrade_event_add(struct store_conn *c, const struct upgrade *u,
    const struct upgrade_event *e);
int store_pg_upgrade_finish(struct store_conn *c, const struct upgrade *u,
    enum upg_state state, const char *error_code, const char *message,
    int64_t now, const struct finish_opts *o, bool *halted);
int store_pg_upgrade_tell(struct store_conn *c, int64_t id);
int store_pg_upgrade_expired(
    struct store_conn *c, int64_t cutoff, int64_t *ids, int max);
int store_pg_upgrade_list(struct store_conn *c, const struct upgrade_filter *f,
    struct upgrade **out, size_t *n);
int store_pg_upgrade_state_counts(
    struct store_conn *c, int64_t counts[UPG_STATE_COUNT]);
int store_pg_launch_insert(
    struct store_conn *c, const struct launch_rec *l, size_t n);
int store_pg_prune(
    struct store_conn *c, enum store_pruned what, int64_t before, int max);
int store_pg_outbox_depth(struct store_conn *c, int64_t *rows, int64_t *oldest);
int store_pg_outbox_claim(struct store_conn *c, size_t max, size_t max_bytes,
    int64_t lease, struct outbox_batch *out);
int store_pg_outbox_release(struct store_conn *c, const struct outbox_batch *b);
int store_pg_outbox_delete(struct store_conn *c, const struct outbox_batch *b);

#endif
