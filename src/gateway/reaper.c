/* SPDX-License-Identifier: MIT */
/* The reaper: upgrades with no final report by session_timeout time out. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw.h"
#include "upgate/dur.h"
#include "upgate/log.h"
#include "upgate/worker.h"
#include "upgate/ts.h"

#define BATCH 256

struct reaper {
	struct gw *gw;
	struct worker w;
};

int
reaper_expire(
    struct gw *gw, struct upgrade *u, int64_t now, const struct gw_settings *s)
{
	struct finish_opts fo;
	char msg[128], d[32];
	bool halted = false;
	int err;

	dur_format(s->session_timeout, d, sizeof(d));
	snprintf(msg, sizeof(msg),
	    "no final report within the session "
	    "timeout (%s)",
	    d);
	gw_finish_opts(s, &fo);
	err = store_upgrade_finish(
	    gw->writer, u, UPG_TIMED_OUT, "timed_out", msg, now, &fo, &halted);
	if (err < 0)
		return err;
	gw->outbox_added = true;
	if (halted)
		log_warn("release %s %s halted: failure rate over %.2f", u->app,
		    u->to_version, s->halt_failure_rate);
	return 0;
}

int
reaper_run_once(struct gw *gw)
{
	struct gw_settings s;
	int64_t ids[BATCH];
	int total = 0, n, err;

	gw_settings_get(gw, &s);
	do {
		int64_t now = ts_now_ms();

		if ((err = gw_write_begin(gw)) < 0)
			return err;
		n = store_upgrade_expired(
		    gw->writer, now - s.session_timeout, ids, BATCH);
		err = n < 0 ? n : 0;
		for (int i = 0; err == 0 && i < n; i++) {
			struct upgrade u;

			if ((err = store_upgrade_get_row(
				 gw->writer, ids[i], &u)) < 0)
				break;
			err = reaper_expire(gw, &u, now, &s);
			if (err == -EALREADY)
				err = 0;
			store_upgrade_fini(&u);
		}
		if ((err = gw_write_end(gw, err)) < 0)
			return err;
		total += n;
	} while (n == BATCH);
	if (total > 0)
		log_info("reaper: %d upgrade(s) timed out", total);
	return total;
}

static void
reaper_main(struct worker *w, void *arg)
{
	struct reaper *r = arg;
	int64_t period;

	do {
		struct gw_settings s;

		if (reaper_run_once(r->gw) < 0)
			log_err("reaper: pass failed; trying again later");
		gw_settings_get(r->gw, &s);
		/* A tenth of the timeout, within 1 s .. 60 s. */
		period = s.session_timeout / 10;
		period = period < 1000 ? 1000 : period > 60000 ? 60000 : period;
	} while (worker_sleep(w, period, false));
}

int
reaper_start(struct gw *gw, struct reaper **out)
{
	struct reaper *r = calloc(1, sizeof(*r));
	int err;

	if (r == NULL)
		return -ENOMEM;
	r->gw = gw;
	if ((err = worker_start(&r->w, reaper_main, r)) < 0) {
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

void
reaper_stop(struct reaper *r)
{
	if (r == NULL)
		return;
	worker_stop(&r->w);
	free(r);
}
