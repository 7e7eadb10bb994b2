/* SPDX-License-Identifier: MIT */
/* The edge of a request, before routing: the client's address (behind
 * trusted proxies), its rate, a body that could be read two ways, and
 * an encoded control character in the target. http_request.c asks these
 * first and answers the refusals. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

#include "upgate/ratelimit.h"
#include "upgate/ts.h"

/* Every X-Forwarded-For header of a request, joined by commas (an
 * intermediary may add a header rather than extend one). */
struct xff {
	char v[2100];
	size_t len;
	bool over;
};

static enum MHD_Result
xff_add(void *arg, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct xff *x = arg;
	size_t n = value ? strlen(value) : 0;

	(void)kind;
	if (strcasecmp(key, "X-Forwarded-For") != 0 || value == NULL)
		return MHD_YES;
	if (x->len + n + 2 >= sizeof(x->v)) {
		x->over = true;
		return MHD_NO;
	}
	if (x->len > 0)
		x->v[x->len++] = ',';
	memcpy(x->v + x->len, value, n + 1);
	x->len += n;
	return MHD_YES;
}

/* Set cr's client address once: the connection's peer, or, when the
 * peer is a trusted proxy, the address X-Forwarded-For names (SPEC,
 * "Behind a reverse proxy"). A forwarded list too long to be real is
 * not read: the peer it is. */
void
http_client_of(struct http_server *s, struct conn_req *cr)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    cr->r.conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct xff x = {.len = 0};

	if (cr->client_set || ci == NULL || ci->client_addr == NULL)
		return;
	cr->client_set = true;
	if (s->n_proxies > 0 &&
	    addr_in_ranges(ci->client_addr, s->proxies, s->n_proxies))
		MHD_get_connection_values(
		    cr->r.conn, MHD_HEADER_KIND, xff_add, &x);
	cr->forwarded =
	    addr_client(ci->client_addr, x.len > 0 && !x.over ? x.v : NULL,
		s->proxies, s->n_proxies, &cr->client) == 1;
	cr->r.client = (const struct sockaddr *)&cr->client;
}

/* Whether this client may make one more public request now; when not,
 * *retry_ms says how long until it may. */
bool
http_rate_ok(struct http_server *s, struct conn_req *cr, int64_t *retry_ms)
{
	if (!cr->client_set)
		return true;
	return ratelimit_take(s->rl, (const struct sockaddr *)&cr->client,
	    ts_mono_ms(), retry_ms);
}

/* The headers that say where a request's body ends (RFC 9112 section
 * 6), gathered from every header line: libmicrohttpd reads the first
 * Content-Length and knows only a lone "chunked". */
struct framing {
	int lengths;	/* Content-Length lines */
	int chunked;	/* "chunked" codings */
	char other[48]; /* the first other coding, "" none */
	bool te;	/* a Transfer-Encoding line */
};

static enum MHD_Result
framing_add(
    void *arg, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing *f = arg;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		/* "5, 5" is two values in one line. */
		f->lengths += value != NULL && strchr(value, ',') ? 2 : 1;
		return MHD_YES;
	}
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) != 0)
		return MHD_YES;
	f->te = true;
	for (const char *p = value ? value : ""; *p != '\0';) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 7 && strncasecmp(p, "chunked", 7) == 0)
			f->chunked++;
		else if (n > 0 && f->other[0] == '\0')
			snprintf(f->other, sizeof(f->other), "%.*s",
			    (int)(n < 40 ? n : 40), p);
		p += strcspn(p, ",");
	}
	return MHD_YES;
}

/* Refuse a request whose body could be read two ways (request
 * smuggling behind a proxy that reads it the other way), and a target
 * with an encoded control character (which libmicrohttpd's decoding
 * would cut or pass on): 400, or 501 for a transfer coding we do not
 * have; the connection is closed after, since where the next request
 * starts is unknown. NULL when the request is well framed. */
const char *
http_framing_refusal(
    struct conn_req *cr, const char *version, char *why, size_t len, int *err)
{
	struct framing f = {.lengths = 0};

	*err = -EBADMSG;
	if (cr->bad_target)
		return "the request target has an encoded control character";
	MHD_get_connection_values(cr->r.conn, MHD_HEADER_KIND, framing_add, &f);
	if (f.lengths > 1)
		return "the request has more than one Content-Length";
	if (f.te && f.lengths > 0)
		return "the request has both Content-Length and "
		       "Transfer-Encoding";
	if (f.te && strcmp(version, MHD_HTTP_VERSION_1_1) != 0)
		return "Transfer-Encoding needs HTTP/1.1";
	if (f.other[0] != '\0') {
		*err = -ENOSYS;
		snprintf(why, len,
		    "transfer coding '%s' is not supported (only chunked is)",
		    f.other);
		return why;
	}
	if (f.te && f.chunked != 1)
		return f.chunked ? "chunked is applied more than once"
				 : "Transfer-Encoding names no coding";
	return NULL;
}

bool
http_encodes_control(const char *uri)
{
	static const char hex[] = "0123456789abcdefABCDEF";

	for (const char *p = strchr(uri, '%'); p; p = strchr(p + 1, '%')) {
		const char *a = p[1] ? strchr(hex, p[1]) : NULL;
		const char *b = a && p[2] ? strchr(hex, p[2]) : NULL;
		int v;

		if (a == NULL || b == NULL)
			continue;
		v = (int)((a - hex < 16 ? a - hex : a - hex - 6) * 16 +
			  (b - hex < 16 ? b - hex : b - hex - 6));
		if (v < 0x20 || v == 0x7f)
			return true;
	}
	return false;
}
