/* SPDX-License-Identifier: MIT */
/* POST /v1/launch: an icon was clicked; upgrade first or start the app? */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "gw.h"
#include "upgate/id.h"
#include "upgate/log.h"
#include "upgate/semver.h"
#include "upgate/ts.h"

struct launch_req {
	const char *client_id, *app, *version, *platform, *channel;
};

/* What the read phase loaded; freed by view_fini. */
struct view {
	const struct catalog_view *cat; /* releases and rollback, shared */
	struct upgrade latest;
	bool has_latest;
	struct fail_stat *fails;
	size_t n_fails;
	bool fails_read; /* fails is the client's (none: NULL) */
};

static void
view_fini(struct view *v)
{
	catalog_put(v->cat);
	if (v->has_latest)
		store_upgrade_fini(&v->latest);
	free(v->fails);
	memset(v, 0, sizeof(*v));
}

/* One launch from decision to answer; it lives while the request is
 * parked in the group commit. */
struct launch_job {
	struct gw_write w; /* first */
	struct gw *gw;
	struct launch_req l;
	struct gw_settings s;
	struct view v;
	struct decide_out d;
	struct upgrade offer;
	int64_t now;
	int attempt;
};

/* The decision on the view as loaded so far. */
static void
view_decide(struct launch_job *j)
{
	struct decide_in in = {j->l.client_id, j->l.version, j->l.platform,
	    j->now, j->v.cat->releases, j->v.cat->n_releases,
	    j->v.has_latest ? &j->v.latest : NULL, j->v.fails, j->v.n_fails,
	    j->v.cat->rollback, j->s.session_timeout, j->s.retry_backoff,
	    j->s.max_attempts, j->v.has_latest && !j->v.fails_read};

	decide(&in, &j->d);
}

/* One read transaction: releases, the client's last upgrade, and the
 * decision on them; the client's failures only when the decision needs
 * them (an offer is possible). A client with no upgrade has no failures
 * (the same snapshot), and most launches come from such clients or from
 * clients up to date: at 10M upgrades that index's page was one of the
 * three a launch read from all over the file (docs/performance.md). */
static int
load_view(struct launch_job *j)
{
	struct gw *gw = j->gw;
	const struct launch_req *l = &j->l;
	struct view *v = &j->v;
	struct store_conn *conn = store_reader_get(gw->store);
	int err;

	memset(v, 0, sizeof(*v));
	if ((err = store_begin_read(conn)) < 0)
		goto out;
	err = catalog_get(gw->catalog, conn, l->app, l->channel, &v->cat);
	if (err == 0) {
		err = store_upgrade_latest(
		    conn, l->client_id, l->app, &v->latest);
		v->has_latest = err == 0;
		if (err == -ENOENT)
			err = 0;
	}
	if (err < 0)
		goto out;
	view_decide(j);
	if (j->d.needs_failures) {
		err = store_upgrade_failures(
		    conn, l->client_id, l->app, &v->fails, &v->n_fails);
		v->fails_read = err == 0;
		if (err == 0)
			view_decide(j);
	}
out: /* the snapshot stays with the connection while it is fresh */
	store_reader_put(gw->store, conn);
	if (err < 0)
		view_fini(v);
	return err;
}

static void
launch_free(void *arg)
{
	struct launch_job *j = arg;

	view_fini(&j->v);
	store_upgrade_fini(&j->offer);
	free(j);
}

/* The launch's statistics record (rule 6) as its decision stands. */
static struct launch_rec
launch_record(const struct launch_job *j)
{
	return (struct launch_rec){j->now, j->l.client_id, j->l.app,
	    j->l.version, j->l.platform, j->l.channel, "launch",
	    decide_reason_name(j->d.reason),
	    j->d.in_progress ? j->v.latest.upgrade_id : NULL};
}

/* The write phase, on the writer thread inside the batch's transaction.
 * Returns 0, -EAGAIN when another request changed the client's state
 * since the read (decide again), or -errno. */
