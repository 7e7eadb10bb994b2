/* SPDX-License-Identifier: MIT */
/* A background thread that sleeps between passes, can be woken early, and
 * stops on request: the shape of every worker (reaper, forwarder, alerts). */
#ifndef UPGATE_WORKER_H
#define UPGATE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, kicked;
	void (*run)(struct worker *w, void *arg);
	void *arg;
};

/* Start run(w, arg) on a new thread; run loops while worker_sleep()
 * returns true. Returns 0 or -errno. */
int worker_start(
    struct worker *w, void (*run)(struct worker *w, void *arg), void *arg);

/* From run: wait up to ms (monotonic clock). A kick ends the wait early
 * when kickable (and is consumed). Returns false once a stop was asked. */
bool worker_sleep(struct worker *w, int64_t ms, bool kickable);

/* Wake the worker's kickable sleep. Any thread. */
void worker_kick(struct worker *w);

/* Ask it to stop, wake it, and join it. */
void worker_stop(struct worker *w);

#endif
