/* SPDX-License-Identifier: MIT */
/* The storage seam: calls into the engine a store was opened on, and what
 * no engine is needed for (CSV fields, metrics lines, freeing). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_ops.h"

void
store_csv_field(FILE *out, const char *s)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		fputc('"', out);
	/* A cell a spreadsheet would read as a formula (OWASP's list: a
	 * tab or carriage return first hides one) gets a quote first. */
	if (s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
		fputc('\'', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	if (quote)
		fputc('"', out);
}

void
store_csv_header(FILE *out)
{
	fputs("outcome_id,kind,gateway_id,upgrade_id,client_id,app,"
	      "platform,channel,from_version,to_version,result,"
	      "error_code,message,started_at,finished_at,received_at,"
	      "download_ms,install_ms\r\n",
	    out);
}

void
store_gauge_head(FILE *out, const char *name, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

void
store_gauge_row(FILE *out, const char *name, const char *l1, const char *v1,
    const char *l2, const char *v2, int64_t n)
{
	fprintf(out, "%s{%s=\"%s\",%s=\"%s\"} %lld\n", name, l1, v1, l2, v2,
	    (long long)n);
}

const char *
store_kind_name(const struct outcome *o)
{
	return o->kind == OUTCOME_HALT	     ? "release_halted"
	       : o->kind == OUTCOME_ROLLBACK ? "rollback"
					     : "upgrade";
}

int
store_filter_form(const struct outcome_filter *f)
{
	bool failures =
	    f->result != NULL && (strcmp(f->result, "failed") == 0 ||
				     strcmp(f->result, "timed_out") == 0);

	if (f->client_id != NULL)
		return 1;
	if (f->app != NULL && f->version != NULL)
		return 2;
	if (failures)
		return f->app != NULL ? 5 : 4;
	return f->app != NULL ? 3 : 0;
}

int
store_next_due_form(const char *channel)
{
	if (channel == NULL)
		return 0;
	return strcmp(channel, "digest") == 0 ? 1 : 2;
}

void
store_waiting_free(struct waiting *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(w[i].client_id);
		free(w[i].from_version);
		free(w[i].error_code);
		free(w[i].message);
		free(w[i].upgrade_id);
		free(w[i].result);
	}
}

void
store_delivery_free(struct delivery *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].subject);
		free(d[i].body);
		free(d[i].sms);
		free(d[i].upgrade_ids);
	}
}

int
store_open(
    const struct store_ops *ops, const struct store_opts *o, struct store **out)
{
	return ops->open(o, out);
}

void
store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

int
store_import(struct store *to, struct store *from)
{
	return to->ops->import(to, from);
}

struct store_conn *
store_reader_get(struct store *s)
{
	return s->ops->reader_get(s);
}

void
store_reader_put(struct store *s, struct store_conn *c)
{
	s->ops->reader_put(s, c);
}

struct store_conn *
store_writer(struct store *s)
{
	return s->ops->writer(s);
}

bool
store_shared(const struct store *s)
{
	return s->ops->shared;
}

int
store_watch(struct store *s, int timeout_ms, store_watch_fn fn, void *arg)
{
	return s->ops->watch(s, timeout_ms, fn, arg);
}

bool
store_watching(const struct store *s)
{
	return s->ops->watching(s);
}

/* The rest call the engine of connection c as they are. */
#define CALL(fn, ...) return c->ops->fn(c, __VA_ARGS__)

void
store_access(struct store_conn *c, struct access_conn *out)
{
	c->ops->access(c, out);
}

int
store_txn_begin(struct store_conn *c)
{
	return c->ops->txn_begin(c);
}

int
store_txn_end(struct store_conn *c, int err)
{
	CALL(txn_end, err);
}

int
store_outcome_insert(struct store_conn *c, struct outcome *o, int64_t now)
{
	CALL(outcome_insert, o, now);
}

int
store_outcome_list(
    struct store_conn *c, struct outcome_filter *f, char **json, int64_t *next)
{
	CALL(outcome_list, f, json, next);
}

