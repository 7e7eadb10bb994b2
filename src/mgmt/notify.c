/* SPDX-License-Identifier: MIT */
/* What alerts say (email, SMS, pop-up texts) and which backend carries them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "upgate/semver.h"
#include "upgate/ts.h"

void
notify_text_fini(struct notify_text *t)
{
	free(t->subject);
	free(t->body);
	free(t->sms);
	memset(t, 0, sizeof(*t));
}

/* s with control characters as spaces, at most max bytes; "-" for none. */
static void
clean(const char *s, char *out, size_t max)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0')
		s = "-";
	for (; *s && n + 1 < max; s++)
		out[n++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
	out[n] = '\0';
}

static const char *
when(int64_t ms, char buf[TS_LEN])
{
	if (ms <= 0)
		return "-";
	ts_format(ms, buf);
	return buf;
}

/* Close the streams into t; 0 or -ENOMEM (t then empty). */
static int
finish(FILE *subj, FILE *body, FILE *sms, struct notify_text *t)
{
	int bad = 0;

	bad |= subj == NULL || fclose(subj) != 0;
	bad |= body == NULL || fclose(body) != 0;
	bad |= sms == NULL || fclose(sms) != 0;
	if (bad) {
		notify_text_fini(t);
		return -ENOMEM;
	}
	/* An SMS body stays under 160 characters, ASCII only. */
	for (char *p = t->sms; *p; p++)
		if ((unsigned char)*p >= 0x7f)
			*p = '?';
	if (strlen(t->sms) > NOTIFY_SMS_MAX)
		t->sms[NOTIFY_SMS_MAX] = '\0';
	return 0;
}

/* Open the three texts of t as streams; their sizes land in n, which
 * must live until finish(). */
static void
open3(struct notify_text *t, size_t n[3], FILE **subj, FILE **body, FILE **sms)
{
	memset(t, 0, sizeof(*t));
	*subj = open_memstream(&t->subject, &n[0]);
	*body = open_memstream(&t->body, &n[1]);
	*sms = open_memstream(&t->sms, &n[2]);
}

int
notify_render_failure(const struct outcome *o, struct notify_text *t)
{
	char msg[1024], code[80], client[160], t1[TS_LEN], t2[TS_LEN];
	const char *from = semver_from_shown(o->from_version);
	FILE *subj, *body, *sms;
	size_t sizes[3];

	clean(o->message, msg, sizeof(msg));
	clean(o->error_code, code, sizeof(code));
	clean(o->client_id, client, sizeof(client));
	open3(t, sizes, &subj, &body, &sms);
	if (subj && body && sms) {
		fprintf(subj, "[upgate] %s %s -> %s %s on %s (%s)", o->app,
		    from, o->to_version,
		    strcmp(o->result, "timed_out") == 0 ? "TIMED OUT"
							: "FAILED",
		    client, code);
		fprintf(body,
		    "An upgrade %s.\n\n"
		    "App:         %s\n"
		    "From:        %s\n"
		    "To:          %s\n"
		    "Client:      %s\n"
		    "Platform:    %s\n"
		    "Result:      %s\n"
		    "Error code:  %s\n"
		    "Message:     %s\n"
		    "Upgrade id:  %s\n"
		    "Outcome id:  %s\n"
		    "Started:     %s\n"
		    "Finished:    %s\n"
		    "Gateway:     %s\n\n"
		    "Further failures of %s %s within the group window are\n"
		    "sent together in one digest.\n",
		    strcmp(o->result, "timed_out") == 0 ? "timed out"
							: "failed",
		    o->app, from, o->to_version, client,
		    o->platform ? o->platform : "-", o->result, code, msg,
		    o->upgrade_id, o->outcome_id, when(o->started_at, t1),
		    when(o->finished_at, t2), o->gateway_id, o->app,
		    o->to_version);
		fprintf(sms, "upgate: %s %s %s on %s: %s (%s%s, upgrade %.8s)",
		    o->app, o->to_version, o->result, client, code,
		    from == o->from_version ? "from " : "first install",
		    from == o->from_version ? from : "", o->upgrade_id);
	}
	return finish(subj, body, sms, t);
}

