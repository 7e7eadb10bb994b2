/* SPDX-License-Identifier: MIT */
/* Tests of the group committer on a real SQLite file: every job's result,
 * a refused job undoing only its own writes, a failed transaction failing
 * its whole batch, submits from many threads, submits after stop, and a
 * submitter that waits for its job (gcommit_run). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdb.h"
#include "upgate/db.h"
#include "upgate/gcommit.h"

static const char *const sql[] = {
    "INSERT INTO kv (k) VALUES (?1)",
    "SELECT count(*) FROM kv",
};
static const struct db_sqlset set = {"kv", sql, 2};
static const struct db_sqlset *const sets[] = {&set};
static const char *const migrations[] = {
    "CREATE TABLE kv (k TEXT PRIMARY KEY)"};
static const struct db_schema schema = {migrations, 1, sets, 1};

static char path[64];
static struct db *db;
static bool fail_begin;

struct job {
	struct gcommit_job gj;
	char key[32];
	bool write_twice; /* a second insert of the same key: refused */
	int result;
	atomic_int *done;
};

static int
begin(void *ctx)
{
	(void)ctx;
	return fail_begin ? -EIO : db_txn_begin(db);
}

static int
end(void *ctx, int err)
{
	(void)ctx;
	return db_txn_end(db, err);
}

static int
savepoint(void *ctx)
{
	(void)ctx;
	return db_savepoint(db);
}

static int
savepoint_end(void *ctx, bool keep)
{
	(void)ctx;
	return db_savepoint_end(db, keep);
}

static int
run(void *arg)
{
	struct job *j = arg;
	sqlite3_stmt *st = db_stmt(db, &set, 0);
	int err;

	sqlite3_bind_text(st, 1, j->key, -1, SQLITE_STATIC);
	if ((err = db_run(st)) < 0 || !j->write_twice)
		return err;
	st = db_stmt(db, &set, 0);
	sqlite3_bind_text(st, 1, j->key, -1, SQLITE_STATIC);
	return db_run(st);
}

static void
done(void *arg, int err)
{
	struct job *j = arg;

	j->result = err;
	atomic_fetch_add(j->done, 1);
}

static int64_t
rows(void)
{
	sqlite3_stmt *st = db_stmt(db, &set, 1);
	int64_t n = -1;

	if (db_row(st) == 1)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

static int
setup(void **state)
{
	(void)state;
	tmpdb_path(path, sizeof(path), "gc");
	fail_begin = false;
	return db_open(path, &schema, true, &db);
}

static int
teardown(void **state)
{
	(void)state;
	db_close(db);
	tmpdb_remove(path);
	return 0;
}

static struct gcommit *
start(void)
{
	const struct gcommit_txn txn = {begin, end, savepoint, savepoint_end, NULL};
	struct gcommit *g = NULL;

	assert_int_equal(gcommit_start(&txn, &g), 0);
	return g;
}

/* Queue j; done() counts it in *n. */
static void
submit(struct gcommit *g, struct job *j, atomic_int *n)
{
	j->gj = (struct gcommit_job){.run = run, .done = done, .arg = j};
	j->done = n;
	gcommit_submit(g, &j->gj);
}

static void
wait_for(atomic_int *done, int n)
{
	while (atomic_load(done) < n)
		usleep(1000);
}

static void
test_refused_job_undoes_only_its_writes(void **state)
{
	struct gcommit *g = start();
	struct job j[3] = {
	    {.key = "a"}, {.key = "b", .write_twice = true}, {.key = "c"}};
	atomic_int n = 0;

	(void)state;
	for (int i = 0; i < 3; i++)
		submit(g, &j[i], &n);
	wait_for(&n, 3);
	assert_int_equal(j[0].result, 0);
	assert_int_equal(j[1].result, -EEXIST);
	assert_int_equal(j[2].result, 0);
	gcommit_free(g);
	/* b's first insert was undone with its second: a and c remain. */
	assert_int_equal(rows(), 2);
}

static void
test_failed_transaction_fails_every_job(void **state)
{
	struct gcommit *g = start();
	struct job j[2] = {{.key = "x"}, {.key = "y"}};
	atomic_int n = 0;

	(void)state;
	fail_begin = true;
	for (int i = 0; i < 2; i++)
		submit(g, &j[i], &n);
	wait_for(&n, 2);
	assert_int_equal(j[0].result, -EIO);
	assert_int_equal(j[1].result, -EIO);
	gcommit_free(g);
	assert_int_equal(rows(), 0);
}

#define THREADS 8
#define PER_THREAD 250

struct submitter {
	struct gcommit *g;
	struct job jobs[PER_THREAD];
	atomic_int *done;
	int id;
};

static void *
submit_all(void *arg)
{
	struct submitter *s = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(
		    s->jobs[i].key, sizeof(s->jobs[i].key), "t%d-%d", s->id, i);
		submit(s->g, &s->jobs[i], s->done);
	}
	return NULL;
}

static void
test_many_threads_every_job_committed(void **state)
{
	static struct submitter sub[THREADS];
	struct gcommit *g = start();
	pthread_t t[THREADS];
	atomic_int n = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	for (int i = 0; i < THREADS; i++) {
		sub[i] = (struct submitter){.g = g, .done = &n, .id = i};
		assert_int_equal(
		    pthread_create(&t[i], NULL, submit_all, &sub[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	wait_for(&n, THREADS * PER_THREAD);
	for (int i = 0; i < THREADS; i++)
		for (int k = 0; k < PER_THREAD; k++)
			assert_int_equal(sub[i].jobs[k].result, 0);
	f = open_memstream(&text, &len);
	gcommit_metrics(g, "gc_", f);
	fclose(f);
	assert_non_null(strstr(text, "gc_jobs_total 2000\n"));
	free(text);
	gcommit_free(g);
	assert_int_equal(rows(), THREADS * PER_THREAD);
}

static void
test_submit_after_stop_is_refused(void **state)
{
	struct gcommit *g = start();
	struct job j = {.key = "late"};
	atomic_int n = 0;

	(void)state;
	gcommit_stop(g);
	submit(g, &j, &n);
	assert_int_equal(atomic_load(&n), 1);
	assert_int_equal(j.result, -ESHUTDOWN);
	gcommit_free(g);
	assert_int_equal(rows(), 0);
}

static void
test_run_waits_until_committed(void **state)
{
	struct gcommit *g = start();
	struct job ok = {.key = "w"}, twice = {.key = "v", .write_twice = true};
	struct job late = {.key = "z"};

	(void)state;
	assert_int_equal(gcommit_run(g, run, &ok), 0);
	/* Committed when it returns: this connection reads it outside any
	 * transaction. */
	assert_int_equal(rows(), 1);
	assert_int_equal(gcommit_run(g, run, &twice), -EEXIST);
	assert_int_equal(rows(), 1);
	gcommit_stop(g);
	assert_int_equal(gcommit_run(g, run, &late), -ESHUTDOWN);
	gcommit_free(g);
	assert_int_equal(rows(), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_refused_job_undoes_only_its_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_failed_transaction_fails_every_job, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_many_threads_every_job_committed, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_submit_after_stop_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_run_waits_until_committed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
