/* SPDX-License-Identifier: MIT */
/* Release commands, against the gateway: publish, releases, pause,
 * resume, yank, rollout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "upgate/file.h"
#include "upgate/id.h"

#define RELEASE_FILE_MAX (1u << 20)

/* The body of POST /v1/admin/releases from the options. */
static int
release_from_options(struct ctl *x, json_t **out)
{
	char platform[256], hex[65];
	json_t *arts, *rel;
	int64_t size;
	int err;

	if (x->o.app == NULL || x->o.version == NULL || x->o.n_art == 0) {
		ctl_err(x, "give a JSON file, or --app, --version and at least "
			   "one --file with its --url");
		return CTL_USAGE;
	}
	if (id_platform(platform, sizeof(platform)) < 0)
		snprintf(platform, sizeof(platform), "unknown");
	if ((arts = json_object()) == NULL)
		return CTL_FAIL;
	for (size_t i = 0; i < x->o.n_art; i++) {
		const struct ctl_artifact *a = &x->o.art[i];
		const char *p = a->platform ? a->platform : platform;

		if (a->url == NULL) {
			ctl_err(x, "--file %s has no --url after it", a->file);
			json_decref(arts);
			return CTL_USAGE;
		}
		if (json_object_get(arts, p) != NULL) {
			ctl_err(x, "two artifacts for platform %s", p);
			json_decref(arts);
			return CTL_USAGE;
		}
		if ((err = file_sha256(a->file, hex, &size)) < 0) {
			ctl_err(
			    x, "cannot read %s: %s", a->file, strerror(-err));
			json_decref(arts);
			return CTL_USAGE;
		}
		json_object_set_new(arts, p,
		    json_pack("{s:s, s:I, s:s}", "url", a->url, "size",
			(json_int_t)size, "sha256", hex));
		if (a->n_delta > 0 &&
		    (err = ctl_add_deltas(x, a, x->o.app, x->o.version,
			 x->o.channel ? x->o.channel : "stable",
			 json_object_get(arts, p))) != CTL_OK) {
			json_decref(arts);
			return err;
		}
	}
	rel = json_pack("{s:s, s:s, s:o}", "app", x->o.app, "version",
	    x->o.version, "artifacts", arts);
	if (rel == NULL)
		return CTL_FAIL;
	if (x->o.channel)
		json_object_set_new(rel, "channel", json_string(x->o.channel));
	if (x->o.notes)
		json_object_set_new(rel, "notes", json_string(x->o.notes));
	if (x->o.rollout >= 0)
		json_object_set_new(
		    rel, "rollout_percent", json_integer(x->o.rollout));
	if (x->o.mandatory)
		json_object_set_new(rel, "mandatory", json_true());
	*out = rel;
	return CTL_OK;
}

static int
release_from_file(struct ctl *x, const char *path, json_t **out)
{
	json_error_t je;
	char *text = NULL;
	json_t *rel;
	int err;

	if ((err = file_read(path, RELEASE_FILE_MAX, &text, NULL)) < 0) {
		ctl_err(x, "cannot read %s: %s", path,
		    err == -EFBIG ? "larger than 1 MiB" : strerror(-err));
		return CTL_USAGE;
	}
	rel = json_loads(text, 0, &je);
	free(text);
	if (!json_is_object(rel)) {
		if (rel == NULL)
			ctl_err(x, "%s:%d: %s", path, je.line, je.text);
		else
			ctl_err(x, "%s: a JSON object is wanted", path);
		json_decref(rel);
		return CTL_USAGE;
	}
	*out = rel;
	return CTL_OK;
}

int
cmd_publish(struct ctl *x, int argc, char **argv)
{
	json_t *rel = NULL, *ans = NULL;
	long status = 0;
	int rc;

	if (argc == 1 && (x->o.app || x->o.n_art)) {
		ctl_err(x, "give a JSON file or options, not both");
		return CTL_USAGE;
	}
	rc = argc == 1 ? release_from_file(x, argv[0], &rel)
		       : release_from_options(x, &rel);
	if (rc != CTL_OK)
		return rc;
	if (x->o.sign_key != NULL) {
		const char *app =
		    json_string_value(json_object_get(rel, "app"));
		const char *ver =
		    json_string_value(json_object_get(rel, "version"));
		const char *chan =
		    json_string_value(json_object_get(rel, "channel"));
		json_t *arts = json_object_get(rel, "artifacts");

		if (app == NULL || ver == NULL || !json_is_object(arts)) {
			ctl_err(x, "the release needs app, version and "
				   "artifacts to be signed");
			json_decref(rel);
			return CTL_USAGE;
		}
		rc = sign_body(
		    x, rel, app, chan ? chan : "stable", ver, arts, false);
		if (rc != CTL_OK) {
			json_decref(rel);
			return rc;
		}
	}
	rc = ctl_call(
	    x, CTL_GATEWAY, "POST", "/v1/admin/releases", rel, &ans, &status);
	if (rc == CTL_OK) {
		if (x->json)
			ctl_print_json(ans);
		else
			printf("%s %s %s on %s\n",
			    status == 201 ? "published" : "unchanged:",
			    json_string_value(json_object_get(ans, "app")),
			    json_string_value(json_object_get(ans, "version")),
			    json_string_value(json_object_get(ans, "channel")));
	}
	json_decref(ans);
	json_decref(rel);
	return rc;
}