int
notify_render_digest(const char *app, const char *version,
    const struct waiting *w, int n, int64_t total, struct notify_text *t)
{
	FILE *subj, *body, *sms;
	size_t sizes[3];
	char msg[300], code[80], client[160], at[TS_LEN];

	open3(t, sizes, &subj, &body, &sms);
	if (subj && body && sms) {
		fprintf(subj, "[upgate] %lld more failure%s of %s %s",
		    (long long)total, total == 1 ? "" : "s", app, version);
		fprintf(body,
		    "%lld more upgrade%s to %s %s failed since the last "
		    "alert:\n\n",
		    (long long)total, total == 1 ? "" : "s", app, version);
		for (int i = 0; i < n; i++) {
			clean(w[i].message, msg, sizeof(msg));
			clean(w[i].error_code, code, sizeof(code));
			clean(w[i].client_id, client, sizeof(client));
			fprintf(body,
			    "- %s  client %s  from %s  %s  %s\n"
			    "  upgrade %s: %s\n",
			    when(w[i].finished_at, at), client,
			    semver_from_shown(w[i].from_version), w[i].result,
			    code, w[i].upgrade_id, msg);
		}
		if (total > n)
			fprintf(body, "... and %lld more.\n",
			    (long long)(total - n));
		fprintf(body,
		    "\nAll of them: GET /v1/outcomes?app=%s&version=%s on "
		    "upgate-mgmtd.\n",
		    app, version);
		fprintf(sms, "upgate: %lld more failure%s of %s %s",
		    (long long)total, total == 1 ? "" : "s", app, version);
		if (n > 0) {
			clean(w[0].error_code, code, sizeof(code));
			fprintf(sms, " (first: %s)", code);
		}
	}
	return finish(subj, body, sms, t);
}

int
notify_render_halt(const struct outcome *o, int64_t folded, int64_t inhibited,
    struct notify_text *t)
{
	FILE *subj, *body, *sms;
	size_t sizes[3];
	char at[TS_LEN];

	open3(t, sizes, &subj, &body, &sms);
	if (subj && body && sms) {
		fprintf(subj,
		    "[upgate] HALTED %s %s: %lld of %lld upgrades failed "
		    "(%.0f%%)",
		    o->app, o->to_version, (long long)o->halt_failed,
		    (long long)o->halt_finished, o->halt_rate * 100);
		fprintf(body,
		    "Release %s %s (channel %s) was halted: it is no longer "
		    "offered to clients.\n\n"
		    "Finished upgrades:  %lld\n"
		    "Failed:             %lld\n"
		    "Failure rate:       %.4f (halt threshold %.4f)\n"
		    "Halted at:          %s\n"
		    "Gateway:            %s\n\n",
		    o->app, o->to_version, o->channel ? o->channel : "-",
		    (long long)o->halt_finished, (long long)o->halt_failed,
		    o->halt_rate, o->halt_threshold, when(o->finished_at, at),
		    o->gateway_id);
		if (folded > 0 || inhibited > 0)
			fprintf(body,
			    "This alert replaces %lld failure alert "
			    "deliver%s not yet sent and %lld failure%s "
			    "waiting for a digest.\n\n",
			    (long long)inhibited, inhibited == 1 ? "y" : "ies",
			    (long long)folded, folded == 1 ? "" : "s");
		fprintf(body,
		    "Failures: GET /v1/outcomes?app=%s&version=%s on "
		    "upgate-mgmtd.\n"
		    "Resume it (after a fix) on the gateway:\n"
		    "  PATCH /v1/admin/releases/%s/%s {\"halted\": false}\n",
		    o->app, o->to_version, o->app, o->to_version);
		fprintf(sms,
		    "upgate: HALTED %s %s, %lld of %lld upgrades failed",
		    o->app, o->to_version, (long long)o->halt_failed,
		    (long long)o->halt_finished);
	}
	return finish(subj, body, sms, t);
}

/* Append text with LF (or CRLF) line ends as CRLF, hard-wrapping lines at
 * 900 bytes so no line passes SMTP's 998. */
static void
put_crlf(FILE *f, const char *s)
{
	size_t col = 0;

	for (; *s; s++) {
		if (*s == '\r')
			continue;
		if (*s == '\n' || col == 900) {
			fputs("\r\n", f);
			col = 0;
			if (*s == '\n')
				continue;
		}
		fputc(*s, f);
		col++;
	}
}

