/* SPDX-License-Identifier: MIT */
/* The HTTP client side, over libcurl: one way to make a handle with sane
 * limits, and one request call that collects the answer. */
#ifndef UPGATE_HTTPC_H
#define UPGATE_HTTPC_H

#include <stddef.h>

#include <curl/curl.h>

/* Bodies bigger than this are cut off (the call fails). */
#define HTTPC_MAX_REPLY (16u << 20)

/* A handle for http and https only, without signals, with a connect
 * timeout of connect_ms and a total timeout of total_ms (0: none), the
 * CA bundle in ca_file when not NULL/empty, and agent as User-Agent.
 * NULL when out of memory. Free with curl_easy_cleanup(). */
CURL *httpc_new(
    const char *agent, long connect_ms, long total_ms, const char *ca_file);

struct httpc_reply {
	long status; /* 0: no HTTP answer */
	char *body;  /* malloc'd, NUL-terminated, NULL when empty */
	size_t len;
	char err[CURL_ERROR_SIZE]; /* why there was no answer */
};

/* Send method to url on h with the NULL-terminated extra headers and a
 * body of len bytes (body NULL: none; Content-Type application/json is
 * added when there is one). Returns 0 when an answer arrived, whatever
 * its status, -EIO (r->err says why) when none did, -ENOMEM. The caller
 * releases r with httpc_reply_fini() either way. h keeps its other
 * options, so one handle can serve many calls. */
int httpc_call(CURL *h, const char *method, const char *url,
    const char *const *headers, const char *body, size_t len,
    struct httpc_reply *r);

void httpc_reply_fini(struct httpc_reply *r);

#endif
