/* SPDX-License-Identifier: MIT */
/* Tests of the outcome archive's queries on a real database file: every
 * filter form, time window and page size gives the outcomes a plain
 * reading of the filter would, newest first, each once, whether or not
 * the window is bounded by the ids it spans. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "store.h"
#include "../common/tmpdb.h"

#define N 240
#define T0 1795510464000
#define SEC 1000

static char path[128];

/* What was archived, row i + 1 being sample[i]. */
static struct sample {
	char id[32], client[16], version[16];
	const char *app, *result, *kind;
	int64_t finished_at;
} sample[N];

/* finished_at mostly follows the archive order, but one outcome in
 * eleven reached mgmtd late (a gateway that was cut off for a while),
 * and one in thirteen came from a client whose clock runs ahead. */
static int64_t
finished_at(int i)
{
	if (i % 11 == 5)
		return T0 + (i / 3) * SEC;
	if (i % 13 == 7)
		return T0 + (i + 90) * SEC;
	return T0 + i * SEC;
}

static int
setup(void **state)
{
	static const char *const results[] = {
	    "succeeded", "failed", "succeeded", "timed_out", "succeeded"};
	struct store_opts so = {.database = path};
	struct store_conn *db;
	struct store *s;

	tmpdb_path(path, sizeof(path), "outcome");
	tmpdb_remove(path);
	if (store_open(&store_sqlite, &so, &s) < 0)
		return -1;
	db = store_writer(s);
	if (store_txn_begin(db) < 0)
		return -1;
	for (int i = 0; i < N; i++) {
		struct sample *x = &sample[i];
		struct outcome o = {0};

		snprintf(x->id, sizeof(x->id), "out-%03d", i);
		snprintf(x->client, sizeof(x->client), "host-%d", i % 4);
		snprintf(x->version, sizeof(x->version), "1.%d.0", i % 3);
		x->result = results[i % 5];
		x->app = i % 7 == 2 ? "com.example.other" : "com.example.app";
		o.kind = i % 17 == 3 ? OUTCOME_ROLLBACK : OUTCOME_UPGRADE;
		x->kind = o.kind == OUTCOME_ROLLBACK ? "rollback" : "upgrade";
		if (i % 29 == 10) { /* a halt notice: listed with kind=all */
			o.kind = OUTCOME_HALT;
			x->kind = "release_halted";
			x->result = "halted";
			o.detail = "{}";
		}
		x->finished_at = finished_at(i);
		o.outcome_id = x->id;
		o.gateway_id = "gw-1";
		o.client_id = x->client;
		o.app = x->app;
		o.to_version = x->version;
		o.result = x->result;
		o.finished_at = x->finished_at;
		o.download_ms = o.install_ms = -1;
		if (store_outcome_insert(db, &o, T0 + i * SEC) != 0 ||
		    o.row != i + 1)
			return -1;
	}
	if (store_txn_end(db, 0) < 0)
		return -1;
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	store_close(*state);
	tmpdb_remove(path);
	return 0;
}

static bool
wanted(const struct sample *s, const struct outcome_filter *f)
{
	if (f->kind == NULL
		? strcmp(s->kind, "release_halted") == 0
		: strcmp(f->kind, "all") != 0 && strcmp(f->kind, s->kind) != 0)
		return false;
	return (f->app == NULL || strcmp(f->app, s->app) == 0) &&
	       (f->version == NULL || strcmp(f->version, s->version) == 0) &&
	       (f->result == NULL || strcmp(f->result, s->result) == 0) &&
	       (f->client_id == NULL || strcmp(f->client_id, s->client) == 0) &&
	       (f->since == 0 || s->finished_at >= f->since) &&
	       (f->until == 0 || s->finished_at <= f->until);
}

/* The ids a plain reading of f gives, newest first, into want. */
static int
expected(const struct outcome_filter *f, const char **want)
{
	int n = 0;

	for (int i = N - 1; i >= 0; i--)
		if (wanted(&sample[i], f))
			want[n++] = sample[i].id;
	return n;
}

/* Page through f as GET /v1/outcomes does, limit at a time. */
static int
listed(
    struct store_conn *db, struct outcome_filter f, int64_t limit, char **got)
{
	int n = 0;

