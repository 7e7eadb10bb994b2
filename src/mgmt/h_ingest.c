/* SPDX-License-Identifier: MIT */
/* POST /v1/outcomes: signed outcomes from gateways, one or a batch, archived
 * with the alerts they cause in one transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg.h"
#include "upgate/jv.h"
#include "upgate/log.h"
#include "upgate/semver.h"
#include "upgate/ts.h"

#define MAX_BATCH 500
#define MAX_EVENTS 1000
#define MSG_MAX 4096
#define ARCHIVE_TRIES 3

/* One outcome being ingested: the borrowed fields and the texts made for
 * it. */
struct item {
	struct outcome o;
	char *events, *detail;
	bool duplicate;
};

static int
time_field(const json_t *j, const char *key, bool required, int64_t *out,
    struct jv_err *e)
{
	const char *s = NULL;
	int err;

	if ((err = jv_str(j, key, required, 64, &s, e)) < 0 || s == NULL)
		return err;
	if (ts_parse(s, out) < 0)
		return jv_fail(e, -EINVAL, "invalid_value", key,
		    "%s must be an RFC 3339 time", key);
	return 0;
}

static int
parse_upgrade(const json_t *j, struct item *it, struct jv_err *e)
{
	struct outcome *o = &it->o;
	json_t *ev = json_object_get(j, "events");
	int err;

	if ((err = jv_str(j, "upgrade_id", true, ID_LEN, &o->upgrade_id, e)) <
		0 ||
	    (err = jv_check(id_valid(o->upgrade_id), "upgrade_id",
		 "must be 32 lowercase hex characters", e)) < 0 ||
	    (err = jv_str(j, "client_id", true, 128, &o->client_id, e)) < 0 ||
	    (err = jv_check(id_client_valid(o->client_id), "client_id",
		 "must be 1-128 printable ASCII characters", e)) < 0 ||
	    (err = jv_str(j, "platform", false, 128, &o->platform, e)) < 0 ||
	    (err = jv_check(!o->platform || id_app_valid(o->platform),
		 "platform", ID_APP_RULE, e)) < 0 ||
	    (err = jv_str(j, "from_version", true, SEMVER_MAX, &o->from_version,
		 e)) < 0 ||
	    (err = jv_check(semver_valid(o->from_version), "from_version",
		 "must be a semantic version", e)) < 0 ||
	    (err = jv_str(j, "result", true, 16, &o->result, e)) < 0 ||
	    (err = jv_check(strcmp(o->result, "succeeded") == 0 ||
				strcmp(o->result, "failed") == 0 ||
				strcmp(o->result, "timed_out") == 0,
		 "result", "must be succeeded, failed or timed_out", e)) < 0 ||
	    (err = jv_str(j, "error_code", false, 64, &o->error_code, e)) < 0 ||
	    (err = jv_check(!o->error_code || id_code_valid(o->error_code),
		 "error_code", "must match ^[a-z][a-z0-9_]{0,63}$", e)) < 0 ||
	    (err = jv_str(j, "message", false, MSG_MAX, &o->message, e)) < 0 ||
	    (err = time_field(j, "started_at", false, &o->started_at, e)) < 0 ||
	    (err = jv_int(j, "download_ms", false, 0, INT64_MAX / 2,
		 &o->download_ms, e)) < 0 ||
	    (err = jv_int(j, "install_ms", false, 0, INT64_MAX / 2,
		 &o->install_ms, e)) < 0 ||
	    (err = jv_int(j, "bytes_downloaded", false, 0, INT64_MAX / 2,
		 &o->bytes_downloaded, e)) < 0 ||
	    (err = jv_int(j, "artifact_size", false, 0, INT64_MAX / 2,
		 &o->artifact_size, e)) < 0)
		return err;
	if (json_is_boolean(json_object_get(j, "delta_used")))
		o->delta_used = json_is_true(json_object_get(j, "delta_used"));
	else if (!json_is_null(json_object_get(j, "delta_used")) &&
		 json_object_get(j, "delta_used") != NULL)
		return jv_fail(e, -EBADMSG, "invalid_type", "delta_used",
		    "delta_used must be true or false");
	if (ev != NULL && !json_is_null(ev)) {
		size_t i;
		json_t *x;

		if (!json_is_array(ev))
			return jv_fail(e, -EBADMSG, "invalid_type", "events",
			    "events must be an array");
		if (json_array_size(ev) > MAX_EVENTS)
			return jv_fail(e, -EINVAL, "invalid_value", "events",
			    "at most %d events", MAX_EVENTS);
		json_array_foreach(ev, i,
		    x) if (!json_is_object(x)) return jv_fail(e, -EBADMSG,
		    "invalid_type", "events", "events must be objects");
		if ((it->events = json_dumps(ev, JSON_COMPACT)) == NULL)
			return -ENOMEM;
	}
	return 0;
}

