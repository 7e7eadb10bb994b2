/* SPDX-License-Identifier: MIT */
/* The storage seam: calls into the engine a store was opened on, and what
 * no engine is needed for (state names, freeing what stores return). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include <jansson.h>

#include "store_ops.h"
#include "upgate/buf.h"
#include "upgate/log.h"

static const char *const state_names[UPG_STATE_COUNT] = {
    [UPG_OFFERED] = "offered",
    [UPG_DOWNLOADING] = "downloading",
    [UPG_DOWNLOADED] = "downloaded",
    [UPG_VERIFYING] = "verifying",
    [UPG_INSTALLING] = "installing",
    [UPG_SUCCEEDED] = "succeeded",
    [UPG_FAILED] = "failed",
    [UPG_TIMED_OUT] = "timed_out",
};

const char *
store_state_name(enum upg_state s)
{
	return (unsigned)s < UPG_STATE_COUNT ? state_names[s] : "unknown";
}

int
store_state_parse(const char *name, enum upg_state *out)
{
	for (int i = 0; i < UPG_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum upg_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool
store_state_final(enum upg_state s)
{
	return s >= UPG_SUCCEEDED;
}

void
store_release_fini(struct release *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_artifacts; i++)
		store_artifact_fini(&r->artifacts[i]);
	free(r->artifacts);
	free(r->notes);
	free(r->signed_doc);
	free(r->signature);
	r->artifacts = NULL;
	r->n_artifacts = 0;
	r->notes = r->signed_doc = r->signature = NULL;
}

void
store_release_free_list(struct release *list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_release_fini(&list[i]);
	free(list);
}

void
store_artifact_fini(struct artifact *a)
{
	for (size_t i = 0; i < a->n_deltas; i++)
		free(a->deltas[i].url);
	free(a->deltas);
	free(a->url);
	a->deltas = NULL;
	a->n_deltas = 0;
	a->url = NULL;
}

const struct artifact_delta *
store_artifact_delta(const struct artifact *a, const char *from)
{
	for (size_t i = 0; i < a->n_deltas; i++)
		if (strcmp(a->deltas[i].from, from) == 0)
			return &a->deltas[i];
	return NULL;
}

int
store_deltas_text(const struct artifact *a, char **out)
{
	json_t *o;

	*out = NULL;
	if (a->n_deltas == 0)
		return 0;
	if ((o = json_object()) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_deltas; i++)
		json_object_set_new(o, a->deltas[i].from,
		    json_pack("{s:s, s:I, s:s}", "url", a->deltas[i].url,
			"size", (json_int_t)a->deltas[i].size, "sha256",
			a->deltas[i].sha256));
	*out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return *out ? 0 : -ENOMEM;
}

int
store_deltas_parse(struct artifact *a, const char *text)
{
	json_t *o, *d;
	const char *from;
	size_t n = 0;

	a->deltas = NULL;
	a->n_deltas = 0;
	if (text == NULL || text[0] == '\0')
		return 0;
	o = json_loads(text, 0, NULL); /* json_is_object() is a macro */
	if (!json_is_object(o)) {
		json_decref(o);
		return -EBADMSG;
	}
	if ((a->deltas = calloc(json_object_size(o) + 1, sizeof(*a->deltas))) ==
	    NULL) {
		json_decref(o);
		return -ENOMEM;
	}
	json_object_foreach(o, from, d)
	{
		struct artifact_delta *x = &a->deltas[n];
		const char *url = json_string_value(json_object_get(d, "url"));
		const char *sha =
		    json_string_value(json_object_get(d, "sha256"));

		snprintf(x->from, sizeof(x->from), "%s", from);
		snprintf(x->sha256, sizeof(x->sha256), "%s", sha ? sha : "");
		x->size = json_integer_value(json_object_get(d, "size"));
		if ((x->url = strdup(url ? url : "")) == NULL)
			break;
		n++;
	}
	a->n_deltas = n;
	n = n == json_object_size(o) ? 0 : 1;
	json_decref(o);
	return n == 0 ? 0 : -ENOMEM;
}

const struct artifact *
store_release_artifact(const struct release *r, const char *platform)
{
	for (size_t i = 0; i < r->n_artifacts; i++)
		if (strcmp(r->artifacts[i].platform, platform) == 0)
			return &r->artifacts[i];
	return NULL;
}

void
store_rollback_fini(struct rollback *rb)
{
	if (rb == NULL)
		return;
	free(rb->signed_doc);
	free(rb->signature);
	rb->signed_doc = rb->signature = NULL;
}

