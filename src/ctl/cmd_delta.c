/* SPDX-License-Identifier: MIT */
/* publish --delta-from: the tar_sha256 of an artifact and the patches to
 * its tar from the artifacts of published releases (src/delta). Each
 * patch is written beside --file as <file>.from-<version>.zst and
 * published at the same directory as --url. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"
#include "upgate/delta.h"
#include "upgate/file.h"
#include "upgate/semver.h"

/* No tar bigger than this is taken out of an artifact (16 GiB). */
#define TAR_MAX (INT64_C(16) << 30)

/* The version of app/channel's published release whose artifact has
 * sha256 (lowercase hex), from the gateway's list, into out. */
static int
version_of(struct ctl *x, const char *app, const char *channel,
    const char *sha256, json_t **list, char *out, size_t len)
{
	json_t *r;
	size_t i;

	if (*list == NULL) {
		char path[512] = "/v1/admin/releases";
		long status = 0;
		int rc;

		ctl_query(x, path, sizeof(path), "app", app);
		ctl_query(x, path, sizeof(path), "channel", channel);
		if ((rc = ctl_call(x, CTL_GATEWAY, "GET", path, NULL, list,
			 &status)) != CTL_OK)
			return rc;
	}
	json_array_foreach(json_object_get(*list, "releases"), i, r)
	{
		const char *platform;
		json_t *a;

		json_object_foreach(
		    json_object_get(r, "artifacts"), platform, a)
		{
			const char *s =
			    json_string_value(json_object_get(a, "sha256"));

			if (s != NULL && strcasecmp(s, sha256) == 0) {
				snprintf(out, len, "%s",
				    json_string_value(
					json_object_get(r, "version")));
				return CTL_OK;
			}
		}
	}
	return CTL_FAIL;
}

/* url's directory with name after it. */
static void
url_beside(const char *url, const char *name, char *out, size_t len)
{
	const char *slash = strrchr(url, '/');
	int n = slash ? (int)(slash - url + 1) : 0;

	snprintf(out, len, "%.*s%s", n, url, name);
}

int
ctl_add_deltas(struct ctl *x, const struct ctl_artifact *a, const char *app,
    const char *version, const char *channel, json_t *art)
{
	char tmp[] = "/tmp/upgatectl-delta-XXXXXX", new_tar[64], old_tar[64];
	char why[512], tar_sha[65], old_sha[65], from[SEMVER_MAX + 1];
	json_t *list = NULL, *deltas = json_object();
	int rc = CTL_OK, err;

	if (deltas == NULL || mkdtemp(tmp) == NULL) {
		json_decref(deltas);
		ctl_err(x, "cannot make a temporary directory: %s",
		    strerror(errno));
		return CTL_FAIL;
	}
	snprintf(new_tar, sizeof(new_tar), "%s/new.tar", tmp);
	snprintf(old_tar, sizeof(old_tar), "%s/old.tar", tmp);
	if ((err = delta_tar(
		 a->file, new_tar, TAR_MAX, tar_sha, why, sizeof(why))) < 0) {
		ctl_err(x, "%s", why);
		rc = CTL_USAGE;
	}
	for (size_t i = 0; rc == CTL_OK && i < a->n_delta; i++) {
		const char *old = a->delta_from[i];
		char patch[4200], name[4200], url[8400], sha[65];
		const char *base = strrchr(a->file, '/'), *old_in = NULL;
		int64_t size;

		if ((err = file_sha256(old, old_sha, &size)) < 0) {
			ctl_err(x, "cannot read %s: %s", old, strerror(-err));
			rc = CTL_USAGE;
			break;
		}
		if ((rc = version_of(x, app, channel, old_sha, &list, from,
			 sizeof(from))) != CTL_OK) {
			if (rc == CTL_FAIL)
				ctl_err(x,
				    "--delta-from %s: no published release of "
				    "%s on %s has its SHA-256 (%s)",
				    old, app, channel, old_sha);
			break;
		}
		if (semver_cmp_str(from, version) >= 0) {
			ctl_err(x, "--delta-from %s is %s, not older than %s",
			    old, from, version);
			rc = CTL_USAGE;
			break;
		}
		snprintf(name, sizeof(name), "%s.from-%s.zst",
		    base ? base + 1 : a->file, from);
		snprintf(patch, sizeof(patch), "%s.from-%s.zst", a->file, from);
		/* The old tar as the launcher takes it: a plain tar as it is,
		 * else decompressed into old_tar, not hashed. */
		if ((err = delta_old_tar(old, old_tar, TAR_MAX, &old_in, why,
			 sizeof(why))) < 0 ||
		    (err = delta_make(old_in, new_tar, (int)x->o.delta_level,
			 patch, why, sizeof(why))) < 0) {
			ctl_err(x, "%s", why);
			rc = CTL_FAIL;
			break;
		}
		if ((err = file_sha256(patch, sha, &size)) < 0) {
			ctl_err(x, "cannot read %s: %s", patch, strerror(-err));
			rc = CTL_FAIL;
			break;
		}
		url_beside(a->url, name, url, sizeof(url));
		json_object_set_new(deltas, from,
		    json_pack("{s:s, s:I, s:s}", "url", url, "size",
			(json_int_t)size, "sha256", sha));
		if (!x->json)
			fprintf(stderr,
			    "delta from %s: %s, %lld bytes (%.1f%% of the "
			    "artifact)\n",
			    from, patch, (long long)size,
			    100.0 * (double)size /
				(double)json_integer_value(
				    json_object_get(art, "size")));
		unlink(old_tar);
	}
	if (rc == CTL_OK) {
		json_object_set_new(art, "tar_sha256", json_string(tar_sha));
		if (json_object_size(deltas) > 0)
			json_object_set(art, "deltas", deltas);
	}
	json_decref(deltas);
	json_decref(list);
	unlink(new_tar);
	unlink(old_tar);
	rmdir(tmp);
	return rc;
}
