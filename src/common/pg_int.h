/* SPDX-License-Identifier: MIT */
/* Inside the PostgreSQL layer: the connection and the helpers its files
 * share. pg.c connects, runs statements and transactions and pools;
 * pg_migrate.c brings a database to its schema; pg_import.c copies rows
 * in with COPY. */
#ifndef UPGATE_PG_INT_H
#define UPGATE_PG_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upgate/pg.h"

struct pg {
	PGconn *conn;
	char *copy; /* rows waiting to be sent to a COPY */
	size_t copy_len, copy_cap;
	int copy_err;
	const struct pg_schema *schema;
	bool *prepared; /* every set's statements, set by set */
	size_t *first;	/* index in prepared of each set's first */
	size_t total;
	bool txn;	    /* inside BEGIN .. COMMIT/ROLLBACK */
	bool listening;	    /* LISTEN issued on this connection */
	bool down;	    /* the last attempt found no server */
	int64_t last_try;   /* monotonic ms of the last reconnection */
	int64_t planned_at; /* monotonic ms its cached plans were dropped */
	char where[160];    /* user@host:port/db, for logs */
	pthread_mutex_t lock;
	void *user;
};

/* Make sure pg has a working connection (reconnecting a broken one at
 * most once a second): 0, or -errno when there is none. */
int pg_ensure(struct pg *pg);
/* A failed result r (NULL: the connection's error) while doing what:
 * its errno, logged unless it is a conflict. Clears nothing. */
int pg_failed(struct pg *pg, PGresult *r, const char *what);
/* Whether r is a success (a command, rows, or a COPY's end). */
bool pg_result_ok(const PGresult *r);
/* Prepare statement number k (of all the schema's sets) as sql. */
int pg_prepare(struct pg *pg, size_t k, const char *sql);
/* The schema's version in pg's database (0: none yet), refusing a
 * database of another program or of a newer schema (pg_migrate.c). */
int pg_schema_version(struct pg *pg, int64_t *out);
/* Bring pg's database to its schema under an advisory lock, then
 * prepare every statement of its sets (pg_migrate.c). */
int pg_migrate(struct pg *pg);

#endif
