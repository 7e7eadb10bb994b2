/* SPDX-License-Identifier: MIT */
/* All SQL for the outbox on PostgreSQL, which every gateway sharing the
 * database forwards from: a batch is claimed (claimed_until) in one
 * statement that skips rows another gateway is claiming at that moment,
 * so no two gateways send the same rows at once, and the rows of a
 * gateway that died are claimed again once their claim ends. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"
#include "upgate/buf.h"
#include "upgate/ts.h"

enum { O_DEPTH, O_CLAIM, O_DELETE, O_RELEASE, O_COUNT };

static const char *const sql[O_COUNT] = {
    [O_DEPTH] = "SELECT count(*), coalesce(min(created_at), 0) FROM outbox",
    /* $1 now, $2 the claim's end, $3 rows */
    [O_CLAIM] = "WITH c AS (UPDATE outbox SET claimed_until = $2 WHERE id IN"
		" (SELECT id FROM outbox WHERE claimed_until < $1"
		"  ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)"
		" RETURNING id, body) SELECT id, body FROM c ORDER BY id",
    /* $1 an array of ids, {1,2,3} */
    [O_DELETE] = "DELETE FROM outbox WHERE id = ANY ($1::bigint[])",
    /* $1 as for O_DELETE */
    [O_RELEASE] = ("UPDATE outbox SET claimed_until = 0"
		   " WHERE id = ANY ($1::bigint[])"),
};

const struct pg_sqlset store_pg_outbox_sql = {"outbox", sql, O_COUNT};

int
store_pg_outbox_depth(struct store_conn *c, int64_t *rows, int64_t *oldest)
{
	PGresult *res;
	int err;

	if ((err = pg_run(store_pg_of(c), &store_pg_outbox_sql, O_DEPTH, NULL,
		 &res)) < 0)
		return err;
	*rows = pg_int(res, 0, 0);
	*oldest = pg_int(res, 0, 1);
	PQclear(res);
	return 0;
}

/* Run statement idx on the n ids, passed as one array. */
static int
on_ids(struct store_conn *c, int idx, const int64_t *ids, size_t n)
{
	struct buf a = {0};
	struct pg_params p;
	char num[24];
	int err;

	if (n == 0)
		return 0;
	err = buf_adds(&a, "{");
	for (size_t i = 0; err == 0 && i < n; i++) {
		snprintf(num, sizeof(num), "%s%" PRId64, i ? "," : "", ids[i]);
		err = buf_adds(&a, num);
	}
	if (err == 0)
		err = buf_adds(&a, "}");
	if (err == 0) {
		pg_params_init(&p);
		pg_param_text(&p, a.p);
		err =
		    pg_run(store_pg_of(c), &store_pg_outbox_sql, idx, &p, NULL);
	}
	buf_free(&a);
	return err;
}

int
store_pg_outbox_claim(struct store_conn *c, size_t max, size_t max_bytes,
    int64_t lease, struct outbox_batch *out)
{
	struct outbox_batch b = {0};
	struct buf t = {0};
	struct pg_params p;
	int64_t now = ts_now_ms(), *rest = NULL;
	PGresult *res;
	int rows, i = 0, err;

	pg_params_init(&p);
	pg_param_int(&p, now);
	pg_param_int(&p, now + lease);
	pg_param_int(&p, (int64_t)max);
	if ((err = pg_run(
		 store_pg_of(c), &store_pg_outbox_sql, O_CLAIM, &p, &res)) < 0)
		return err;
	rows = PQntuples(res);
	if ((b.ids = calloc(rows ? (size_t)rows : 1, sizeof(*b.ids))) == NULL)
		err = -ENOMEM;
	for (; err == 0 && i < rows; i++)
		if ((err = store_batch_add(&b, &t, pg_int(res, i, 0),
			 PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1),
			 max_bytes)) == 1)
			err = 0;
		else if (err == 0)
			break;
	/* What did not fit is anyone's again at the next claim. */
	if (err == 0 && i < rows &&
	    (rest = calloc((size_t)(rows - i), sizeof(*rest))) == NULL)
		err = -ENOMEM;
	for (int k = 0; rest != NULL && i + k < rows; k++)
		rest[k] = pg_int(res, i + k, 0);
	PQclear(res);
	if (err == 0 && rest != NULL)
		err = on_ids(c, O_RELEASE, rest, (size_t)(rows - i));
	free(rest);
	if (err == 0)
		err = store_batch_end(&b, &t);
	if (err < 0) {
		buf_free(&t);
		store_outbox_batch_fini(&b);
		return err;
	}
	*out = b;
	return 0;
}

int
store_pg_outbox_release(struct store_conn *c, const struct outbox_batch *b)
{
	return on_ids(c, O_RELEASE, b->ids, b->n);
}

int
store_pg_outbox_delete(struct store_conn *c, const struct outbox_batch *b)
{
	return on_ids(c, O_DELETE, b->ids, b->n);
}
