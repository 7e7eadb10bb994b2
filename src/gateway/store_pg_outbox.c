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
    [O_CLAIM] = "UPDATE outbox SET claimed_until = $2 WHERE id IN"
		" (SELECT id FROM outbox WHERE claimed_until < $1"
		"  ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)"
		" RETURNING id, body",
    /* $1 an array of ids, {1,2,3} */
    [O_DELETE] = "DELETE FROM outbox WHERE id = ANY ($1::bigint[])",
    [O_RELEASE] = "UPDATE outbox SET claimed_until = 0"
		  " WHERE id = ANY ($1::bigint[])",
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

static int
by_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int
store_pg_outbox_claim(struct store_conn *c, size_t max, size_t max_bytes,
    int64_t lease, struct outbox_batch *out)
{
	struct outbox_batch b = {0};
	struct buf t = {0};
	struct pg_params p;
	int64_t now = ts_now_ms();
	PGresult *res;
	size_t rows;
	int *order = NULL;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, now);
	pg_param_int(&p, now + lease);
	pg_param_int(&p, (int64_t)max);
	if ((err = pg_run(
		 store_pg_of(c), &store_pg_outbox_sql, O_CLAIM, &p, &res)) < 0)
		return err;
	rows = (size_t)PQntuples(res);
	/* RETURNING keeps no order: send the rows oldest first. */
	if ((b.ids = calloc(rows ? rows : 1, sizeof(*b.ids))) == NULL ||
	    (order = calloc(rows ? rows : 1, sizeof(*order))) == NULL)
		err = -ENOMEM;
	for (size_t i = 0; err == 0 && i < rows; i++)
		b.ids[i] = pg_int(res, (int)i, 0);
	if (err == 0)
		qsort(b.ids, rows, sizeof(*b.ids), by_id);
	for (size_t i = 0; err == 0 && i < rows; i++)
		for (size_t j = 0; j < rows; j++)
			if (pg_int(res, (int)j, 0) == b.ids[i])
				order[i] = (int)j;
	if (err == 0)
		err = buf_adds(&t, "{\"outcomes\":[");
	for (; err == 0 && b.n < rows; b.n++) {
		int j = order[b.n];
		size_t n = (size_t)PQgetlength(res, j, 1);

		if (b.n > 0 && t.len + n + 3 > max_bytes)
			break;
		err = b.n > 0 ? buf_add(&t, ",", 1) : 0;
		if (err == 0)
			err = buf_add(&t, PQgetvalue(res, j, 1), n);
	}
	PQclear(res);
	free(order);
	if (err == 0 && b.n > 0)
		err = buf_adds(&t, "]}");
	if (err < 0) {
		buf_free(&t);
		store_outbox_batch_fini(&b);
		return err;
	}
	/* What did not fit is anyone's again at the next claim. */
	if (b.n < rows &&
	    (err = on_ids(c, O_RELEASE, b.ids + b.n, rows - b.n)) < 0) {
		buf_free(&t);
		store_outbox_batch_fini(&b);
		return err;
	}
	if (b.n > 0) {
		b.len = t.len;
		b.body = buf_steal(&t);
	}
	buf_free(&t);
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
