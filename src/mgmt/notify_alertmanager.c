/* SPDX-License-Identifier: MIT */
/* Alertmanager: each alert POSTed to {url}/api/v2/alerts of every
 * instance [alertmanager] url lists, with the labels and annotations of
 * the SPEC. Alertmanager resolves an alert by itself once its endsAt
 * passes: a failure's lasts its group window and a margin; a halt's is
 * kept fresh while the release stays halted (alert.c) and ended when it
 * is resumed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "notify.h"
#include "upgate/httpc.h"
#include "upgate/ts.h"

/* How long past its group window a failure alert stays active. */
#define FAILURE_MARGIN_MS (5 * 60 * 1000)

/* The alert as Alertmanager's API takes it, ending at ends_at. */
static char *
payload(const struct delivery *d, int64_t ends_at)
{
	bool halt = strcmp(d->kind, "halt") == 0;
	bool test = strcmp(d->kind, "test") == 0; /* upgatectl alerts test */
	char starts[TS_LEN], ends[TS_LEN], *out = NULL;
	json_t *labels, *a;

	ts_format(d->created_at, starts);
	ts_format(ends_at, ends);
	labels = json_pack("{s:s, s:s, s:s, s:s}", "alertname",
	    test   ? "UpgateTest"
	    : halt ? "ReleaseHalted"
		   : "UpgradeFailed",
	    "app", d->app, "version", d->version, "severity",
	    test   ? "info"
	    : halt ? "critical"
		   : "warning");
	if (labels != NULL && d->release_channel[0] != '\0')
		json_object_set_new(
		    labels, "channel", json_string(d->release_channel));
	a = json_pack("[{s:o, s:{s:s, s:s}, s:s, s:s}]", "labels", labels,
	    "annotations", "summary", d->subject, "description", d->body,
	    "startsAt", starts, "endsAt", ends);
	if (a != NULL)
		out = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return out;
}

int
notify_alertmanager_post(const struct mg_conf *c, const struct delivery *d,
    int64_t ends_at, char *err, size_t errlen, bool *permanent)
{
	char base[1024], url[1100];
	char *body = payload(d, ends_at);
	CURL *h = NULL;
	int ret = 0;

	if (body == NULL ||
	    (h = httpc_new("upgate-mgmtd", NOTIFY_HOOK_TIMEOUT_MS / 2,
		 NOTIFY_HOOK_TIMEOUT_MS, NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(body);
		return -ENOMEM;
	}
	/* Every instance of a cluster hears it; the first failure is the
	 * attempt's. */
	for (int i = 0;
	     notify_list_item(c->alertmanager_url, i, base, sizeof(base));
	     i++) {
		struct httpc_reply r = {0};
		size_t n = strlen(base);

		while (n > 0 && base[n - 1] == '/')
			base[--n] = '\0';
		snprintf(url, sizeof(url), "%s/api/v2/alerts", base);
		if (httpc_call(h, "POST", url, NULL, body, strlen(body), &r) <
		    0) {
			if (ret == 0)
				snprintf(err, errlen, "Alertmanager %s: %s",
				    base, r.err);
			ret = -EIO;
		} else if (r.status < 200 || r.status >= 300) {
			if (ret == 0) {
				*permanent = r.status == 400;
				snprintf(err, errlen,
				    "Alertmanager %s answered HTTP %ld: %.160s",
				    base, r.status, r.body ? r.body : "");
			}
			ret = -EIO;
		}
		httpc_reply_fini(&r);
	}
	curl_easy_cleanup(h);
	free(body);
	return ret;
}

static int
am_send(const struct mg_conf *c, const struct delivery *d, int64_t now,
    char *err, size_t errlen, bool *permanent)
{
	int64_t ends = strcmp(d->kind, "halt") == 0
			   ? now + NOTIFY_HALT_HOLD(c)
			   : now + c->group_window + FAILURE_MARGIN_MS;

	return notify_alertmanager_post(c, d, ends, err, errlen, permanent);
}

const struct notify_backend notify_alertmanager = {"alertmanager", am_send};
