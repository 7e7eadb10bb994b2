/* SPDX-License-Identifier: MIT */
/* Launch statistics, written in batches. A launch call that changes no
 * upgrade state commits nothing on its own: its record waits here and a
 * worker writes all waiting records in one transaction every second (at
 * once when KICK_AT records wait, and at shutdown). A crash can lose the
 * last second of launch statistics; never an upgrade, a report or an
 * outcome, which are committed before their answer. The same worker
 * deletes records older than [storage] launch_retention, so a busy
 * gateway's database does not grow by every click for ever, and the
 * events of upgrades that finished more than [storage] event_retention
 * ago: 190 bytes an upgrade, over a quarter of the file after a year
 * when kept (docs/performance.md, "As the data grows"). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "upgate/dur.h"
#include "upgate/log.h"
#include "upgate/ts.h"
#include "upgate/worker.h"

#define FLUSH_MS 1000
/* Under load a flush every 256 records: its CPU (about 1.3 ms) comes in
 * bursts shorter than a 4 ms scheduler tick, with a sleep in each fsync,
 * so request threads and clients sharing the CPUs do not wait a tick
 * behind it. At 2,000 the launch path's p99 was 0.3-0.8 ms longer
 * (docs/performance.md). */
#define KICK_AT 256
#define MAX_WAITING 200000
/* Old rows go about 1,000 to a transaction (a batch of launch records,
 * or the events of a batch of upgrades), so a report or a flush waits
 * behind one batch (a few ms) at most, and PRUNE_PASS batches to a
 * pass: a long backlog (retention shortened, or a first start on an old
 * database) goes over several passes. */
#define PRUNE_PASS 100

/* What is pruned, by enum store_pruned. */
static const struct pruned {
	const char *what, *rows, *ago; /* for the log: "what: n rows 30d ago" */
	int batch;
	int (*prune)(struct store_conn *c, int64_t before, int max);
} pruned[] = {
    [STORE_PRUNE_LAUNCHES] = {"launch statistics", "record(s) older than", "",
	1000, store_launch_prune},
    [STORE_PRUNE_EVENTS] = {"upgrade events",
	"event(s) of upgrades finished more than", " ago", 200,
	store_events_prune},
};

/* Waiting records, packed: each is its time (8 bytes) and then its eight
 * strings, NUL-terminated ("" for a missing reason or upgrade id). About
 * 100 bytes a launch rather than a fixed 700-byte struct. */
struct recs {
	char *buf;
	size_t len, cap, n;
};

struct launchlog {
	struct gw *gw;
	struct worker w;
	pthread_mutex_t lock;
	struct recs waiting; /* oldest first */
	struct recs spare;   /* the last batch's buffer, kept for reuse */
	uint64_t dropped;
};

static bool
recs_reserve(struct recs *r, size_t more)
{
	size_t cap = r->cap ? r->cap : 16384;
	char *p;

	if (r->len + more <= r->cap)
		return true;
	while (cap < r->len + more)
		cap *= 2;
	if ((p = realloc(r->buf, cap)) == NULL)
		return false;
	r->buf = p;
	r->cap = cap;
	return true;
}

static void
recs_put(struct recs *r, const char *s)
{
	size_t n = strlen(s ? s : "") + 1;

	memcpy(r->buf + r->len, s ? s : "", n);
	r->len += n;
}

/* The record at *off, moving *off past it. Strings point into r. */
static void
recs_get(const struct recs *r, size_t *off, struct launch_rec *l)
{
	const char *p = r->buf + *off;
	const char **f[] = {&l->client_id, &l->app, &l->version, &l->platform,
	    &l->channel, &l->action, &l->reason, &l->upgrade_id};

	memcpy(&l->at, p, sizeof(l->at));
	p += sizeof(l->at);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		*f[i] = p;
		p += strlen(p) + 1;
	}
	if (*l->reason == '\0')
		l->reason = NULL;
	if (*l->upgrade_id == '\0')
		l->upgrade_id = NULL;
	*off = (size_t)(p - r->buf);
}

void
launchlog_add(struct launchlog *ll, const struct launch_rec *l)
{
	const char *f[] = {l->client_id, l->app, l->version, l->platform,
	    l->channel, l->action, l->reason, l->upgrade_id};
	size_t need = sizeof(l->at);
	struct recs *r = &ll->waiting;
	bool kick;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		need += strlen(f[i] ? f[i] : "") + 1;
	pthread_mutex_lock(&ll->lock);
	if (r->n >= MAX_WAITING || !recs_reserve(r, need)) {
		ll->dropped++;
		pthread_mutex_unlock(&ll->lock);
		return;
	}
	memcpy(r->buf + r->len, &l->at, sizeof(l->at));
	r->len += sizeof(l->at);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		recs_put(r, f[i]);
	kick = ++r->n == KICK_AT;
	pthread_mutex_unlock(&ll->lock);
	if (kick)
		worker_kick(&ll->w);
}

