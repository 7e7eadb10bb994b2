/* SPDX-License-Identifier: MIT */
/* Release signing: keygen, signed publishes, rollbacks. The secret key
 * stays with the admin; the gateway only stores what was signed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "upgate/dur.h"
#include "upgate/file.h"
#include "upgate/relsig.h"
#include "upgate/secret.h"
#include "upgate/semver.h"
#include "upgate/ts.h"

/* Write text to path, created new with mode (never overwriting). */
static int
write_new(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	int err;

	if (fd < 0)
		return -errno;
	err = file_write_all(fd, text, strlen(text));
	if (err == 0 && fsync(fd) < 0)
		err = -errno;
	close(fd);
	if (err < 0)
		unlink(path);
	return err;
}

int
cmd_keygen(struct ctl *x, int argc, char **argv)
{
	unsigned char pk[RELSIG_PK_BYTES], sk[RELSIG_SK_BYTES];
	char b64[RELSIG_B64_MAX + 2], path[4096];
	const char *prefix = x->o.out ? x->o.out : "upgate-release";
	int err;

	(void)argc;
	(void)argv;
	crypto_sign_keypair(pk, sk);
	relsig_b64_encode(sk, sizeof(sk), b64, sizeof(b64));
	sodium_memzero(sk, sizeof(sk));
	strcat(b64, "\n");
	snprintf(path, sizeof(path), "%s.key", prefix);
	err = write_new(path, b64, 0600);
	sodium_memzero(b64, sizeof(b64));
	if (err < 0) {
		ctl_err(x, "cannot create %s: %s", path, strerror(-err));
		return err == -EEXIST ? CTL_CONFLICT : CTL_FAIL;
	}
	relsig_b64_encode(pk, sizeof(pk), b64, sizeof(b64));
	strcat(b64, "\n");
	snprintf(path, sizeof(path), "%s.pub", prefix);
	if ((err = write_new(path, b64, 0644)) < 0) {
		ctl_err(x, "cannot create %s: %s", path, strerror(-err));
		snprintf(path, sizeof(path), "%s.key", prefix);
		unlink(path);
		return err == -EEXIST ? CTL_CONFLICT : CTL_FAIL;
	}
	if (x->json) {
		json_t *o = json_pack("{s:s%, s:s, s:s}", "public_key", b64,
		    strlen(b64) - 1, "secret_key_file", prefix,
		    "public_key_file", path);

		ctl_print_json(o);
		json_decref(o);
	} else {
		printf("secret key: %s.key (keep it off the gateway)\n"
		       "public key: %s (%s): give it to launchers as "
		       "--public-key or [launcher] public_keys\n",
		    prefix, path, strtok(b64, "\n"));
	}
	return CTL_OK;
}

static int
load_key(struct ctl *x, unsigned char sk[RELSIG_SK_BYTES])
{
	char *text = NULL;
	int err = secret_read(x->o.sign_key, &text);

	if (err == 0)
		err = relsig_b64_decode(text, sk, RELSIG_SK_BYTES);
	secret_free(text);
	if (err < 0)
		ctl_err(x, "%s is not a secret key from upgatectl keygen",
		    x->o.sign_key);
	return err;
}

/* The releases of app on channel and the highest serial there. */
static int
releases_of(struct ctl *x, const char *app, const char *channel, json_t **out,
    int64_t *serial_max)
{
	char q[1024] = "/v1/admin/releases";
	json_t *ans = NULL;
	int rc;

	ctl_query(x, q, sizeof(q), "app", app);
	ctl_query(x, q, sizeof(q), "channel", channel);
	if ((rc = ctl_call(x, CTL_GATEWAY, "GET", q, NULL, &ans, NULL)) != 0)
		return rc;
	*serial_max = json_integer_value(json_object_get(ans, "serial_max"));
	*out = ans;
	return CTL_OK;
}

int
sign_body(struct ctl *x, json_t *body, const char *app, const char *channel,
    const char *version, json_t *artifacts, bool rollback)
{
	unsigned char sk[RELSIG_SK_BYTES];
	char sig[RELSIG_B64_MAX], *doc;
	int64_t serial = x->o.serial, expires_in = 90 * 86400000LL, max = 0;
	json_t *rels = NULL;
	int rc;

	if (x->o.sign_key == NULL)
		return CTL_OK;
	if (x->o.expires != NULL && dur_parse(x->o.expires, &expires_in) < 0) {
		ctl_err(x, "--expires wants a duration like 30d");
		return CTL_USAGE;
	}
	if (load_key(x, sk) < 0)
		return CTL_USAGE;
	if (serial <= 0) {
		if ((rc = releases_of(x, app, channel, &rels, &max)) != 0) {
			sodium_memzero(sk, sizeof(sk));
			return rc;
		}
		json_decref(rels);
		serial = max + 1;
	}
	doc = relsig_make(app, channel, version, artifacts, rollback, serial,
	    ts_now_ms() + expires_in);
	if (doc == NULL) {
		sodium_memzero(sk, sizeof(sk));
		return CTL_FAIL;
	}
	relsig_sign(doc, sk, sig);
	sodium_memzero(sk, sizeof(sk));
	json_object_set_new(body, "signed", json_string(doc));
	json_object_set_new(body, "signature", json_string(sig));
	free(doc);
	return CTL_OK;
}

