/* SPDX-License-Identifier: MIT */
/* Upgrades: progress reports from launchers, reads, and the admin list. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "upgate/id.h"
#include "upgate/log.h"
#include "upgate/ts.h"

#define MAX_SEQ (INT64_C(1) << 53)
#define MAX_BYTES (INT64_C(1) << 53)

struct report {
	const char *client_id;
	struct upgrade_event ev;
	const char *message;
};

static int
parse_report(const json_t *b, struct report *r, struct jv_err *e)
{
	const char *state = NULL, *code = NULL;
	int64_t progress = -1;
	int err;

	memset(r, 0, sizeof(*r));
	r->ev.download_ms = r->ev.install_ms = -1;
	r->ev.delta_used = -1;
	r->ev.bytes_downloaded = -1;
	if ((err = jv_str(b, "client_id", true, 128, &r->client_id, e)) < 0 ||
	    (err = jv_int(b, "seq", true, 1, MAX_SEQ, &r->ev.seq, e)) < 0 ||
	    (err = jv_str(b, "state", true, 32, &state, e)) < 0 ||
	    (err = jv_str(b, "error_code", false, 64, &code, e)) < 0 ||
	    (err = jv_str(b, "message", false, STORE_MSG_MAX, &r->message, e)) <
		0 ||
	    (err = jv_int(b, "progress", false, 0, 100, &progress, e)) < 0 ||
	    (err = jv_int(b, "download_ms", false, 0, MAX_SEQ,
		 &r->ev.download_ms, e)) < 0 ||
	    (err = jv_int(b, "install_ms", false, 0, MAX_SEQ, &r->ev.install_ms,
		 e)) < 0 ||
	    (err = jv_int(b, "bytes_downloaded", false, 0, MAX_BYTES,
		 &r->ev.bytes_downloaded, e)) < 0)
		return err;
	if (!json_is_null(json_object_get(b, "delta_used")) &&
	    json_object_get(b, "delta_used") != NULL) {
		bool used = false;

		if ((err = jv_bool(b, "delta_used", false, &used, e)) < 0)
			return err;
		r->ev.delta_used = used;
	}
	r->ev.progress = (int)progress;
	if (store_state_parse(state, &r->ev.state) < 0 ||
	    r->ev.state == UPG_OFFERED || r->ev.state == UPG_TIMED_OUT)
		return jv_fail(e, -EINVAL, "invalid_value", "state",
		    "state must be one of downloading, downloaded, verifying, "
		    "installing, succeeded, failed");
	if (r->ev.state == UPG_FAILED && code == NULL)
		return jv_fail(e, -EBADMSG, "missing_field", "error_code",
		    "error_code is required when state is failed");
	if (code != NULL && (err = jv_check(id_code_valid(code), "error_code",
				 "must match ^[a-z][a-z0-9_]{0,63}$", e)) < 0)
		return err;
	if (code != NULL)
		snprintf(
		    r->ev.error_code, sizeof(r->ev.error_code), "%s", code);
	return 0;
}

static bool
same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Whether a stored event says what report r says. */
static bool
same_event(const struct upgrade_event *old, const struct report *r)
{
	return old->state == r->ev.state &&
	       same_str(old->error_code, r->ev.error_code) &&
	       same_str(old->message, r->message) &&
	       old->progress == r->ev.progress &&
	       old->download_ms == r->ev.download_ms &&
	       old->install_ms == r->ev.install_ms;
}

/* A report on its way through the group commit. */
struct report_job {
	struct gw_write w; /* first */
	struct gw *gw;
	struct resp *rs;
	char uid[ID_LEN + 1];
	struct report r;
	struct gw_settings s;
	bool dup;	  /* an idempotent repeat */
	bool halted;	  /* this report halted the release */
	struct upgrade u; /* as the report found it, then as it left it */
};

/* Apply a report to its upgrade, on the writer thread inside the batch's
 * transaction. A refusal fills rs and returns its error (nothing kept);
 * an idempotent repeat sets dup and returns -EEXIST (nothing to write).
 * The one answer that keeps writes is a report past the deadline: the
 * upgrade is timed out and rs says so. */
