/* SPDX-License-Identifier: MIT */
/* Group commit: batches of queued jobs, one transaction and one fsync each.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upgate/gcommit.h"
#include "upgate/log.h"
#include "upgate/worker.h"

struct gcommit {
	struct gcommit_txn txn;
	struct worker w;
	pthread_mutex_t lock; /* guards the queue and stopped */
	struct gcommit_job *head, **tail;
	bool stopped;
	bool joined; /* gcommit_stop() ran */
	atomic_uint_fast64_t batches, jobs, failed, largest;
};

/* Run one job in its own savepoint; its error undoes only its writes.
 * When the savepoint itself fails, *broken is set: the whole batch must
 * roll back, since what the job left is unknown. */
static int
run_one(const struct gcommit_txn *t, struct gcommit_job *j, int *broken)
{
	int err, end;

	if ((err = t->savepoint(t->ctx)) < 0) {
		*broken = err;
		return err;
	}
	err = j->run(j->arg);
	if ((end = t->savepoint_end(t->ctx, err == 0)) < 0) {
		*broken = end;
		return err < 0 ? err : end;
	}
	return err;
}

/* One transaction for the whole list; then tell every job. */
static void
commit_batch(struct gcommit *g, struct gcommit_job *list)
{
	struct gcommit_job *j, *next;
	uint_fast64_t n = 0;
	int err, broken = 0;

	err = g->txn.begin(g->txn.ctx);
	for (j = list; j != NULL; j = j->next, n++)
		j->err = err < 0 ? err : run_one(&g->txn, j, &broken);
	if (err == 0)
		err = g->txn.end(g->txn.ctx, broken);
	if (err < 0) {
		log_err("group commit of %ju jobs failed: %s", (uintmax_t)n,
		    strerror(-err));
		atomic_fetch_add(&g->failed, 1);
	}
	atomic_fetch_add(&g->batches, 1);
	atomic_fetch_add(&g->jobs, n);
	if (n > atomic_load(&g->largest)) /* only this thread writes it */
		atomic_store(&g->largest, n);
	for (j = list; j != NULL; j = next) {
		next = j->next; /* done() may free j */
		j->done(j->arg, j->err < 0 ? j->err : err);
	}
}

/* Take the queue; at stop, also refuse what comes after. */
static struct gcommit_job *
take(struct gcommit *g, bool stop)
{
	struct gcommit_job *list;

	pthread_mutex_lock(&g->lock);
	list = g->head;
	g->head = NULL;
	g->tail = &g->head;
	if (stop)
		g->stopped = true;
	pthread_mutex_unlock(&g->lock);
	return list;
}

static void
writer_main(struct worker *w, void *arg)
{
	struct gcommit *g = arg;
	struct gcommit_job *list;

	pthread_setname_np(pthread_self(), "upgate-writer");
	for (;;) {
		if ((list = take(g, false)) != NULL) {
			commit_batch(g, list);
			continue;
		}
		if (!worker_sleep(w, 1000, true))
			break;
	}
	if ((list = take(g, true)) != NULL)
		commit_batch(g, list);
}

int
gcommit_start(const struct gcommit_txn *txn, struct gcommit **out)
{
	struct gcommit *g = calloc(1, sizeof(*g));
	int err;

	if (g == NULL)
		return -ENOMEM;
	g->txn = *txn;
	g->tail = &g->head;
	pthread_mutex_init(&g->lock, NULL);
	if ((err = worker_start(&g->w, writer_main, g)) < 0) {
		pthread_mutex_destroy(&g->lock);
		free(g);
		return err;
	}
	*out = g;
	return 0;
}

void
gcommit_submit(struct gcommit *g, struct gcommit_job *j)
{
	bool stopped;

	j->next = NULL;
	j->err = 0;
	pthread_mutex_lock(&g->lock);
	stopped = g->stopped;
	if (!stopped) {
		*g->tail = j;
		g->tail = &j->next;
	}
	pthread_mutex_unlock(&g->lock);
	if (stopped)
		j->done(j->arg, -ESHUTDOWN);
	else
		worker_kick(&g->w);
}

/* A job whose submitter waits for it (gcommit_run). */
struct waiting {
	struct gcommit_job job;
	int (*run)(void *arg);
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
};

static int
waiting_run(void *arg)
{
	struct waiting *w = arg;

	return w->run(w->arg);
}

static void
waiting_done(void *arg, int err)
{
	struct waiting *w = arg;

	pthread_mutex_lock(&w->lock);
	w->err = err;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock); /* w may be gone after this */
}

int
gcommit_run(struct gcommit *g, int (*run)(void *arg), void *arg)
{
	struct waiting w = {
	    .job = {.run = waiting_run, .done = waiting_done},
	    .run = run,
	    .arg = arg,
	};

	w.job.arg = &w;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	gcommit_submit(g, &w.job);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return w.err;
}

void
gcommit_metrics(struct gcommit *g, const char *prefix, FILE *out)
{
	const struct {
		const char *name, *type, *help;
		uintmax_t v;
	} m[] = {
	    {"batches_total", "counter", "Transactions committed or failed.",
		atomic_load(&g->batches)},
	    {"jobs_total", "counter", "Requests' writes taken into them.",
		atomic_load(&g->jobs)},
	    {"failed_batches_total", "counter",
		"Transactions that did not commit (their requests got 503).",
		atomic_load(&g->failed)},
	    {"largest_batch", "gauge", "Most jobs one transaction took.",
		atomic_load(&g->largest)},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		fprintf(out, "# HELP %s%s %s\n# TYPE %s%s %s\n%s%s %ju\n",
		    prefix, m[i].name, m[i].help, prefix, m[i].name, m[i].type,
		    prefix, m[i].name, m[i].v);
}

void
gcommit_stop(struct gcommit *g)
{
	if (g != NULL && !g->joined) {
		worker_stop(&g->w);
		g->joined = true;
	}
}

void
gcommit_free(struct gcommit *g)
{
	if (g == NULL)
		return;
	gcommit_stop(g);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
