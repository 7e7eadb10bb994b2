/* SPDX-License-Identifier: MIT */
/* Launch statistics, written in batches. A launch call that changes no
 * upgrade state commits nothing on its own: its record waits here and a
 * worker writes all waiting records in one transaction every second (at
 * once when many wait, and at shutdown). A crash can lose the last
 * second of launch statistics; never an upgrade, a report or an outcome,
 * which are committed before their answer. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "upgate/log.h"
#include "upgate/worker.h"

#define FLUSH_MS 1000
#define KICK_AT 2000
#define MAX_WAITING 200000

struct rec {
	int64_t at;
	char client_id[STORE_NAME_MAX + 1], app[STORE_NAME_MAX + 1];
	char version[STORE_NAME_MAX + 1], platform[STORE_NAME_MAX + 1];
	char channel[STORE_NAME_MAX + 1];
	char action[16], reason[32], upgrade_id[ID_LEN + 1];
};

struct launchlog {
	struct gw *gw;
	struct worker w;
	pthread_mutex_t lock;
	struct rec *recs; /* waiting, oldest first */
	size_t n, cap;
	uint64_t dropped;
};

void
launchlog_add(struct launchlog *ll, const struct launch_rec *l)
{
	struct rec *r;
	bool kick;

	pthread_mutex_lock(&ll->lock);
	if (ll->n == ll->cap) {
		size_t cap = ll->cap ? ll->cap * 2 : 256;
		struct rec *p = cap <= MAX_WAITING
				    ? realloc(ll->recs, cap * sizeof(*p))
				    : NULL;

		if (p == NULL) {
			ll->dropped++;
			pthread_mutex_unlock(&ll->lock);
			return;
		}
		ll->recs = p;
		ll->cap = cap;
	}
	r = &ll->recs[ll->n++];
	r->at = l->at;
	snprintf(r->client_id, sizeof(r->client_id), "%s", l->client_id);
	snprintf(r->app, sizeof(r->app), "%s", l->app);
	snprintf(r->version, sizeof(r->version), "%s", l->version);
	snprintf(r->platform, sizeof(r->platform), "%s", l->platform);
	snprintf(r->channel, sizeof(r->channel), "%s", l->channel);
	snprintf(r->action, sizeof(r->action), "%s", l->action);
	snprintf(
	    r->reason, sizeof(r->reason), "%s", l->reason ? l->reason : "");
	snprintf(r->upgrade_id, sizeof(r->upgrade_id), "%s",
	    l->upgrade_id ? l->upgrade_id : "");
	kick = ll->n == KICK_AT;
	pthread_mutex_unlock(&ll->lock);
	if (kick)
		worker_kick(&ll->w);
}

/* Write what waits, in one transaction; on failure it waits longer. */
static void
flush(struct launchlog *ll)
{
	struct rec *batch;
	size_t n;
	int err;

	pthread_mutex_lock(&ll->lock);
	batch = ll->recs;
	n = ll->n;
	ll->recs = NULL;
	ll->n = ll->cap = 0;
	pthread_mutex_unlock(&ll->lock);
	if (n == 0)
		return;
	if ((err = gw_write_begin(ll->gw)) == 0) {
		for (size_t i = 0; err == 0 && i < n; i++) {
			const struct rec *r = &batch[i];
			struct launch_rec l = {r->at, r->client_id, r->app,
			    r->version, r->platform, r->channel, r->action,
			    r->reason[0] ? r->reason : NULL,
			    r->upgrade_id[0] ? r->upgrade_id : NULL};

			err = store_launch_insert(ll->gw->writer, &l);
		}
		err = gw_write_end(ll->gw, err);
	}
	if (err < 0) {
		log_warn("launch statistics: cannot write %zu record(s): %s; "
			 "trying again",
		    n, strerror(-err));
		pthread_mutex_lock(&ll->lock);
		/* Put them back in front of what came meanwhile. */
		if (ll->n + n <= MAX_WAITING) {
			struct rec *p =
			    realloc(batch, (n + ll->n) * sizeof(*p));

			if (p != NULL) {
				memcpy(p + n, ll->recs, ll->n * sizeof(*p));
				free(ll->recs);
				ll->recs = p;
				ll->n += n;
				ll->cap = ll->n;
				batch = NULL;
			}
		}
		if (batch != NULL)
			ll->dropped += n;
		pthread_mutex_unlock(&ll->lock);
	}
	free(batch);
}

static void
launchlog_main(struct worker *w, void *arg)
{
	struct launchlog *ll = arg;

	while (worker_sleep(w, FLUSH_MS, true))
		flush(ll);
	flush(ll); /* what waits at shutdown */
}

int
launchlog_start(struct gw *gw, struct launchlog **out)
{
	struct launchlog *ll = calloc(1, sizeof(*ll));

	if (ll == NULL)
		return -ENOMEM;
	ll->gw = gw;
	pthread_mutex_init(&ll->lock, NULL);
	if (worker_start(&ll->w, launchlog_main, ll) < 0) {
		pthread_mutex_destroy(&ll->lock);
		free(ll);
		return -EAGAIN;
	}
	*out = ll;
	return 0;
}

void
launchlog_stop(struct launchlog *ll)
{
	if (ll == NULL)
		return;
	worker_stop(&ll->w);
	if (ll->dropped > 0)
		log_warn("launch statistics: %llu record(s) could not be kept",
		    (unsigned long long)ll->dropped);
	pthread_mutex_destroy(&ll->lock);
	free(ll->recs);
	free(ll);
}
