/* SPDX-License-Identifier: MIT */
/* Tests of the gateway stores on :memory: with the real migrations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "store_sqlite.h"

static char url[] = "https://dl.example.com/a.tgz";
static char notes[] = "n";

static int
setup(void **state)
{
	const struct store_opts o = {.database = ":memory:"};
	struct store *s;

	if (store_open(&store_sqlite, &o, &s) < 0)
		return -1;
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	store_close(*state);
	return 0;
}

static int64_t
publish(struct store_conn *db, const char *version)
{
	struct artifact a = {
	    .platform = "linux-x86_64", .url = url, .size = 100};
	struct release r;

	memset(&r, 0, sizeof(r));
	memset(a.sha256, 'a', 64);
	snprintf(r.app, sizeof(r.app), "app");
	snprintf(r.version, sizeof(r.version), "%s", version);
	snprintf(r.channel, sizeof(r.channel), "stable");
	r.notes = notes;
	r.rollout_percent = 100;
	r.artifacts = &a;
	r.n_artifacts = 1;
	r.created_at = 1000;
	assert_int_equal(store_release_insert(db, &r, "{}"), 0);
	return r.id;
}

static struct upgrade
offer(struct store_conn *db, const char *client, int64_t release_id, int64_t at)
{
	struct upgrade u;

	memset(&u, 0, sizeof(u));
	id_new(u.upgrade_id);
	snprintf(u.client_id, sizeof(u.client_id), "%s", client);
	snprintf(u.app, sizeof(u.app), "app");
	snprintf(u.platform, sizeof(u.platform), "linux-x86_64");
	snprintf(u.channel, sizeof(u.channel), "stable");
	snprintf(u.from_version, sizeof(u.from_version), "1.0.0");
	snprintf(u.to_version, sizeof(u.to_version), "1.1.0");
	u.release_id = release_id;
	u.url = url;
	u.size = 100;
	memset(u.sha256, 'a', 64);
	u.created_at = at;
	assert_int_equal(store_upgrade_insert(db, &u), 0);
	u.url = NULL;
	return u;
}

static void
test_release_roundtrip(void **state)
{
	struct store_conn *db = store_writer(*state);
	struct release r, *list;
	char *content = NULL;
	char chans[2][STORE_NAME_MAX + 1];
	size_t n;

	publish(db, "1.1.0");
	publish(db, "1.2.0");
	assert_int_equal(store_release_find(db, "app", "stable", "1.1.0", &r,
	    &content), 0);
	assert_string_equal(content, "{}");
	assert_int_equal(r.n_artifacts, 1);
	assert_string_equal(r.artifacts[0].url, url);
	store_release_fini(&r);
	free(content);
	assert_int_equal(store_release_find(db, "app", "beta", "1.1.0", &r,
	    NULL), -ENOENT);
	assert_int_equal(store_release_channels(db, "app", "1.1.0", chans, 2),
	    1);
	assert_string_equal(chans[0], "stable");
	assert_int_equal(store_release_list(db, "app", NULL, true, &list, &n),
	    0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].version, "1.2.0");
	assert_int_equal(list[1].n_artifacts, 1);
	store_release_free_list(list, n);
}

static void
test_one_active_upgrade(void **state)
{
	struct store_conn *db = store_writer(*state);
	int64_t rid = publish(db, "1.1.0");
	struct upgrade u = offer(db, "c1", rid, 1000), dup, got;

	memset(&dup, 0, sizeof(dup));
	dup = u;
	id_new(dup.upgrade_id);
	dup.url = url;
	assert_int_equal(store_upgrade_insert(db, &dup), -EEXIST);
	assert_int_equal(store_upgrade_latest(db, "c1", "app", &got), 0);
	assert_string_equal(got.upgrade_id, u.upgrade_id);
	assert_int_equal(got.state, UPG_OFFERED);
	store_upgrade_fini(&got);
	assert_int_equal(store_upgrade_latest(db, "c2", "app", &got), -ENOENT);
}

static void
test_finish_outbox_and_tell(void **state)
{
	struct store_conn *db = store_writer(*state);
	int64_t rid = publish(db, "1.1.0"), rows, oldest;
	struct upgrade u = offer(db, "c1", rid, 1000);
	struct upgrade_event e = { 1, UPG_DOWNLOADING, "", NULL, 50, -1, -1,
		1500, -1, -1 };
	struct finish_opts fo = { "gw-1", 0.25, 20 };
	struct fail_stat *fs;
	size_t n;
	bool halted;

	assert_int_equal(store_upgrade_event_add(db, &u, &e), 0);
	/* The caller's copy follows the row. */
	assert_int_equal(u.state, UPG_DOWNLOADING);
	assert_int_equal(u.last_seq, 1);
	assert_int_equal(u.progress, 50);
	assert_int_equal(u.updated_at, 1500);
	assert_int_equal(store_upgrade_finish(db, &u, UPG_FAILED, "disk_full",
	    "no space", 2000, &fo, &halted), 0);
	assert_false(halted);
	assert_int_equal(u.state, UPG_FAILED);
	assert_string_equal(u.error_code, "disk_full");
	assert_string_equal(u.message, "no space");
	assert_int_equal(u.finished_at, 2000);
	free(u.message);
	u.message = NULL;
	assert_int_equal(store_upgrade_finish(db, &u, UPG_FAILED, "disk_full",
	    "no space", 2000, &fo, &halted), -EALREADY);
	assert_int_equal(store_outbox_depth(db, &rows, &oldest), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(oldest, 2000);
	assert_int_equal(store_upgrade_failures(db, "c1", "app", &fs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(fs[0].failures, 1);
	assert_int_equal(fs[0].last_at, 2000);
	free(fs);
	assert_int_equal(store_upgrade_tell(db, u.id), 1);
	assert_int_equal(store_upgrade_tell(db, u.id), 0);
	/* A finished upgrade no longer blocks a new one. */
	offer(db, "c1", rid, 3000);
}

static void
test_halt_after_min_samples(void **state)
{
	struct store_conn *db = store_writer(*state);
	int64_t rid = publish(db, "1.1.0"), rows, oldest;
	struct finish_opts fo = { "gw-1", 0.25, 4 };
	struct release r;
	char client[16];
	bool halted = false;

	/* 3 of 3 failed: not enough samples yet. */
	for (int i = 0; i < 4; i++) {
		struct upgrade u;

		snprintf(client, sizeof(client), "c%d", i);
		u = offer(db, client, rid, 1000);
		assert_int_equal(store_upgrade_finish(db, &u, i == 0 ?
		    UPG_SUCCEEDED : UPG_FAILED, i ? "x" : NULL, NULL, 2000, &fo,
		    &halted), 0);
		assert_true(halted == (i == 3));
	}
	assert_int_equal(store_release_find(db, "app", "stable", "1.1.0", &r,
	    NULL), 0);
	assert_true(r.halted);
	store_release_fini(&r);
	/* 4 outcomes and one halt notice. */
	assert_int_equal(store_outbox_depth(db, &rows, &oldest), 0);
	assert_int_equal(rows, 5);
	/* Resuming restarts the window: one more failure does not halt. */
	assert_int_equal(store_release_update(db, rid, -1, -1, -1, 0, 3000), 0);
	{
		struct upgrade u = offer(db, "c9", rid, 3000);

		assert_int_equal(store_upgrade_finish(db, &u, UPG_FAILED, "x",
		    NULL, 3500, &fo, &halted), 0);
		assert_false(halted);
	}
}

static void
test_expired_and_list(void **state)
{
	struct store_conn *db = store_writer(*state);
	int64_t rid = publish(db, "1.1.0"), ids[8];
	struct upgrade_filter f = { "app", NULL, -1, 0, 10 };
	struct upgrade *list;
	size_t n;

	offer(db, "old", rid, 1000);
	offer(db, "new", rid, 5000);
	assert_int_equal(store_upgrade_expired(db, 2000, ids, 8), 1);
	assert_int_equal(store_upgrade_list(db, &f, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].client_id, "new");	/* newest first */
	f.after = list[0].id;
	store_upgrade_free_list(list, n);
	assert_int_equal(store_upgrade_list(db, &f, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].client_id, "old");
	store_upgrade_free_list(list, n);
}

/* Launch records leave oldest first: of the oldest max, those made
 * before the cut. One made with a clock ahead stays until it is old. */
static void
test_launch_prune(void **state)
{
	static const int64_t at[] = { 100, 200, 9000, 300, 400, 9100 };
	struct store_conn *db = store_writer(*state);
	struct launch_rec l[6];

	for (size_t i = 0; i < 6; i++)
		l[i] = (struct launch_rec){ at[i], "host-1", "app", "1.0.0",
			"linux-x86_64", "stable", "launch", "up_to_date",
			NULL };
	assert_int_equal(store_launch_insert(db, l, 6), 0);
	assert_int_equal(store_launch_prune(db, 250, 2), 2);	/* 100, 200 */
	assert_int_equal(store_launch_prune(db, 250, 2), 0);	/* 9000, 300 */
	assert_int_equal(store_launch_prune(db, 350, 2), 1);	/* 300 */
	assert_int_equal(store_launch_prune(db, 350, 10), 0);
	assert_int_equal(store_launch_prune(db, 10000, 10), 3);
	assert_int_equal(store_launch_prune(db, 10000, 10), 0);
}

static void
expect_counts(struct store_conn *db, const int64_t want[UPG_STATE_COUNT])
{
	int64_t got[UPG_STATE_COUNT];
	struct release *list;
	size_t n;

	assert_int_equal(store_upgrade_state_counts(db, got), 0);
	assert_memory_equal(got, want, sizeof(got));
	assert_int_equal(
	    store_release_list(db, "app", NULL, true, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(list[0].counts, want, sizeof(got));
	store_release_free_list(list, n);
}

/* Upgrades are counted by state as they are offered, reported and
 * finished, for /metrics and the admin release list. */
static void
test_counts_follow_states(void **state)
{
	struct store_conn *db = store_writer(*state);
	int64_t rid = publish(db, "1.1.0");
	int64_t want[UPG_STATE_COUNT] = { 0 };
	struct upgrade u1 = offer(db, "c1", rid, 1000);
	struct upgrade u2 = offer(db, "c2", rid, 1000);
	struct upgrade_event e = { 1, UPG_DOWNLOADING, "", NULL, 10, -1, -1,
		1500, -1, -1 };
	struct finish_opts fo = { "gw-1", 0.9, 1000 };
	bool halted;

	want[UPG_OFFERED] = 2;
	expect_counts(db, want);
	assert_int_equal(store_upgrade_event_add(db, &u1, &e), 0);
	e.seq = 2; /* a report in the same state moves nothing */
	e.progress = 60;
	assert_int_equal(store_upgrade_event_add(db, &u1, &e), 0);
	want[UPG_OFFERED] = 1;
	want[UPG_DOWNLOADING] = 1;
	expect_counts(db, want);
	assert_int_equal(store_upgrade_finish(db, &u1, UPG_SUCCEEDED, NULL,
	    NULL, 2000, &fo, &halted), 0);
	assert_int_equal(store_upgrade_finish(db, &u2, UPG_TIMED_OUT,
	    "timed_out", "late", 2000, &fo, &halted), 0);
	free(u2.message);
	want[UPG_OFFERED] = want[UPG_DOWNLOADING] = 0;
	want[UPG_SUCCEEDED] = want[UPG_TIMED_OUT] = 1;
	expect_counts(db, want);
	/* Finishing again changes nothing, counts included. */
	assert_int_equal(store_upgrade_finish(db, &u1, UPG_FAILED, "x", NULL,
	    2500, &fo, &halted), -EALREADY);
	expect_counts(db, want);
}

/* A database from before the counts (schema 3) has them computed from
 * its upgrades when it is migrated. */
static void
test_counts_migrated(void **state)
{
	struct db_schema v3 = store_sqlite_schema;
	char path[] = "/tmp/upgate-test-store-XXXXXX";
	struct store_opts o = {.database = path};
	struct store *st;
	char wal[sizeof(path) + 4], shm[sizeof(path) + 4];
	int64_t want[UPG_STATE_COUNT] = { 0 };
	struct db *db;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	snprintf(shm, sizeof(shm), "%s-shm", path);
	v3.n_migrations = 3;
	v3.n_sets = 0; /* today's statements need today's schema */
	assert_int_equal(db_open(path, &v3, true, &db), 0);
	assert_int_equal(db_exec(db,
	    "INSERT INTO releases (app, channel, version, rollout_percent,"
	    " content, created_at, updated_at) VALUES"
	    " ('app', 'stable', '1.1.0', 100, '{}', 1, 1);"
	    "INSERT INTO upgrades (upgrade_id, client_id, app, release_id,"
	    " platform, channel, from_version, to_version, state, final, url,"
	    " size, sha256, notes, mandatory, created_at, updated_at) VALUES"
	    " ('a', 'c1', 'app', 1, 'p', 'stable', '1.0.0', '1.1.0',"
	    "  'offered', 0, 'u', 1, 's', '', 0, 1, 1),"
	    " ('b', 'c2', 'app', 1, 'p', 'stable', '1.0.0', '1.1.0',"
	    "  'installing', 0, 'u', 1, 's', '', 0, 1, 1),"
	    " ('c', 'c3', 'app', 1, 'p', 'stable', '1.0.0', '1.1.0',"
	    "  'failed', 1, 'u', 1, 's', '', 0, 1, 1),"
	    " ('d', 'c3', 'app', 1, 'p', 'stable', '1.0.0', '1.1.0',"
	    "  'failed', 1, 'u', 1, 's', '', 0, 1, 1);"),
	    0);
	db_close(db);
	assert_int_equal(store_open(&store_sqlite, &o, &st), 0);
	want[UPG_OFFERED] = want[UPG_INSTALLING] = 1;
	want[UPG_FAILED] = 2;
	expect_counts(store_writer(st), want);
	store_close(st);
	unlink(path);
	unlink(wal);
	unlink(shm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_release_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_one_active_upgrade, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_finish_outbox_and_tell,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_halt_after_min_samples,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_and_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_launch_prune, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_counts_follow_states, setup,
		    teardown),
		cmocka_unit_test(test_counts_migrated),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