	f.limit = limit;
	for (;;) {
		char *text = NULL;
		int64_t next;
		json_t *a;
		size_t i;

		/* Each page is a request of its own: a fresh filter. */
		f.spanned = false;
		assert_int_equal(store_outcome_list(db, &f, &text, &next), 0);
		a = json_loads(text, 0, NULL);
		assert_non_null(a);
		assert_true(json_array_size(a) <= (size_t)limit);
		for (i = 0; i < json_array_size(a); i++) {
			const char *id = json_string_value(json_object_get(
			    json_array_get(a, i), "outcome_id"));

			assert_true(n < N);
			got[n++] = strdup(id);
		}
		json_decref(a);
		free(text);
		if (next == 0)
			return n;
		assert_int_equal(i, limit);
		f.after = next;
	}
}

/* Export f as GET /v1/outcomes.csv does, one filter for every page. */
static int
exported(
    struct store_conn *db, struct outcome_filter f, int64_t page, char **got)
{
	int count = 0;

	for (bool header = true;; header = false) {
		char *buf = NULL, *line, *save = NULL;
		size_t len = 0;
		int64_t last, n;
		FILE *out = open_memstream(&buf, &len);

		assert_non_null(out);
		f.limit = page;
		assert_int_equal(
		    store_outcome_csv(db, &f, header, out, &last, &n), 0);
		fclose(out);
		line = strtok_r(buf, "\r\n", &save);
		if (header)
			line = strtok_r(NULL, "\r\n", &save);
		for (; line != NULL; line = strtok_r(NULL, "\r\n", &save)) {
			assert_true(count < N);
			got[count++] = strndup(line, strcspn(line, ","));
		}
		free(buf);
		if (n < page)
			return count;
		f.after = last;
	}
}

static void
check(struct store_conn *db, const struct outcome_filter *f)
{
	const char *want[N];
	char *got[N];
	int nwant = expected(f, want);

	for (int limit = 1; limit <= 50; limit += 7) {
		int n = listed(db, *f, limit, got);

		assert_int_equal(n, nwant);
		for (int i = 0; i < n; i++) {
			assert_string_equal(got[i], want[i]);
			free(got[i]);
		}
		n = exported(db, *f, limit, got);
		assert_int_equal(n, nwant);
		for (int i = 0; i < n; i++) {
			assert_string_equal(got[i], want[i]);
			free(got[i]);
		}
	}
}

static void
windows_and_forms(struct store_conn *db)
{
	/* Windows: none, one side, both, a narrow one late rows fall into,
	 * one nothing finished in, and one past the newest. */
	static const int64_t win[][2] = {
	    {0, 0},
	    {T0 + 100 * SEC, 0},
	    {0, T0 + 60 * SEC},
	    {T0 + 30 * SEC, T0 + 45 * SEC},
	    {T0 + 150 * SEC, T0 + 200 * SEC},
	    {T0 - 50 * SEC, T0 - 1},
	    {T0 + 400 * SEC, 0},
	};
	struct outcome_filter forms[] = {
	    {0},
	    {.result = "failed"},
	    {.kind = "all"},
	    {.kind = "rollback"},
	    {.client_id = "host-1"},
	    {.client_id = "host-2", .result = "succeeded"},
	    {.app = "com.example.app", .version = "1.1.0"},
	    {.app = "com.example.app", .version = "1.2.0", .kind = "all"},
	    {.app = "com.example.other"},
	    {.app = "com.example.other", .result = "failed"},
	    {.result = "timed_out", .kind = "all"},
	    {.app = "com.example.app", .result = "timed_out"},
	    {.app = "com.example.app", .kind = "all", .client_id = "host-3"},
	};

	for (size_t w = 0; w < sizeof(win) / sizeof(win[0]); w++)
		for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
			struct outcome_filter f = forms[k];

			f.since = win[w][0];
			f.until = win[w][1];
			check(db, &f);
		}
}

static void
test_windows_bounded_by_their_ids(void **state)
{
	windows_and_forms(store_writer(*state));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_windows_bounded_by_their_ids),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