static int
apply_report(void *arg)
{
	struct report_job *j = arg;
	struct store_conn *conn = j->gw->writer;
	struct report *r = &j->r;
	struct upgrade *u = &j->u;
	struct upgrade_event old;
	struct finish_opts fo;
	int64_t now = ts_now_ms();
	int err;

	gw_finish_opts(&j->s, &fo);
	store_upgrade_fini(u);
	err = store_upgrade_get_brief(conn, j->uid, u);
	if (err == 0 && strcmp(u->client_id, r->client_id) != 0)
		err = -ENOENT;
	if (err == -ENOENT)
		return http_error(j->rs, err, "upgrade_not_found", NULL,
		    "no upgrade %s for this client", j->uid);
	if (err < 0)
		return err;

	/* A stored event has a seq at most last_seq: only then look. */
	err = r->ev.seq > u->last_seq
		  ? -ENOENT
		  : store_upgrade_event_get(conn, u->id, r->ev.seq, &old);
	if (err == 0) {
		bool same = same_event(&old, r);

		store_event_fini(&old);
		if (same) {
			j->dup = true;
			return -EEXIST;
		}
		return http_error(j->rs, -EEXIST, "seq_conflict", "seq",
		    "seq %" PRId64 " was already reported with a different "
		    "body",
		    r->ev.seq);
	}
	if (err != -ENOENT)
		return err;
	/* The final report again, its events pruned since ([storage]
	 * event_retention): still the repeat it was. */
	if (store_state_final(u->state) && r->ev.seq == u->last_seq &&
	    r->ev.state == u->state && r->ev.seq > 0) {
		j->dup = true;
		return -EEXIST;
	}

	if (!store_state_final(u->state) &&
	    now >= u->created_at + j->s.session_timeout) {
		/* Past its deadline: it is timed out, whatever comes now. */
		if ((err = reaper_expire(j->gw, u, now, &j->s)) < 0)
			return err;
		http_error(j->rs, -EEXIST, "upgrade_finished", "state",
		    "upgrade %s timed out; it can no longer change", j->uid);
		return 0;
	}
	if (store_state_final(u->state))
		return http_error(j->rs, -EEXIST, "upgrade_finished", "state",
		    "upgrade %s already finished as %s; it can no longer "
		    "change",
		    j->uid, store_state_name(u->state));
	if (r->ev.seq <= u->last_seq)
		return http_error(j->rs, -EEXIST, "seq_out_of_order", "seq",
		    "seq must grow: %" PRId64
		    " is not above the last one, %" PRId64,
		    r->ev.seq, u->last_seq);
	if (r->ev.state < u->state)
		return http_error(j->rs, -EEXIST, "state_regression", "state",
		    "state cannot go back from %s to %s",
		    store_state_name(u->state), store_state_name(r->ev.state));
	r->ev.at = now;
	r->ev.message = NULL;
	if (r->message != NULL && (r->ev.message = strdup(r->message)) == NULL)
		return -ENOMEM;
	err = store_upgrade_event_add(conn, u, &r->ev);
	store_event_fini(&r->ev);
	if (err == 0 && store_state_final(r->ev.state))
		err = store_upgrade_finish(conn, u, r->ev.state,
		    r->ev.error_code, r->message, now, &fo, &j->halted);
	if (err == 0 && store_state_final(r->ev.state))
		j->gw->outbox_added = true;
	return err; /* u is the upgrade as this report left it */
}

static void
report_free(void *arg)
{
	struct report_job *j = arg;

	store_upgrade_fini(&j->u);
	free(j);
}

/* The batch is on disk (or failed): answer. */
static int
report_answer(struct req *rq, struct resp *rs, int err)
{
	struct report_job *j = req_state(rq);
	json_t *o;

	if (j->w.job.err < 0 && !j->dup)
		return j->w.job.err; /* refused: rs says why, nothing written */
	if (j->w.job.err == 0 && err < 0) {
		http_reply(rs, 0, NULL); /* not on disk: no answer stands */
		return err;
	}
	if (rs->status != 0)
		return 0;
	if (j->halted)
		log_warn("release %s %s halted: failure rate over %.2f after "
			 "upgrade %s failed",
		    j->u.app, j->u.to_version, j->s.halt_failure_rate, j->uid);
	o = render_upgrade(&j->u);
	if (o == NULL)
		return -ENOMEM;
	json_object_set_new(o, "duplicate", json_boolean(j->dup));
	return http_reply(rs, 200, o);
}

