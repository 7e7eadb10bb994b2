/* SPDX-License-Identifier: MIT */
/* The gateway context's shared parts: settings, auth, write transactions. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gw.h"
#include "upgate/log.h"
#include "upgate/secret.h"

void
gw_settings_from_conf(const struct gw_conf *c, struct gw_settings *out)
{
	memset(out, 0, sizeof(*out));
	out->session_timeout = c->session_timeout;
	out->retry_backoff = c->retry_backoff;
	out->max_attempts = c->max_attempts;
	out->halt_failure_rate = c->halt_failure_rate;
	out->halt_min_samples = c->halt_min_samples;
	out->manifest_max_age = c->manifest_max_age;
	out->launch_retention = c->launch_retention;
	out->event_retention = c->event_retention;
	snprintf(out->gateway_id, sizeof(out->gateway_id), "%s", c->gateway_id);
}

void
gw_settings_get(struct gw *gw, struct gw_settings *out)
{
	pthread_mutex_lock(&gw->lock);
	*out = gw->settings;
	pthread_mutex_unlock(&gw->lock);
}

int
gw_authorize(
    void *ctx, const char *token, size_t len, struct access_caller *out)
{
	struct gw *gw = ctx;
	bool ok;

	pthread_mutex_lock(&gw->lock);
	ok = secret_equal(token, len, gw->admin_token);
	pthread_mutex_unlock(&gw->lock);
	return access_identify(&gw->access, ok, token, len, out);
}

static int
access_read(void *ctx, int (*fn)(const struct access_conn *, void *), void *arg)
{
	struct gw *gw = ctx;
	struct store_conn *conn = store_reader_get(gw->store);
	struct access_conn ac;
	int err;

	store_access(conn, &ac);
	err = fn(&ac, arg);
	store_reader_put(gw->store, conn);
	return err;
}

static int
access_write(
    void *ctx, int (*fn)(const struct access_conn *, void *), void *arg)
{
	struct gw *gw = ctx;
	struct access_conn ac;
	int err;

	if ((err = gw_write_begin(gw)) < 0)
		return err;
	store_access(gw->writer, &ac);
	return gw_write_end(gw, fn(&ac, arg));
}

static bool
access_file_token(void *ctx)
{
	struct gw *gw = ctx;
	bool set;

	pthread_mutex_lock(&gw->lock);
	set = gw->admin_token != NULL;
	pthread_mutex_unlock(&gw->lock);
	return set;
}

void
gw_access_init(struct gw *gw)
{
	gw->access = (struct access_store){
	    gw, access_read, access_write, access_file_token};
}

int
gw_write_begin(struct gw *gw)
{
	return store_txn_begin(gw->writer);
}

int
gw_write_end(struct gw *gw, int err)
{
	bool kick = gw->outbox_added;

	gw->outbox_added = false;
	err = store_txn_end(gw->writer, err);
	if (err == 0 && kick && gw->outbox_kick != NULL)
		gw->outbox_kick(gw->outbox_kick_arg);
	return err;
}

int
gw_write_end_audited(struct gw *gw, struct req *rq, int status, int err)
{
	struct access_conn ac;

	if (err == 0 && status > 0) {
		store_access(gw->writer, &ac);
		err = access_audit_req(&ac, rq, status);
	}
	err = gw_write_end(gw, err);
	if (err == 0 && status > 0)
		rq->audited = true;
	return err;
}

static int
commits_begin(void *gw)
{
	return gw_write_begin(gw);
}

static int
commits_end(void *gw, int err)
{
	return gw_write_end(gw, err);
}

static int
commits_savepoint(void *gw)
{
	return store_savepoint(((struct gw *)gw)->writer);
}

static int
commits_savepoint_end(void *gw, bool keep)
{
	return store_savepoint_end(((struct gw *)gw)->writer, keep);
}

int
gw_commits_start(struct gw *gw)
{
	const struct gcommit_txn txn = {commits_begin, commits_end,
	    commits_savepoint, commits_savepoint_end, gw};

	return gcommit_start(&txn, &gw->commits);
}

int
gw_write_run(struct gw *gw, int (*run)(void *), void *arg)
{
	int err = gcommit_run(gw->commits, run, arg);

	if (err != -ESHUTDOWN)
		return err;
	if ((err = gw_write_begin(gw)) == 0)
		err = run(arg);
	return gw_write_end(gw, err);
}

static void
write_done(void *arg, int err)
{
	struct gw_write *w = arg;

	http_resume(w->rq, err);
}

void
gw_write_submit(struct gw *gw, struct gw_write *w, int (*run)(void *),
    http_cont cont, void (*state_free)(void *))
{
	w->job = (struct gcommit_job){.run = run, .done = write_done, .arg = w};
	http_suspend(w->rq, cont, w, state_free);
	gcommit_submit(gw->commits, &w->job);
}

void
gw_finish_opts(const struct gw_settings *s, struct finish_opts *o)
{
	o->gateway_id = s->gateway_id;
	o->halt_failure_rate = s->halt_failure_rate;
	o->halt_min_samples = s->halt_min_samples;
}
