/* SPDX-License-Identifier: MIT */
/* Alert channels: what each message says, and the backends that carry it. */
#ifndef MG_NOTIFY_H
#define MG_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg.h"
#include "store.h"

#define NOTIFY_SMS_MAX 159 /* an SMS body stays under 160 characters */

/* An alert's texts, malloc'd: the email subject and body (LF line ends),
 * and the short text for SMS and pop-ups. */
struct notify_text {
	char *subject, *body, *sms;
};
void notify_text_fini(struct notify_text *t);

/* Render a failed or timed_out outcome. 0 or -ENOMEM. */
int notify_render_failure(const struct outcome *o, struct notify_text *t);
/* Render the digest of n of total waiting failures of app/version. */
int notify_render_digest(const char *app, const char *version,
    const struct waiting *w, int n, int64_t total, struct notify_text *t);
/* Render a halt notice; folded failures were waiting, inhibited
 * deliveries were replaced. */
int notify_render_halt(const struct outcome *o, int64_t folded,
    int64_t inhibited, struct notify_text *t);

/* The RFC 5322 message (CRLF line ends) for delivery d, malloc'd in *out.
 * now is its Date. 0 or -ENOMEM. */
int notify_email_message(const struct mg_conf *c, const struct delivery *d,
    int64_t now, char **out, size_t *len);

/* Deliver d on its channel with the settings in c. Blocks (network, disk):
 * call only from the alert worker. Returns 0 when delivered, else -errno
 * with the reason in err and *permanent set when the channel refused it
 * for good (it is still retried: a config fix may make it deliverable). */
int notify_send(const struct mg_conf *c, const struct delivery *d, int64_t now,
    char *err, size_t errlen, bool *permanent);

/* Backends (notify_<impl>.c), one per way out. Same contract. */
struct notify_backend {
	const char *name;
	int (*send)(const struct mg_conf *c, const struct delivery *d,
	    int64_t now, char *err, size_t errlen, bool *permanent);
};
extern const struct notify_backend notify_smtp;

/* Whether ca_file can serve as the CAs the relay's certificate is checked
 * against: 0, or -EINVAL and why. */
int notify_smtp_ca_check(const char *ca_file, char *why, size_t len);
extern const struct notify_backend notify_spool;
extern const struct notify_backend notify_sms;
/* The webhook: one signed JSON object per alert. */
extern const struct notify_backend notify_webhook;
/* How long a webhook or Alertmanager post may take, connect to answer. */
#define NOTIFY_HOOK_TIMEOUT_MS 10000
/* Alertmanager: each alert to every instance [alertmanager] url lists. */
extern const struct notify_backend notify_alertmanager;
/* Post d's alert, active until ends_at (ms; now or earlier ends it). 0,
 * or -errno with the first instance's reason in err. */
int notify_alertmanager_post(const struct mg_conf *c, const struct delivery *d,
    int64_t ends_at, char *err, size_t errlen, bool *permanent);
/* How long a halt alert stays active unless sent again: three of the
 * intervals it is sent again at while the release stays halted. */
#define NOTIFY_HALT_HOLD(c) (3 * (c)->alertmanager_resend)

/* Whether an HTTP channel's answer status refuses for good: a 4xx but a
 * timeout or rate limit will not change by retrying (the delivery is
 * still retried, as every failed one). */
bool notify_http_permanent(long status);

/* The i-th (from 0) place an alert goes under c, in order: email (one
 * message to every address in [email] to), each SMS number, the
 * webhook, Alertmanager, the dashboard pop-up: its channel and whom it
 * is for, as the API shows it (the addresses, the number, the webhook's
 * scheme and host, the Alertmanager URL, "dashboard"). False past the
 * last. */
bool notify_recipient(const struct mg_conf *c, int i, char *channel,
    size_t chlen, char *who, size_t len);

/* Where a URL goes, as an operator may see it: scheme and host, and
 * "/..." for the rest, which may hold a secret (a Slack webhook's path
 * is its key). */
void notify_url_shown(const char *url, char *out, size_t len);

/* The i-th item of a comma-separated list, trimmed, into buf. False when
 * there is none. */
bool notify_list_item(const char *list, int i, char *buf, size_t len);

#endif
