/* SPDX-License-Identifier: MIT */
/* Releases: publish, change and list (admin). The public manifest is
 * h_manifest.c's, rollbacks h_rollback.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "upgate/id.h"
#include "upgate/log.h"
#include "upgate/relsig.h"
#include "upgate/semver.h"
#include "upgate/ts.h"

#define MAX_ARTIFACTS 64
#define MAX_SIZE (INT64_C(1) << 53)

static bool
url_valid(const char *u)
{
	if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
		return false;
	for (; *u != '\0'; u++)
		if ((unsigned char)*u <= 0x20 || (unsigned char)*u >= 0x7f)
			return false;
	return true;
}

#define MAX_DELTAS 32

/* Read and check a's deltas (an object by older version) into art,
 * the artifact of release version, for field ("artifacts.P"). */
static int
parse_deltas(json_t *deltas, const char *version, struct artifact *art,
    const char *field, struct jv_err *e)
{
	const char *from;
	json_t *d;
	char f[STORE_NAME_MAX * 2 + 48];

	snprintf(f, sizeof(f), "%s.deltas", field);
	if (!json_is_object(deltas))
		return jv_fail(e, -EBADMSG, "invalid_type", f,
		    "%s must be an object keyed by the version each delta is "
		    "from",
		    f);
	if (json_object_size(deltas) > MAX_DELTAS)
		return jv_fail(e, -EINVAL, "invalid_value", f,
		    "%s has more than %d deltas", f, MAX_DELTAS);
	if (json_object_size(deltas) > 0 && art->tar_sha256[0] == '\0')
		return jv_fail(e, -EINVAL, "invalid_value", f,
		    "%s needs %s.tar_sha256: the launcher checks the tar a "
		    "delta makes against it",
		    f, field);
	if ((art->deltas = calloc(
		 json_object_size(deltas) + 1, sizeof(*art->deltas))) == NULL)
		return jv_fail(e, -ENOMEM, "out_of_memory", NULL, "no memory");
	json_object_foreach(deltas, from, d)
	{
		struct artifact_delta *x = &art->deltas[art->n_deltas];
		const char *url = NULL, *sha = NULL;
		int64_t size = 0;
		int err;

		snprintf(f, sizeof(f), "%s.deltas.%.64s", field, from);
		if (!semver_valid(from) || semver_cmp_str(from, version) >= 0)
			return jv_fail(e, -EINVAL, "invalid_value", f,
			    "%s: a delta is from an earlier version than %s, "
			    "named by its semantic version",
			    f, version);
		if (!json_is_object(d))
			return jv_fail(e, -EBADMSG, "invalid_type", f,
			    "%s must be an object with url, size and sha256",
			    f);
		if ((err = jv_str(d, "url", true, STORE_URL_MAX, &url, e)) <
			0 ||
		    (err = jv_int(d, "size", true, 1, MAX_SIZE, &size, e)) <
			0 ||
		    (err = jv_str(d, "sha256", true, 64, &sha, e)) < 0)
			return err;
		if (!url_valid(url) || !id_sha256_valid(sha))
			return jv_fail(e, -EINVAL, "invalid_value", f,
			    "%s needs an http or https url and a sha256 of 64 "
			    "hex digits",
			    f);
		if (size >= art->size)
			return jv_fail(e, -EINVAL, "invalid_value", f,
			    "%s is %lld bytes, no smaller than the artifact "
			    "(%lld): pointless",
			    f, (long long)size, (long long)art->size);
		snprintf(x->from, sizeof(x->from), "%s", from);
		id_lower(x->sha256, sizeof(x->sha256), sha);
		x->size = size;
		if ((x->url = strdup(url)) == NULL)
			return jv_fail(
			    e, -ENOMEM, "out_of_memory", NULL, "no memory");
		art->n_deltas++;
	}
	return 0;
}