int
notify_email_message(const struct mg_conf *c, const struct delivery *d,
    int64_t now, char **out, size_t *len)
{
	char date[64], rcpt[256];
	time_t secs = (time_t)(now / 1000);
	struct tm tm;
	FILE *f;

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	*out = NULL;
	if ((f = open_memstream(out, len)) == NULL)
		return -ENOMEM;
	fprintf(f, "Date: %s\r\nFrom: %s\r\nTo: ", date, c->mail_from);
	for (int i = 0; notify_list_item(c->mail_to, i, rcpt, sizeof(rcpt));
	     i++)
		fprintf(f, "%s%s", i ? ", " : "", rcpt);
	fprintf(f,
	    "\r\nSubject: %s\r\n"
	    "Message-ID: <%s.%lld@upgate-mgmtd>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "X-Upgate-Alert-Id: %s\r\n"
	    "Auto-Submitted: auto-generated\r\n\r\n",
	    d->subject, d->alert_id, (long long)d->id, d->alert_id);
	put_crlf(f, d->body);
	fputs("\r\n", f);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

bool
notify_list_item(const char *list, int i, char *buf, size_t len)
{
	const char *p = list ? list : "";

	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0 && i-- == 0) {
			snprintf(buf, len, "%.*s", (int)n, p);
			return true;
		}
		if (end == NULL)
			return false;
		p = end + 1;
	}
}

int
notify_send(const struct mg_conf *c, const struct delivery *d, int64_t now,
    char *err, size_t errlen, bool *permanent)
{
	const struct notify_backend *b = NULL;

	*permanent = false;
	if (strcmp(d->channel, "email") == 0)
		b = c->smtp_host[0] ? &notify_smtp : &notify_spool;
	else if (strcmp(d->channel, "sms") == 0)
		b = &notify_sms;
	else if (strcmp(d->channel, "webhook") == 0)
		b = &notify_webhook;
	else if (strcmp(d->channel, "alertmanager") == 0)
		b = &notify_alertmanager;
	if (b == NULL) {
		snprintf(err, errlen, "no backend for channel %s", d->channel);
		*permanent = true;
		return -EINVAL;
	}
	return b->send(c, d, now, err, errlen, permanent);
}

bool
notify_http_permanent(long status)
{
	return status >= 400 && status < 500 && status != 408 && status != 429;
}

void
notify_url_shown(const char *url, char *out, size_t len)
{
	const char *host = strstr(url, "://");
	size_t n = host ? strcspn(host + 3, "/?#") + (size_t)(host + 3 - url)
			: strlen(url);

	snprintf(out, len, "%.*s%s", (int)n, url, url[n] != '\0' ? "/..." : "");
}

/* Set the pair (channel, who) when k, counting each pair, reaches i. */
static bool
pick(int i, int *k, const char *channel, const char *who, char *ch,
    size_t chlen, char *out, size_t len)
{
	if ((*k)++ != i)
		return false;
	snprintf(ch, chlen, "%s", channel);
	snprintf(out, len, "%s", who);
	return true;
}

bool
notify_recipient(const struct mg_conf *c, int i, char *channel, size_t chlen,
    char *who, size_t len)
{
	char item[STORE_NAME_MAX + 1], shown[512];
	int k = 0;

	if (notify_list_item(c->mail_to, 0, item, sizeof(item)) &&
	    pick(i, &k, "email", c->mail_to, channel, chlen, who, len))
		return true;
	for (int n = 0; c->sms_url[0] != '\0' &&
			notify_list_item(c->sms_to, n, item, sizeof(item));
	     n++)
		if (pick(i, &k, "sms", item, channel, chlen, who, len))
			return true;
	if (c->webhook_url[0] != '\0') {
		notify_url_shown(c->webhook_url, shown, sizeof(shown));
		if (pick(i, &k, "webhook", shown, channel, chlen, who, len))
			return true;
	}
	if (c->alertmanager_url[0] != '\0' &&
	    pick(i, &k, "alertmanager", c->alertmanager_url, channel, chlen,
		who, len))
		return true;
	return pick(i, &k, "popup", "dashboard", channel, chlen, who, len);
}
