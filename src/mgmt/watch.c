/* SPDX-License-Identifier: MIT */
/* The watcher: with a store other daemons share, the outcomes any of them
 * archives (failures and halts) reach this daemon's dashboard streams and
 * wake its alert worker. The store tells (PostgreSQL: LISTEN/NOTIFY, sent
 * when the ingest commits), so a pop-up follows an ingest anywhere within
 * the round trips of one notification and one read. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mg.h"
#include "upgate/log.h"
#include "upgate/worker.h"

/* How long one wait for notifications lasts: how soon a stop is seen. */
#define WAIT_MS 500
/* After the database went away: how long until the next try. */
#define RETRY_MS 1000

struct watcher {
	struct mg *mg;
	struct worker w;
};

/* Announce outcome_id as the archive shows it. */
static void
on_outcome(void *arg, const char *event, const char *outcome_id)
{
	struct mg *mg = arg;
	struct store_conn *db;
	char *json = NULL;
	int err;

	if (strcmp(event, "revoked") == 0) {
		/* Its streams here end too, whichever daemon revoked it. */
		if (mg->http != NULL)
			http_streams_close_caller(mg->http, outcome_id);
		return;
	}
	db = store_reader_get(mg->store);
	err = store_outcome_get(db, outcome_id, &json);
	store_reader_put(mg->store, db);
	if (err == 0)
		mg_announce(mg, event, json);
	else
		log_warn("watch: cannot read outcome %s: %s", outcome_id,
		    strerror(-err));
	free(json);
	alerter_kick(mg->alerter);
}

static void
watcher_main(struct worker *w, void *arg)
{
	struct watcher *wt = arg;
	int err;

	do {
		err = store_watch(wt->mg->store, WAIT_MS, on_outcome, wt->mg);
	} while (worker_sleep(w, err < 0 ? RETRY_MS : 0, false));
}

int
watcher_start(struct mg *mg, struct watcher **out)
{
	struct watcher *wt;
	int err;

	if ((wt = calloc(1, sizeof(*wt))) == NULL)
		return -ENOMEM;
	wt->mg = mg;
	if ((err = worker_start(&wt->w, watcher_main, wt)) < 0) {
		free(wt);
		return err;
	}
	*out = wt;
	return 0;
}

void
watcher_stop(struct watcher *wt)
{
	if (wt == NULL)
		return;
	worker_stop(&wt->w);
	free(wt);
}
