/* SPDX-License-Identifier: MIT */
/* libcurl made to behave one way everywhere: protocols, timeouts, no
 * signals, bounded replies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upgate/buf.h"
#include "upgate/httpc.h"

CURL *
httpc_new(
    const char *agent, long connect_ms, long total_ms, const char *ca_file)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, agent);
	if (ca_file != NULL && *ca_file != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
	return h;
}

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;

	if (b->len + len > HTTPC_MAX_REPLY || buf_add(b, p, len) < 0)
		return 0; /* makes curl fail the transfer */
	return len;
}

int
httpc_call(CURL *h, const char *method, const char *url,
    const char *const *headers, const char *body, size_t len,
    struct httpc_reply *r)
{
	struct curl_slist *hdrs = NULL, *t;
	struct buf b = {0};
	CURLcode rc;
	int err = 0;

	memset(r, 0, sizeof(*r));
	if (body != NULL && (t = curl_slist_append(hdrs,
				 "Content-Type: application/json")) != NULL)
		hdrs = t;
	/* No "100 Continue" round trip for small JSON bodies. */
	if ((t = curl_slist_append(hdrs, "Expect:")) != NULL)
		hdrs = t;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((t = curl_slist_append(hdrs, headers[i])) == NULL) {
			curl_slist_free_all(hdrs);
			return -ENOMEM;
		}
		hdrs = t;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(
		    h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
	    strcmp(method, body ? "POST" : "GET") == 0 ? NULL : method);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		r->len = b.len;
		r->body = b.len ? buf_steal(&b) : NULL;
	} else {
		if (r->err[0] == '\0')
			snprintf(r->err, sizeof(r->err), "%s",
			    curl_easy_strerror(rc));
		err = rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	buf_free(&b);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hdrs);
	return err;
}

void
httpc_reply_fini(struct httpc_reply *r)
{
	free(r->body);
	r->body = NULL;
}