/* The release app/version on channel in a releases answer, or NULL. */
static json_t *
find(json_t *rels, const char *version)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(rels, "releases"), i, r)
	{
		const char *v =
		    json_string_value(json_object_get(r, "version"));

		if (v != NULL && strcmp(v, version) == 0)
			return r;
	}
	return NULL;
}

/* POST a rollback of app/channel to version, signed when asked. known
 * is the gateway's releases answer when the caller has it (borrowed),
 * else NULL: it is asked for when signing needs it. */
static int
roll_back(struct ctl *x, const char *app, const char *channel,
    const char *version, int percent, json_t *known)
{
	json_t *body, *ans = NULL, *rels = NULL, *r;
	int64_t max = 0;
	int rc;

	body = json_pack("{s:s, s:s, s:s, s:i}", "app", app, "channel", channel,
	    "to_version", version, "rollout_percent", percent);
	if (body == NULL)
		return CTL_FAIL;
	if (x->o.sign_key != NULL) {
		/* The record vouches for the target's artifacts. */
		if (known != NULL)
			max = json_integer_value(
			    json_object_get(known, "serial_max"));
		else if ((rc = releases_of(x, app, channel, &rels, &max)) != 0)
			goto out;
		if ((r = find(known ? known : rels, version)) == NULL) {
			ctl_err(x, "%s %s is not published on %s", app, version,
			    channel);
			rc = CTL_NOTFOUND;
			goto out;
		}
		if (x->o.serial <= 0)
			x->o.serial = max + 1;
		if ((rc = sign_body(x, body, app, channel, version,
			 json_object_get(r, "artifacts"), true)) != 0)
			goto out;
	}
	rc = ctl_call(
	    x, CTL_GATEWAY, "POST", "/v1/admin/rollbacks", body, &ans, NULL);
	if (rc == CTL_OK && x->json)
		ctl_print_json(ans);
	else if (rc == CTL_OK)
		printf("rollback: %s on %s goes back to %s (%d%% of clients "
		       "above it)%s\n",
		    app, channel, version, percent,
		    x->o.sign_key ? ", signed" : "");
out:
	json_decref(ans);
	json_decref(rels);
	json_decref(body);
	return rc;
}

int
cmd_rollback(struct ctl *x, int argc, char **argv)
{
	const char *app = argv[0];
	const char *channel = x->o.channel ? x->o.channel : "stable";
	char path[1024], *e;
	json_t *ans = NULL;
	int rc;

	(void)argc;
	if (x->o.cancel) {
		if (x->o.to != NULL) {
			ctl_err(x, "--cancel and --to exclude each other");
			return CTL_USAGE;
		}
		e = curl_easy_escape(x->h, app, 0);
		snprintf(
		    path, sizeof(path), "/v1/admin/rollbacks/%s", e ? e : "");
		curl_free(e);
		ctl_query(x, path, sizeof(path), "channel", channel);
		rc = ctl_call(x, CTL_GATEWAY, "DELETE", path, NULL, &ans, NULL);
		if (rc == CTL_OK && x->json)
			ctl_print_json(ans);
		else if (rc == CTL_OK)
			printf("rollback of %s on %s ended\n", app, channel);
		json_decref(ans);
		return rc;
	}
	if (x->o.to == NULL || !semver_valid(x->o.to)) {
		ctl_err(x, "give --to VERSION (or --cancel)");
		return CTL_USAGE;
	}
	return roll_back(x, app, channel, x->o.to,
	    x->o.percent >= 0 ? (int)x->o.percent : 100, NULL);
}

int
sign_after_yank(struct ctl *x, const char *app, const char *version)
{
	const char *channel = x->o.channel ? x->o.channel : "stable";
	json_t *rels = NULL, *r, *best = NULL;
	struct semver yanked, v, bv;
	int64_t max = 0;
	size_t i;
	int rc;

	if (x->o.sign_key == NULL || semver_parse(version, &yanked) < 0)
		return CTL_OK;
	if ((rc = releases_of(x, app, channel, &rels, &max)) != 0)
		return rc;
	/* The release clients on the yanked one should go to. */
	json_array_foreach(json_object_get(rels, "releases"), i, r)
	{
		const char *rv =
		    json_string_value(json_object_get(r, "version"));

		if (rv == NULL || semver_parse(rv, &v) < 0 ||
		    semver_cmp(&v, &yanked) >= 0 ||
		    json_is_true(json_object_get(r, "yanked")) ||
		    json_is_true(json_object_get(r, "paused")) ||
		    json_is_true(json_object_get(r, "halted")))
			continue;
		if (best == NULL || semver_cmp(&v, &bv) > 0) {
			best = r;
			bv = v;
		}
	}
	if (best == NULL) {
		printf("no release below %s to send its clients to\n", version);
		json_decref(rels);
		return CTL_OK;
	}
	rc = roll_back(x, app, channel,
	    json_string_value(json_object_get(best, "version")), 100, rels);
	json_decref(rels);
	return rc;
}
