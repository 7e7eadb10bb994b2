/* SPDX-License-Identifier: MIT */
/* Launch records (the statistics every launch call leaves, written in
 * batches by launchlog.c) and the pruning of what grows with use: old
 * launch records and the events of upgrades finished long ago, on
 * PostgreSQL. */
#include <errno.h>
#include <stdlib.h>

#include "store_pg.h"

/* Launch records: one row, or LAUNCH_MANY_ROWS rows in one statement. */
#define LAUNCH_INSERT                                                          \
	"INSERT INTO launches (at, client_id, app, version, platform,"         \
	" channel, action, reason, upgrade_id) VALUES "
#define LAUNCH_COLS 9
#define LAUNCH_MANY_ROWS 16

static const char *const sql[L_COUNT] = {
    [L_INSERT] = LAUNCH_INSERT "($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    [L_INSERT_MANY] =
	LAUNCH_INSERT "($1, $2, $3, $4, $5, $6, $7, $8, $9), "
		      "($10, $11, $12, $13, $14, $15, $16, $17, $18), "
		      "($19, $20, $21, $22, $23, $24, $25, $26, $27), "
		      "($28, $29, $30, $31, $32, $33, $34, $35, $36), "
		      "($37, $38, $39, $40, $41, $42, $43, $44, $45), "
		      "($46, $47, $48, $49, $50, $51, $52, $53, $54), "
		      "($55, $56, $57, $58, $59, $60, $61, $62, $63), "
		      "($64, $65, $66, $67, $68, $69, $70, $71, $72), "
		      "($73, $74, $75, $76, $77, $78, $79, $80, $81), "
		      "($82, $83, $84, $85, $86, $87, $88, $89, $90), "
		      "($91, $92, $93, $94, $95, $96, $97, $98, $99), "
		      "($100, $101, $102, $103, $104, $105, $106, $107, $108), "
		      "($109, $110, $111, $112, $113, $114, $115, $116, $117), "
		      "($118, $119, $120, $121, $122, $123, $124, $125, $126), "
		      "($127, $128, $129, $130, $131, $132, $133, $134, $135), "
		      "($136, $137, $138, $139, $140, $141, $142, $143, $144)",
    [L_PRUNE_LAUNCHES] = "DELETE FROM launches WHERE id IN"
			 " (SELECT id FROM launches ORDER BY id LIMIT $2)"
			 " AND at < $1",
    /* Of the $2 oldest upgrades that still have events, those that
     * finished before $1: upgrades are numbered in the order they
     * began, and end within session_timeout of it. */
    [L_PRUNE_EVENTS] = "DELETE FROM events WHERE upgrade IN"
		       " (SELECT id FROM upgrades WHERE id IN"
		       " (SELECT DISTINCT upgrade FROM events"
		       " ORDER BY upgrade LIMIT $2)"
		       " AND final = 1 AND finished_at < $1)",
};

const struct pg_sqlset store_pg_launch_sql = {"launch", sql, L_COUNT};

static void
param_launch(struct pg_params *p, const struct launch_rec *l)
{
	pg_param_int(p, l->at);
	pg_param_text(p, l->client_id);
	pg_param_text(p, l->app);
	pg_param_text(p, l->version);
	pg_param_text(p, l->platform);
	pg_param_text(p, l->channel);
	pg_param_text(p, l->action);
	pg_param_text(p, l->reason);
	pg_param_text(p, l->upgrade_id);
}

int
store_pg_launch_insert(
    struct store_conn *c, const struct launch_rec *l, size_t n)
{
	struct pg_params *p = malloc(sizeof(*p));
	int err = 0;

	_Static_assert(LAUNCH_MANY_ROWS * LAUNCH_COLS <= PG_MAX_PARAMS,
	    "a statement's parameters");
	if (p == NULL)
		return -ENOMEM;
	while (err == 0 && n > 0) {
		size_t k = n >= LAUNCH_MANY_ROWS ? LAUNCH_MANY_ROWS : 1;

		pg_params_init(p);
		for (size_t i = 0; i < k; i++)
			param_launch(p, &l[i]);
		err = pg_run(store_pg_of(c), &store_pg_launch_sql,
		    k > 1 ? L_INSERT_MANY : L_INSERT, p, NULL);
		l += k;
		n -= k;
	}
	free(p);
	return err;
}

int
store_pg_prune(
    struct store_conn *c, enum store_pruned what, int64_t before, int max)
{
	struct pg_params p;
	PGresult *res;
	int64_t n;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, before);
	pg_param_int(&p, max);
	if ((err = pg_run(store_pg_of(c), &store_pg_launch_sql,
		 L_PRUNE_LAUNCHES + (int)what, &p, &res)) < 0)
		return err;
	n = pg_changes(res);
	PQclear(res);
	return (int)n;
}
