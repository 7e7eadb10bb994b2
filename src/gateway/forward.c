/* SPDX-License-Identifier: MIT */
/* The forwarder: drains the outbox to mgmtd, signed, in batches, with backoff.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "upgate/backoff.h"
#include "upgate/httpc.h"
#include "upgate/log.h"
#include "upgate/secret.h"
#include "upgate/sign.h"
#include "upgate/ts.h"
#include "upgate/worker.h"

#define IDLE_POLL_MS 1000
#define MAX_BATCH_BYTES (3 * 1024 * 1024) /* under mgmtd's 4 MiB limit */
#define REPLY_KEEP 512
/* A claim outlasts the request by this much: the delete after it. */
#define CLAIM_SPARE_MS 5000

struct forward {
	struct gw *gw;
	struct worker w;
	bool started;
	atomic_bool reread;
	char *url; /* mgmt_url + "/v1/outcomes" */
	char *secret;
	CURL *curl;
	char reply[REPLY_KEEP];
	atomic_uint_fast64_t sent, batches, failures;
	atomic_int_fast64_t last_ok_ms;
};

/* POST one batch. Returns the HTTP status, or -1 with why filled when no
 * answer came. */
static long
post(struct forward *f, const struct outbox_batch *b, char *why, size_t len)
{
	char sig[SIGN_LEN], h_ts[64], h_sig[SIGN_LEN + 32];
	const char *hdrs[] = {h_ts, h_sig, NULL};
	int64_t now = ts_now_ms() / 1000;
	struct httpc_reply r;
	long status = -1;

	sign_make(f->secret, now, b->body, b->len, sig);
	snprintf(h_ts, sizeof(h_ts), SIGN_TS_HEADER ": %lld", (long long)now);
	snprintf(h_sig, sizeof(h_sig), SIGN_SIG_HEADER ": %s", sig);
	if (httpc_call(f->curl, "POST", f->url, hdrs, b->body, b->len, &r) ==
	    0) {
		status = r.status;
		snprintf(f->reply, sizeof(f->reply), "%.*s", (int)r.len,
		    r.body ? r.body : "");
	} else {
		snprintf(why, len, "%s", r.err);
	}
	httpc_reply_fini(&r);
	return status;
}

/* (Re)read the signing secret. False when it cannot be read. */
static bool
load_secret(struct forward *f)
{
	char *s = NULL;
	int err;

	if (f->secret != NULL && !atomic_exchange(&f->reread, false))
		return true;
	err = secret_read(f->gw->conf.secret_file, &s);
	if (err < 0) {
		log_err("forward: cannot read [forward] secret_file %s: %s; "
			"outcomes wait in the outbox",
		    f->gw->conf.secret_file,
		    err == -EINVAL ? "empty or too long" : strerror(-err));
		return f->secret != NULL;
	}
	secret_free(f->secret);
	f->secret = s;
	return true;
}

/* Outbox rows mgmtd has accepted. */
struct sent {
	struct gw *gw;
	const struct outbox_batch *b;
};

static int
drop_sent(void *arg)
{
	struct sent *s = arg;

	return store_outbox_delete(s->gw->writer, s->b);
}

/* Send one batch and drop it from the outbox on 2xx. Returns 1 when a
 * batch went, 0 when the outbox is empty, -errno when it should wait. */
static int
forward_once(struct forward *f)
{
	struct gw *gw = f->gw;
	struct outbox_batch b;
	struct store_conn *conn;
	char why[CURL_ERROR_SIZE + 400] = "";
	long status;
	int err;

	/* Claimed for longer than a request may take, so no other gateway
	 * sends it meanwhile; a claim of a gateway that died ends then. */
	conn = store_reader_get(gw->store);
	err = store_outbox_claim(conn, (size_t)gw->conf.forward_batch,
	    MAX_BATCH_BYTES, gw->conf.forward_timeout + CLAIM_SPARE_MS, &b);
	store_reader_put(gw->store, conn);
	if (err < 0) {
		log_err("forward: cannot read the outbox: %s", strerror(-err));
		return err;
	}
	if (b.n == 0) {
		store_outbox_batch_fini(&b);
		return 0;
	}
	status = post(f, &b, why, sizeof(why));
	if (status >= 200 && status < 300) {
		struct sent s = {gw, &b};

		/* In the requests' next batch: no fsync of its own. */
		if ((err = gw_write_run(gw, drop_sent, &s)) < 0)
			/* mgmtd has them and will answer duplicate next
			 * time: nothing is lost or doubled. */
			log_err("forward: sent %zu outcome(s) but cannot "
				"remove them from the outbox: %s",
			    b.n, strerror(-err));
		else {
			atomic_fetch_add(&f->sent, b.n);
			atomic_fetch_add(&f->batches, 1);
			atomic_store(&f->last_ok_ms, ts_now_ms());
			log_debug("forward: %zu outcome(s) to mgmtd", b.n);
		}
	} else {
		if (status > 0)
			snprintf(why, sizeof(why), "HTTP %ld: %.300s", status,
			    f->reply);
		atomic_fetch_add(&f->failures, 1);
		log_warn("forward: %zu outcome(s) not accepted by %s: %s", b.n,
		    f->url, why);
		conn = store_reader_get(gw->store);
		store_outbox_release(conn, &b);
		store_reader_put(gw->store, conn);
		err = -EAGAIN;
	}
	store_outbox_batch_fini(&b);
	return err < 0 ? err : 1;
}