void
store_upgrade_fini(struct upgrade *u)
{
	if (u == NULL)
		return;
	free(u->message);
	free(u->url);
	free(u->notes);
	free(u->signed_doc);
	free(u->signature);
	u->message = u->url = u->notes = NULL;
	u->signed_doc = u->signature = NULL;
}

void
store_upgrade_free_list(struct upgrade *list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_upgrade_fini(&list[i]);
	free(list);
}

void
store_event_fini(struct upgrade_event *e)
{
	if (e == NULL)
		return;
	free(e->message);
	e->message = NULL;
}

void
store_event_free_list(struct upgrade_event *list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_event_fini(&list[i]);
	free(list);
}

struct release *
store_release_by_id(struct release *list, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (list[mid].id == id)
			return &list[mid];
		if (list[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
store_batch_add(struct outbox_batch *b, struct buf *body, int64_t id,
    const char *row, size_t n, size_t max_bytes)
{
	int err;

	if (b->n > 0 && body->len + n + 3 > max_bytes)
		return 0;
	err = buf_adds(body, b->n > 0 ? "," : "{\"outcomes\":[");
	if (err == 0)
		err = buf_add(body, row, n);
	if (err < 0)
		return err;
	b->ids[b->n++] = id;
	return 1;
}

int
store_batch_end(struct outbox_batch *b, struct buf *body)
{
	if (b->n == 0) {
		buf_free(body);
		return 0;
	}
	if (buf_adds(body, "]}") < 0)
		return -ENOMEM;
	b->len = body->len;
	b->body = buf_steal(body);
	return b->body ? 0 : -ENOMEM;
}

void
store_outbox_batch_fini(struct outbox_batch *b)
{
	if (b == NULL)
		return;
	free(b->ids);
	free(b->body);
	memset(b, 0, sizeof(*b));
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

/* The rest call the engine of connection c as they are. */
#define CALL(fn, ...) return c->ops->fn(c, __VA_ARGS__)
#define CALL0(fn) return c->ops->fn(c)

void
store_access(struct store_conn *c, struct access_conn *out)
{
	c->ops->access(c, out);
}

int
store_begin_read(struct store_conn *c)
{
	CALL0(begin_read);
}

int
store_txn_begin(struct store_conn *c)
{
	CALL0(txn_begin);
}

int
store_txn_end(struct store_conn *c, int err)
{
	CALL(txn_end, err);
}

int
store_savepoint(struct store_conn *c)
{
	CALL0(savepoint);
}

int
store_savepoint_end(struct store_conn *c, bool keep)
{
	CALL(savepoint_end, keep);
}

int
store_bulk(struct store_conn *c, bool bulk)
{
	CALL(bulk, bulk);
}

int
store_rollback_get(struct store_conn *c, const char *app, const char *channel,
    struct rollback *out)
{
	CALL(rollback_get, app, channel, out);
}

int
store_rollback_set(struct store_conn *c, const struct rollback *rb)
{
	CALL(rollback_set, rb);
}

int
store_rollback_delete(
    struct store_conn *c, const char *app, const char *channel)
{
	CALL(rollback_delete, app, channel);
}

int
store_catalog_version(struct store_conn *c, int64_t *out)
{
	CALL(catalog_version, out);
}

int
store_serial_max(
    struct store_conn *c, const char *app, const char *channel, int64_t *out)
{
	CALL(serial_max, app, channel, out);
}

int
store_release_insert(
    struct store_conn *c, struct release *r, const char *content)
{
	CALL(release_insert, r, content);
}

int
store_release_find(struct store_conn *c, const char *app, const char *channel,
    const char *version, struct release *out, char **content)
{
	CALL(release_find, app, channel, version, out, content);
}

int
store_release_channels(struct store_conn *c, const char *app,
    const char *version, char names[][STORE_NAME_MAX + 1], int max)
{
	CALL(release_channels, app, version, names, max);
}

int
store_release_list(struct store_conn *c, const char *app, const char *channel,
    bool with_counts, struct release **out, size_t *n)
{
	CALL(release_list, app, channel, with_counts, out, n);
}

int
store_release_update(struct store_conn *c, int64_t id, int rollout_percent,
    int paused, int yanked, int halted, int64_t now)
{
	CALL(release_update, id, rollout_percent, paused, yanked, halted, now);
}

int
store_upgrade_latest(struct store_conn *c, const char *client_id,
    const char *app, struct upgrade *out)
{
	CALL(upgrade_latest, client_id, app, out);
}

int
store_upgrade_failures(struct store_conn *c, const char *client_id,
    const char *app, struct fail_stat **out, size_t *n)
{
	CALL(upgrade_failures, client_id, app, out, n);
}

int
store_upgrade_insert(struct store_conn *c, struct upgrade *u)
{
	int err = c->ops->upgrade_insert(c, u);

	if (err == 0) {
		u->state = UPG_OFFERED;
		u->updated_at = u->created_at;
	}
	return err;
}

int
store_upgrade_get(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out)
{
	CALL(upgrade_get, upgrade_id, out);
}

int
store_upgrade_get_brief(
    struct store_conn *c, const char *upgrade_id, struct upgrade *out)
{
	CALL(upgrade_get_brief, upgrade_id, out);
}

int
store_upgrade_get_row(struct store_conn *c, int64_t id, struct upgrade *out)
{
	CALL(upgrade_get_row, id, out);
}

int
store_upgrade_events(
    struct store_conn *c, int64_t id, struct upgrade_event **out, size_t *n)
{
	CALL(upgrade_events, id, out, n);
}

int
store_upgrade_event_get(
    struct store_conn *c, int64_t id, int64_t seq, struct upgrade_event *out)
{
	CALL(upgrade_event_get, id, seq, out);
}

int
store_upgrade_event_add(
    struct store_conn *c, struct upgrade *u, const struct upgrade_event *e)
{
	int err = c->ops->upgrade_event_add(c, u, e);

	if (err < 0)
		return err;
	/* u as the engine left the row; a final state is finish's */
	if (!store_state_final(e->state))
		u->state = e->state;
	if (e->seq > u->last_seq)
		u->last_seq = e->seq;
	if (e->progress >= 0)
		u->progress = e->progress;
	if (e->download_ms >= 0)
		u->download_ms = e->download_ms;
	if (e->install_ms >= 0)
		u->install_ms = e->install_ms;
	u->updated_at = e->at;
	return 0;
}

int
store_upgrade_finish(struct store_conn *c, struct upgrade *u,
    enum upg_state state, const char *error_code, const char *message,
    int64_t now, const struct finish_opts *o, bool *halted)
{
	int err = c->ops->upgrade_finish(
	    c, u, state, error_code, message, now, o, halted);

	if (err < 0)
		return err;
	/* u as the engine left the row */
	u->state = state;
	snprintf(u->error_code, sizeof(u->error_code), "%s",
	    error_code ? error_code : "");
	free(u->message);
	u->message = message ? strdup(message) : NULL;
	if (message != NULL && u->message == NULL)
		return -ENOMEM;
	u->finished_at = u->updated_at = now;
	return 0;
}

int
store_upgrade_tell(struct store_conn *c, int64_t id)
{
	CALL(upgrade_tell, id);
}

int
store_upgrade_expired(
    struct store_conn *c, int64_t cutoff, int64_t *ids, int max)
{
	CALL(upgrade_expired, cutoff, ids, max);
}

int
store_upgrade_list(struct store_conn *c, const struct upgrade_filter *f,
    struct upgrade **out, size_t *n)
{
	CALL(upgrade_list, f, out, n);
}

int
store_upgrade_state_counts(
    struct store_conn *c, int64_t counts[UPG_STATE_COUNT])
{
	CALL(upgrade_state_counts, counts);
}

int
store_launch_insert(struct store_conn *c, const struct launch_rec *l, size_t n)
{
	CALL(launch_insert, l, n);
}

int
store_upgrade_list_form(const struct upgrade_filter *f)
{
	bool failures = f->state == UPG_FAILED || f->state == UPG_TIMED_OUT;

	if (f->client_id != NULL)
		return U_LIST_CLIENT;
	if (failures)
		return f->app != NULL ? U_LIST_APP_FAILED : U_LIST_FAILED;
	return f->app != NULL ? U_LIST_APP : U_LIST;
}

int
store_launch_prune(struct store_conn *c, int64_t before, int max)
{
	CALL(prune, STORE_PRUNE_LAUNCHES, before, max);
}

int
store_events_prune(struct store_conn *c, int64_t before, int max)
{
	CALL(prune, STORE_PRUNE_EVENTS, before, max);
}

int
store_outbox_depth(struct store_conn *c, int64_t *rows, int64_t *oldest)
{
	CALL(outbox_depth, rows, oldest);
}

int
store_outbox_claim(struct store_conn *c, size_t max, size_t max_bytes,
    int64_t lease, struct outbox_batch *out)
{
	CALL(outbox_claim, max, max_bytes, lease, out);
}

int
store_outbox_delete(struct store_conn *c, const struct outbox_batch *b)
{
	CALL(outbox_delete, b);
}

int
store_outbox_release(struct store_conn *c, const struct outbox_batch *b)
{
	CALL(outbox_release, b);
}
