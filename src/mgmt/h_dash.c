/* SPDX-License-Identifier: MIT */
/* The dashboard: its page (compiled in), the live event stream, and the
 * halted releases it shows with their resume action, which go to the
 * gateway's admin API on the dashboard's behalf (the browser talks to
 * mgmtd alone, with mgmtd's admin token). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg.h"
#include "upgate/httpc.h"
#include "upgate/id.h"
#include "upgate/semver.h"
#include "web.h"

int
h_asset_get(struct req *rq, struct resp *rs)
{
	const char *path =
	    strcmp(rq->path, "/favicon.ico") == 0 ? "/favicon.svg" : rq->path;

	for (size_t i = 0; i < web_n_assets; i++) {
		const struct web_asset *a = &web_assets[i];

		if (strcmp(a->path, path) != 0)
			continue;
		/* Everything the page loads comes from here: no inline
		 * script, no other origin, no framing. */
		http_header(rs, "Content-Security-Policy",
		    "default-src 'self'; script-src 'self'; style-src 'self'; "
		    "img-src 'self' data:; connect-src 'self'; "
		    "frame-ancestors 'none'; base-uri 'none'; form-action "
		    "'self'");
		http_header(rs, "X-Content-Type-Options", "nosniff");
		http_header(rs, "Referrer-Policy", "no-referrer");
		http_header(rs, "Cache-Control", "no-cache");
		return http_reply_copy(rs, 200, a->ctype, a->data, a->len);
	}
	return http_error(
	    rs, -ENOENT, "not_found", NULL, "no such resource: %s", rq->path);
}

int
h_events_stream(struct req *rq, struct resp *rs)
{
	(void)rq;
	return http_reply_stream(rs);
}

void
mg_announce(struct mg *mg, const char *event, const char *json)
{
	char *frame = NULL;
	int n;

	/* One SSE frame: the event type and the outcome's JSON on one data
	 * line (JSON text has no raw newlines). */
	n = asprintf(&frame, "event: %s\ndata: %s\n\n", event, json);
	if (n > 0 && mg->http != NULL)
		http_stream_publish(mg->http, frame, (size_t)n);
	free(frame);
}

int
mg_gateway(struct mg *mg, const char *method, const char *path,
    const char *body, long *status, json_t **answer, char *why, size_t len)
{
	struct mg_conf *c = mg_conf_get(mg);
	const char *token =
	    c->gateway_token ? c->gateway_token : c->admin_token;
	char url[2048], auth[4200];
	const char *hdrs[] = {auth, NULL};
	struct httpc_reply r;
	CURL *h = NULL;
	int err = 0;

	*answer = NULL;
	*status = 0;
	if (c->gateway_url[0] == '\0' || token == NULL) {
		snprintf(why, len,
		    "mgmtd has no [gateway] url%s to reach the gateway's admin "
		    "API",
		    token == NULL ? " and token" : "");
		err = -ENOENT;
		goto out;
	}
	snprintf(url, sizeof(url), "%s%s", c->gateway_url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = httpc_new("upgate-mgmtd", 5000L, (long)c->gateway_timeout,
	    c->gateway_ca_file);
	if (h == NULL) {
		err = -ENOMEM;
		goto out;
	}
	if (httpc_call(
		h, method, url, hdrs, body, body ? strlen(body) : 0, &r) < 0) {
		snprintf(why, len, "the gateway at %s does not answer: %s",
		    c->gateway_url, r.err);
		err = -EIO;
	} else {
		*status = r.status;
		*answer = r.body ? json_loadb(r.body, r.len, 0, NULL) : NULL;
	}
	httpc_reply_fini(&r);
out:
	memset(auth, 0, sizeof(auth));
	if (h != NULL)
		curl_easy_cleanup(h);
	mg_conf_put(mg, c);
	return err;
}

/* The gateway's admin API for a request: its answer on a 2xx; its own
 * error relayed, or a 503 when it cannot be reached. */
static int
gateway_call(struct req *rq, struct resp *rs, const char *method,
    const char *path, const char *body, json_t **answer)
{
	char why[512];
	long status;
	int err;

	err = mg_gateway(
	    rq->ctx, method, path, body, &status, answer, why, sizeof(why));
	if (err == -ENOENT)
		return http_error(
		    rs, -EIO, "gateway_not_configured", NULL, "%s", why);
	if (err < 0)
		return err == -EIO ? http_error(rs, -EIO, "gateway_unavailable",
					 NULL, "%s", why)
				   : err;
	if (status < 200 || status >= 300) {
		/* The gateway's own error, as it said it. */
		rs->status = (int)status;
		rs->json = *answer;
		*answer = NULL;
		if (rs->json == NULL)
			return http_error(rs, -EIO, "gateway_error", NULL,
			    "the gateway answered HTTP %ld", status);
		return -EIO;
	}
	if (*answer == NULL)
		return http_error(rs, -EIO, "gateway_error", NULL,
		    "the gateway's answer is not JSON");
	return 0;
}

/* A release's state as a person reads it: yanked, halted, paused or
 * active (the first that holds). */
static const char *
release_state(const json_t *r)
{
	return json_is_true(json_object_get(r, "yanked"))   ? "yanked"
	       : json_is_true(json_object_get(r, "halted")) ? "halted"
	       : json_is_true(json_object_get(r, "paused")) ? "paused"
							    : "active";
}

/* The gateway's releases, each with its state; only the halted ones
 * when halted_only. */
static int
gateway_releases(struct req *rq, struct resp *rs, bool halted_only)
{
	json_t *ans = NULL, *list, *r;
	size_t i;
	int err;

	if ((err = gateway_call(
		 rq, rs, "GET", "/v1/admin/releases", NULL, &ans)) < 0)
		return err;
	list = json_array();
	json_array_foreach(json_object_get(ans, "releases"), i, r)
	{
		if (halted_only && !json_is_true(json_object_get(r, "halted")))
			continue;
		json_object_set_new(r, "state", json_string(release_state(r)));
		json_array_append(list, r);
	}
	json_decref(ans);
	return http_reply(rs, 200,
	    json_pack("{s:o}", "releases", list ? list : json_array()));
}

int
h_halted_get(struct req *rq, struct resp *rs)
{
	return gateway_releases(rq, rs, true);
}

int
h_releases_get(struct req *rq, struct resp *rs)
{
	return gateway_releases(rq, rs, false);
}

int
h_halted_resume(struct req *rq, struct resp *rs)
{
	const char *app = rq->params[0], *version = rq->params[1];
	const char *channel = req_query(rq, "channel");
	char path[512];
	json_t *ans = NULL;
	int err;

	if (!id_app_valid(app) || !semver_valid(version) ||
	    (channel != NULL && !id_app_valid(channel)))
		return http_error(rs, -EINVAL, "invalid_value", NULL,
		    "app, version or channel is not valid");
	snprintf(path, sizeof(path), "/v1/admin/releases/%s/%s%s%s", app,
	    version, channel ? "?channel=" : "", channel ? channel : "");
	if ((err = gateway_call(
		 rq, rs, "PATCH", path, "{\"halted\":false}", &ans)) < 0)
		return err;
	/* Alertmanager hears that the halt ended. */
	alerter_halts_changed(((struct mg *)rq->ctx)->alerter);
	return http_reply(rs, 200, ans);
}