/* Read and check the artifacts object into r (which then owns them). */
static int
parse_artifacts(json_t *arts, struct release *r, struct jv_err *e)
{
	const char *platform;
	json_t *a;
	size_t n = json_object_size(arts);

	if (n == 0)
		return jv_fail(e, -EINVAL, "invalid_value", "artifacts",
		    "artifacts needs at least one platform");
	if (n > MAX_ARTIFACTS)
		return jv_fail(e, -EINVAL, "invalid_value", "artifacts",
		    "artifacts has more than %d platforms", MAX_ARTIFACTS);
	r->artifacts = calloc(n, sizeof(*r->artifacts));
	if (r->artifacts == NULL)
		return jv_fail(e, -ENOMEM, "out_of_memory", NULL, "no memory");
	json_object_foreach(arts, platform, a)
	{
		struct artifact *art = &r->artifacts[r->n_artifacts];
		const char *url = NULL, *sha = NULL, *tar = NULL;
		json_t *deltas = NULL;
		int64_t size = 0;
		char field[STORE_NAME_MAX + 32];
		int err;

		snprintf(field, sizeof(field), "artifacts.%s", platform);
		if (!id_app_valid(platform))
			return jv_fail(e, -EINVAL, "invalid_value", "artifacts",
			    "platform '%.64s' " ID_APP_RULE, platform);
		if (!json_is_object(a))
			return jv_fail(e, -EBADMSG, "invalid_type", field,
			    "%s must be an object with url, size and sha256",
			    field);
		if ((err = jv_str(a, "url", true, STORE_URL_MAX, &url, e)) <
			0 ||
		    (err = jv_int(a, "size", true, 1, MAX_SIZE, &size, e)) <
			0 ||
		    (err = jv_str(a, "sha256", true, 64, &sha, e)) < 0 ||
		    (err = jv_check(url_valid(url), "url",
			 "must be an http or "
			 "https URL without spaces",
			 e)) < 0 ||
		    (err = jv_check(id_sha256_valid(sha), "sha256",
			 "must be 64 hex digits", e)) < 0 ||
		    (err = jv_str(a, "tar_sha256", false, 64, &tar, e)) < 0 ||
		    (err = jv_check(tar == NULL || id_sha256_valid(tar),
			 "tar_sha256", "must be 64 hex digits", e)) < 0)
			return err;
		snprintf(art->platform, sizeof(art->platform), "%s", platform);
		art->url = strdup(url);
		r->n_artifacts++; /* store_release_fini frees what it has */
		if (art->url == NULL)
			return jv_fail(
			    e, -ENOMEM, "out_of_memory", NULL, "no memory");
		art->size = size;
		id_lower(art->sha256, sizeof(art->sha256), sha);
		if (tar != NULL)
			id_lower(art->tar_sha256, sizeof(art->tar_sha256), tar);
		if ((deltas = json_object_get(a, "deltas")) != NULL &&
		    !json_is_null(deltas) &&
		    (err = parse_deltas(deltas, r->version, art, field, e)) < 0)
			return err;
	}
	return 0;
}

