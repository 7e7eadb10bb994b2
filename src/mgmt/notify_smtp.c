/* SPDX-License-Identifier: MIT */
/* Email through an SMTP server with libESMTP: STARTTLS no/try/required,
 * the relay's certificate checked against [email] ca_file or the system's
 * CAs, AUTH from a password file, timeouts, and the server's answer
 * checked. */
#include <stddef.h> /* before libesmtp.h, which needs size_t */

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h> /* before libesmtp.h: smtp_starttls_set_ctx */
#include <openssl/x509.h>

#include <auth-client.h>
#include <libesmtp.h>

#include "notify.h"
#include "upgate/ts.h"

/* How much sooner than [email] timeout a silence still counts as one
 * (timers and scheduling). */
#define SILENCE_SLACK_MS 250

struct msg {
	const char *text;
	size_t len;
};

struct rcpt_tally {
	int accepted, refused;
	char first_error[200];
};

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;

static void
auth_init(void)
{
	auth_client_init();
}

/* libESMTP reads the message through this: len NULL rewinds; the whole
 * text goes in one chunk, then *len = 0 ends it. *ctx is malloc'd because
 * the library frees it. */
static const char *
msg_cb(void **ctx, int *len, void *arg)
{
	struct msg *m = arg;
	size_t *sent = *ctx;

	if (sent == NULL) {
		if ((sent = calloc(1, sizeof(*sent))) == NULL)
			return NULL;
		*ctx = sent;
	}
	if (len == NULL) {
		*sent = 0;
		return NULL;
	}
	if (*sent >= 1) {
		*len = 0;
		return NULL;
	}
	*sent = 1;
	*len = (int)m->len;
	return m->text;
}

struct creds {
	char *user, *pass;
};

static int
interact(auth_client_request_t req, char **result, int fields, void *arg)
{
	struct creds *cr = arg;

	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = cr->user;
		else if (req[i].flags & AUTH_PASS)
			result[i] = cr->pass;
		else
			return 0;
	}
	return 1;
}

/* The server's text without its CRLF. */
static void
status_text(const smtp_status_t *st, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%d %s", st->code, st->text ? st->text : "");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
}

static void
tally(smtp_recipient_t r, const char *mailbox, void *arg)
{
	struct rcpt_tally *t = arg;
	const smtp_status_t *st = smtp_recipient_status(r);

	if (st != NULL && st->code >= 200 && st->code < 300) {
		t->accepted++;
		return;
	}
	t->refused++;
	if (t->first_error[0] == '\0' && st != NULL) {
		char s[160];

		status_text(st, s, sizeof(s));
		snprintf(t->first_error, sizeof(t->first_error), "%s: %s",
		    mailbox, s);
	}
}

/* A context for STARTTLS trusting ca_file's CAs ("": the system's). NULL
 * and why on failure. */
