/* SPDX-License-Identifier: MIT */
/* Admin queries: outcomes (pages, one, CSV), statistics, alert deliveries. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg.h"
#include "upgate/log.h"
#include "upgate/ts.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000

/* An optional filter that must be one of choices. */
static int
query_choice(struct req *rq, struct resp *rs, const char *key,
    const char *const *choices, const char **out)
{
	const char *s = req_query(rq, key);
	char list[160] = "";
	size_t off = 0;

	*out = NULL;
	if (s == NULL || s[0] == '\0')
		return 0;
	for (int i = 0; choices[i]; i++) {
		if (strcmp(s, choices[i]) == 0) {
			*out = choices[i];
			return 0;
		}
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off,
			    "%s%s", i ? ", " : "", choices[i]);
	}
	return http_error(rs, -EINVAL, "invalid_value", key,
	    "%s must be one of %s", key, list);
}

static const char *
query_str(struct req *rq, const char *key)
{
	const char *s = req_query(rq, key);

	return s && s[0] ? s : NULL;
}

static int
outcome_filter(struct req *rq, struct resp *rs, struct outcome_filter *f,
    int64_t dflt_limit)
{
	static const char *const results[] = {
	    "succeeded", "failed", "timed_out", "halted", NULL};
	static const char *const kinds[] = {
	    "upgrade", "rollback", "release_halted", "all", NULL};
	int err;

	memset(f, 0, sizeof(*f));
	f->app = query_str(rq, "app");
	f->version = query_str(rq, "version");
	f->client_id = query_str(rq, "client_id");
	if ((err = query_choice(rq, rs, "result", results, &f->result)) < 0 ||
	    (err = query_choice(rq, rs, "kind", kinds, &f->kind)) < 0 ||
	    (err = http_query_time(rq, rs, "since", &f->since)) < 0 ||
	    (err = http_query_time(rq, rs, "until", &f->until)) < 0 ||
	    (err = http_query_int(rq, rs, "limit", 1, dflt_limit ? MAX_LIMIT : 1e9,
		 dflt_limit, &f->limit)) < 0 ||
	    (err = http_query_int(rq, rs, "after", 1, INT64_MAX, 0, &f->after)) < 0)
		return err;
	return 0;
}

/* Answer {"<key>": <array text>, "next": cursor|null} without parsing the
 * array again. */
static int
reply_page(struct resp *rs, const char *key, char *array, int64_t next)
{
	char *body = NULL, cursor[32] = "null";

	if (next > 0)
		snprintf(cursor, sizeof(cursor), "\"%lld\"", (long long)next);
	if (asprintf(&body, "{\"%s\":%s,\"next\":%s}", key, array, cursor) <
	    0) {
		free(array);
		return -ENOMEM;
	}
	free(array);
	return http_reply_raw(rs, 200, "application/json", body, strlen(body));
}

static int
read_failed(struct resp *rs, int err)
{
	return http_error(rs, err < 0 && err != -ENOMEM ? -EIO : err,
	    "storage_unavailable", NULL, "the archive cannot be read: %s",
	    strerror(-err));
}

int
h_outcomes_get(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	struct outcome_filter f;
	char *json = NULL;
	int64_t next = 0;
	struct store_conn *db;
	int err;

	if ((err = outcome_filter(rq, rs, &f, DEFAULT_LIMIT)) < 0)
		return err;
	db = store_reader_get(mg->store);
	err = store_outcome_list(db, &f, &json, &next);
	store_reader_put(mg->store, db);
	if (err < 0)
		return read_failed(rs, err);
	return reply_page(rs, "outcomes", json, next);
}

/* An export is sent as the client reads it, CSV_PAGE rows at a time,
 * each page read from the archive in a short read of its own: a large
 * archive never sits in memory whole, nor holds a snapshot open while a
 * slow client downloads it. Pages go down by id from the newest row
 * when the export began: each row is sent once, and outcomes archived
 * later are not in it. */
#define CSV_PAGE 1000

struct csv_export {
	struct mg *mg;
	struct outcome_filter f; /* strings: copies in strs */
	char *strs[5];
	int64_t left; /* rows still wanted */
	bool header_sent, end;
	char *buf; /* the current page */
	size_t len, off;
};

static void
csv_free(void *arg)
{
	struct csv_export *x = arg;

	for (size_t i = 0; i < sizeof(x->strs) / sizeof(x->strs[0]); i++)
		free(x->strs[i]);
	free(x->buf);
	free(x);
}

/* Read the next page into x->buf. Returns 0 or -errno. */
static int
csv_page(struct csv_export *x)
{
	int64_t last, n;
	struct store_conn *db;
	FILE *out;
	int err;

	free(x->buf);
	x->buf = NULL;
	x->len = x->off = 0;
	if ((out = open_memstream(&x->buf, &x->len)) == NULL)
		return -ENOMEM;
	x->f.limit = x->left < CSV_PAGE ? x->left : CSV_PAGE;
	db = store_reader_get(x->mg->store);
	err = store_outcome_csv(db, &x->f, !x->header_sent, out, &last, &n);
	store_reader_put(x->mg->store, db);
	if (fclose(out) != 0 && err == 0)
		err = -ENOMEM;
	if (err < 0)
		return err;
	x->header_sent = true;
	x->left -= n;
	x->f.after = last;
	x->end = n < x->f.limit || x->left == 0;
	return 0;
}

