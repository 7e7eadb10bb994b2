/* SPDX-License-Identifier: MIT */
/* Signed release documents: canonical JSON made with jansson (sorted
 * keys), Ed25519 from libsodium, base64 from libsodium. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "upgate/id.h"
#include "upgate/relsig.h"
#include "upgate/semver.h"
#include "upgate/ts.h"

#define DOC_MAX (256 * 1024)

static int
bad(char *why, size_t wl, const char *what)
{
	snprintf(why, wl, "signed document: %s", what);
	return -EINVAL;
}

int
relsig_parse(const char *text, struct relsig_doc *out, char *why, size_t wl)
{
	json_t *r, *a, *serial, *rollback;
	const char *expires, *platform;
	json_error_t je;

	memset(out, 0, sizeof(*out));
	if (text == NULL || strlen(text) > DOC_MAX)
		return bad(why, wl, "missing or too large");
	r = out->root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(r))
		return bad(why, wl, "not a JSON object");
	out->app = json_string_value(json_object_get(r, "app"));
	out->channel = json_string_value(json_object_get(r, "channel"));
	out->version = json_string_value(json_object_get(r, "version"));
	expires = json_string_value(json_object_get(r, "expires"));
	serial = json_object_get(r, "serial");
	rollback = json_object_get(r, "rollback");
	out->artifacts = json_object_get(r, "artifacts");
	if (out->app == NULL || !id_app_valid(out->app) ||
	    out->channel == NULL || !id_app_valid(out->channel) ||
	    out->version == NULL || !semver_valid(out->version))
		return bad(why, wl, "app, channel or version missing or bad");
	if (!json_is_integer(serial) || json_integer_value(serial) < 1)
		return bad(why, wl, "serial must be a whole number from 1");
	if (!json_is_boolean(rollback))
		return bad(why, wl, "rollback must be true or false");
	if (expires == NULL || ts_parse(expires, &out->expires_ms) < 0)
		return bad(why, wl, "expires must be an RFC 3339 time");
	if (!json_is_object(out->artifacts) ||
	    json_object_size(out->artifacts) == 0)
		return bad(
		    why, wl, "artifacts must name at least one platform");
	json_object_foreach(out->artifacts, platform, a)
	{
		json_t *size = json_object_get(a, "size");
		const char *url = json_string_value(json_object_get(a, "url"));
		const char *sha =
		    json_string_value(json_object_get(a, "sha256"));

		if (!id_app_valid(platform) || url == NULL || sha == NULL ||
		    !id_sha256_valid(sha) || !json_is_integer(size) ||
		    json_integer_value(size) < 0)
			return bad(why, wl,
			    "each artifact needs url, size and sha256");
	}
	out->serial = json_integer_value(serial);
	out->rollback = json_is_true(rollback);
	return 0;
}

void
relsig_fini(struct relsig_doc *d)
{
	json_decref(d->root);
	memset(d, 0, sizeof(*d));
}

char *
relsig_make(const char *app, const char *channel, const char *version,
    json_t *artifacts, bool rollback, int64_t serial, int64_t expires_ms)
{
	char when[TS_LEN];
	json_t *o, *arts = json_object();
	const char *platform;
	json_t *a;
	char *text;

	if (arts == NULL)
		return NULL;
	/* Only the signed fields of each artifact, hex in lowercase. */
	json_object_foreach(artifacts, platform, a)
	{
		char sha[65];
		const char *s = json_string_value(json_object_get(a, "sha256"));

		id_lower(sha, sizeof(sha), s ? s : "");
		json_object_set_new(arts, platform,
		    json_pack("{s:O, s:O, s:s}", "url",
			json_object_get(a, "url"), "size",
			json_object_get(a, "size"), "sha256", sha));
	}
	ts_format(expires_ms, when);
	o = json_pack("{s:s, s:s, s:s, s:o, s:b, s:I, s:s}", "app", app,
	    "channel", channel, "version", version, "artifacts", arts,
	    "rollback", rollback, "serial", (json_int_t)serial, "expires",
	    when);
	if (o == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

bool
relsig_artifacts_equal(const struct relsig_doc *d, json_t *artifacts)
{
	const char *platform;
	json_t *a;

	if (json_object_size(artifacts) != json_object_size(d->artifacts))
		return false;
	json_object_foreach(artifacts, platform, a)
	{
		json_t *s = json_object_get(d->artifacts, platform);
		const char *u1 = json_string_value(json_object_get(a, "url"));
		const char *u2 = json_string_value(json_object_get(s, "url"));
		const char *h1 =
		    json_string_value(json_object_get(a, "sha256"));
		const char *h2 =
		    json_string_value(json_object_get(s, "sha256"));

		if (s == NULL || u1 == NULL || u2 == NULL || h1 == NULL ||
		    h2 == NULL || strcmp(u1, u2) != 0 ||
		    strcasecmp(h1, h2) != 0 ||
		    json_integer_value(json_object_get(a, "size")) !=
			json_integer_value(json_object_get(s, "size")))
			return false;
	}
	return true;
}

void
relsig_b64_encode(const unsigned char *in, size_t n, char *out, size_t len)
{
	sodium_bin2base64(out, len, in, n, sodium_base64_VARIANT_ORIGINAL);
}

int
relsig_b64_decode(const char *b64, unsigned char *out, size_t n)
{
	size_t got = 0;

	if (b64 == NULL ||
	    sodium_base642bin(out, n, b64, strlen(b64), " \t\r\n", &got, NULL,
		sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != n)
		return -EINVAL;
	return 0;
}

void
relsig_sign(const char *text, const unsigned char sk[RELSIG_SK_BYTES],
    char sig[RELSIG_B64_MAX])
{
	unsigned char raw[RELSIG_SIG_BYTES];

	crypto_sign_detached(
	    raw, NULL, (const unsigned char *)text, strlen(text), sk);
	relsig_b64_encode(raw, sizeof(raw), sig, RELSIG_B64_MAX);
}

bool
relsig_verify(
    const char *text, const char *sig, const unsigned char pk[RELSIG_PK_BYTES])
{
	unsigned char raw[RELSIG_SIG_BYTES];

	if (text == NULL || relsig_b64_decode(sig, raw, sizeof(raw)) < 0)
		return false;
	return crypto_sign_verify_detached(
		   raw, (const unsigned char *)text, strlen(text), pk) == 0;
}
