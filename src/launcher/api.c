/* SPDX-License-Identifier: MIT */
/* The gateway's launcher endpoints: launch, reports, and the reports that
 * could not be sent, kept in DIR/.upgate/pending/<upgrade_id>.json. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ln.h"
#include "upgate/file.h"
#include "upgate/httpc.h"
#include "upgate/log.h"

#define PENDING_MAX (64 * 1024)

/* Give h the time left, or say there is none. */
static int
budget(struct ln *l)
{
	int64_t left = l->c.timeout;

	if (l->deadline != 0 && l->deadline - ts_mono_ms() < left)
		left = l->deadline - ts_mono_ms();
	if (left <= 0)
		return -ETIMEDOUT;
	curl_easy_setopt(l->api, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(l->api, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	return 0;
}

/* Call the gateway; on an answer, *out is its JSON body (or NULL when it
 * is not JSON) and the return value the HTTP status. */
static long
call(struct ln *l, const char *method, const char *path, const json_t *body,
    json_t **out)
{
	struct httpc_reply r;
	char url[4096];
	char *text = NULL;
	long status = -EIO;
	int err;

	*out = NULL;
	if ((err = budget(l)) < 0) {
		log_info("gateway %s %s: no time left", method, path);
		return err;
	}
	snprintf(url, sizeof(url), "%s%s", l->c.gateway, path);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		return -ENOMEM;
	err = httpc_call(
	    l->api, method, url, NULL, text, text ? strlen(text) : 0, &r);
	if (err < 0) {
		log_warn("gateway %s %s: %s", method, url, r.err);
		status = err;
	} else {
		status = r.status;
		if (r.body != NULL)
			*out = json_loadb(r.body, r.len, 0, NULL);
		if (status >= 300) {
			json_t *e = json_object_get(*out, "error");

			log_warn("gateway %s %s: HTTP %ld %s: %s", method, url,
			    status,
			    json_string_value(json_object_get(e, "code")) ?: "",
			    json_string_value(json_object_get(e, "message"))
				?: "");
		}
	}
	httpc_reply_fini(&r);
	free(text);
	return status;
}

int
api_launch(struct ln *l, json_t **out)
{
	json_t *body, *ans = NULL;
	long st;

	body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "client_id",
	    l->c.client_id, "app", l->c.app, "version",
	    *l->installed ? l->installed : "0.0.0", "platform", l->c.platform,
	    "channel", l->c.channel);
	if (body == NULL)
		return -ENOMEM;
	st = call(l, "POST", "/v1/launch", body, &ans);
	json_decref(body);
	if (st != 200 || !json_is_object(ans)) {
		json_decref(ans);
		return st < 0 ? (int)st : -EPROTO;
	}
	*out = ans;
	return 0;
}

int
state_order(const char *state)
{
	static const char *const order[] = {
	    "offered", "downloading", "downloaded", "verifying", "installing"};

	for (int i = 0; i < 5; i++)
		if (strcmp(state, order[i]) == 0)
			return i;
	return strcmp(state, "succeeded") == 0 ||
		       strcmp(state, "failed") == 0 ||
		       strcmp(state, "timed_out") == 0
		   ? 5
		   : -1;
}

bool
ln_no_space(int e)
{
	e = e < 0 ? -e : e;
	return e == ENOSPC || e == EDQUOT || e == EFBIG;
}

void
report_fail(struct report *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	r->state = "failed";
	r->error_code = code;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

static json_t *
report_body(const struct ln *l, const struct report *r, int64_t seq)
{
	json_t *o = json_pack("{s:s, s:I, s:s}", "client_id", l->c.client_id,
	    "seq", (json_int_t)seq, "state", r->state);

	if (o == NULL)
		return NULL;
	if (r->error_code != NULL)
		json_object_set_new(
		    o, "error_code", json_string(r->error_code));
	if (r->message[0] != '\0')
		json_object_set_new(o, "message", json_string(r->message));
	if (r->progress >= 0)
		json_object_set_new(o, "progress", json_integer(r->progress));
	if (r->download_ms >= 0)
		json_object_set_new(
		    o, "download_ms", json_integer(r->download_ms));
	if (r->install_ms >= 0)
		json_object_set_new(
		    o, "install_ms", json_integer(r->install_ms));
	if (r->delta_used >= 0)
		json_object_set_new(
		    o, "delta_used", json_boolean(r->delta_used));
	if (r->bytes_downloaded >= 0)
		json_object_set_new(
		    o, "bytes_downloaded", json_integer(r->bytes_downloaded));
	return o;
}

/* Send one event. Returns true when the gateway has it or will never
 * take it (so keeping it is pointless), false when worth retrying. */
static bool
send_event(struct ln *l, const char *upgrade_id, const json_t *ev)
{
	char path[128];
	json_t *ans = NULL;
	long st;

	snprintf(path, sizeof(path), "/v1/upgrades/%s/events", upgrade_id);
	st = call(l, "POST", path, ev, &ans);
	json_decref(ans);
	if (st >= 200 && st < 300)
		return true;
	/* 404: the gateway forgot it (or the client id is wrong); 409: it
	 * already has a final state, e.g. timed_out; 400/422: never valid. */
	return st == 400 || st == 404 || st == 409 || st == 422;
}

static void
pending_name(const char *upgrade_id, char *out, size_t len)
{
	snprintf(out, len, "%s.json", upgrade_id);
}

int
api_report(struct ln *l, const struct offer *o, const struct report *r)
{
	int order = state_order(r->state);
	bool final = order == 5;
	char dir[4096], name[64], *text = NULL;
	json_t *ev, *keep = NULL;
	int err = 0;

	/* A resumed upgrade redoes steps the gateway has already heard of:
	 * states never go back, so those are not reported again. */
	if (order < l->reached)
		return 0;
	l->reached = order;
	if ((ev = report_body(l, r, ++l->seq)) == NULL)
		return -ENOMEM;
	snprintf(dir, sizeof(dir), "%s/pending", l->state);
	pending_name(o->upgrade_id, name, sizeof(name));
	if (final) {
		keep = json_pack(
		    "{s:s, s:O}", "upgrade_id", o->upgrade_id, "event", ev);
		text = keep ? json_dumps(keep, JSON_COMPACT) : NULL;
		if (text == NULL)
			err = -ENOMEM;
		else if ((err = file_write_atomic(
			      dir, name, text, strlen(text))) < 0)
			log_err("cannot keep the %s report in %s: %s", r->state,
			    dir, strerror(-err));
	}
	log_info("upgrade %s: %s (seq %lld)", o->upgrade_id, r->state,
	    (long long)l->seq);
	if (send_event(l, o->upgrade_id, ev)) {
		if (final && err == 0) {
			char path[4200];

			snprintf(path, sizeof(path), "%s/%s", dir, name);
			unlink(path);
		}
	} else if (final) {
		log_warn("the %s report stays in %s and goes with the next "
			 "run",
		    r->state, dir);
	}
	free(text);
	json_decref(keep);
	json_decref(ev);
	return err;
}

bool
api_pending(const struct ln *l, const char *upgrade_id)
{
	char path[4200];

	snprintf(
	    path, sizeof(path), "%s/pending/%s.json", l->state, upgrade_id);
	return access(path, F_OK) == 0;
}

void
api_flush_pending(struct ln *l)
{
	char dir[4096], path[4400];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/pending", l->state);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		const char *uid;
		json_t *kept = NULL;
		char *text = NULL;
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' || n < 6 ||
		    strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (file_read(path, PENDING_MAX, &text, NULL) == 0)
			kept = json_loads(text, 0, NULL);
		uid = json_string_value(json_object_get(kept, "upgrade_id"));
		if (uid == NULL || !id_valid(uid) ||
		    !json_is_object(json_object_get(kept, "event"))) {
			log_warn("dropping unreadable report %s", path);
			unlink(path);
		} else if (send_event(l, uid, json_object_get(kept, "event"))) {
			log_info("upgrade %s: sent the report kept from an "
				 "earlier run",
			    uid);
			unlink(path);
		}
		json_decref(kept);
		free(text);
	}
	closedir(d);
}

int
api_progress(struct ln *l, const char *upgrade_id, char *state, size_t len)
{
	char path[1024], *q;
	json_t *ans = NULL, *seq, *st;
	long status;
	int err = -EPROTO;

	if ((q = curl_easy_escape(l->api, l->c.client_id, 0)) == NULL)
		return -ENOMEM;
	snprintf(
	    path, sizeof(path), "/v1/upgrades/%s?client_id=%s", upgrade_id, q);
	curl_free(q);
	status = call(l, "GET", path, NULL, &ans);
	seq = json_object_get(ans, "last_seq");
	st = json_object_get(ans, "state");
	if (status == 200 && json_is_integer(seq) && json_is_string(st)) {
		l->seq = json_integer_value(seq);
		snprintf(state, len, "%s", json_string_value(st));
		err = 0;
	} else if (status < 0) {
		err = (int)status;
	}
	json_decref(ans);
	return err;
}

int
offer_parse(const json_t *o, struct offer *out, char *why, size_t wl)
{
	const char *id = json_string_value(json_object_get(o, "upgrade_id"));
	const char *to = json_string_value(json_object_get(o, "to_version"));
	const char *from =
	    json_string_value(json_object_get(o, "from_version"));
	const char *url = json_string_value(json_object_get(o, "url"));
	const char *sha = json_string_value(json_object_get(o, "sha256"));
	json_t *size = json_object_get(o, "size"), *d;

	out->upgrade_id[0] = '\0';
	if (id == NULL || !id_valid(id)) {
		snprintf(why, wl, "no valid upgrade_id");
		return -EBADMSG;
	}
	/* From here on the problem can be reported against the upgrade. */
	snprintf(out->upgrade_id, sizeof(out->upgrade_id), "%s", id);
	if (to == NULL || !semver_valid(to) || url == NULL || sha == NULL ||
	    !id_sha256_valid(sha) || !json_is_integer(size) ||
	    json_integer_value(size) < 0) {
		snprintf(why, wl,
		    "to_version, url, size and sha256 are required and "
		    "well-formed");
		return -EBADMSG;
	}
	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		snprintf(why, wl, "the artifact URL is not http(s): %s", url);
		return -EBADMSG;
	}
	if ((out->url = strdup(url)) == NULL)
		return -ENOMEM;
	out->rollback = json_is_true(json_object_get(o, "rollback"));
	{
		const char *doc =
		    json_string_value(json_object_get(o, "signed"));
		const char *sig =
		    json_string_value(json_object_get(o, "signature"));

		if (doc != NULL && sig != NULL &&
		    ((out->signed_doc = strdup(doc)) == NULL ||
			(out->signature = strdup(sig)) == NULL))
			return -ENOMEM;
	}
	snprintf(out->to, sizeof(out->to), "%s", to);
	snprintf(out->from, sizeof(out->from), "%s",
	    from && semver_valid(from) ? from : "");
	offer_set_sha256(out, sha);
	out->size = json_integer_value(size);
	d = json_object_get(o, "delta");
	return offer_set_delta(out,
	    json_string_value(json_object_get(d, "from_version")), d,
	    json_string_value(json_object_get(d, "tar_sha256")));
}

