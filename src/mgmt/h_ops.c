/* SPDX-License-Identifier: MIT */
/* Operations endpoints: readiness and Prometheus metrics (which answer
 * while the database is away, saying so). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mg.h"
#include "upgate/ts.h"

int
h_readyz_get(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	struct store_conn *db = store_reader_get(mg->store);
	int64_t at = 0;
	int err;

	err = store_next_due(db, NULL, &at);
	store_reader_put(mg->store, db);
	if (err < 0)
		return http_error(rs, -EIO, "storage_unavailable", NULL,
		    "the database cannot be read");
	/* Sharing the database, the dashboards' pop-ups of other daemons'
	 * outcomes need the listening connection back too. */
	if (!store_watching(mg->store))
		return http_error(rs, -EIO, "storage_unavailable", NULL,
		    "not yet listening for other daemons' outcomes");
	return http_reply(rs, 200,
	    json_pack("{s:s, s:s, s:f}", "status", "ready", "database", "ok",
		"alerts_overdue_seconds",
		at > 0 && at < ts_now_ms() ? (double)(ts_now_ms() - at) / 1000.0
					   : 0.0));
}

/* The archive's counts (for http_storage_metrics). */
static int
storage_metrics(void *arg, FILE *f)
{
	struct mg *mg = arg;
	struct store_conn *db = store_reader_get(mg->store);
	int err;

	err = store_outcome_counts(db, f);
	if (err == 0)
		err = store_delivery_counts(db, f);
	store_reader_put(mg->store, db);
	return err;
}

int
h_metrics_get(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL)
		return -ENOMEM;
	http_metrics(rq->server, f);
	http_storage_metrics(f, storage_metrics, mg);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	return http_reply_raw(rs, 200, "text/plain; version=0.0.4", text, len);
}