static int
apply(void *arg)
{
	struct launch_job *j = arg;
	struct gw *gw = j->gw;
	struct store_conn *conn = gw->writer;
	const struct launch_req *l = &j->l;
	struct view *v = &j->v;
	struct decide_out *d = &j->d;
	struct upgrade *offer = &j->offer;
	const struct gw_settings *s = &j->s;
	int64_t now = j->now;
	struct launch_rec rec = launch_record(j);
	int err = 0;

	store_upgrade_fini(offer);
	if (d->expire_latest) {
		err = reaper_expire(gw, &v->latest, now, s);
		if (err == -EALREADY)
			err = -EAGAIN;
	}
	if (err == 0 && d->action == DECIDE_UPGRADE) {
		const struct release *t = d->target;

		memset(offer, 0, sizeof(*offer));
		id_new(offer->upgrade_id);
		snprintf(offer->client_id, sizeof(offer->client_id), "%s",
		    l->client_id);
		snprintf(offer->app, sizeof(offer->app), "%s", l->app);
		snprintf(offer->platform, sizeof(offer->platform), "%s",
		    l->platform);
		snprintf(
		    offer->channel, sizeof(offer->channel), "%s", l->channel);
		snprintf(offer->from_version, sizeof(offer->from_version), "%s",
		    l->version);
		snprintf(offer->to_version, sizeof(offer->to_version), "%s",
		    t->version);
		offer->release_id = t->id;
		offer->url = strdup(d->artifact->url);
		offer->notes = strdup(t->notes ? t->notes : "");
		offer->size = d->artifact->size;
		memcpy(
		    offer->sha256, d->artifact->sha256, sizeof(offer->sha256));
		offer->mandatory = t->mandatory;
		offer->rollback = d->rollback;
		/* The signed document that vouches for this offer: the
		 * rollback's when an admin ordered it, else the release's. */
		{
			const char *doc = d->by_rollback
					      ? v->cat->rollback->signed_doc
					      : t->signed_doc;
			const char *sig = d->by_rollback
					      ? v->cat->rollback->signature
					      : t->signature;

			if (doc != NULL && sig != NULL &&
			    ((offer->signed_doc = strdup(doc)) == NULL ||
				(offer->signature = strdup(sig)) == NULL))
				err = -ENOMEM;
		}
		offer->created_at = now;
		offer->progress = -1;
		offer->download_ms = offer->install_ms = -1;
		if (offer->url == NULL || offer->notes == NULL)
			err = -ENOMEM;
		if (err == 0 && d->rollback)
			log_info("launch: %s %s -> %s is a rollback%s", l->app,
			    l->version, t->version,
			    d->by_rollback ? " ordered by an admin"
					   : " off a yanked release");
		if (err == 0)
			err = store_upgrade_insert(conn, offer);
		if (err == -EEXIST)
			err = -EAGAIN; /* a concurrent launch started one */
		rec.action = "upgrade";
		rec.upgrade_id = offer->upgrade_id;
	}
	if (err == 0 && d->tell_failure) {
		err = store_upgrade_tell(conn, v->latest.id);
		if (err == 0)
			d->tell_failure = false; /* told by another call */
		else if (err == 1)
			err = 0;
	}
	if (err == 0)
		err = store_launch_insert(conn, &rec, 1);
	/* Another gateway's transaction and this one waited on each other
	 * (PostgreSQL chose this one to undo): decide again. */
	return err == -EBUSY ? -EAGAIN : err;
}

static int
parse(const json_t *b, struct launch_req *l, struct jv_err *e)
{
	int err;

	l->channel = "stable";
	if ((err = jv_str(b, "client_id", true, 128, &l->client_id, e)) < 0 ||
	    (err = jv_str(b, "app", true, STORE_NAME_MAX, &l->app, e)) < 0 ||
	    (err = jv_str(b, "version", true, STORE_NAME_MAX, &l->version, e)) <
		0 ||
	    (err = jv_str(
		 b, "platform", true, STORE_NAME_MAX, &l->platform, e)) < 0 ||
	    (err = jv_str(
		 b, "channel", false, STORE_NAME_MAX, &l->channel, e)) < 0)
		return err;
	if ((err = jv_check(id_client_valid(l->client_id), "client_id",
		 "must be 1-128 printable ASCII characters", e)) < 0 ||
	    (err = jv_check(id_app_valid(l->app), "app", ID_APP_RULE, e)) < 0 ||
	    (err = jv_check(semver_valid(l->version), "version",
		 "must be a semantic version like 1.4.2", e)) < 0 ||
	    (err = jv_check(
		 id_app_valid(l->platform), "platform", ID_APP_RULE, e)) < 0 ||
	    (err = jv_check(
		 id_app_valid(l->channel), "channel", ID_APP_RULE, e)) < 0)
		return err;
	return 0;
}

/* The artifact an upgrade in progress was offered, from the catalog
 * (NULL when its release is no longer there). */
static const struct artifact *
offered_artifact(const struct catalog_view *cat, const struct upgrade *u)
{
	for (size_t i = 0; cat != NULL && i < cat->n_releases; i++)
		if (cat->releases[i].id == u->release_id)
			return store_release_artifact(
			    &cat->releases[i], u->platform);
	return NULL;
}

/* The answer to a launch decided as d; offer is what an upgrade offers,
 * latest the client's last upgrade (in progress, or a failure to tell),
 * cat the catalog the decision read (for deltas). */
static json_t *
answer_doc(const struct decide_out *d, const struct upgrade *offer,
    const struct upgrade *latest, const struct catalog_view *cat)
{
	json_t *o;

	if (d->action == DECIDE_UPGRADE) {
		o = json_pack("{s:s, s:o}", "action", "upgrade", "upgrade",
		    render_offer(offer, d->artifact));
	} else {
		o = json_pack("{s:s, s:s}", "action", "launch", "reason",
		    decide_reason_name(d->reason));
		/* When the failed upgrade may be offered again (beyond the
		 * SPEC: so a launcher can tell its user). */
		if (o != NULL && d->reason == REASON_RETRY_BACKOFF)
			json_object_set_new(
			    o, "retry_at", render_time(d->retry_at));
		if (o != NULL && d->in_progress)
			json_object_set_new(o, "upgrade",
			    render_offer(
				latest, offered_artifact(cat, latest)));
	}
	if (o != NULL)
		json_object_set_new(o, "previous_failure",
		    d->tell_failure ? render_failure(latest) : json_null());
	return o;
}

