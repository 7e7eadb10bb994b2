/* SPDX-License-Identifier: MIT */
/* The public manifest: the newest live release of an app for a platform,
 * rendered once per catalog version, answered 304 to a client that has
 * it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gw.h"
#include "upgate/semver.h"

/* Whether an If-None-Match header lists etag (or is "*"). */
static bool
etag_matches(const char *inm, const char *etag)
{
	size_t el = strlen(etag);

	while (inm != NULL && *inm != '\0') {
		while (*inm == ' ' || *inm == ',')
			inm++;
		if (strncmp(inm, "W/", 2) == 0)
			inm += 2;
		if (*inm == '*' ||
		    (strncmp(inm, etag, el) == 0 &&
			(inm[el] == '\0' || inm[el] == ',' || inm[el] == ' ')))
			return true;
		inm = strchr(inm, ',');
	}
	return false;
}

/* The manifest document of view's newest live release for platform
 * (NULL: any) and its ETag, rendered once per view: -ENOENT when there
 * is no such release. */
static int
manifest_of(const struct catalog_view *cat, const char *platform,
    const struct catalog_memo **out)
{
	const char *key = platform ? platform : "";
	const struct release *best = NULL;
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[sizeof(h) * 2 + 1], etag[sizeof(hex) + 2];
	char *body;
	json_t *doc;

	if ((*out = catalog_memo_find(cat, key)) != NULL)
		return 0;
	for (size_t i = 0; i < cat->n_releases; i++) {
		const struct release *r = &cat->releases[i];

		if (r->paused || r->yanked || r->halted ||
		    (platform != NULL &&
			store_release_artifact(r, platform) == NULL))
			continue;
		if (best == NULL ||
		    semver_cmp_str(r->version, best->version) > 0)
			best = r;
	}
	/* Not kept: the platform is whatever the caller asked for. */
	if (best == NULL)
		return -ENOENT;
	doc = render_release(best, platform, false);
	body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (body == NULL)
		return -ENOMEM;
	crypto_hash_sha256(h, (const unsigned char *)body, strlen(body));
	sodium_bin2hex(hex, sizeof(hex), h, 16);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	*out = catalog_memo_add(cat, key, body, strlen(body), etag);
	return *out ? 0 : -ENOMEM;
}

int
h_manifest_get(struct req *rq, struct resp *rs)
{
	struct gw *gw = rq->ctx;
	const char *app = rq->params[0];
	const char *channel = req_query(rq, "channel");
	const char *platform = req_query(rq, "platform");
	const struct catalog_view *cat = NULL;
	const struct catalog_memo *m;
	struct gw_settings set;
	struct store_conn *conn;
	char cc[64], *body = NULL;
	bool fresh;
	int err;

	if (channel == NULL)
		channel = "stable";
	if (!id_app_valid(app) || !id_app_valid(channel) ||
	    (platform != NULL && !id_app_valid(platform)))
		return http_error(rs, -EINVAL, "invalid_value", NULL,
		    "app, channel and platform " ID_APP_RULE);
	/* The releases as launches see them: the cached catalog. */
	conn = store_reader_get(gw->store);
	if ((err = store_begin_read(conn)) == 0)
		err = catalog_get(gw->catalog, conn, app, channel, &cat);
	store_reader_put(gw->store, conn);
	if (err < 0)
		return err;
	if ((err = manifest_of(cat, platform, &m)) == 0) {
		http_header(rs, "ETag", m->tag);
		fresh = etag_matches(req_header(rq, "If-None-Match"), m->tag);
		if (!fresh && (body = strdup(m->value)) == NULL)
			err = -ENOMEM;
	}
	catalog_put(cat);
	if (err == -ENOENT)
		return http_error(rs, -ENOENT, "no_release", NULL,
		    "no published release of %s on channel %s%s%s", app,
		    channel, platform ? " for " : "", platform ? platform : "");
	if (err < 0)
		return err;
	gw_settings_get(gw, &set);
	snprintf(cc, sizeof(cc), "public, max-age=%lld",
	    (long long)(set.manifest_max_age / 1000));
	http_header(rs, "Cache-Control", cc);
	if (body == NULL)
		return http_reply(rs, 304, NULL);
	return http_reply_raw(rs, 200, "application/json", body, strlen(body));
}