/* Write what waits, in one transaction; on failure it waits longer. */
static void
flush(struct launchlog *ll)
{
	struct recs batch;
	size_t off = 0;
	int err;

	pthread_mutex_lock(&ll->lock);
	batch = ll->waiting;
	ll->waiting = ll->spare;
	ll->waiting.len = ll->waiting.n = 0;
	ll->spare = (struct recs){0};
	pthread_mutex_unlock(&ll->lock);
	if (batch.n == 0) {
		err = 0;
		goto out;
	}
	if ((err = gw_write_begin(ll->gw)) == 0) {
		struct store_conn *w = ll->gw->writer;
		int restore;

		/* Statistics are written once and not read again. */
		err = store_bulk(w, true);
		for (size_t i = 0; err == 0 && i < batch.n;) {
			struct launch_rec l[64];
			size_t k = 0;

			while (k < sizeof(l) / sizeof(l[0]) && i < batch.n) {
				recs_get(&batch, &off, &l[k++]);
				i++;
			}
			err = store_launch_insert(w, l, k);
		}
		restore = store_bulk(w, false);
		err = gw_write_end(ll->gw, err < 0 ? err : restore);
	}
	if (err < 0)
		log_warn("launch statistics: cannot write %zu record(s): %s; "
			 "trying again",
		    batch.n, strerror(-err));
out:
	pthread_mutex_lock(&ll->lock);
	if (err < 0) {
		/* Put them back in front of what came meanwhile. */
		struct recs *w = &ll->waiting;

		if (batch.n + w->n <= MAX_WAITING &&
		    recs_reserve(&batch, w->len)) {
			memcpy(batch.buf + batch.len, w->buf, w->len);
			batch.len += w->len;
			batch.n += w->n;
			w->len = w->n = 0;
			ll->spare = *w;
			*w = batch;
			batch = (struct recs){0};
		} else {
			ll->dropped += batch.n;
		}
	}
	if (batch.buf != NULL) { /* keep the larger buffer for next time */
		if (ll->spare.cap < batch.cap) {
			free(ll->spare.buf);
			ll->spare = batch;
		} else {
			free(batch.buf);
		}
	}
	pthread_mutex_unlock(&ll->lock);
}

/* Delete the rows of p made (or finished) more than retention (ms) ago. */
static void
prune(struct launchlog *ll, const struct pruned *p, int64_t retention)
{
	int64_t before = ts_now_ms() - retention, total = 0;
	int n = 0, err = 0;
	char d[32];

	for (int i = 0; i < PRUNE_PASS; i++) {
		if ((err = gw_write_begin(ll->gw)) < 0)
			break;
		n = p->prune(ll->gw->writer, before, p->batch);
		if ((err = gw_write_end(ll->gw, n < 0 ? n : 0)) < 0)
			break;
		total += n;
		/* None of the oldest is old enough: done. Else the next
		 * batch, unless the daemon is stopping. */
		if (n == 0 || !worker_sleep(&ll->w, 0, false))
			break;
	}
	dur_format(retention, d, sizeof(d));
	if (err < 0)
		log_warn("%s: cannot delete %s %s%s: %s; trying again later",
		    p->what, p->rows, d, p->ago, strerror(-err));
	if (total > 0)
		log_info("%s: %lld %s %s%s deleted", p->what, (long long)total,
		    p->rows, d, p->ago);
}

/* How often to look for old records: a tenth of the retention, within
 * 1 s .. 60 s. */
static int64_t
prune_period(int64_t retention)
{
	int64_t p = retention / 10;

	return p < 1000 ? 1000 : p > 60000 ? 60000 : p;
}

static void
launchlog_main(struct worker *w, void *arg)
{
	struct launchlog *ll = arg;
	int64_t pruned_at[] = {ts_mono_ms(), ts_mono_ms()};

	while (worker_sleep(w, FLUSH_MS, true)) {
		struct gw_settings s;
		int64_t retention[2];

		flush(ll);
		gw_settings_get(ll->gw, &s);
		retention[STORE_PRUNE_LAUNCHES] = s.launch_retention;
		retention[STORE_PRUNE_EVENTS] = s.event_retention;
		for (size_t i = 0; i < 2; i++) {
			if (retention[i] == 0 || ts_mono_ms() - pruned_at[i] <
						     prune_period(retention[i]))
				continue;
			prune(ll, &pruned[i], retention[i]);
			pruned_at[i] = ts_mono_ms();
		}
	}
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
	free(ll->waiting.buf);
	free(ll->spare.buf);
	free(ll);
}
