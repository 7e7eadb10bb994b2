/* SPDX-License-Identifier: MIT */
/* Worker threads: sleep, kick, stop and join. */
#include <errno.h>
#include <time.h>

#include "upgate/worker.h"

static void *
trampoline(void *arg)
{
	struct worker *w = arg;

	w->run(w, w->arg);
	return NULL;
}

int
worker_start(
    struct worker *w, void (*run)(struct worker *w, void *arg), void *arg)
{
	pthread_condattr_t ca;
	int err;

	w->stop = w->kicked = false;
	w->run = run;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((err = pthread_create(&w->thread, NULL, trampoline, w)) != 0) {
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		return -err;
	}
	return 0;
}

bool
worker_sleep(struct worker *w, int64_t ms, bool kickable)
{
	struct timespec until;
	bool go;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->stop && !(kickable && w->kicked) && ms > 0 &&
	       pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
		;
	if (kickable)
		w->kicked = false;
	go = !w->stop;
	pthread_mutex_unlock(&w->lock);
	return go;
}

void
worker_kick(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->kicked = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void
worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
}