/* A plain launch's answer (start the app, no upgrade, no failure to
 * tell) depends on its reason alone, and it is most answers: each is
 * rendered once, by answer_doc, and copied from then on. Rendering was
 * a sixth of a launch's instructions. NULL: could not render, or not a
 * plain reason; render per call. */
static char *plain[REASON_COUNT];
static pthread_once_t plain_once = PTHREAD_ONCE_INIT;

static void
plain_render(void)
{
	for (int r = REASON_NONE + 1; r < REASON_COUNT; r++) {
		const struct decide_out d = {
		    .action = DECIDE_LAUNCH, .reason = (enum decide_reason)r};
		json_t *o;

		if (r == REASON_UPGRADE_IN_PROGRESS ||
		    r == REASON_RETRY_BACKOFF)
			continue; /* answers with the upgrade, or a time */
		o = answer_doc(&d, NULL, NULL, NULL);
		plain[r] = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
}

static const char *
plain_body(const struct decide_out *d)
{
	if (d->action != DECIDE_LAUNCH || d->in_progress || d->tell_failure)
		return NULL;
	pthread_once(&plain_once, plain_render);
	return plain[d->reason];
}

/* Answers given, by reason (REASON_NONE: upgrades), for /metrics: what
 * clients are told, without reading the launch records. */
static atomic_uint_fast64_t answered[REASON_COUNT];

static int
answer(struct launch_job *j, struct resp *rs)
{
	const char *body = plain_body(&j->d);
	json_t *o;
	int err;

	if (body != NULL) {
		err = http_reply_copy(
		    rs, 200, "application/json", body, strlen(body));
	} else {
		o = answer_doc(&j->d, &j->offer, &j->v.latest, j->v.cat);
		err = o ? http_reply(rs, 200, o) : -ENOMEM;
	}
	if (err == 0)
		atomic_fetch_add_explicit(
		    &answered[j->d.action == DECIDE_UPGRADE ? REASON_NONE
							    : j->d.reason],
		    1, memory_order_relaxed);
	return err;
}

void
h_launch_metrics(FILE *out)
{
	fputs("# HELP upgate_launch_decisions_total Launch calls answered, "
	      "by action and reason.\n"
	      "# TYPE upgate_launch_decisions_total counter\n",
	    out);
	for (int r = 0; r < REASON_COUNT; r++)
		fprintf(out,
		    "upgate_launch_decisions_total{action=\"%s\",reason=\"%s\"}"
		    " %ju\n",
		    r == REASON_NONE ? "upgrade" : "launch",
		    r == REASON_NONE ? "" : decide_reason_name(r),
		    (uintmax_t)atomic_load_explicit(
			&answered[r], memory_order_relaxed));
}

static int launch_resumed(struct req *rq, struct resp *rs, int err);

/* Decide on a snapshot. A plain launch changes nothing: its record goes
 * with the next batch of launch statistics (rule 6) and it is answered
 * now. Anything else parks the request in the group commit; if the
 * client's state moved before the write, it decides again on the new
 * state (launch_resumed). */
static int
launch_step(struct launch_job *j, struct resp *rs)
{
	struct gw *gw = j->gw;
	int err;

	if (j->attempt++ >= 5)
		return -EBUSY;
	view_fini(&j->v);
	j->now = ts_now_ms();
	if ((err = load_view(j)) < 0)
		return err;
	if (j->d.action == DECIDE_LAUNCH && !j->d.expire_latest &&
	    !j->d.tell_failure && gw->launchlog != NULL) {
		struct launch_rec rec = launch_record(j);

		launchlog_add(gw->launchlog, &rec);
		return answer(j, rs);
	}
	gw_write_submit(gw, &j->w, apply, launch_resumed, launch_free);
	return 0;
}

static int
launch_resumed(struct req *rq, struct resp *rs, int err)
{
	struct launch_job *j = req_state(rq);

	if (err == -EAGAIN)
		return launch_step(j, rs);
	if (err < 0)
		return err;
	return answer(j, rs);
}

int
h_launch_post(struct req *rq, struct resp *rs)
{
	struct launch_job *j;
	struct jv_err e;
	int err;

	if (rq->body == NULL)
		return http_error(rs, -EBADMSG, "missing_body", NULL,
		    "a JSON object with client_id, app, version and platform "
		    "is required");
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -ENOMEM;
	if (parse(rq->body, &j->l, &e) < 0) {
		free(j);
		return http_error_jv(rs, &e);
	}
	j->gw = rq->ctx;
	j->w.rq = rq;
	gw_settings_get(j->gw, &j->s);
	err = launch_step(j, rs);
	/* Answered at once: the request never took j over. */
	if (req_state(rq) != j)
		launch_free(j);
	return err;
}
