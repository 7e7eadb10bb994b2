/* SPDX-License-Identifier: MIT */
/* The ceiling upgate's numbers are divided by: the least an HTTP JSON
 * service can do on this machine with the same libraries. libmicrohttpd
 * with the same threading as the daemons, the request body parsed with
 * jansson, a fixed 500-byte JSON answer.
 *
 * With DB, it is also the durable baseline group commit is measured
 * against: every request's body inserted into a table of DB in a
 * transaction of its own, committed with synchronous=FULL (WAL, one
 * connection shared under a lock) before the answer.
 *
 * With DB and "group", it is a bare group-commit prototype, showing the
 * most group commit itself gives on this machine: one writer thread owns
 * the connection, takes every body queued while its last commit ran into
 * one FULL transaction, and resumes the requests (suspended meanwhile)
 * once it is on disk. (c) does a report's whole work on top of this.
 *
 * usage: ceiling [THREADS [DB [group]]] */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sqlite3.h>

static char answer[501];
static sqlite3 *db; /* NULL: no durable write */
static sqlite3_stmt *insert;
static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;

static int
insert_body(const char *p, size_t len)
{
	int rc;

	sqlite3_bind_text(insert, 1, p, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(insert) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	sqlite3_reset(insert);
	return rc;
}

/* Commit what a transaction's inserts (whose result rc is) wrote, or
 * roll it back when one failed. Returns the first error. */
static int
end_txn(int rc)
{
	int end = sqlite3_exec(
	    db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);

	return rc == SQLITE_OK ? end : rc;
}

/* One row, one transaction, one fsync. */
static int
store(const char *p, size_t len)
{
	int rc;

	pthread_mutex_lock(&db_lock);
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = end_txn(insert_body(p, len));
	pthread_mutex_unlock(&db_lock);
	return rc;
}

struct body {
	char *p;
	size_t len;
	struct MHD_Connection *conn;
	struct body *next; /* in the writer's queue */
	int rc;		   /* the batch's, set before the resume */
};

/* Group commit: requests wait here for the writer. */
static bool group;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static struct body *queue, **queue_tail = &queue;
static bool stopping; /* the writer ends once the queue is empty */

static void
enqueue(struct body *b, struct MHD_Connection *c)
{
	b->conn = c;
	b->next = NULL;
	MHD_suspend_connection(c);
	pthread_mutex_lock(&queue_lock);
	*queue_tail = b;
	queue_tail = &b->next;
	pthread_cond_signal(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
}

/* Everything queued, one transaction, one fsync; then the answers. */
static void *
writer(void *arg)
{
	(void)arg;
	for (;;) {
		struct body *batch, *b, *next;
		int rc;

		pthread_mutex_lock(&queue_lock);
		while (queue == NULL && !stopping)
			pthread_cond_wait(&queue_cond, &queue_lock);
		if (queue == NULL) {
			pthread_mutex_unlock(&queue_lock);
			return NULL;
		}
		batch = queue;
		queue = NULL;
		queue_tail = &queue;
		pthread_mutex_unlock(&queue_lock);
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc == SQLITE_OK) {
			for (b = batch; b != NULL && rc == SQLITE_OK;
			     b = b->next)
				rc = insert_body(b->p, b->len);
			rc = end_txn(rc);
		}
		for (b = batch; b != NULL; b = next) {
			next = b->next; /* b may be gone once resumed */
			b->rc = rc;
			MHD_resume_connection(b->conn);
		}
	}
	return NULL;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **state)
{
	struct body *b = *state;
	struct MHD_Response *r;
	enum MHD_Result ret;
	json_t *j;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (b == NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return MHD_NO;
		*state = b;
		return MHD_YES;
	}
	if (*size > 0) {
		char *p = realloc(b->p, b->len + *size);

		if (p == NULL)
			return MHD_NO;
		memcpy(p + b->len, data, *size);
		b->p = p;
		b->len += *size;
		*size = 0;
		return MHD_YES;
	}
	if (b->conn == NULL) { /* not back from the writer */
		j = b->len ? json_loadb(b->p, b->len, 0, NULL) : NULL;
		json_decref(j);
		if (group) {
			enqueue(b, c);
			return MHD_YES;
		}
		if (db != NULL && store(b->p, b->len) != SQLITE_OK)
			return MHD_NO;
	} else if (b->rc != SQLITE_OK) {
		return MHD_NO;
	}
	r = MHD_create_response_from_buffer(
	    sizeof(answer) - 1, answer, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void
on_done(void *cls, struct MHD_Connection *c, void **state,
    enum MHD_RequestTerminationCode toe)
{
	struct body *b = *state;

	(void)cls;
	(void)c;
	(void)toe;
	if (b != NULL) {
		free(b->p);
		free(b);
	}
	*state = NULL;
}

int
main(int argc, char **argv)
{
	unsigned threads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	const union MHD_DaemonInfo *info;
	pthread_t w;
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	/* {"action":"launch","reason":"up_to_date","pad":"xxx..."}: 500 bytes
	 */
	snprintf(answer, sizeof(answer),
	    "{\"action\":\"launch\",\"reason\":\"up_to_date\","
	    "\"previous_failure\":null,\"pad\":\"%0*d\"}",
	    500 - 76, 0);
	if (argc > 2 &&
	    (sqlite3_open(argv[2], &db) != SQLITE_OK ||
		sqlite3_exec(db,
		    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
		    "CREATE TABLE IF NOT EXISTS req (id INTEGER PRIMARY KEY, "
		    "body TEXT NOT NULL)",
		    NULL, NULL, NULL) != SQLITE_OK ||
		sqlite3_prepare_v2(db, "INSERT INTO req (body) VALUES (?1)", -1,
		    &insert, NULL) != SQLITE_OK)) {
		fprintf(stderr, "ceiling: %s: %s\n", argv[2],
		    db ? sqlite3_errmsg(db) : "cannot open");
		return 1;
	}
	group = argc > 3 && strcmp(argv[3], "group") == 0;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				 MHD_USE_ITC |
				 (group ? MHD_ALLOW_SUSPEND_RESUME : 0),
	    0, NULL, NULL, on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE,
	    threads, MHD_OPTION_CONNECTION_LIMIT, 4096,
	    MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	if (d == NULL || (group && pthread_create(&w, NULL, writer, NULL) != 0))
		return 1;
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("listening on http://127.0.0.1:%u\n", info->port);
	fflush(stdout);
	sigwait(&set, &sig);
	if (group) { /* wrk has gone: nothing is left suspended */
		pthread_mutex_lock(&queue_lock);
		stopping = true;
		pthread_cond_signal(&queue_cond);
		pthread_mutex_unlock(&queue_lock);
		pthread_join(w, NULL);
	}
	MHD_stop_daemon(d);
	sqlite3_finalize(insert);
	sqlite3_close(db);
	return 0;
}