/* The publish body as stored: what decides "same content" on republish. */
static char *
canonical(const struct release *r)
{
	json_t *arts = render_artifacts(r, NULL), *o;
	char *s;

	o = json_pack("{s:s, s:i, s:b, s:b, s:o, s:s*, s:s*}", "notes",
	    r->notes, "rollout_percent", r->rollout_percent, "mandatory",
	    r->mandatory, "paused", r->paused, "artifacts",
	    arts ? arts : json_object(), "signed", r->signed_doc, "signature",
	    r->signature);
	s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

static int
parse_release(json_t *b, struct release *r, struct jv_err *e)
{
	const char *app = NULL, *version = NULL, *channel = "stable";
	const char *notes = "";
	int64_t rollout = 100;
	json_t *arts = NULL;
	int err;

	memset(r, 0, sizeof(*r));
	if ((err = jv_str(b, "app", true, STORE_NAME_MAX, &app, e)) < 0 ||
	    (err = jv_str(b, "version", true, STORE_NAME_MAX, &version, e)) <
		0 ||
	    (err = jv_str(b, "channel", false, STORE_NAME_MAX, &channel, e)) <
		0 ||
	    (err = jv_str(b, "notes", false, STORE_NOTES_MAX, &notes, e)) < 0 ||
	    (err = jv_int(b, "rollout_percent", false, 0, 100, &rollout, e)) <
		0 ||
	    (err = jv_bool(b, "mandatory", false, &r->mandatory, e)) < 0 ||
	    (err = jv_bool(b, "paused", false, &r->paused, e)) < 0 ||
	    (err = jv_obj(b, "artifacts", true, &arts, e)) < 0)
		return err;
	if ((err = jv_check(id_app_valid(app), "app", ID_APP_RULE, e)) < 0 ||
	    (err = jv_check(semver_valid(version), "version",
		 "must be a "
		 "semantic version like 1.5.0 or 2.0.0-rc.1",
		 e)) < 0 ||
	    (err = jv_check(id_app_valid(channel), "channel", ID_APP_RULE, e)) <
		0)
		return err;
	snprintf(r->app, sizeof(r->app), "%s", app);
	snprintf(r->version, sizeof(r->version), "%s", version);
	snprintf(r->channel, sizeof(r->channel), "%s", channel);
	r->rollout_percent = (int)rollout;
	r->notes = strdup(notes);
	if (r->notes == NULL)
		return jv_fail(e, -ENOMEM, "out_of_memory", NULL, "no memory");
	if ((err = parse_artifacts(arts, r, e)) < 0)
		return err;
	return gw_signed_parse(b, r->app, r->channel, r->version, arts, false,
	    &r->signed_doc, &r->signature, &r->serial, e);
}

int
gw_signed_parse(json_t *b, const char *app, const char *channel,
    const char *version, json_t *arts, bool rollback, char **doc, char **sig,
    int64_t *serial, struct jv_err *e)
{
	const char *text = NULL, *signature = NULL;
	unsigned char raw[RELSIG_SIG_BYTES];
	struct relsig_doc d;
	char why[160];
	int err;

	if ((err = jv_str(b, "signed", false, 256 * 1024, &text, e)) < 0 ||
	    (err = jv_str(
		 b, "signature", false, RELSIG_B64_MAX, &signature, e)) < 0)
		return err;
	if (text == NULL && signature == NULL)
		return 0;
	if (text == NULL || signature == NULL)
		return jv_fail(e, -EBADMSG, "missing_field",
		    text ? "signature" : "signed",
		    "signed and signature go together");
	if (relsig_b64_decode(signature, raw, sizeof(raw)) < 0)
		return jv_fail(e, -EINVAL, "invalid_value", "signature",
		    "signature must be a base64 Ed25519 signature");
	/* The gateway cannot check the signature (it has no key) but it
	 * refuses a document that says something else than the request. */
	if (relsig_parse(text, &d, why, sizeof(why)) < 0) {
		relsig_fini(&d);
		return jv_fail(
		    e, -EINVAL, "invalid_value", "signed", "%s", why);
	}
	if (strcmp(d.app, app) != 0 || strcmp(d.channel, channel) != 0 ||
	    strcmp(d.version, version) != 0 || d.rollback != rollback ||
	    !relsig_artifacts_equal(&d, arts)) {
		relsig_fini(&d);
		return jv_fail(e, -EINVAL, "signature_mismatch", "signed",
		    "the signed document does not match the %s (app, channel, "
		    "version, artifacts%s)",
		    rollback ? "rollback" : "release",
		    rollback ? ", rollback: true" : ", rollback: false");
	}
	if (d.expires_ms <= ts_now_ms()) {
		relsig_fini(&d);
		return jv_fail(e, -EINVAL, "manifest_expired", "signed",
		    "the signed document has already expired");
	}
	*serial = d.serial;
	relsig_fini(&d);
	*doc = strdup(text);
	*sig = strdup(signature);
	if (*doc == NULL || *sig == NULL)
		return jv_fail(e, -ENOMEM, "out_of_memory", NULL, "no memory");
	return 0;
}

/* The first delta of r from a version that is not a release of r's app
 * and channel: its field into field, true. Inside the write txn. */
static bool
delta_from_nowhere(
    struct gw *gw, const struct release *r, char *field, size_t len, int *err)
{
	for (size_t i = 0; i < r->n_artifacts; i++)
		for (size_t k = 0; k < r->artifacts[i].n_deltas; k++) {
			const char *from = r->artifacts[i].deltas[k].from;
			struct release x;

			*err = store_release_find(
			    gw->writer, r->app, r->channel, from, &x, NULL);
			if (*err == 0)
				store_release_fini(&x);
			if (*err != -ENOENT)
				continue;
			*err = 0;
			snprintf(field, len, "artifacts.%s.deltas.%s",
			    r->artifacts[i].platform, from);
			return true;
		}
	*err = 0;
	return false;
}

int
h_releases_post(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	struct release r, old;
	struct jv_err e;
	char *content = NULL, *old_content = NULL, field[320] = "";
	int err, status = 201;

	if (rq->body == NULL)
		return http_error(rs, -EBADMSG, "missing_body", NULL,
		    "a JSON release is required");
	if ((err = parse_release(rq->body, &r, &e)) < 0) {
		store_release_fini(&r);
		return http_error_jv(rs, &e);
	}
	content = canonical(&r);
	if (content == NULL) {
		store_release_fini(&r);
		return -ENOMEM;
	}
	r.created_at = r.updated_at = ts_now_ms();
	if ((err = gw_write_begin(gw)) < 0)
		goto out;
	err = store_release_find(
	    gw->writer, r.app, r.channel, r.version, &old, &old_content);
	if (err == 0) {
		status = strcmp(content, old_content) == 0 ? 200 : 409;
		store_release_fini(&r);
		r = old;
	} else if (err == -ENOENT) {
		int64_t max = 0;

		err = r.serial > 0
			  ? store_serial_max(gw->writer, r.app, r.channel, &max)
			  : 0;
		if (err == 0 && r.serial > 0 && r.serial <= max)
			status = -1; /* refused below */
		else if (err == 0 &&
			 delta_from_nowhere(gw, &r, field, sizeof(field), &err))
			status = -2;
		else if (err == 0)
			err = store_release_insert(gw->writer, &r, content);
	}
	err = gw_write_end_audited(gw, rq, status > 0 ? status : 0, err);
	if (err == 0 && status == -1)
		err = http_error(rs, -EEXIST, "serial_not_increasing", "signed",
		    "serial %lld is not above %s's highest on %s; sign with a "
		    "higher one",
		    (long long)r.serial, r.app, r.channel);
	else if (err == 0 && status == -2)
		err = http_error(rs, -EINVAL, "invalid_value", field,
		    "%s: a delta is from a published release of %s on %s, "
		    "and this version is none",
		    field, r.app, r.channel);
	else if (err == 0 && status == 409)
		err = http_error(rs, -EEXIST, "release_conflict", NULL,
		    "%s %s is already published on channel %s with different "
		    "content; publish a new version instead",
		    r.app, r.version, r.channel);
	else if (err == 0)
		http_reply(rs, status, render_release(&r, NULL, false));
out:
	store_release_fini(&r);
	free(content);
	free(old_content);
	return err;
}

/* A PATCH body: each field -1 when absent. */
static int
parse_patch(
    const json_t *b, int64_t *rollout, int *p, int *y, int *h, struct jv_err *e)
{
	bool paused = false, yanked = false, halted = false;
	int err;

	if ((err = jv_int(b, "rollout_percent", false, 0, 100, rollout, e)) <
		0 ||
	    (err = jv_bool(b, "paused", false, &paused, e)) < 0 ||
	    (err = jv_bool(b, "yanked", false, &yanked, e)) < 0 ||
	    (err = jv_bool(b, "halted", false, &halted, e)) < 0)
		return err;
	/* null means "not given", as the getters read it. */
	*p = json_is_boolean(json_object_get(b, "paused")) ? paused : -1;
	*y = json_is_boolean(json_object_get(b, "yanked")) ? yanked : -1;
	*h = json_is_boolean(json_object_get(b, "halted")) ? halted : -1;
	if (*rollout < 0 && *p < 0 && *y < 0 && *h < 0)
		return jv_fail(e, -EBADMSG, "missing_field", "",
		    "give at least one of rollout_percent, paused, yanked, "
		    "halted");
	return 0;
}

int
h_release_patch(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	const char *app = rq->params[0], *version = rq->params[1];
	const char *channel = req_query(rq, "channel");
	char chans[4][STORE_NAME_MAX + 1];
	int64_t rollout = -1;
	int p = -1, y = -1, h = -1, n, err;
	struct release r;
	struct jv_err e;

	if (rq->body == NULL)
		return http_error(rs, -EBADMSG, "missing_body", NULL,
		    "a JSON object with rollout_percent, paused, yanked or "
		    "halted is required");
	if (parse_patch(rq->body, &rollout, &p, &y, &h, &e) < 0)
		return http_error_jv(rs, &e);
	if ((err = gw_write_begin(gw)) < 0)
		return err;
	if (channel == NULL) {
		n = store_release_channels(gw->writer, app, version, chans, 4);
		if (n == 1) {
			channel = chans[0];
		} else if (n > 1) {
			gw_write_end(gw, -EEXIST);
			return http_error(rs, -EEXIST, "ambiguous_release",
			    "channel",
			    "%s %s is on several channels (%s, %s%s);"
			    " add ?channel=",
			    app, version, chans[0], chans[1],
			    n > 2 ? ", ..." : "");
		} else {
			err = n < 0 ? n : -ENOENT;
		}
	}
	if (err == 0)
		err = store_release_find(
		    gw->writer, app, channel, version, &r, NULL);
	/* A halt is the failure rate's verdict: an admin lifts it. */
	if (err == 0 && h == 0 && r.halted && rq->caller != NULL &&
	    rq->caller->role < ACCESS_ADMIN) {
		store_release_fini(&r);
		err = -EPERM;
	}
	if (err == 0) {
		err = store_release_update(
		    gw->writer, r.id, (int)rollout, p, y, h, ts_now_ms());
		store_release_fini(&r);
	}
	if (err == 0)
		err = store_release_find(
		    gw->writer, app, channel, version, &r, NULL);
	err = gw_write_end_audited(gw, rq, 200, err);
	if (err == -EPERM)
		return http_error(rs, err, "forbidden", "halted",
		    "%s %s was halted for failing too often: resuming it "
		    "needs the admin role",
		    app, version);
	if (err == -ENOENT)
		return http_error(rs, err, "release_not_found", NULL,
		    "no release %s %s%s%s", app, version, channel ? " on " : "",
		    channel ? channel : "");
	if (err < 0)
		return err;
	http_reply(rs, 200, render_release(&r, NULL, false));
	store_release_fini(&r);
	return 0;
}

int
h_releases_get(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	const char *app = req_query(rq, "app");
	const char *channel = req_query(rq, "channel");
	struct release *list = NULL;
	size_t n = 0;
	json_t *arr, *o;
	struct store_conn *conn;
	int err;

	if (app != NULL && !id_app_valid(app))
		return http_error(
		    rs, -EINVAL, "invalid_value", "app", "app " ID_APP_RULE);
	conn = store_reader_get(gw->store);
	err = store_release_list(conn, app, channel, true, &list, &n);
	store_reader_put(gw->store, conn);
	if (err < 0)
		return err;
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(
		    arr, render_release(&list[i], NULL, true));
	store_release_free_list(list, n);
	o = json_pack("{s:o}", "releases", arr ? arr : json_array());
	/* What a signer needs for the next serial on this app and channel. */
	if (o != NULL && app != NULL) {
		int64_t max = 0;

		conn = store_reader_get(gw->store);
		err = store_serial_max(
		    conn, app, channel ? channel : "stable", &max);
		store_reader_put(gw->store, conn);
		if (err < 0) {
			json_decref(o);
			return err;
		}
		json_object_set_new(o, "serial_max", json_integer(max));
	}
	return http_reply(rs, 200, o);
}
