/* SPDX-License-Identifier: MIT */
/* What makes an offer trustworthy when keys are configured: an Ed25519
 * signature by a trusted key over the release document, a document that
 * says what the offer says, is still fresh, and is not older than what
 * this install has seen (.upgate/serials: the highest serial per
 * channel), so an old manifest cannot be replayed to force a downgrade. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln.h"
#include "upgate/file.h"
#include "upgate/log.h"
#include "upgate/relsig.h"
#include "upgate/ts.h"

int
trust_load_keys(struct ln *l, char *why, size_t wl)
{
	char *list = strdup(l->c.public_keys), *save = NULL, *k;

	if (list == NULL)
		return -ENOMEM;
	l->n_keys = 0;
	for (k = strtok_r(list, ", \t", &save); k != NULL;
	     k = strtok_r(NULL, ", \t", &save)) {
		if (l->n_keys == LN_MAX_KEYS ||
		    relsig_b64_decode(k, l->keys[l->n_keys], 32) < 0) {
			if (l->n_keys == LN_MAX_KEYS)
				snprintf(why, wl, "more than %d public keys",
				    LN_MAX_KEYS);
			else
				snprintf(why, wl,
				    "public key '%.60s' is not a base64 "
				    "Ed25519 key (upgatectl keygen makes them)",
				    k);
			free(list);
			return -EINVAL;
		}
		l->n_keys++;
	}
	free(list);
	return 0;
}

/* The highest serial seen on channel (0: none). */
static int64_t
serial_seen(const struct ln *l, json_t **all)
{
	char path[4200], *text = NULL;

	snprintf(path, sizeof(path), "%s/serials", l->state);
	*all = NULL;
	if (file_read(path, 64 * 1024, &text, NULL) == 0)
		*all = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_object(*all)) {
		json_decref(*all);
		*all = json_object();
	}
	return json_integer_value(json_object_get(*all, l->c.channel));
}

static void
serial_remember(const struct ln *l, json_t *all, int64_t serial)
{
	char dir[4200], *text;
	int err;

	json_object_set_new(all, l->c.channel, json_integer(serial));
	if ((text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return;
	snprintf(dir, sizeof(dir), "%s", l->state);
	if ((err = file_write_atomic(dir, "serials", text, strlen(text))) < 0)
		log_warn("cannot keep the release serial in %s/serials: %s",
		    dir, strerror(-err));
	free(text);
}

int
trust_check(struct ln *l, struct offer *o, struct report *r)
{
	struct relsig_doc d = {0};
	const char *url, *sha;
	json_t *a, *all = NULL;
	char why[200], *copy;
	int64_t seen;
	bool good = false;
	int err = -EPERM;

	if (l->n_keys == 0)
		return 0;
	for (size_t i = 0; i < l->n_keys && o->signed_doc; i++)
		good = good ||
		       relsig_verify(o->signed_doc, o->signature, l->keys[i]);
	if (!good) {
		report_fail(r, "signature_invalid",
		    o->signed_doc ? "the release document's signature is not "
				    "by a trusted key"
				  : "the offer is not signed and keys are "
				    "configured");
		goto out;
	}
	if (relsig_parse(o->signed_doc, &d, why, sizeof(why)) < 0) {
		report_fail(r, "signature_invalid", "%s", why);
		goto out;
	}
	a = json_object_get(d.artifacts, l->c.platform);
	url = json_string_value(json_object_get(a, "url"));
	sha = json_string_value(json_object_get(a, "sha256"));
	if (strcmp(d.app, l->c.app) != 0 ||
	    strcmp(d.channel, l->c.channel) != 0 ||
	    strcmp(d.version, o->to) != 0 || d.rollback != o->rollback ||
	    url == NULL || sha == NULL) {
		report_fail(r, "signature_invalid",
		    "the signed document is for %s %s on %s%s, not this offer "
		    "(%s %s on %s for %s%s)",
		    d.app, d.version, d.channel,
		    d.rollback ? " (rollback)" : "", l->c.app, o->to,
		    l->c.channel, l->c.platform,
		    o->rollback ? ", rollback" : "");
		goto out;
	}
	if (d.expires_ms <= ts_now_ms()) {
		char when[TS_LEN];

		ts_format(d.expires_ms, when);
		report_fail(r, "manifest_expired",
		    "the signed release document expired at %s", when);
		goto out;
	}
	seen = serial_seen(l, &all);
	if (d.serial < seen) {
		report_fail(r, "rollback_refused",
		    "serial %lld is older than %lld, already seen on %s: a "
		    "replayed manifest",
		    (long long)d.serial, (long long)seen, l->c.channel);
		goto out;
	}
	/* From here on the signed values are the ones that count. */
	if ((copy = strdup(url)) == NULL) {
		err = -ENOMEM;
		report_fail(r, "install_failed", "out of memory");
		goto out;
	}
	free(o->url);
	o->url = copy;
	o->size = json_integer_value(json_object_get(a, "size"));
	offer_set_sha256(o, sha);
	/* The delta too: the document's from this version, or none. */
	if (offer_set_delta(o, o->from,
		json_object_get(json_object_get(a, "deltas"), o->from),
		json_string_value(json_object_get(a, "tar_sha256"))) < 0) {
		err = -ENOMEM;
		report_fail(r, "install_failed", "out of memory");
		goto out;
	}
	if (d.serial > seen)
		serial_remember(l, all, d.serial);
	log_info("release document for %s %s verified (serial %lld)", l->c.app,
	    o->to, (long long)d.serial);
	err = 0;
out:
	json_decref(all);
	relsig_fini(&d);
	return err;
}
