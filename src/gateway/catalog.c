/* SPDX-License-Identifier: MIT */
/* The catalog cache: each app/channel's releases (with artifacts) and
 * rollback, as launch decisions read them, kept between calls. A copy is
 * used only when the reader's snapshot has the catalog version it was
 * loaded at (store_catalog_version), so it is exactly what the snapshot
 * would have read: no invalidation to forget, whoever changed the rows. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

#define SLOTS 64 /* app/channel pairs kept; a collision replaces */

struct catalog_entry {
	struct catalog_view v; /* first: what callers get */
	atomic_int refs;
	_Atomic(struct catalog_memo *) memos; /* pushed, never changed */
	int64_t version;
	char app[STORE_NAME_MAX + 1], channel[STORE_NAME_MAX + 1];
};

struct catalog {
	pthread_mutex_t lock; /* guards slots */
	struct catalog_entry *slots[SLOTS];
	atomic_uint_fast64_t hits, misses;
};

static struct catalog_entry *
entry_of(const struct catalog_view *v)
{
	return (struct catalog_entry *)(uintptr_t)v; /* v is its first member */
}

static void
entry_put(struct catalog_entry *e)
{
	struct catalog_memo *m, *next;

	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	for (m = atomic_load(&e->memos); m != NULL; m = next) {
		next = m->next;
		free(m->value);
		free(m);
	}
	store_release_free_list(e->v.releases, e->v.n_releases);
	if (e->v.rollback != NULL)
		store_rollback_fini(e->v.rollback);
	free(e->v.rollback);
	free(e);
}

static unsigned
slot_of(const char *app, const char *channel)
{
	uint32_t h = 2166136261u; /* FNV-1a over app, NUL, channel */

	for (const char *p = app; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h *= 16777619u;
	for (const char *p = channel; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % SLOTS;
}

/* Read app/channel's catalog inside conn's read transaction. */
static int
load(struct store_conn *conn, const char *app, const char *channel,
    int64_t version, struct catalog_entry **out)
{
	struct catalog_entry *e = calloc(1, sizeof(*e));
	int err;

	if (e == NULL)
		return -ENOMEM;
	atomic_init(&e->refs, 1);
	e->version = version;
	snprintf(e->app, sizeof(e->app), "%s", app);
	snprintf(e->channel, sizeof(e->channel), "%s", channel);
	err = store_release_list(
	    conn, app, channel, false, &e->v.releases, &e->v.n_releases);
	if (err == 0 &&
	    (e->v.rollback = malloc(sizeof(*e->v.rollback))) == NULL)
		err = -ENOMEM;
	if (err == 0) {
		err = store_rollback_get(conn, app, channel, e->v.rollback);
		if (err == -ENOENT) {
			free(e->v.rollback);
			e->v.rollback = NULL;
			err = 0;
		}
	}
	if (err < 0) {
		entry_put(e);
		return err;
	}
	*out = e;
	return 0;
}

int
catalog_get(struct catalog *c, struct store_conn *conn, const char *app,
    const char *channel, const struct catalog_view **out)
{
	unsigned i = slot_of(app, channel);
	struct catalog_entry *e, *old = NULL;
	int64_t version;
	int err;

	if ((err = store_catalog_version(conn, &version)) < 0)
		return err;
	pthread_mutex_lock(&c->lock);
	e = c->slots[i];
	if (e != NULL && e->version == version && strcmp(e->app, app) == 0 &&
	    strcmp(e->channel, channel) == 0)
		atomic_fetch_add(&e->refs, 1);
	else
		e = NULL;
	pthread_mutex_unlock(&c->lock);
	if (e != NULL) {
		atomic_fetch_add(&c->hits, 1);
		*out = &e->v;
		return 0;
	}
	atomic_fetch_add(&c->misses, 1);
	if ((err = load(conn, app, channel, version, &e)) < 0)
		return err;
	/* Keep it unless the slot holds a newer snapshot's copy. */
	pthread_mutex_lock(&c->lock);
	if (c->slots[i] == NULL || c->slots[i]->version <= version) {
		old = c->slots[i];
		c->slots[i] = e;
		atomic_fetch_add(&e->refs, 1);
	}
	pthread_mutex_unlock(&c->lock);
	entry_put(old);
	*out = &e->v;
	return 0;
}

void
catalog_put(const struct catalog_view *v)
{
	if (v != NULL)
		entry_put(entry_of(v));
}

static const struct catalog_memo *
memo_find(const struct catalog_memo *m, const char *key)
{
	for (; m != NULL; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

const struct catalog_memo *
catalog_memo_find(const struct catalog_view *v, const char *key)
{
	return memo_find(atomic_load(&entry_of(v)->memos), key);
}

const struct catalog_memo *
catalog_memo_add(const struct catalog_view *v, const char *key, char *value,
    size_t len, const char *tag)
{
	struct catalog_entry *e = entry_of(v);
	size_t kl = strlen(key) + 1;
	struct catalog_memo *m = malloc(sizeof(*m) + kl), *head;
	const struct catalog_memo *had;

	if (m == NULL) {
		free(value);
		return NULL;
	}
	memcpy(m->key, key, kl);
	m->value = value;
	m->len = len;
	snprintf(m->tag, sizeof(m->tag), "%s", tag);
	/* Push, unless another thread kept this key first. */
	head = atomic_load(&e->memos);
	do {
		if ((had = memo_find(head, key)) != NULL) {
			free(value);
			free(m);
			return had;
		}
		m->next = head;
	} while (!atomic_compare_exchange_weak(&e->memos, &head, m));
	return m;
}

void
catalog_metrics(struct catalog *c, FILE *out)
{
	fprintf(out,
	    "# HELP upgate_catalog_cache_hits_total Launch decisions that "
	    "read the releases from the cache.\n"
	    "# TYPE upgate_catalog_cache_hits_total counter\n"
	    "upgate_catalog_cache_hits_total %ju\n"
	    "# HELP upgate_catalog_cache_misses_total Launch decisions that "
	    "read the releases from the database (first use, or changed).\n"
	    "# TYPE upgate_catalog_cache_misses_total counter\n"
	    "upgate_catalog_cache_misses_total %ju\n",
	    (uintmax_t)atomic_load(&c->hits),
	    (uintmax_t)atomic_load(&c->misses));
}

int
catalog_new(struct catalog **out)
{
	struct catalog *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void
catalog_free(struct catalog *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < SLOTS; i++)
		entry_put(c->slots[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
