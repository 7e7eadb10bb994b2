/* SPDX-License-Identifier: MIT */
/* POST /v1/alerts/test: a test alert, clearly marked as one, through each
 * configured channel (or the one asked for), so an operator can check
 * the mail relay, the SMS provider, the webhook and Alertmanager without
 * waiting for a real failure. It goes out at once, on a thread of its
 * own while the request is parked (a silent relay may take [email]
 * timeout), and stores nothing: no alert, no delivery, no statistics,
 * no group. The answer says per channel and recipient whether the
 * channel accepted it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg.h"
#include "notify.h"
#include "upgate/id.h"
#include "upgate/ts.h"

/* Whether alerts go to channel ch under c. */
static bool
configured(const struct mg_conf *c, const char *ch)
{
	char got[16], who[8];

	for (int i = 0;
	     notify_recipient(c, i, got, sizeof(got), who, sizeof(who)); i++)
		if (strcmp(got, ch) == 0)
			return true;
	return false;
}

struct test_job {
	struct mg *mg;
	struct mg_conf *conf; /* borrowed for the job */
	char channel[16];     /* "" every configured one */
	struct req *rq;
	json_t *results;
};

static void
job_free(void *arg)
{
	struct test_job *j = arg;

	mg_conf_put(j->mg, j->conf);
	json_decref(j->results);
	free(j);
}

/* Send d on its channel; its result, for who, to j's list. */
static void
try_one(struct test_job *j, struct delivery *d, const char *who, int64_t now)
{
	char err[512] = "";
	bool permanent = false;
	int rc = notify_send(j->conf, d, now, err, sizeof(err), &permanent);

	json_array_append_new(
	    j->results, json_pack("{s:s, s:s, s:b, s:s?}", "channel",
			    d->channel, "recipient", who, "accepted", rc == 0,
			    "error", rc == 0 ? NULL : err));
}

static void *
job_run(void *arg)
{
	struct test_job *j = arg;
	const struct mg_conf *c = j->conf;
	int64_t now = ts_now_ms();
	char subject[] = "[upgate] TEST alert: nothing failed";
	char body[] = "This is a test alert from upgate-mgmtd, sent on an "
		      "admin's request\n(upgatectl alerts test, or the "
		      "dashboard) to check this channel.\nNo upgrade failed; "
		      "nothing needs doing.\n";
	char sms[] = "upgate: TEST alert, nothing failed";
	char ids[] = "[]", who[4096];
	struct delivery d = {.created_at = now,
	    .subject = subject,
	    .body = body,
	    .sms = sms,
	    .upgrade_ids = ids,
	    .kind = "test",
	    .app = "upgate",
	    .version = "test"};

	id_new(d.alert_id);
	for (int i = 0; notify_recipient(
		 c, i, d.channel, sizeof(d.channel), who, sizeof(who));
	     i++) {
		if (j->channel[0] && strcmp(j->channel, d.channel) != 0)
			continue;
		if (strcmp(d.channel, "popup") == 0) {
			json_t *o = json_pack(
			    "{s:s, s:s}", "subject", subject, "text", sms);
			char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;

			/* Every open dashboard shows it; "accepted" when the
			 * stream took it, whoever is watching. */
			mg_announce(j->mg, "test", json ? json : "{}");
			free(json);
			json_decref(o);
			json_array_append_new(
			    j->results, json_pack("{s:s, s:s, s:b, s:n}",
					    "channel", "popup", "recipient",
					    who, "accepted", 1, "error"));
			continue;
		}
		/* The SMS backend sends to d.recipient. */
		snprintf(d.recipient, sizeof(d.recipient), "%.*s",
		    (int)sizeof(d.recipient) - 1, who);
		try_one(j, &d, who, now);
	}
	http_resume(j->rq, 0);
	return NULL;
}

static int
answer(struct req *rq, struct resp *rs, int err)
{
	struct test_job *j = req_state(rq);

	if (err < 0)
		return err;
	return http_reply(rs, 200, json_pack("{s:O}", "results", j->results));
}

int
h_alerts_test_post(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	const char *ch = req_query(rq, "channel");
	struct test_job *j;
	char list[96] = "", got[16], last[16] = "", who[8];
	pthread_t t;
	int err;

	if (ch == NULL && rq->body != NULL)
		ch = json_string_value(json_object_get(rq->body, "channel"));
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->results = json_array()) == NULL) {
		free(j);
		return -ENOMEM;
	}
	j->mg = mg;
	j->conf = mg_conf_get(mg);
	j->rq = rq;
	/* The configured channels, each once (SMS numbers come together). */
	for (int i = 0;
	     notify_recipient(j->conf, i, got, sizeof(got), who, sizeof(who));
	     i++)
		if (strcmp(got, last) != 0) {
			snprintf(list + strlen(list),
			    sizeof(list) - strlen(list), "%s%s",
			    list[0] ? ", " : "", got);
			snprintf(last, sizeof(last), "%s", got);
		}
	if (ch != NULL &&
	    (strlen(ch) >= sizeof(j->channel) || !configured(j->conf, ch))) {
		job_free(j);
		return http_error(rs, -EINVAL, "invalid_value", "channel",
		    "channel '%.32s' is not configured; configured: %s", ch,
		    list);
	}
	snprintf(j->channel, sizeof(j->channel), "%s", ch ? ch : "");
	http_suspend(rq, answer, j, job_free);
	if ((err = pthread_create(&t, NULL, job_run, j)) != 0) {
		http_suspend(rq, NULL, NULL, NULL);
		return -err;
	}
	pthread_detach(t);
	return 0;
}