int
h_events_post(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	const char *uid = rq->params[0];
	struct report_job *j;
	struct jv_err e;

	if (rq->body == NULL)
		return http_error(rs, -EBADMSG, "missing_body", NULL,
		    "a JSON object with client_id, seq and state is required");
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -ENOMEM;
	if (parse_report(rq->body, &j->r, &e) < 0) {
		free(j);
		return http_error_jv(rs, &e);
	}
	if (!id_valid(uid)) {
		free(j);
		return http_error(rs, -ENOENT, "upgrade_not_found", NULL,
		    "no upgrade %.40s for this client", uid);
	}
	snprintf(j->uid, sizeof(j->uid), "%s", uid);
	j->gw = gw;
	j->w.rq = rq;
	j->rs = rs;
	gw_settings_get(gw, &j->s);
	gw_write_submit(gw, &j->w, apply_report, report_answer, report_free);
	return 0;
}

int
h_upgrade_get(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	const char *uid = rq->params[0];
	const char *client = req_query(rq, "client_id");
	struct upgrade_event *ev = NULL;
	struct upgrade u;
	size_t n = 0;
	struct store_conn *conn;
	json_t *o;
	int err;

	if (client == NULL)
		return http_error(rs, -EBADMSG, "missing_parameter",
		    "client_id", "the client_id query parameter is required");
	if (!id_valid(uid))
		return http_error(rs, -ENOENT, "upgrade_not_found", NULL,
		    "no upgrade %.40s for this client", uid);
	conn = store_reader_get(gw->store);
	if ((err = store_begin_read(conn)) == 0) {
		err = store_upgrade_get(conn, uid, &u);
		if (err == 0 && strcmp(u.client_id, client) != 0) {
			store_upgrade_fini(&u);
			err = -ENOENT;
		}
		if (err == 0 &&
		    (err = store_upgrade_events(conn, u.id, &ev, &n)) < 0)
			store_upgrade_fini(&u);
	}
	store_reader_put(gw->store, conn); /* keeps the snapshot while fresh */
	if (err == -ENOENT)
		return http_error(rs, err, "upgrade_not_found", NULL,
		    "no upgrade %s for this client", uid);
	if (err < 0)
		return err;
	o = render_upgrade(&u);
	if (o != NULL)
		json_object_set_new(o, "events", render_events(ev, n));
	store_event_free_list(ev, n);
	store_upgrade_fini(&u);
	return o ? http_reply(rs, 200, o) : -ENOMEM;
}

int
h_upgrades_get(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	struct upgrade_filter f = {
	    req_query(rq, "app"), req_query(rq, "client_id"), -1, 0, 100};
	const char *state = req_query(rq, "state");
	const char *limit = req_query(rq, "limit");
	const char *after = req_query(rq, "after");
	struct upgrade *list = NULL;
	size_t n = 0, got;
	enum upg_state st;
	json_t *arr, *next = json_null();
	struct store_conn *conn;
	char *end;
	int err;

	if (state != NULL) {
		if (store_state_parse(state, &st) < 0)
			return http_error(rs, -EINVAL, "invalid_value", "state",
			    "state must be one of offered, downloading, "
			    "downloaded, verifying, installing, succeeded, "
			    "failed, timed_out");
		f.state = (int)st;
	}
	if (limit != NULL) {
		long v = strtol(limit, &end, 10);

		if (*limit == '\0' || *end != '\0' || v < 1 || v > 1000)
			return http_error(rs, -EINVAL, "invalid_value", "limit",
			    "limit must be a whole number from 1 to 1000");
		f.limit = (int)v;
	}
	if (after != NULL && *after != '\0') {
		long long v = strtoll(after, &end, 10);

		if (*end != '\0' || v < 1)
			return http_error(rs, -EINVAL, "invalid_value", "after",
			    "after must be a cursor from a previous page's "
			    "next");
		f.after = v;
	}
	f.limit++; /* one more tells whether a next page exists */
	conn = store_reader_get(gw->store);
	err = store_upgrade_list(conn, &f, &list, &n);
	store_reader_put(gw->store, conn);
	if (err < 0)
		return err;
	got = n;
	if (n == (size_t)f.limit) {
		char cur[32];

		n--;
		snprintf(cur, sizeof(cur), "%" PRId64, list[n - 1].id);
		next = json_string(cur);
	}
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, render_upgrade(&list[i]));
	store_upgrade_free_list(list, got);
	return http_reply(rs, 200,
	    json_pack("{s:o, s:o}", "upgrades", arr ? arr : json_array(),
		"next", next));
}
