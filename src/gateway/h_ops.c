/* SPDX-License-Identifier: MIT */
/* Operations endpoints: liveness, readiness and Prometheus metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "gw.h"
#include "upgate/ts.h"

/* Outbox depth and age of its oldest row, from a reader. */
static int
outbox(struct gw *gw, int64_t *rows, double *age_s)
{
	struct store_conn *conn = store_reader_get(gw->store);
	int64_t oldest = 0;
	int err;

	err = store_outbox_depth(conn, rows, &oldest);
	store_reader_put(gw->store, conn);
	*age_s = oldest ? (double)(ts_now_ms() - oldest) / 1000.0 : 0.0;
	return err;
}

int
h_readyz_get(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	int64_t rows = 0;
	double age;

	if (outbox(gw, &rows, &age) < 0)
		return http_error(rs, -EIO, "storage_unavailable", NULL,
		    "the database cannot be read");
	return http_reply(rs, 200,
	    json_pack("{s:s, s:s, s:{s:I, s:f}}", "status", "ready", "database",
		"ok", "outbox", "rows", (json_int_t)rows, "oldest_age_seconds",
		age));
}

/* Halted releases: one gauge line each, and how many. */
static int
halted_metrics(struct store_conn *conn, FILE *f)
{
	struct release *list = NULL;
	size_t n = 0, halted = 0;
	int err;

	if ((err = store_release_list(conn, NULL, NULL, false, &list, &n)) < 0)
		return err;
	fputs("# HELP upgate_release_halted A release halted for failing too "
	      "often (1), by app, channel and version.\n"
	      "# TYPE upgate_release_halted gauge\n",
	    f);
	for (size_t i = 0; i < n; i++) {
		if (!list[i].halted)
			continue;
		halted++;
		fprintf(f,
		    "upgate_release_halted{app=\"%s\",channel=\"%s\","
		    "version=\"%s\"} 1\n",
		    list[i].app, list[i].channel, list[i].version);
	}
	fprintf(f,
	    "# HELP upgate_releases_halted Releases halted now.\n"
	    "# TYPE upgate_releases_halted gauge\n"
	    "upgate_releases_halted %zu\n",
	    halted);
	store_release_free_list(list, n);
	return 0;
}

/* What the database holds: upgrades by state, the outbox, halted
 * releases (for http_storage_metrics). */
static int
storage_metrics(void *arg, FILE *f)
{
	struct gw *gw = arg;
	int64_t counts[UPG_STATE_COUNT], rows = 0;
	double age = 0;
	struct store_conn *conn;
	int err;

	conn = store_reader_get(gw->store);
	err = store_upgrade_state_counts(conn, counts);
	if (err == 0)
		err = halted_metrics(conn, f);
	store_reader_put(gw->store, conn);
	if (err == 0)
		err = outbox(gw, &rows, &age);
	if (err < 0)
		return err;
	fputs("# HELP upgate_upgrades Upgrades by state.\n"
	      "# TYPE upgate_upgrades gauge\n",
	    f);
	for (int s = 0; s < UPG_STATE_COUNT; s++)
		fprintf(f, "upgate_upgrades{state=\"%s\"} %lld\n",
		    store_state_name((enum upg_state)s), (long long)counts[s]);
	fprintf(f,
	    "# HELP upgate_outbox_rows Outcomes waiting to be "
	    "forwarded.\n# TYPE upgate_outbox_rows gauge\n"
	    "upgate_outbox_rows %lld\n"
	    "# HELP upgate_outbox_oldest_age_seconds Age of the "
	    "oldest waiting outcome.\n"
	    "# TYPE upgate_outbox_oldest_age_seconds gauge\n"
	    "upgate_outbox_oldest_age_seconds %.3f\n",
	    (long long)rows, age);
	return 0;
}

/* A scrape answers while the database is away, with upgate_storage_up 0
 * and without what only the database knows: an alert rule can tell a
 * storage outage from a daemon down. */
int
h_metrics_get(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	if (f == NULL)
		return -ENOMEM;
	http_metrics(rq->server, f);
	http_storage_metrics(f, storage_metrics, gw);
	forward_metrics(gw->forward, f);
	gcommit_metrics(gw->commits, "upgate_group_commit_", f);
	catalog_metrics(gw->catalog, f);
	h_launch_metrics(f);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	return http_reply_raw(rs, 200, "text/plain; version=0.0.4", text, len);
}