static int
parse_halt(const json_t *j, struct item *it, struct jv_err *e)
{
	struct outcome *o = &it->o;
	json_t *d;
	int64_t samples = 0;
	double rate, threshold;
	int err;

	o->result = "halted";
	if ((err = jv_int(j, "finished", true, 0, INT64_MAX / 2,
		 &o->halt_finished, e)) < 0 ||
	    (err = jv_int(j, "failed", true, 0, INT64_MAX / 2, &o->halt_failed,
		 e)) < 0 ||
	    (err = jv_int(j, "halt_min_samples", false, 0, INT64_MAX / 2,
		 &samples, e)) < 0)
		return err;
	rate = json_number_value(json_object_get(j, "failure_rate"));
	threshold = json_number_value(json_object_get(j, "halt_failure_rate"));
	o->halt_rate = rate;
	o->halt_threshold = threshold;
	d = json_pack("{s:I, s:I, s:f, s:f, s:I}", "finished",
	    (json_int_t)o->halt_finished, "failed", (json_int_t)o->halt_failed,
	    "failure_rate", rate, "halt_failure_rate", threshold,
	    "halt_min_samples", (json_int_t)samples);
	if (d == NULL)
		return -ENOMEM;
	it->detail = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return it->detail ? 0 : -ENOMEM;
}

/* Validate one outcome object into it. On failure e names the field. */
static int
parse_item(const json_t *j, struct item *it, struct jv_err *e)
{
	struct outcome *o = &it->o;
	const char *kind = NULL;
	int err;

	memset(it, 0, sizeof(*it));
	o->download_ms = o->install_ms = -1;
	o->delta_used = -1;
	o->bytes_downloaded = o->artifact_size = -1;
	if (!json_is_object(j))
		return jv_fail(e, -EBADMSG, "invalid_type", "",
		    "an outcome must be a JSON object");
	if ((err = jv_str(j, "outcome_id", true, ID_LEN, &o->outcome_id, e)) <
		0 ||
	    (err = jv_check(id_valid(o->outcome_id), "outcome_id",
		 "must be 32 lowercase hex characters", e)) < 0 ||
	    (err = jv_str(j, "gateway_id", true, 128, &o->gateway_id, e)) < 0 ||
	    (err = jv_check(id_app_valid(o->gateway_id), "gateway_id",
		 ID_APP_RULE, e)) < 0 ||
	    (err = jv_str(j, "kind", false, 32, &kind, e)) < 0 ||
	    (err = jv_check(!kind || strcmp(kind, "upgrade") == 0 ||
				strcmp(kind, "rollback") == 0 ||
				strcmp(kind, "release_halted") == 0,
		 "kind", "must be upgrade, rollback or release_halted", e)) <
		0 ||
	    (err = jv_str(j, "app", true, 128, &o->app, e)) < 0 ||
	    (err = jv_check(id_app_valid(o->app), "app", ID_APP_RULE, e)) < 0 ||
	    (err = jv_str(j, "channel", false, 128, &o->channel, e)) < 0 ||
	    (err = jv_check(!o->channel || id_app_valid(o->channel), "channel",
		 ID_APP_RULE, e)) < 0 ||
	    (err = jv_str(
		 j, "to_version", true, SEMVER_MAX, &o->to_version, e)) < 0 ||
	    (err = jv_check(semver_valid(o->to_version), "to_version",
		 "must be a semantic version", e)) < 0)
		return err;
	o->kind = kind == NULL				? OUTCOME_UPGRADE
		  : strcmp(kind, "release_halted") == 0 ? OUTCOME_HALT
		  : strcmp(kind, "rollback") == 0	? OUTCOME_ROLLBACK
							: OUTCOME_UPGRADE;
	err = o->kind == OUTCOME_HALT
		  ? time_field(j, "halted_at", true, &o->finished_at, e)
		  : time_field(j, "finished_at", true, &o->finished_at, e);
	if (err < 0)
		return err;
	return o->kind == OUTCOME_HALT ? parse_halt(j, it, e)
				       : parse_upgrade(j, it, e);
}

static void
items_free(struct item *items, size_t n)
{
	for (size_t i = 0; i < n && items; i++) {
		free(items[i].events);
		free(items[i].detail);
	}
	free(items);
}

