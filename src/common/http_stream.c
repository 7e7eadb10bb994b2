/* SPDX-License-Identifier: MIT */
/* Server-sent event streams: each open stream's bytes wait in its
 * buffer; publishing appends to every stream and resumes it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

#include "upgate/buf.h"

/* One open text/event-stream. Its bytes wait in out until MHD asks for
 * them; with none waiting the connection is suspended, and publishing
 * resumes it. All fields under the server's streams_lock. */
struct http_stream {
	struct http_server *s;
	struct MHD_Connection *conn;
	struct buf out;
	size_t off;	/* bytes of out already given to MHD */
	bool suspended; /* MHD_suspend_connection() was called */
	bool closed;	/* end the stream at the next read */
	char caller[ACCESS_NAME_MAX + 1]; /* the token it was opened with */
	struct http_stream *next, **pprev;
};

#define STREAM_MAX_BEHIND (1u << 20)
#define STREAM_KEEPALIVE_MS 15000

int
http_reply_stream(struct resp *rs)
{
	rs->status = 200;
	rs->stream = true;
	return 0;
}

/* Append text to st, waking its connection. Under streams_lock. */
static void
stream_push(struct http_stream *st, const char *text, size_t len)
{
	if (st->closed)
		return;
	if (st->out.len - st->off + len > STREAM_MAX_BEHIND ||
	    buf_add(&st->out, text, len) < 0)
		st->closed = true; /* too slow: let it reconnect */
	if (st->suspended) {
		st->suspended = false;
		MHD_resume_connection(st->conn);
	}
}

void
http_stream_publish(struct http_server *s, const char *text, size_t len)
{
	pthread_mutex_lock(&s->streams_lock);
	for (struct http_stream *st = s->streams; st != NULL; st = st->next)
		stream_push(st, text, len);
	pthread_mutex_unlock(&s->streams_lock);
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *st = cls;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&st->s->streams_lock);
	if (st->off < st->out.len) {
		n = (ssize_t)(st->out.len - st->off < max
				  ? st->out.len - st->off
				  : max);
		memcpy(buf, st->out.p + st->off, (size_t)n);
		st->off += (size_t)n;
		if (st->off == st->out.len)
			st->off = st->out.len = 0; /* reuse the buffer */
	} else if (st->closed) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* Nothing to send: park the connection until stream_push. */
		st->suspended = true;
		MHD_suspend_connection(st->conn);
		n = 0;
	}
	pthread_mutex_unlock(&st->s->streams_lock);
	return n;
}

static void
stream_free(void *cls)
{
	struct http_stream *st = cls;
	struct http_server *s = st->s;

	pthread_mutex_lock(&s->streams_lock);
	*st->pprev = st->next;
	if (st->next != NULL)
		st->next->pprev = st->pprev;
	pthread_mutex_unlock(&s->streams_lock);
	buf_free(&st->out);
	free(st);
}

/* End the streams opened with token name (NULL: every one, for good);
 * suspended ones are resumed to finish. */
static void
close_streams(struct http_server *s, const char *name)
{
	pthread_mutex_lock(&s->streams_lock);
	if (name == NULL)
		s->streams_closed = true;
	for (struct http_stream *st = s->streams; st != NULL; st = st->next) {
		if (name != NULL && strcmp(st->caller, name) != 0)
			continue;
		st->closed = true;
		if (st->suspended) {
			st->suspended = false;
			MHD_resume_connection(st->conn);
		}
	}
	pthread_mutex_unlock(&s->streams_lock);
}

void
http_streams_close(struct http_server *s)
{
	close_streams(s, NULL);
}

void
http_streams_close_caller(struct http_server *s, const char *name)
{
	close_streams(s, name);
}

static void
keepalive_main(struct worker *w, void *arg)
{
	struct http_server *s = arg;
	static const char ping[] = ": keepalive\n\n";

	while (worker_sleep(w, STREAM_KEEPALIVE_MS, false))
		http_stream_publish(s, ping, sizeof(ping) - 1);
}

/* Register it, start the keep-alive pings. */
struct MHD_Response *
http_stream_open(struct conn_req *cr)
{
	static const char hello[] = "retry: 2000\n: connected\n\n";
	struct http_server *s = cr->r.server;
	struct http_stream *st = calloc(1, sizeof(*st));
	struct MHD_Response *mr;

	if (st == NULL || buf_add(&st->out, hello, sizeof(hello) - 1) < 0) {
		free(st);
		return NULL;
	}
	st->s = s;
	st->conn = cr->r.conn;
	snprintf(st->caller, sizeof(st->caller), "%s", cr->caller.name);
	mr = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
	if (mr == NULL) {
		buf_free(&st->out);
		free(st);
		return NULL;
	}
	pthread_mutex_lock(&s->streams_lock);
	st->closed = s->streams_closed;
	st->next = s->streams;
	if (st->next != NULL)
		st->next->pprev = &st->next;
	st->pprev = &s->streams;
	s->streams = st;
	if (!s->keepalive_started &&
	    worker_start(&s->keepalive, keepalive_main, s) == 0)
		s->keepalive_started = true;
	pthread_mutex_unlock(&s->streams_lock);
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(mr, "X-Accel-Buffering", "no");
	return mr;
}