static const struct col release_cols[] = {
    {"APP", "app", COL_STR},
    {"VERSION", "version", COL_STR},
    {"CHANNEL", "channel", COL_STR},
    {"STATE", "", COL_RELSTATE},
    {"ROLLOUT", "rollout_percent", COL_PCT},
    {"SUCCEEDED", "counts.succeeded", COL_INT},
    {"FAILED", "counts.failed", COL_INT},
    {"TIMED_OUT", "counts.timed_out", COL_INT},
    {"FAILURE", "failure_rate", COL_RATE},
    {"CREATED", "created_at", COL_STR},
};

int
cmd_releases(struct ctl *x, int argc, char **argv)
{
	char q[1024] = "/v1/admin/releases";
	json_t *ans = NULL;
	int rc;

	(void)argc;
	(void)argv;
	ctl_query(x, q, sizeof(q), "app", x->o.app);
	ctl_query(x, q, sizeof(q), "channel", x->o.channel);
	rc = ctl_call(x, CTL_GATEWAY, "GET", q, NULL, &ans, NULL);
	if (rc == CTL_OK && x->json)
		ctl_print_json(ans);
	else if (rc == CTL_OK)
		table_print(release_cols,
		    sizeof(release_cols) / sizeof(release_cols[0]),
		    json_object_get(ans, "releases"));
	json_decref(ans);
	return rc;
}

/* PATCH one release and say what it is now. */
static int
patch(struct ctl *x, char **argv, json_t *change)
{
	char path[1024], *app, *ver;
	json_t *ans = NULL;
	int rc;

	if (change == NULL)
		return CTL_FAIL;
	app = curl_easy_escape(x->h, argv[0], 0);
	ver = curl_easy_escape(x->h, argv[1], 0);
	snprintf(path, sizeof(path), "/v1/admin/releases/%s/%s", app ? app : "",
	    ver ? ver : "");
	curl_free(app);
	curl_free(ver);
	ctl_query(x, path, sizeof(path), "channel", x->o.channel);
	rc = ctl_call(x, CTL_GATEWAY, "PATCH", path, change, &ans, NULL);
	if (rc == CTL_OK && x->json) {
		ctl_print_json(ans);
	} else if (rc == CTL_OK) {
		/* The answer has no counts: app to rollout only. */
		json_t *one = json_pack("[O]", ans);

		table_print(release_cols, 5, one);
		json_decref(one);
	}
	json_decref(ans);
	json_decref(change);
	return rc;
}

int
cmd_pause(struct ctl *x, int argc, char **argv)
{
	(void)argc;
	return patch(x, argv, json_pack("{s:b}", "paused", 1));
}

int
cmd_resume(struct ctl *x, int argc, char **argv)
{
	(void)argc;
	/* Resume what stopped it, an admin's pause or an automatic halt. */
	return patch(
	    x, argv, json_pack("{s:b, s:b}", "paused", 0, "halted", 0));
}

int
cmd_yank(struct ctl *x, int argc, char **argv)
{
	int rc;

	(void)argc;
	rc = patch(x, argv, json_pack("{s:b}", "yanked", 1));
	return rc == CTL_OK ? sign_after_yank(x, argv[0], argv[1]) : rc;
}

int
cmd_rollout(struct ctl *x, int argc, char **argv)
{
	char *end;
	long v;

	(void)argc;
	v = strtol(argv[2], &end, 10);
	if (*argv[2] == '\0' || *end != '\0' || v < 0 || v > 100) {
		ctl_err(x, "PERCENT must be a whole number from 0 to 100");
		return CTL_USAGE;
	}
	return patch(x, argv, json_pack("{s:i}", "rollout_percent", (int)v));
}
