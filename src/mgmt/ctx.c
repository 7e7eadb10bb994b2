/* SPDX-License-Identifier: MIT */
/* mgmtd's shared context: the running config, auth, signed ingest, writes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mg.h"
#include "upgate/log.h"
#include "upgate/secret.h"
#include "upgate/sign.h"
#include "upgate/ts.h"

struct mg_conf *
mg_conf_get(struct mg *mg)
{
	struct mg_conf *c;

	pthread_mutex_lock(&mg->lock);
	c = mg->conf;
	c->refs++;
	pthread_mutex_unlock(&mg->lock);
	return c;
}

void
mg_conf_put(struct mg *mg, struct mg_conf *c)
{
	bool last;

	pthread_mutex_lock(&mg->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&mg->lock);
	if (last) {
		mg_conf_free(c);
		free(c);
	}
}

void
mg_conf_swap(struct mg *mg, struct mg_conf *c)
{
	struct mg_conf *old;

	c->refs = 1;
	pthread_mutex_lock(&mg->lock);
	old = mg->conf;
	mg->conf = c;
	pthread_mutex_unlock(&mg->lock);
	if (old != NULL)
		mg_conf_put(mg, old);
}

int
mg_authorize(
    void *ctx, const char *token, size_t len, struct access_caller *out)
{
	struct mg *mg = ctx;
	struct mg_conf *c = mg_conf_get(mg);
	bool ok = secret_equal(token, len, c->admin_token);

	mg_conf_put(mg, c);
	return access_identify(&mg->access, ok, token, len, out);
}

static int
access_read(void *ctx, int (*fn)(const struct access_conn *, void *), void *arg)
{
	struct mg *mg = ctx;
	struct store_conn *conn = store_reader_get(mg->store);
	struct access_conn ac;
	int err;

	store_access(conn, &ac);
	err = fn(&ac, arg);
	store_reader_put(mg->store, conn);
	return err;
}

static int
access_write(
    void *ctx, int (*fn)(const struct access_conn *, void *), void *arg)
{
	struct mg *mg = ctx;
	struct access_conn ac;
	int err;

	if ((err = store_txn_begin(mg->writer)) < 0)
		return err;
	store_access(mg->writer, &ac);
	return store_txn_end(mg->writer, fn(&ac, arg));
}

static bool
access_file_token(void *ctx)
{
	struct mg *mg = ctx;
	struct mg_conf *c = mg_conf_get(mg);
	bool set = c->admin_token != NULL;

	mg_conf_put(mg, c);
	return set;
}

void
mg_access_init(struct mg *mg)
{
	mg->access = (struct access_store){
	    mg, access_read, access_write, access_file_token};
}

int
mg_verify(void *ctx, const struct req *r, struct resp *rs)
{
	struct mg *mg = ctx;
	struct mg_conf *c = mg_conf_get(mg);
	const char *why;
	int err;

	err = sign_check(c->ingest_secret, req_header(r, SIGN_TS_HEADER),
	    req_header(r, SIGN_SIG_HEADER), r->raw_body, r->raw_len,
	    ts_now_ms() / 1000, c->max_skew / 1000, &why);
	mg_conf_put(mg, c);
	if (err == 0)
		return 0;
	log_warn("ingest: refused a request: %s", why);
	if (strcmp(why, "missing_signature") == 0)
		return http_error(rs, -EACCES, why, NULL,
		    "ingest needs " SIGN_TS_HEADER " and " SIGN_SIG_HEADER
		    " headers");
	if (strcmp(why, "stale_timestamp") == 0)
		return http_error(rs, -EACCES, why, NULL,
		    "the timestamp is outside the allowed skew");
	return http_error(
	    rs, -EACCES, why, NULL, "the signature does not match the body");
}
