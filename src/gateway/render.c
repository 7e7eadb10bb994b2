/* SPDX-License-Identifier: MIT */
/* JSON shapes of releases, upgrades and failures in API answers. */
#include <string.h>

#include "gw.h"
#include "upgate/ts.h"

json_t *
render_time(int64_t ms)
{
	char buf[TS_LEN];

	if (ms <= 0)
		return json_null();
	ts_format(ms, buf);
	return json_string(buf);
}

json_t *
render_delta(const struct artifact_delta *d)
{
	return json_pack("{s:s, s:I, s:s}", "url", d->url, "size",
	    (json_int_t)d->size, "sha256", d->sha256);
}

/* One artifact as a publish body has it: tar_sha256 and deltas only
 * when it has them, so a release without stays as it always was. */
static json_t *
render_artifact(const struct artifact *a)
{
	json_t *o = json_pack("{s:s, s:I, s:s}", "url", a->url, "size",
	    (json_int_t)a->size, "sha256", a->sha256);
	json_t *deltas = a->n_deltas ? json_object() : NULL;

	if (o != NULL && a->tar_sha256[0] != '\0')
		json_object_set_new(
		    o, "tar_sha256", json_string(a->tar_sha256));
	for (size_t i = 0; deltas != NULL && i < a->n_deltas; i++)
		json_object_set_new(
		    deltas, a->deltas[i].from, render_delta(&a->deltas[i]));
	if (o != NULL && deltas != NULL)
		json_object_set_new(o, "deltas", deltas);
	return o;
}

json_t *
render_artifacts(const struct release *r, const char *platform)
{
	json_t *arts = json_object();

	for (size_t i = 0; arts != NULL && i < r->n_artifacts; i++)
		if (platform == NULL ||
		    strcmp(platform, r->artifacts[i].platform) == 0)
			json_object_set_new(arts, r->artifacts[i].platform,
			    render_artifact(&r->artifacts[i]));
	return arts;
}

json_t *
render_release(const struct release *r, const char *platform, bool with_counts)
{
	json_t *o, *arts, *counts;
	int64_t fin, bad;

	arts = render_artifacts(r, platform);
	o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:b, s:b, s:b, s:o, s:o,"
		      " s:o, s:o, s:s?, s:s?, s:o}",
	    "app", r->app, "version", r->version, "channel", r->channel,
	    "notes", r->notes ? r->notes : "", "rollout_percent",
	    r->rollout_percent, "mandatory", r->mandatory, "paused", r->paused,
	    "yanked", r->yanked, "halted", r->halted, "halted_at",
	    render_time(r->halted_at), "created_at", render_time(r->created_at),
	    "updated_at", render_time(r->updated_at), "artifacts",
	    arts ? arts : json_object(), "signed", r->signed_doc, "signature",
	    r->signature, "serial",
	    r->serial > 0 ? json_integer(r->serial) : json_null());
	if (o == NULL || !with_counts)
		return o;
	counts = json_object();
	for (int s = 0; counts != NULL && s < UPG_STATE_COUNT; s++)
		json_object_set_new(counts, store_state_name((enum upg_state)s),
		    json_integer(r->counts[s]));
	fin = r->counts[UPG_SUCCEEDED] + r->counts[UPG_FAILED] +
	      r->counts[UPG_TIMED_OUT];
	bad = r->counts[UPG_FAILED] + r->counts[UPG_TIMED_OUT];
	json_object_set_new(o, "counts", counts ? counts : json_object());
	json_object_set_new(o, "finished", json_integer(fin));
	json_object_set_new(o, "failure_rate",
	    json_real(fin ? (double)bad / (double)fin : 0.0));
	return o;
}

json_t *
render_offer(const struct upgrade *u, const struct artifact *a)
{
	const struct artifact_delta *dl =
	    a != NULL && a->tar_sha256[0] != '\0'
		? store_artifact_delta(a, u->from_version)
		: NULL;
	json_t *delta,
	    *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:b, s:b}",
		"upgrade_id", u->upgrade_id, "from_version", u->from_version,
		"to_version", u->to_version, "url", u->url, "size",
		(json_int_t)u->size, "sha256", u->sha256, "notes",
		u->notes ? u->notes : "", "mandatory", u->mandatory, "rollback",
		u->rollback);

	/* What a launcher with trusted keys checks the offer against. */
	if (o != NULL && u->signed_doc != NULL && u->signature != NULL) {
		json_object_set_new(o, "signed", json_string(u->signed_doc));
		json_object_set_new(o, "signature", json_string(u->signature));
	}
	/* The patch from the client's version, when the release has one:
	 * as the manifest shows it, with what it is from and makes. */
	if (o != NULL && dl != NULL && (delta = render_delta(dl)) != NULL) {
		json_object_set_new(
		    delta, "from_version", json_string(dl->from));
		json_object_set_new(
		    delta, "tar_sha256", json_string(a->tar_sha256));
		json_object_set_new(o, "delta", delta);
	}
	return o;
}

json_t *
render_failure(const struct upgrade *u)
{
	/* Every final failure has an error code: reports must give one and
	 * reaper_expire() sets "timed_out". */
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "upgrade_id",
	    u->upgrade_id, "to_version", u->to_version, "error_code",
	    u->error_code, "message", u->message ? u->message : "", "failed_at",
	    render_time(u->finished_at));
}

static json_t *
opt_int(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *
opt_str(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

json_t *
render_upgrade(const struct upgrade *u)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I,"
			 " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "upgrade_id", u->upgrade_id, "client_id", u->client_id, "app",
	    u->app, "platform", u->platform, "channel", u->channel,
	    "from_version", u->from_version, "to_version", u->to_version,
	    "state", store_state_name(u->state), "final",
	    store_state_final(u->state), "last_seq", (json_int_t)u->last_seq,
	    "progress", opt_int(u->progress), "download_ms",
	    opt_int(u->download_ms), "install_ms", opt_int(u->install_ms),
	    "error_code", opt_str(u->error_code), "message",
	    opt_str(u->message), "created_at", render_time(u->created_at),
	    "updated_at", render_time(u->updated_at), "finished_at",
	    render_time(u->finished_at));
}

json_t *
render_events(const struct upgrade_event *ev, size_t n)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < n; i++)
		json_array_append_new(
		    list, json_pack("{s:I, s:s, s:o, s:o, s:o,"
				    " s:o, s:o, s:o}",
			      "seq", (json_int_t)ev[i].seq, "state",
			      store_state_name(ev[i].state), "at",
			      render_time(ev[i].at), "error_code",
			      opt_str(ev[i].error_code), "message",
			      opt_str(ev[i].message), "progress",
			      opt_int(ev[i].progress), "download_ms",
			      opt_int(ev[i].download_ms), "install_ms",
			      opt_int(ev[i].install_ms)));
	return list ? list : json_array();
}
