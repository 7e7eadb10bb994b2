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

/* Whether d is a well-formed deltas object: by semantic version, each
 * with url, size and sha256. */
static bool
deltas_valid(json_t *d)
{
	const char *from;
	json_t *x;

	if (!json_is_object(d))
		return false;
	json_object_foreach(d, from, x)
	{
		const char *sha =
		    json_string_value(json_object_get(x, "sha256"));

		if (!semver_valid(from) ||
		    !json_is_string(json_object_get(x, "url")) || sha == NULL ||
		    !id_sha256_valid(sha) ||
		    json_integer_value(json_object_get(x, "size")) < 1)
			return false;
	}
	return true;
}

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

		json_t *tar = json_object_get(a, "tar_sha256");
		json_t *deltas = json_object_get(a, "deltas");

		if (!id_app_valid(platform) || url == NULL || sha == NULL ||
		    !id_sha256_valid(sha) || !json_is_integer(size) ||
		    json_integer_value(size) < 0)
			return bad(why, wl,
			    "each artifact needs url, size and sha256");
		if ((tar != NULL &&
			(!json_is_string(tar) ||
			    !id_sha256_valid(json_string_value(tar)))) ||
		    (deltas != NULL && !deltas_valid(deltas)))
			return bad(why, wl,
			    "an artifact's tar_sha256 or deltas are malformed");
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

/* A downloadable file's signed fields: url, size, sha256 in lowercase. */
static json_t *
signed_file(const json_t *f)
{
	char sha[65];
	const char *s = json_string_value(json_object_get(f, "sha256"));

	id_lower(sha, sizeof(sha), s ? s : "");
	return json_pack("{s:O, s:O, s:s}", "url", json_object_get(f, "url"),
	    "size", json_object_get(f, "size"), "sha256", sha);
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
	/* Only the signed fields of each artifact, hex in lowercase;
	 * tar_sha256 and deltas when it has them. */
	json_object_foreach(artifacts, platform, a)
	{
		json_t *deltas = json_object_get(a, "deltas");
		const char *tar =
		    json_string_value(json_object_get(a, "tar_sha256"));
		json_t *f = signed_file(a), *d, *ds;
		const char *from;

		if (f != NULL && tar != NULL) {
			char hex[65];

			id_lower(hex, sizeof(hex), tar);
			json_object_set_new(f, "tar_sha256", json_string(hex));
		}
		if (f != NULL && json_object_size(deltas) > 0 &&
		    (ds = json_object()) != NULL) {
			json_object_foreach(deltas, from, d)
			    json_object_set_new(ds, from, signed_file(d));
			json_object_set_new(f, "deltas", ds);
		}
		json_object_set_new(arts, platform, f);
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

/* Whether files a and b (url, size, sha256) say the same. */
static bool
same_file(const json_t *a, const json_t *b)
{
	const char *u1 = json_string_value(json_object_get(a, "url"));
	const char *u2 = json_string_value(json_object_get(b, "url"));
	const char *h1 = json_string_value(json_object_get(a, "sha256"));
	const char *h2 = json_string_value(json_object_get(b, "sha256"));

	return u1 != NULL && u2 != NULL && h1 != NULL && h2 != NULL &&
	       strcmp(u1, u2) == 0 && strcasecmp(h1, h2) == 0 &&
	       json_integer_value(json_object_get(a, "size")) ==
		   json_integer_value(json_object_get(b, "size"));
}

/* Two optional hex strings: both absent, or equal but for case. */
static bool
same_hex(const json_t *a, const json_t *b)
{
	const char *x = json_string_value(a), *y = json_string_value(b);

	return (x == NULL && y == NULL) ||
	       (x != NULL && y != NULL && strcasecmp(x, y) == 0);
}

bool
relsig_artifacts_equal(const struct relsig_doc *d, json_t *artifacts)
{
	const char *platform, *from;
	json_t *a, *x;

	if (json_object_size(artifacts) != json_object_size(d->artifacts))
		return false;
	json_object_foreach(artifacts, platform, a)
	{
		json_t *s = json_object_get(d->artifacts, platform);
		json_t *da = json_object_get(a, "deltas");
		json_t *ds = json_object_get(s, "deltas");

		if (s == NULL || !same_file(a, s) ||
		    !same_hex(json_object_get(a, "tar_sha256"),
			json_object_get(s, "tar_sha256")) ||
		    json_object_size(da) != json_object_size(ds))
			return false;
		json_object_foreach(da, from,
		    x) if (!same_file(x,
			       json_object_get(ds, from))) return false;
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
