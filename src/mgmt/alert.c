/* SPDX-License-Identifier: MIT */
/* The alert workers: grouping and inhibition at ingest, digests when their
 * window closes (one worker), and deliveries with retries (a worker per
 * channel). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "mg.h"
#include "notify.h"
#include "upgate/backoff.h"
#include "upgate/log.h"
#include "upgate/ts.h"
#include "upgate/worker.h"

#define IDLE_MS 5000
#define DUE_BATCH 16
#define DIGEST_BATCH 8
#define DIGEST_LINES 50
#define LEASE_MARGIN_MS 10000

/* The channels whose deliveries a worker attempts, one worker each (a
 * pop-up is delivered by being stored). */
static const char *const lane_channels[] = {
    "email", "sms", "webhook", "alertmanager"};
#define N_LANES (sizeof(lane_channels) / sizeof(lane_channels[0]))

struct alerter;

struct lane {
	struct alerter *a;
	const char *channel;
	struct worker w;
};

struct alerter {
	struct mg *mg;
	struct worker digests;
	struct lane lanes[N_LANES];
	struct worker halts; /* keeps Alertmanager's halt alerts true */
};

/* One delivery per place the alert goes (notify_recipient), each
 * saying whom it is for; the dashboard pop-up is delivered by being
 * stored. */
static int
add_deliveries(
    struct store_conn *db, const struct mg_conf *c, int64_t alert, int64_t now)
{
	char ch[16], who[4096];
	int err = 0;

	for (int i = 0; err == 0 && notify_recipient(
					c, i, ch, sizeof(ch), who, sizeof(who));
	     i++)
		err = store_delivery_add(db, alert, ch, who,
		    strcmp(ch, "popup") == 0 ? "sent" : "pending", now);
	return err;
}

/* Store an alert with the texts in t and its deliveries. */
static int
store_alert(struct store_conn *db, const struct mg_conf *c, struct alert *a,
    const struct notify_text *t, int64_t now)
{
	int err;

	id_new(a->alert_id);
	a->subject = t->subject;
	a->body = t->body;
	a->sms = t->sms;
	a->created_at = now;
	if ((err = store_alert_insert(db, a)) < 0)
		return err;
	return add_deliveries(db, c, a->row, now);
}

static int
on_failure(struct store_conn *db, const struct mg_conf *c,
    const struct outcome *o, int64_t now)
{
	struct alert_group g;
	struct notify_text t;
	int err;

	if ((err = store_group_get(db, o->app, o->to_version, &g)) < 0)
		return err;
	if (group_on_failure(&g, now, c->group_window, c->repeat_interval) ==
	    GROUP_SEND_NOW) {
		struct alert a = {.kind = "failure",
		    .app = o->app,
		    .version = o->to_version,
		    .outcome_id = o->outcome_id,
		    .failures = 1};

		if ((err = notify_render_failure(o, &t)) < 0)
			return err;
		err = store_alert(db, c, &a, &t, now);
		notify_text_fini(&t);
	} else {
		err = store_outcome_wait(db, o->row);
	}
	return err < 0 ? err : store_group_put(db, &g);
}

static int
on_halt(struct store_conn *db, const struct mg_conf *c, const struct outcome *o,
    int64_t now)
{
	struct alert a = {.kind = "halt",
	    .app = o->app,
	    .version = o->to_version,
	    .outcome_id = o->outcome_id};
	struct alert_group g;
	struct notify_text t;
	int64_t folded = 0;
	int inhibited, err;

	if ((err = store_group_get(db, o->app, o->to_version, &g)) < 0)
		return err;
	if ((err = store_outcome_waiting(
		 db, o->app, o->to_version, NULL, 0, &folded)) < 0)
		return err;
	if ((inhibited =
		    store_delivery_inhibit(db, o->app, o->to_version, now)) < 0)
		return inhibited;
	if ((err = notify_render_halt(o, folded, inhibited, &t)) < 0)
		return err;
	a.failures = o->halt_failed;
	err = store_alert(db, c, &a, &t, now);
	notify_text_fini(&t);
	if (err == 0)
		err = store_outcome_claim(db, o->app, o->to_version, a.row);
	group_halted(&g, now, c->group_window);
	if (err == 0)
		err = store_group_put(db, &g);
	if (err == 0)
		log_warn("alert: release %s %s halted; %d waiting alert "
			 "deliveries replaced by its halt alert",
		    o->app, o->to_version, inhibited);
	return err;
}

int
alerter_on_outcome(struct mg *mg, const struct mg_conf *c,
    const struct outcome *o, int64_t now, bool *woke)
{
	int err = 0;

	if (o->kind == OUTCOME_HALT)
		err = on_halt(mg->writer, c, o, now);
	else if (strcmp(o->result, "succeeded") != 0)
		err = on_failure(mg->writer, c, o, now);
	else
		return 0;
	if (err == 0)
		*woke = true;
	return err;
}