int
store_outcome_get(struct store_conn *c, const char *outcome_id, char **json)
{
	CALL(outcome_get, outcome_id, json);
}

int
store_outcome_csv(struct store_conn *c, struct outcome_filter *f, bool header,
    FILE *out, int64_t *last, int64_t *n)
{
	CALL(outcome_csv, f, header, out, last, n);
}

int
store_stats(struct store_conn *c, const char *app, char **json)
{
	CALL(stats, app, json);
}

int
store_timeline(struct store_conn *c, const char *app, int64_t since,
    int64_t bucket_ms, char **json)
{
	CALL(timeline, app, since, bucket_ms, json);
}

int
store_outcome_counts(struct store_conn *c, FILE *out)
{
	CALL(outcome_counts, out);
}

int
store_group_get(struct store_conn *c, const char *app, const char *version,
    struct alert_group *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->app, sizeof(out->app), "%s", app);
	snprintf(out->version, sizeof(out->version), "%s", version);
	CALL(group_get, app, version, out);
}

int
store_group_put(struct store_conn *c, const struct alert_group *g)
{
	CALL(group_put, g);
}

int
store_group_due(
    struct store_conn *c, int64_t now, struct alert_group *out, int max)
{
	CALL(group_due, now, out, max);
}

int
store_alert_insert(struct store_conn *c, struct alert *a)
{
	CALL(alert_insert, a);
}

int
store_delivery_add(struct store_conn *c, int64_t alert, const char *channel,
    const char *recipient, const char *state, int64_t now)
{
	CALL(delivery_add, alert, channel, recipient, state, now);
}

int
store_outcome_wait(struct store_conn *c, int64_t row)
{
	CALL(outcome_wait, row);
}

int
store_outcome_claim(
    struct store_conn *c, const char *app, const char *version, int64_t alert)
{
	CALL(outcome_claim, app, version, alert);
}

int
store_outcome_waiting(struct store_conn *c, const char *app,
    const char *version, struct waiting *out, int max, int64_t *total)
{
	CALL(outcome_waiting, app, version, out, max, total);
}

int
store_delivery_inhibit(
    struct store_conn *c, const char *app, const char *version, int64_t now)
{
	CALL(delivery_inhibit, app, version, now);
}

int
store_delivery_due(struct store_conn *c, const char *channel, int64_t now,
    int64_t lease, struct delivery *out, int max)
{
	CALL(delivery_due, channel, now, lease, out, max);
}

int
store_delivery_done(struct store_conn *c, int64_t id, bool ok, bool permanent,
    const char *error, int64_t now, int64_t next_at)
{
	CALL(delivery_done, id, ok, permanent, error, now, next_at);
}

int
store_next_due(struct store_conn *c, const char *channel, int64_t *at)
{
	CALL(next_due, channel, at);
}

int
store_digest_list(struct store_conn *c, int64_t limit, char **json)
{
	CALL(digest_list, limit, json);
}

int
store_delivery_list(struct store_conn *c, const char *state,
    const char *channel, const char *app, int64_t after, int64_t limit,
    char **json, int64_t *next)
{
	CALL(delivery_list, state, channel, app, after, limit, json, next);
}

int
store_delivery_counts(struct store_conn *c, FILE *out)
{
	CALL(delivery_counts, out);
}

int
store_halts_open(struct store_conn *c, struct delivery *out, int max)
{
	CALL(halts_open, out, max);
}

int
store_halt_resolved(struct store_conn *c, int64_t alert, int64_t now)
{
	CALL(halt_resolved, alert, now);
}

int64_t
store_outcome_downloaded(const struct outcome *o)
{
	return o->bytes_downloaded > 0 ? o->bytes_downloaded : 0;
}

int64_t
store_outcome_saved(const struct outcome *o)
{
	if (o->delta_used != 1 || o->artifact_size < 0 ||
	    o->bytes_downloaded < 0 || o->artifact_size <= o->bytes_downloaded)
		return 0;
	return o->artifact_size - o->bytes_downloaded;
}