static SSL_CTX *
tls_context(const char *ca_file, char *why, size_t len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ok;

	if (ctx == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	/* TLS 1.2 only: under 1.3, libESMTP 1.1 ended about one session in
	 * five right after STARTTLS (EHLO sent, QUIT before the answer was
	 * read), likely when the relay's post-handshake session tickets came
	 * in a read of their own. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	ERR_clear_error();
	ok = ca_file[0] != '\0'
		 ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
		 : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		unsigned long e = ERR_peek_last_error();
		const char *r = e ? ERR_reason_error_string(e) : NULL;

		snprintf(why, len, "%s", r ? r : "no certificate in it");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
notify_smtp_ca_check(const char *ca_file, char *why, size_t len)
{
	SSL_CTX *ctx = tls_context(ca_file, why, len);

	SSL_CTX_free(ctx);
	return ctx != NULL ? 0 : -EINVAL;
}

/* Whether one of host's addresses takes a connection within ms. libESMTP
 * connects with no timeout: a relay whose SYNs go unanswered held the
 * alert worker, and every channel's deliveries behind it, for the
 * kernel's two minutes per attempt. 0, or -errno and why. */
static int
reachable(const char *host, int64_t port, int64_t ms, char *why, size_t len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	char service[8];
	int err, last = ETIMEDOUT;

	snprintf(service, sizeof(service), "%lld", (long long)port);
	if ((err = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(
		    why, len, "cannot resolve %s: %s", host, gai_strerror(err));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd p = {.events = POLLOUT};
		socklen_t sl = sizeof(err);

		p.fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (p.fd < 0) {
			last = errno;
			continue;
		}
		if (connect(p.fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			err = 0;
		} else if ((err = errno) == EINPROGRESS) {
			int r = poll(&p, 1, (int)ms);

			if (r == 0)
				err = ETIMEDOUT;
			else if (r < 0 || getsockopt(p.fd, SOL_SOCKET, SO_ERROR,
					      &err, &sl) < 0)
				err = errno;
		}
		close(p.fd);
		if (err == 0) {
			freeaddrinfo(res);
			return 0;
		}
		last = err;
	}
	freeaddrinfo(res);
	snprintf(why, len, "cannot connect: %s", strerror(last));
	return -last;
}

/* Why a session stopped short, from libESMTP's events: it reports TLS
 * trouble only there, and then just ends the session. refusal is the
 * relay's first 4xx/5xx reply: an AUTH refusal shows only there. */
struct smtp_note {
	char why[320];
	char refusal[160];
	int64_t last_io; /* monotonic ms of the last line either way */
	bool greeted;	 /* a line came from the relay */
	char last[24];	 /* what we sent last: "EHLO", "AUTH", ... */
};

/* The command a line we wrote starts: its verb ("EHLO", "AUTH"), or
 * up to its colon for MAIL FROM and RCPT TO. */
static void
note_command(struct smtp_note *n, const char *buf, int len)
{
	const char *colon = memchr(buf, ':', (size_t)len);
	int k = 0;

	while (k < len && buf[k] >= 'A' && buf[k] <= 'Z')
		k++;
	if (k == 4 && colon != NULL &&
	    (strncmp(buf, "MAIL", 4) == 0 || strncmp(buf, "RCPT", 4) == 0))
		k = (int)(colon - buf);
	if (k > 0 && k < (int)sizeof(n->last))
		snprintf(n->last, sizeof(n->last), "%.*s", k, buf);
}

static void
on_monitor(const char *buf, int len, int writing, void *arg)
{
	struct smtp_note *n = arg;
	int end = len;

	n->last_io = ts_mono_ms();
	if (writing == SMTP_CB_WRITING)
		note_command(n, buf, len);
	if (writing != SMTP_CB_READING)
		return;
	n->greeted = true;
	if (len >= 3 && strncmp(buf, "354", 3) == 0)
		snprintf(n->last, sizeof(n->last), "the message");
	if (n->refusal[0] != '\0' || len < 1 ||
	    (buf[0] != '4' && buf[0] != '5'))
		return;
	while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
		end--;
	snprintf(n->refusal, sizeof(n->refusal), "%.*s", end, buf);
}

static void
on_event(smtp_session_t s, int ev, void *arg, ...)
{
	struct smtp_note *n = arg;
	va_list ap;
	int *ok;

	(void)s;
	va_start(ap, arg);
	switch (ev) {
	case SMTP_EV_INVALID_PEER_CERTIFICATE: {
		long result = va_arg(ap, long);

		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(n->why, sizeof(n->why),
		    "the relay's certificate is not trusted: %s",
		    X509_verify_cert_error_string(result));
		break;
	}
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(
		    n->why, sizeof(n->why), "the relay sent no certificate");
		break;
	case SMTP_EV_WRONG_PEER_CERTIFICATE: {
		const char *name;

		ok = va_arg(ap, int *);
		name = va_arg(ap, const char *);
		*ok = 0;
		snprintf(n->why, sizeof(n->why),
		    "the relay's certificate is for another name (%s)",
		    name && name[0] ? name : "none");
		break;
	}
	case SMTP_EV_EXTNA_STARTTLS:
		snprintf(n->why, sizeof(n->why),
		    "STARTTLS is required and the relay does not offer it");
		break;
	default:
		break;
	}
	va_end(ap);
}

/* A session that ended without the message: when nothing came for the
 * whole timeout, the relay stopped answering, and the reason says so
 * (libESMTP itself only ends the session). */
static void
ended(const struct mg_conf *c, struct smtp_note *n)
{
	if (n->why[0] != '\0' ||
	    ts_mono_ms() - n->last_io < c->smtp_timeout - SILENCE_SLACK_MS)
		return;
	if (!n->greeted)
		snprintf(n->why, sizeof(n->why),
		    "timed out: no greeting within %lld s",
		    (long long)(c->smtp_timeout / 1000));
	else
		snprintf(n->why, sizeof(n->why),
		    "timed out: the relay stopped answering after %s "
		    "(timeout %lld s)",
		    n->last[0] ? n->last : "its greeting",
		    (long long)(c->smtp_timeout / 1000));
}

static int
smtp_send(const struct mg_conf *c, const struct delivery *d, int64_t now,
    char *err, size_t errlen, bool *permanent)
{
	static const enum starttls_option modes[] = {
	    [MG_TLS_NO] = Starttls_DISABLED,
	    [MG_TLS_TRY] = Starttls_ENABLED,
	    [MG_TLS_REQUIRED] = Starttls_REQUIRED,
	};
	static const int timeouts[] = {Timeout_GREETING, Timeout_ENVELOPE,
	    Timeout_DATA, Timeout_TRANSFER, Timeout_DATA2};
	smtp_session_t s = NULL;
	smtp_message_t m;
	auth_context_t auth = NULL;
	const smtp_status_t *st;
	struct rcpt_tally t = {0};
	struct msg body = {0};
	struct creds cr = {c->smtp_username, c->smtp_password};
	struct smtp_note note = {.why = ""};
	SSL_CTX *tls = NULL;
	char server[300], rcpt[256], text[160];
	char *msg = NULL;
	int r = -EIO, n = 0;

	if ((r = notify_email_message(c, d, now, &msg, &body.len)) < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	body.text = msg;
	r = -EIO;
	snprintf(server, sizeof(server), "%s:%lld", c->smtp_host,
	    (long long)c->smtp_port);
	if ((s = smtp_create_session()) == NULL ||
	    (m = smtp_add_message(s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	if ((r = reachable(c->smtp_host, c->smtp_port, c->smtp_timeout, text,
		 sizeof(text))) < 0) {
		snprintf(err, errlen, "SMTP %s: %s", server, text);
		goto out;
	}
	r = -EIO;
	smtp_set_server(s, server);
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++)
		smtp_set_timeout(s,
		    timeouts[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
		    (long)c->smtp_timeout);
	smtp_starttls_enable(s, modes[c->starttls]);
	smtp_set_eventcb(s, on_event, &note);
	smtp_set_monitorcb(s, on_monitor, &note, 0);
	note.last_io = ts_mono_ms();
	/* Our own context: the CAs are ca_file's or the system's, never what
	 * libESMTP would look for in $HOME. */
	if (c->starttls != MG_TLS_NO) {
		if ((tls = tls_context(c->smtp_ca_file, text, sizeof(text))) ==
		    NULL) {
			snprintf(err, errlen, "cannot load the CAs of %s: %s",
			    c->smtp_ca_file[0] ? c->smtp_ca_file : "the system",
			    text);
			goto out;
		}
		smtp_starttls_set_ctx(s, tls); /* it takes a reference */
	}
	if (c->smtp_username[0] != '\0' && c->smtp_password != NULL) {
		pthread_once(&auth_once, auth_init);
		auth = auth_create_context();
		auth_set_mechanism_flags(auth, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(auth, interact, &cr);
		smtp_auth_set_context(s, auth);
	}
	smtp_set_reverse_path(m, c->mail_from);
	while (notify_list_item(c->mail_to, n, rcpt, sizeof(rcpt))) {
		smtp_add_recipient(m, rcpt);
		n++;
	}
	smtp_set_messagecb(m, msg_cb, &body);
	if (!smtp_start_session(s)) {
		char e[128];
		int code = smtp_errno();

		ended(c, &note);
		snprintf(err, errlen, "SMTP %s: %s", server,
		    note.why[0] ? note.why
		    : code < 0	? strerror(-code)
				: smtp_strerror(code, e, sizeof(e)));
		goto out;
	}
	st = smtp_message_transfer_status(m);
	smtp_enumerate_recipients(m, tally, &t);
	if (st == NULL || st->code == 0) {
		const smtp_status_t *from = smtp_reverse_path_status(m);
		bool before;

		if (from != NULL && from->code != 0 && from->code != 250) {
			/* MAIL FROM refused: 4xx is worth retrying. After a
			 * refused AUTH, say that too. */
			status_text(from, text, sizeof(text));
			before = note.refusal[0] != '\0' &&
				 strncmp(note.refusal, text, 3) != 0;
			snprintf(err, errlen,
			    "SMTP %s refused the sender: %s%s%s", server, text,
			    before ? ", after " : "",
			    before ? note.refusal : "");
			*permanent = from->code >= 500;
			goto out;
		}
	}
	if (st == NULL || st->code == 0) {
		ended(c, &note);
		if (note.why[0] == '\0')
			snprintf(note.why, sizeof(note.why),
			    "the session ended before the message was "
			    "accepted%s%s%s",
			    note.refusal[0] ? " (" : "", note.refusal,
			    note.refusal[0] ? ")" : "");
		snprintf(err, errlen, "SMTP %s: %s", server, note.why);
		goto out;
	}
	if (st->code != 250 || t.accepted == 0) {
		status_text(st, text, sizeof(text));
		snprintf(err, errlen, "SMTP %s refused the message: %s%s%s",
		    server, text, t.first_error[0] ? "; " : "", t.first_error);
		*permanent =
		    st->code >= 500 || (st->code == 250 && t.accepted == 0);
		goto out;
	}
	if (t.refused > 0)
		snprintf(err, errlen,
		    "sent, but refused for %d recipient(s): %s", t.refused,
		    t.first_error);
	r = 0;
out:
	if (s != NULL)
		smtp_destroy_session(s);
	if (auth != NULL)
		auth_destroy_context(auth);
	SSL_CTX_free(tls);
	free(msg);
	return r;
}

const struct notify_backend notify_smtp = {"smtp", smtp_send};