int
offer_set_delta(
    struct offer *o, const char *from, const json_t *d, const char *tar_sha256)
{
	const char *url = json_string_value(json_object_get(d, "url"));
	const char *sha = json_string_value(json_object_get(d, "sha256"));
	json_int_t size = json_integer_value(json_object_get(d, "size"));

	free(o->delta.url);
	o->delta.url = NULL;
	/* Only a well-formed delta from this client's version counts; any
	 * other is left out, and the whole artifact downloaded. */
	if (from == NULL || strcmp(from, o->from) != 0 || url == NULL ||
	    (strncmp(url, "http://", 7) != 0 &&
		strncmp(url, "https://", 8) != 0) ||
	    sha == NULL || !id_sha256_valid(sha) || tar_sha256 == NULL ||
	    !id_sha256_valid(tar_sha256) || size < 1)
		return 0;
	if ((o->delta.url = strdup(url)) == NULL)
		return -ENOMEM;
	o->delta.size = size;
	id_lower(o->delta.sha256, sizeof(o->delta.sha256), sha);
	id_lower(o->delta.tar_sha256, sizeof(o->delta.tar_sha256), tar_sha256);
	return 0;
}

void
offer_set_sha256(struct offer *o, const char *hex)
{
	/* Lowercase once, so file names and comparisons need not care. */
	id_lower(o->sha256, sizeof(o->sha256), hex);
}

void
offer_fini(struct offer *o)
{
	free(o->url);
	free(o->signed_doc);
	free(o->signature);
	free(o->delta.url);
	o->url = o->signed_doc = o->signature = o->delta.url = NULL;
}
