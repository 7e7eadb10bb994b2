/* SPDX-License-Identifier: MIT */
/* Group commit: one writer thread owns the write connection and puts every
 * job queued while the previous commit ran into the next transaction, so
 * one fsync covers them all. Nothing waits for more work to arrive: a
 * lone job commits at once. */
#ifndef UPGATE_GCOMMIT_H
#define UPGATE_GCOMMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>


/* One request's writes. run() is called on the writer thread inside the
 * batch's transaction, in a savepoint of its own: a negative return
 * undoes its writes only, 0 keeps them. done() is called after the
 * commit with the final result: run's error, or the commit's when run
 * succeeded and the commit failed; 0 means the writes are on disk. The
 * job is not touched after done() starts. */
struct gcommit_job {
	int (*run)(void *arg);
	void (*done)(void *arg, int err);
	void *arg;
	struct gcommit_job *next; /* the queue's */
	int err; /* what run() returned (0: not run); set before done() */
};

/* How a batch's transaction starts and ends on the shared connection:
 * begin takes the writer (lock, BEGIN); end commits when err is 0 (else
 * rolls back), releases it and returns the commit's error or err.
 * savepoint and savepoint_end wrap each job (keep: its writes stay). */
struct gcommit_txn {
	int (*begin)(void *ctx);
	int (*end)(void *ctx, int err);
	int (*savepoint)(void *ctx);
	int (*savepoint_end)(void *ctx, bool keep);
	void *ctx;
};

struct gcommit;

/* Start the writer thread. Returns 0 and *out, or -errno. */
int gcommit_start(const struct gcommit_txn *txn, struct gcommit **out);

/* Queue j; any thread. After gcommit_stop began, j->done(-ESHUTDOWN)
 * is called at once, on the calling thread. */
void gcommit_submit(struct gcommit *g, struct gcommit_job *j);

/* Run run(arg) as a job of the next batch and wait until it is on disk:
 * for a thread that may block (not an MHD thread). Returns what done()
 * got: 0, run's error, the commit's, or -ESHUTDOWN once gcommit_stop
 * began. */
int gcommit_run(struct gcommit *g, int (*run)(void *arg), void *arg);

/* Counters in Prometheus text, names prefixed with prefix. */
void gcommit_metrics(struct gcommit *g, const char *prefix, FILE *out);

/* Commit what is queued and stop the thread; later submits are refused
 * (-ESHUTDOWN). NULL: nothing. */
void gcommit_stop(struct gcommit *g);

/* Free a stopped g, once nothing can submit any more. NULL: nothing. */
void gcommit_free(struct gcommit *g);

#endif