static long
csv_read(void *arg, char *buf, size_t max)
{
	struct csv_export *x = arg;
	size_t n;
	int err;

	while (x->off == x->len) {
		if (x->end)
			return 0;
		if ((err = csv_page(x)) < 0) {
			log_err("outcomes.csv: the archive cannot be read: %s; "
				"cutting the export short",
			    strerror(-err));
			return -1;
		}
	}
	n = x->len - x->off < max ? x->len - x->off : max;
	memcpy(buf, x->buf + x->off, n);
	x->off += n;
	return (long)n;
}

int
h_outcomes_csv_get(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	struct csv_export *x;
	const char **str[sizeof(x->strs) / sizeof(x->strs[0])];
	int err;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return -ENOMEM;
	x->mg = mg;
	if ((err = outcome_filter(rq, rs, &x->f, 0)) < 0) {
		csv_free(x);
		return err;
	}
	str[0] = &x->f.app;
	str[1] = &x->f.version;
	str[2] = &x->f.result;
	str[3] = &x->f.client_id;
	str[4] = &x->f.kind;
	for (size_t i = 0; i < sizeof(str) / sizeof(str[0]); i++) {
		if (*str[i] == NULL)
			continue;
		if ((x->strs[i] = strdup(*str[i])) == NULL) {
			csv_free(x);
			return -ENOMEM;
		}
		*str[i] = x->strs[i];
	}
	x->left = x->f.limit > 0 ? x->f.limit : INT64_MAX;
	/* The first page before the answer: an archive that cannot be
	 * read is still a 503, not a cut 200. */
	if ((err = csv_page(x)) < 0) {
		csv_free(x);
		return read_failed(rs, err);
	}
	http_header(
	    rs, "Content-Disposition", "attachment; filename=\"outcomes.csv\"");
	return http_reply_pull(
	    rs, 200, "text/csv; charset=utf-8", csv_read, csv_free, x);
}

int
h_outcome_get(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	const char *id = rq->params[0];
	char *json = NULL;
	struct store_conn *db;
	int err;

	if (!id_valid(id))
		return http_error(
		    rs, -ENOENT, "not_found", NULL, "no outcome %s", id);
	db = store_reader_get(mg->store);
	err = store_outcome_get(db, id, &json);
	store_reader_put(mg->store, db);
	if (err == -ENOENT)
		return http_error(
		    rs, -ENOENT, "not_found", NULL, "no outcome %s", id);
	if (err < 0)
		return read_failed(rs, err);
	return http_reply_raw(rs, 200, "application/json", json, strlen(json));
}

int
h_stats_get(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	char *json = NULL;
	struct store_conn *db;
	int err;

	db = store_reader_get(mg->store);
	err = store_stats(db, query_str(rq, "app"), &json);
	store_reader_put(mg->store, db);
	if (err < 0)
		return read_failed(rs, err);
	return reply_page(rs, "stats", json, 0);
}

int
h_alerts_get(struct req *rq, struct resp *rs)
{
	static const char *const states[] = {
	    "pending", "sent", "failed", "inhibited", NULL};
	static const char *const channels[] = {
	    "email", "sms", "webhook", "alertmanager", "popup", NULL};
	struct mg *mg = rq->ctx;
	const char *state, *channel;
	int64_t limit, after, next = 0;
	char *json = NULL;
	struct store_conn *db;
	int err;

	if ((err = query_choice(rq, rs, "state", states, &state)) < 0 ||
	    (err = query_choice(rq, rs, "channel", channels, &channel)) < 0 ||
	    (err = http_query_int(
		 rq, rs, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit)) < 0 ||
	    (err = http_query_int(rq, rs, "after", 1, INT64_MAX, 0, &after)) < 0)
		return err;
	db = store_reader_get(mg->store);
	err = store_delivery_list(db, state, channel, query_str(rq, "app"),
	    after, limit, &json, &next);
	store_reader_put(mg->store, db);
	if (err < 0)
		return read_failed(rs, err);
	return reply_page(rs, "alerts", json, next);
}

int
h_timeline_get(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	const char *range = query_str(rq, "range");
	int64_t span, bucket, now = ts_now_ms();
	char *json = NULL, *body = NULL;
	struct store_conn *db;
	int err;

	/* Hours over a day, quarter days over a week. */
	if (range == NULL || strcmp(range, "24h") == 0) {
		range = "24h";
		span = 24 * 3600000LL;
		bucket = 3600000LL;
	} else if (strcmp(range, "7d") == 0) {
		span = 7 * 24 * 3600000LL;
		bucket = 6 * 3600000LL;
	} else {
		return http_error(rs, -EINVAL, "invalid_value", "range",
		    "range must be 24h or 7d");
	}
	db = store_reader_get(mg->store);
	err = store_timeline(db, query_str(rq, "app"),
	    (now - span) / bucket * bucket + bucket, bucket, &json);
	store_reader_put(mg->store, db);
	if (err < 0)
		return read_failed(rs, err);
	if (asprintf(&body,
		"{\"range\":\"%s\",\"bucket_seconds\":%lld,\"buckets\":%s}",
		range, (long long)(bucket / 1000), json) < 0) {
		free(json);
		return -ENOMEM;
	}
	free(json);
	return http_reply_raw(rs, 200, "application/json", body, strlen(body));
}

int
h_digests_get(struct req *rq, struct resp *rs)
{
	struct mg *mg = rq->ctx;
	char *json = NULL;
	struct store_conn *db = store_reader_get(mg->store);
	int err = store_digest_list(db, MAX_LIMIT, &json);

	store_reader_put(mg->store, db);
	if (err < 0)
		return read_failed(rs, err);
	return reply_page(rs, "digests", json, 0);
}