/* Turn due digests into alerts, in one write transaction. */
static int
flush_digests(struct mg *mg, const struct mg_conf *c, int64_t now)
{
	struct alert_group g[DIGEST_BATCH];
	struct waiting w[DIGEST_LINES];
	int n, err;

	if ((err = store_txn_begin(mg->writer)) < 0)
		return err;
	n = store_group_due(mg->writer, now, g, DIGEST_BATCH);
	err = n < 0 ? n : 0;
	for (int i = 0; err == 0 && i < n; i++) {
		struct alert a = {
		    .kind = "digest", .app = g[i].app, .version = g[i].version};
		struct notify_text t;
		int64_t total = 0;
		int k;

		k = store_outcome_waiting(mg->writer, g[i].app, g[i].version, w,
		    DIGEST_LINES, &total);
		if (k < 0) {
			err = k;
			break;
		}
		if (total > 0) {
			err = notify_render_digest(
			    g[i].app, g[i].version, w, k, total, &t);
			a.failures = total;
			if (err == 0)
				err = store_alert(mg->writer, c, &a, &t, now);
			notify_text_fini(&t);
			if (err == 0)
				err = store_outcome_claim(
				    mg->writer, g[i].app, g[i].version, a.row);
		}
		store_waiting_free(w, (size_t)k);
		group_flushed(&g[i], now, c->repeat_interval);
		if (err == 0)
			err = store_group_put(mg->writer, &g[i]);
	}
	err = store_txn_end(mg->writer, err);
	if (err < 0)
		log_err("alert: cannot make digests: %s", strerror(-err));
	return err < 0 ? err : n;
}

/* How long a delivery on channel claimed for an attempt is held from
 * other daemons sharing the store: its channel's timeout twice, and a
 * margin. A daemon that dies holding one leaves it to the others once
 * this passes. */
static int64_t
lease_ms(const struct mg_conf *c, const char *channel)
{
	int64_t t =
	    strcmp(channel, "sms") == 0 ? c->sms_timeout : c->smtp_timeout;

	return 2 * t + LEASE_MARGIN_MS;
}

/* Attempt one claimed delivery and record what happened. */
static int
deliver(struct mg *mg, const struct mg_conf *c, struct delivery *d, int64_t now)
{
	char why[512] = "";
	bool permanent = false;
	int64_t next, t;
	int r, err;

	r = notify_send(c, d, now, why, sizeof(why), &permanent);
	t = ts_now_ms();
	next = r == 0 ? t
		      : t + backoff_delay(c->retry_initial, c->retry_max,
				(unsigned)d->attempts + 1);
	if (r == 0)
		log_info("alert: %s %s%s%s sent (%s)", d->channel, d->alert_id,
		    d->recipient[0] ? " to " : "", d->recipient, d->subject);
	else
		log_warn("alert: %s %s attempt %lld failed: %s", d->channel,
		    d->alert_id, (long long)d->attempts + 1, why);
	if ((err = store_txn_begin(mg->writer)) == 0)
		err = store_delivery_done(
		    mg->writer, d->id, r == 0, permanent, why, t, next);
	if ((err = store_txn_end(mg->writer, err)) < 0)
		log_err("alert: cannot record delivery %lld: %s",
		    (long long)d->id, strerror(-err));
	return err;
}

/* Attempt the due deliveries on channel, each claimed just before it is
 * sent; the sending happens outside transactions. Returns how many. */
static int
deliver_due(struct mg *mg, const char *channel)
{
	struct mg_conf *c = mg_conf_get(mg);
	int64_t now = ts_now_ms();
	int n = 0, err = 0;

	while (err == 0 && n < DUE_BATCH) {
		struct store_conn *db = store_reader_get(mg->store);
		struct delivery d;
		int k;

		k = store_delivery_due(
		    db, channel, now, lease_ms(c, channel), &d, 1);
		store_reader_put(mg->store, db);
		if (k <= 0) {
			err = k;
			break;
		}
		err = deliver(mg, c, &d, now);
		store_delivery_free(&d, 1);
		n++;
	}
	mg_conf_put(mg, c);
	return err < 0 ? err : n;
}

/* How long to sleep: until the next due item of what (a channel, or
 * "digest"), at most IDLE_MS. */
static int64_t
idle_ms(struct mg *mg, const char *what)
{
	struct store_conn *db = store_reader_get(mg->store);
	int64_t at = 0, now = ts_now_ms(), ms = IDLE_MS;

	if (store_next_due(db, what, &at) == 0 && at > 0)
		ms = at <= now ? 0 : (at - now < IDLE_MS ? at - now : IDLE_MS);
	store_reader_put(mg->store, db);
	return ms;
}

/* The digests' worker: each due digest becomes an alert, whose
 * deliveries the channels' workers are woken for. */
static void
digests_main(struct worker *w, void *arg)
{
	struct alerter *a = arg;
	int64_t ms;

	do {
		struct mg_conf *c = mg_conf_get(a->mg);
		int n = flush_digests(a->mg, c, ts_now_ms());

		mg_conf_put(a->mg, c);
		if (n > 0)
			for (size_t i = 0; i < N_LANES; i++)
				worker_kick(&a->lanes[i].w);
		ms = n < 0 ? 1000
			   : (n == DIGEST_BATCH ? 0 : idle_ms(a->mg, "digest"));
	} while (worker_sleep(w, ms, true));
}

