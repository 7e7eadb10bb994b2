/* SPDX-License-Identifier: MIT */
/* SMS through an HTTP SMS gateway: a form POST of To and Body per number,
 * with HTTP basic auth, over libcurl. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "upgate/httpc.h"

static size_t
keep_reply(char *p, size_t size, size_t n, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf), room = 200 - have, len = size * n;

	memcpy(buf + have, p, len < room ? len : room);
	buf[have + (len < room ? len : room)] = '\0';
	return len;
}

static int
sms_send(const struct mg_conf *c, const struct delivery *d, int64_t now,
    char *err, size_t errlen, bool *permanent)
{
	char reply[201] = "";
	char *to = NULL, *body = NULL, *form = NULL;
	long status = 0;
	CURLcode rc;
	CURL *h;
	int r = -EIO;
	size_t n;

	(void)now;
	h = httpc_new("upgate-mgmtd", 5000L, (long)c->sms_timeout, NULL);
	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	to = curl_easy_escape(h, d->recipient, 0);
	body = curl_easy_escape(h, d->sms, 0);
	n = (to ? strlen(to) : 0) + (body ? strlen(body) : 0) + 16;
	if (to == NULL || body == NULL || (form = malloc(n)) == NULL) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	snprintf(form, n, "To=%s&Body=%s", to, body);
	curl_easy_setopt(h, CURLOPT_URL, c->sms_url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_reply);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
	if (c->sms_auth != NULL) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, c->sms_auth);
	}
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "SMS gateway %s: %s", c->sms_url,
		    curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		r = 0;
		goto out;
	}
	*permanent = notify_http_permanent(status);
	snprintf(
	    err, errlen, "SMS gateway answered HTTP %ld: %s", status, reply);
out:
	curl_free(to);
	curl_free(body);
	free(form);
	curl_easy_cleanup(h);
	return r;
}

const struct notify_backend notify_sms = {"sms", sms_send};
