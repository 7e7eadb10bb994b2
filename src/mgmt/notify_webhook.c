/* SPDX-License-Identifier: MIT */
/* The webhook: one JSON object per alert POSTed to [webhook] url, signed
 * as ingest is when [webhook] secret_file is set. Its "text" field lets
 * it point straight at a Slack-compatible incoming webhook. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "notify.h"
#include "upgate/httpc.h"
#include "upgate/sign.h"
#include "upgate/ts.h"

/* The object d's alert is posted as. NULL when out of memory. */
static char *
payload(const struct delivery *d)
{
	json_t *ids = json_loads(d->upgrade_ids, 0, NULL);
	char at[TS_LEN], *text = NULL, *out = NULL;
	json_t *o;

	ts_format(d->created_at, at);
	if (asprintf(&text, "%s\n\n%s", d->subject, d->body) < 0)
		text = NULL;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o, s:I, s:s, s:s, s:s}",
	    "alert_id", d->alert_id, "kind", d->kind, "app", d->app, "version",
	    d->version, "channel",
	    d->release_channel[0] ? d->release_channel : NULL, "upgrade_ids",
	    ids ? ids : json_array(), "failures", (json_int_t)d->failures,
	    "summary", d->subject, "text", text ? text : d->subject,
	    "created_at", at);
	if (o != NULL)
		out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(text);
	return out;
}

static int
webhook_send(const struct mg_conf *c, const struct delivery *d, int64_t now,
    char *err, size_t errlen, bool *permanent)
{
	char sig[SIGN_LEN], h_ts[48], h_sig[64 + SIGN_LEN];
	const char *hdrs[3] = {NULL, NULL, NULL};
	struct httpc_reply r = {0};
	char *body = payload(d);
	int64_t ts = now / 1000;
	CURL *h = NULL;
	int ret = -EIO;

	if (body == NULL ||
	    (h = httpc_new("upgate-mgmtd", NOTIFY_HOOK_TIMEOUT_MS / 2,
		 NOTIFY_HOOK_TIMEOUT_MS, NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(body);
		return -ENOMEM;
	}
	if (c->webhook_secret != NULL) {
		sign_make(c->webhook_secret, ts, body, strlen(body), sig);
		snprintf(
		    h_ts, sizeof(h_ts), SIGN_TS_HEADER ": %lld", (long long)ts);
		snprintf(h_sig, sizeof(h_sig), SIGN_SIG_HEADER ": %s", sig);
		hdrs[0] = h_ts;
		hdrs[1] = h_sig;
	}
	if (httpc_call(
		h, "POST", c->webhook_url, hdrs, body, strlen(body), &r) < 0) {
		snprintf(err, errlen, "webhook %s: %s", c->webhook_url, r.err);
	} else if (r.status >= 200 && r.status < 300) {
		ret = 0;
	} else {
		*permanent = notify_http_permanent(r.status);
		snprintf(err, errlen, "webhook %s answered HTTP %ld: %.160s",
		    c->webhook_url, r.status, r.body ? r.body : "");
	}
	httpc_reply_fini(&r);
	curl_easy_cleanup(h);
	free(body);
	return ret;
}

const struct notify_backend notify_webhook = {"webhook", webhook_send};