/* A channel's worker: its deliveries only, so that a relay that stalls
 * for its whole timeout holds back no other channel's. */
static void
lane_main(struct worker *w, void *arg)
{
	struct lane *l = arg;
	int64_t ms;

	do {
		int n = deliver_due(l->a->mg, l->channel);

		ms = n < 0
			 ? 1000
			 : (n == DUE_BATCH ? 0 : idle_ms(l->a->mg, l->channel));
	} while (worker_sleep(w, ms, true));
}

#define OPEN_HALTS 16

/* Is app/version halted in the gateway's list of releases? */
static bool
halted_in(const json_t *releases, const char *app, const char *version)
{
	const json_t *r;
	size_t i;

	json_array_foreach(releases, i, r)
	{
		const char *a = json_string_value(json_object_get(r, "app"));
		const char *v =
		    json_string_value(json_object_get(r, "version"));

		if (a && v && strcmp(a, app) == 0 && strcmp(v, version) == 0 &&
		    json_is_true(json_object_get(r, "halted")))
			return true;
	}
	return false;
}

/* Each halt alert not resolved yet: sent to Alertmanager again while the
 * gateway says its release is halted (a fresh endsAt), and ended (endsAt
 * now, the alert resolved) once it is not. Without the gateway's word
 * (no [gateway] url, or no answer), nothing: a halt alert then lapses at
 * its endsAt. */
static void
keep_halts(struct mg *mg, const struct mg_conf *c)
{
	struct delivery h[OPEN_HALTS];
	struct store_conn *db = store_reader_get(mg->store);
	json_t *ans = NULL;
	char why[512];
	long status;
	int n, err;

	n = store_halts_open(db, h, OPEN_HALTS);
	store_reader_put(mg->store, db);
	if (n <= 0)
		return;
	err = mg_gateway(mg, "GET", "/v1/admin/releases", NULL, &status, &ans,
	    why, sizeof(why));
	if (err == 0 && (status != 200 || ans == NULL))
		snprintf(
		    why, sizeof(why), "the gateway answered HTTP %ld", status);
	if (err < 0 || status != 200 || ans == NULL) {
		log_info("alert: cannot tell whether halted releases still "
			 "are: %s",
		    why);
		json_decref(ans);
		store_delivery_free(h, (size_t)n);
		return;
	}
	for (int i = 0; i < n; i++) {
		bool still = halted_in(
		    json_object_get(ans, "releases"), h[i].app, h[i].version);
		int64_t now = ts_now_ms();
		bool permanent = false;

		if (notify_alertmanager_post(c, &h[i],
			still ? now + NOTIFY_HALT_HOLD(c) : now, why,
			sizeof(why), &permanent) < 0) {
			log_warn("alert: Alertmanager: halt of %s %s: %s",
			    h[i].app, h[i].version, why);
			continue;
		}
		if (still)
			continue;
		if ((err = store_txn_begin(mg->writer)) == 0)
			err = store_halt_resolved(mg->writer, h[i].id, now);
		if ((err = store_txn_end(mg->writer, err)) == 0)
			log_notice("alert: %s %s resumed: its halt alert is "
				   "resolved",
			    h[i].app, h[i].version);
	}
	json_decref(ans);
	store_delivery_free(h, (size_t)n);
}

static void
halts_main(struct worker *w, void *arg)
{
	struct alerter *a = arg;
	int64_t ms;

	do {
		struct mg_conf *c = mg_conf_get(a->mg);

		if (c->alertmanager_url[0] != '\0')
			keep_halts(a->mg, c);
		ms = c->alertmanager_resend;
		mg_conf_put(a->mg, c);
	} while (worker_sleep(w, ms, true));
}

int
alerter_start(struct mg *mg, struct alerter **out)
{
	struct alerter *a;
	size_t i;
	int err;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	a->mg = mg;
	for (i = 0; i < N_LANES; i++) {
		a->lanes[i].a = a;
		a->lanes[i].channel = lane_channels[i];
		if ((err = worker_start(
			 &a->lanes[i].w, lane_main, &a->lanes[i])) < 0)
			goto fail;
	}
	if ((err = worker_start(&a->digests, digests_main, a)) < 0)
		goto fail;
	if ((err = worker_start(&a->halts, halts_main, a)) < 0) {
		worker_stop(&a->digests);
		goto fail;
	}
	*out = a;
	return 0;
fail:
	while (i-- > 0)
		worker_stop(&a->lanes[i].w);
	free(a);
	return err;
}

void
alerter_kick(struct alerter *a)
{
	if (a == NULL)
		return;
	worker_kick(&a->digests);
	for (size_t i = 0; i < N_LANES; i++)
		worker_kick(&a->lanes[i].w);
}

void
alerter_halts_changed(struct alerter *a)
{
	if (a != NULL)
		worker_kick(&a->halts);
}

void
alerter_stop(struct alerter *a)
{
	if (a == NULL)
		return;
	worker_stop(&a->halts);
	worker_stop(&a->digests);
	for (size_t i = 0; i < N_LANES; i++)
		worker_stop(&a->lanes[i].w);
	free(a);
}