static int
archive_once(struct mg *mg, const struct mg_conf *c, struct item *items,
    size_t n, int64_t now, bool *woke)
{
	int err;

	if ((err = store_txn_begin(mg->writer)) < 0)
		return err;
	for (size_t i = 0; err == 0 && i < n; i++) {
		items[i].o.events = items[i].events;
		items[i].o.detail = items[i].detail;
		items[i].duplicate = false;
		err = store_outcome_insert(mg->writer, &items[i].o, now);
		if (err == 1) {
			items[i].duplicate = true;
			err = 0;
		} else if (err == 0) {
			err = alerter_on_outcome(mg, c, &items[i].o, now, woke);
		}
	}
	return store_txn_end(mg->writer, err);
}

/* Archive every item and its alerts in one transaction. Daemons sharing
 * a store lock the alert groups of a batch's releases in the order its
 * items come, so two batches may deadlock: the database ends one, which
 * runs again. */
static int
archive(struct mg *mg, struct item *items, size_t n, bool *woke)
{
	struct mg_conf *c = mg_conf_get(mg);
	int64_t now = ts_now_ms();
	int err, tries = 0;

	do {
		err = archive_once(mg, c, items, n, now, woke);
	} while (err == -EBUSY && ++tries < ARCHIVE_TRIES);
	mg_conf_put(mg, c);
	return err;
}
/* Pop up each new failure and halt on every open dashboard, as the
 * archive shows it (GET /v1/outcomes/{id}). A store other daemons share
 * tells the watcher (watch.c) instead, of theirs and of this one's. */
static void
announce(struct mg *mg, const struct item *items, size_t n)
{
	struct store_conn *db = NULL;

	if (store_shared(mg->store))
		return;
	for (size_t i = 0; i < n; i++) {
		const struct outcome *o = &items[i].o;
		bool halt = o->kind == OUTCOME_HALT;
		char *json = NULL;

		if (items[i].duplicate ||
		    (!halt && strcmp(o->result, "succeeded") == 0))
			continue;
		if (db == NULL)
			db = store_reader_get(mg->store);
		if (store_outcome_get(db, o->outcome_id, &json) == 0)
			mg_announce(mg, halt ? "halt" : "failure", json);
		free(json);
	}
	if (db != NULL)
		store_reader_put(mg->store, db);
}

int
h_outcomes_post(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	json_t *list = json_object_get(rq->body, "outcomes");
	struct item *items = NULL;
	struct jv_err e = {0};
	size_t n, i, dups = 0;
	bool batch, woke = false;
	json_t *out, *res;
	int err;

	if (rq->body == NULL)
		return http_error(rs, -EBADMSG, "missing_body", NULL,
		    "the body must be an outcome or {\"outcomes\": [...]}");
	batch = list != NULL;
	if (batch && !json_is_array(list))
		return http_error(rs, -EBADMSG, "invalid_type", "outcomes",
		    "outcomes must be an array");
	n = batch ? json_array_size(list) : 1;
	if (n == 0 || n > MAX_BATCH)
		return http_error(rs, -EINVAL, "invalid_value", "outcomes",
		    "a batch holds 1 to %d outcomes", MAX_BATCH);
	if ((items = calloc(n, sizeof(*items))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		err = parse_item(
		    batch ? json_array_get(list, i) : rq->body, &items[i], &e);
		if (err < 0)
			break;
	}
	if (i < n) {
		char field[sizeof(e.field)];

		items_free(items, i + 1);
		if (err == -ENOMEM)
			return err;
		if (batch)
			snprintf(field, sizeof(field), "outcomes[%d]%s%.40s",
			    (int)i, e.field[0] ? "." : "", e.field);
		else
			memcpy(field, e.field, sizeof(field));
		memcpy(e.field, field, sizeof(field));
		return http_error_jv(rs, &e);
	}
	err = archive(mg, items, n, &woke);
	if (err < 0) {
		items_free(items, n);
		log_err("ingest: cannot archive %zu outcome(s): %s", n,
		    strerror(-err));
		return http_error(rs, err, "storage_unavailable", NULL,
		    "the outcomes could not be stored: %s", strerror(-err));
	}
	if (woke)
		alerter_kick(mg->alerter);
	announce(mg, items, n);
	res = json_array();
	for (i = 0; i < n; i++) {
		dups += items[i].duplicate;
		json_array_append_new(res,
		    json_pack("{s:s, s:b}", "outcome_id", items[i].o.outcome_id,
			"duplicate", items[i].duplicate));
	}
	if (batch)
		out = json_pack("{s:I, s:I, s:o}", "accepted",
		    (json_int_t)(n - dups), "duplicates", (json_int_t)dups,
		    "results", res);
	else {
		out = json_pack("{s:s, s:b}", "outcome_id",
		    items[0].o.outcome_id, "duplicate", items[0].duplicate);
		json_decref(res);
	}
	items_free(items, n);
	return http_reply(rs, 200, out);
}
