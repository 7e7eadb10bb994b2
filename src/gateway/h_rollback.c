/* SPDX-License-Identifier: MIT */
/* Rollbacks: an admin sends a channel back to an older release (signed
 * like a release when the gateway requires signatures). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "upgate/id.h"
#include "upgate/log.h"
#include "upgate/semver.h"
#include "upgate/ts.h"

static json_t *
render_rollback(const struct rollback *rb, const char *version)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:o, s:s?, s:s?, s:o}", "app",
	    rb->app, "channel", rb->channel, "to_version", version,
	    "rollout_percent", rb->rollout_percent, "serial",
	    rb->serial > 0 ? json_integer(rb->serial) : json_null(), "signed",
	    rb->signed_doc, "signature", rb->signature, "created_at",
	    render_time(rb->created_at));
}

static int
parse_rollback(const json_t *b, const char **app, const char **channel,
    const char **version, int64_t *percent, struct jv_err *e)
{
	int err;

	if ((err = jv_str(b, "app", true, STORE_NAME_MAX, app, e)) < 0 ||
	    (err = jv_str(b, "channel", false, STORE_NAME_MAX, channel, e)) <
		0 ||
	    (err = jv_str(b, "to_version", true, STORE_NAME_MAX, version, e)) <
		0 ||
	    (err = jv_int(b, "rollout_percent", false, 0, 100, percent, e)) <
		0 ||
	    (err = jv_check(id_app_valid(*app), "app", ID_APP_RULE, e)) < 0 ||
	    (err = jv_check(
		 id_app_valid(*channel), "channel", ID_APP_RULE, e)) < 0)
		return err;
	return jv_check(semver_valid(*version), "to_version",
	    "must be a semantic version", e);
}

int
h_rollback_post(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	const char *app = NULL, *channel = "stable", *version = NULL;
	struct rollback rb = {0};
	struct release r = {0};
	int64_t percent = 100, max = 0;
	json_t *arts = NULL;
	struct jv_err e;
	bool found = false;
	int err;

	if (rq->body == NULL)
		return http_error(rs, -EBADMSG, "missing_body", NULL,
		    "a JSON object with app, to_version and channel is "
		    "required");
	if (parse_rollback(rq->body, &app, &channel, &version, &percent, &e) <
	    0)
		return http_error_jv(rs, &e);
	snprintf(rb.app, sizeof(rb.app), "%s", app);
	snprintf(rb.channel, sizeof(rb.channel), "%s", channel);
	rb.rollout_percent = (int)percent;
	rb.created_at = ts_now_ms();
	if ((err = gw_write_begin(gw)) < 0)
		return err;
	err = store_release_find(gw->writer, app, channel, version, &r, NULL);
	found = err == 0;
	if (err == 0 && r.yanked)
		err = -EEXIST;
	if (err == 0 && (arts = render_artifacts(&r, NULL)) == NULL)
		err = -ENOMEM;
	if (err == 0 &&
	    gw_signed_parse(rq->body, app, channel, version, arts, true,
		&rb.signed_doc, &rb.signature, &rb.serial, &e) < 0)
		err = -EINVAL;
	if (err == 0 && rb.serial > 0 &&
	    (err = store_serial_max(gw->writer, app, channel, &max)) == 0 &&
	    rb.serial <= max)
		err = -ERANGE;
	if (err == 0) {
		rb.release_id = r.id;
		err = store_rollback_set(gw->writer, &rb);
	}
	err = gw_write_end_audited(gw, rq, 201, err);
	if (err == -ENOENT)
		err = http_error(rs, err, "release_not_found", "to_version",
		    "no release %s %s on %s to roll back to", app, version,
		    channel);
	else if (err == -EEXIST && found)
		err = http_error(rs, err, "release_yanked", "to_version",
		    "%s %s is yanked: roll back to a release clients may get",
		    app, version);
	else if (err == -EINVAL)
		err = http_error_jv(rs, &e);
	else if (err == -ERANGE)
		err = http_error(rs, -EEXIST, "serial_not_increasing", "signed",
		    "serial %lld is not above %s's highest on %s (%lld)",
		    (long long)rb.serial, app, channel, (long long)max);
	else if (err == 0) {
		log_notice("rollback: %s on %s goes back to %s (%d%%)%s", app,
		    channel, version, rb.rollout_percent,
		    rb.signed_doc ? ", signed" : "");
		http_reply(rs, 201, render_rollback(&rb, version));
	}
	json_decref(arts);
	store_release_fini(&r);
	store_rollback_fini(&rb);
	return err;
}

/* GET and DELETE /v1/admin/rollbacks/{app}?channel= */
int
h_rollback_get(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	const char *app = rq->params[0];
	const char *channel = req_query(rq, "channel");
	struct rollback rb;
	char version[STORE_NAME_MAX + 1] = "";
	bool del = strcmp(rq->method, "DELETE") == 0;
	struct store_conn *conn;
	int err;

	if (channel == NULL)
		channel = "stable";
	if (del) {
		if ((err = gw_write_begin(gw)) < 0)
			return err;
		err = store_rollback_get(gw->writer, app, channel, &rb);
		if (err == 0)
			err = store_rollback_delete(gw->writer, app, channel);
		err = gw_write_end_audited(gw, rq, 200, err);
	} else {
		conn = store_reader_get(gw->store);
		err = store_rollback_get(conn, app, channel, &rb);
		store_reader_put(gw->store, conn);
	}
	if (err == -ENOENT)
		return http_error(rs, err, "rollback_not_found", NULL,
		    "%s has no rollback on %s", app, channel);
	if (err < 0)
		return err;
	{
		struct release *list = NULL;
		size_t n = 0;

		conn = store_reader_get(gw->store);
		if (store_release_list(conn, app, channel, false, &list, &n) ==
		    0)
			for (size_t i = 0; i < n; i++)
				if (list[i].id == rb.release_id)
					snprintf(version, sizeof(version), "%s",
					    list[i].version);
		store_reader_put(gw->store, conn);
		store_release_free_list(list, n);
	}
	if (del)
		log_notice("rollback: %s on %s ended", app, channel);
	err = http_reply(rs, 200, render_rollback(&rb, version));
	store_rollback_fini(&rb);
	return err;
}