static void
forward_main(struct worker *w, void *arg)
{
	struct forward *f = arg;
	const struct gw_conf *c = &f->gw->conf;
	unsigned attempt = 0;
	bool go = true;

	while (go) {
		int r;

		if (!load_secret(f)) {
			go = worker_sleep(w, c->forward_retry_max, false);
			continue;
		}
		r = forward_once(f);
		if (r > 0) {
			if (attempt > 0)
				log_notice("forward: mgmtd accepts outcomes "
					   "again");
			attempt = 0;
			go = worker_sleep(w, 0, false);
		} else if (r == 0) {
			go = worker_sleep(w, IDLE_POLL_MS, true);
		} else {
			attempt++;
			go = worker_sleep(w,
			    backoff_delay(c->forward_retry_initial,
				c->forward_retry_max, attempt),
			    false);
		}
	}
}

int
forward_start(struct gw *gw, struct forward **out)
{
	const struct gw_conf *c = &gw->conf;
	struct forward *f;
	size_t n;

	*out = NULL;
	if (c->mgmt_url[0] == '\0') {
		log_warn("forward: [forward] mgmt_url is empty: outcomes stay "
			 "in the outbox");
		return 0;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -ENOMEM;
	f->gw = gw;
	n = strlen(c->mgmt_url) + sizeof("/v1/outcomes");
	f->url = malloc(n);
	f->curl = httpc_new("upgate-gatewayd", 5000L, (long)c->forward_timeout,
	    c->forward_ca_file);
	if (f->url == NULL || f->curl == NULL) {
		forward_stop(f);
		return -ENOMEM;
	}
	snprintf(f->url, n, "%s%s", c->mgmt_url,
	    c->mgmt_url[strlen(c->mgmt_url) - 1] == '/' ? "v1/outcomes"
							: "/v1/outcomes");
	if (worker_start(&f->w, forward_main, f) < 0) {
		forward_stop(f);
		return -EAGAIN;
	}
	f->started = true;
	log_info("forward: outcomes go to %s", f->url);
	*out = f;
	return 0;
}

void
forward_kick(struct forward *f)
{
	if (f != NULL)
		worker_kick(&f->w);
}

void
forward_reload(struct forward *f)
{
	if (f != NULL)
		atomic_store(&f->reread, true);
}

void
forward_metrics(struct forward *f, FILE *out)
{
	uint64_t sent = 0, batches = 0, failures = 0;
	int64_t last = 0;

	if (f != NULL) {
		sent = atomic_load(&f->sent);
		batches = atomic_load(&f->batches);
		failures = atomic_load(&f->failures);
		last = atomic_load(&f->last_ok_ms);
	}
	fprintf(out,
	    "# HELP upgate_forward_outcomes_total Outcomes mgmtd accepted.\n"
	    "# TYPE upgate_forward_outcomes_total counter\n"
	    "upgate_forward_outcomes_total %llu\n"
	    "# HELP upgate_forward_batches_total Batches mgmtd accepted.\n"
	    "# TYPE upgate_forward_batches_total counter\n"
	    "upgate_forward_batches_total %llu\n"
	    "# HELP upgate_forward_failures_total Batches not accepted "
	    "(mgmtd down or refusing).\n"
	    "# TYPE upgate_forward_failures_total counter\n"
	    "upgate_forward_failures_total %llu\n"
	    "# HELP upgate_forward_last_success_seconds Unix time of the "
	    "last accepted batch (0: none).\n"
	    "# TYPE upgate_forward_last_success_seconds gauge\n"
	    "upgate_forward_last_success_seconds %.3f\n",
	    (unsigned long long)sent, (unsigned long long)batches,
	    (unsigned long long)failures, (double)last / 1000.0);
}

void
forward_stop(struct forward *f)
{
	if (f == NULL)
		return;
	if (f->started)
		worker_stop(&f->w);
	curl_easy_cleanup(f->curl);
	secret_free(f->secret);
	free(f->url);
	free(f);
}
