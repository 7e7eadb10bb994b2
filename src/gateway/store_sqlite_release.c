/* SPDX-License-Identifier: MIT */
/* All SQL for releases and their artifacts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"

static const char *const sql[R_COUNT] = {
    [R_INSERT] = "INSERT INTO releases (app, channel, version, notes,"
		 " rollout_percent, mandatory, paused, content, created_at,"
		 " updated_at, signed, signature, serial)"
		 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11,"
		 " ?12)",
    [R_ART_INSERT] = "INSERT INTO artifacts (release_id, platform, url,"
		     " size, sha256, tar_sha256, deltas)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [R_FIND] = "SELECT " RELEASE_COLS ", content FROM releases"
	       " WHERE app = ?1 AND channel = ?2 AND version = ?3",
    [R_FIND_ARTS] = "SELECT " STORE_COLS_ARTIFACTS
		    " FROM artifacts WHERE release_id = ?1 ORDER BY platform",
    [R_CHANNELS] = "SELECT channel FROM releases WHERE app = ?1 AND"
		   " version = ?2 ORDER BY channel",
    [R_LIST] =
	"SELECT " RELEASE_COLS " FROM releases"
	" WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR channel = ?2)"
	" ORDER BY id",
    [R_LIST_ARTS] = "SELECT a.release_id, a.platform, a.url, a.size, a.sha256,"
		    " a.tar_sha256, a.deltas"
		    " FROM artifacts a JOIN releases r ON r.id = a.release_id"
		    " WHERE (?1 IS NULL OR r.app = ?1) AND (?2 IS NULL OR"
		    " r.channel = ?2) ORDER BY a.release_id, a.platform",
    [R_COUNTS] = "SELECT c.* FROM release_counts c"
		 " JOIN releases r ON r.id = c.release_id"
		 " WHERE (?1 IS NULL OR r.app = ?1) AND (?2 IS NULL OR"
		 " r.channel = ?2)",
    [R_UPDATE] = "UPDATE releases SET"
		 " rollout_percent = CASE WHEN ?2 >= 0 THEN ?2"
		 "   ELSE rollout_percent END,"
		 " paused = CASE WHEN ?3 >= 0 THEN ?3 ELSE paused END,"
		 " yanked = CASE WHEN ?4 >= 0 THEN ?4 ELSE yanked END,"
		 " updated_at = ?5 WHERE id = ?1",
    [R_HALT] = "UPDATE releases SET halted = 1, halted_at = ?2,"
	       " updated_at = ?2 WHERE id = ?1 AND halted = 0",
    [R_RESUME] = "UPDATE releases SET halted = 0, halted_at = 0,"
		 " base_finished = (SELECT succeeded + failed + timed_out"
		 "   FROM release_counts WHERE release_id = ?1),"
		 " base_failed = (SELECT failed + timed_out"
		 "   FROM release_counts WHERE release_id = ?1),"
		 " updated_at = ?2 WHERE id = ?1 AND halted = 1",
    [R_RB_GET] = "SELECT app, channel, release_id, rollout_percent, signed,"
		 " signature, serial, created_at FROM rollbacks"
		 " WHERE app = ?1 AND channel = ?2",
    [R_RB_SET] = "INSERT OR REPLACE INTO rollbacks (app, channel,"
		 " release_id, rollout_percent, signed, signature, serial,"
		 " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [R_RB_DELETE] = "DELETE FROM rollbacks WHERE app = ?1 AND channel = ?2",
    [R_SERIAL_MAX] = "SELECT max(coalesce((SELECT max(serial) FROM releases"
		     " WHERE app = ?1 AND channel = ?2), 0),"
		     " coalesce((SELECT max(serial) FROM rollbacks"
		     " WHERE app = ?1 AND channel = ?2), 0))",
    [R_CATALOG_VERSION] = "SELECT v FROM catalog_version",
};

const struct db_sqlset store_sqlite_release_sql = {"release", sql, R_COUNT};

/* A nullable text column: NULL stays NULL. Returns -ENOMEM or 0. */
static int
col_opt_text(sqlite3_stmt *st, int i, char **out)
{
	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	return (*out = db_col_strdup(st, i)) ? 0 : -ENOMEM;
}

static int
read_release(sqlite3_stmt *st, struct release *r)
{
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	db_col_copy(st, 1, r->app, sizeof(r->app));
	db_col_copy(st, 2, r->channel, sizeof(r->channel));
	db_col_copy(st, 3, r->version, sizeof(r->version));
	r->notes = db_col_strdup(st, 4);
	r->rollout_percent = sqlite3_column_int(st, 5);
	r->mandatory = sqlite3_column_int(st, 6);
	r->paused = sqlite3_column_int(st, 7);
	r->yanked = sqlite3_column_int(st, 8);
	r->halted = sqlite3_column_int(st, 9);
	r->created_at = sqlite3_column_int64(st, 10);
	r->updated_at = sqlite3_column_int64(st, 11);
	r->halted_at = sqlite3_column_int64(st, 12);
	if (col_opt_text(st, 13, &r->signed_doc) < 0 ||
	    col_opt_text(st, 14, &r->signature) < 0)
		return -ENOMEM;
	r->serial = sqlite3_column_int64(st, 15);
	return r->notes ? 0 : -ENOMEM;
}

/* Append the artifact in the current row of st to r. */
static int
add_artifact(sqlite3_stmt *st, struct release *r)
{
	struct artifact *a;

	a = realloc(r->artifacts, (r->n_artifacts + 1) * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	r->artifacts = a;
	a = &a[r->n_artifacts];
	db_col_copy(st, 1, a->platform, sizeof(a->platform));
	a->url = db_col_strdup(st, 2);
	a->size = sqlite3_column_int64(st, 3);
	db_col_copy(st, 4, a->sha256, sizeof(a->sha256));
	db_col_copy(st, 5, a->tar_sha256, sizeof(a->tar_sha256));
	r->n_artifacts++; /* store_release_fini frees what there is */
	if (a->url == NULL)
		return -ENOMEM;
	return store_deltas_parse(a, (const char *)sqlite3_column_text(st, 6));
}

int
store_sqlite_release_insert(
    struct store_conn *c, struct release *r, const char *content)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_INSERT);
	char *deltas;
	int err;

	db_bind_text(st, 1, r->app);
	db_bind_text(st, 2, r->channel);
	db_bind_text(st, 3, r->version);
	db_bind_text(st, 4, r->notes ? r->notes : "");
	sqlite3_bind_int(st, 5, r->rollout_percent);
	sqlite3_bind_int(st, 6, r->mandatory);
	sqlite3_bind_int(st, 7, r->paused);
	db_bind_text(st, 8, content);
	sqlite3_bind_int64(st, 9, r->created_at);
	db_bind_text(st, 10, r->signed_doc);
	db_bind_text(st, 11, r->signature);
	if (r->serial > 0)
		sqlite3_bind_int64(st, 12, r->serial);
	else
		sqlite3_bind_null(st, 12);
	if ((err = db_run(st)) < 0)
		return err;
	r->id = sqlite3_last_insert_rowid(sqlite3_db_handle(st));
	for (size_t i = 0; i < r->n_artifacts; i++) {
		st = db_stmt(db, &store_sqlite_release_sql, R_ART_INSERT);
		sqlite3_bind_int64(st, 1, r->id);
		db_bind_text(st, 2, r->artifacts[i].platform);
		db_bind_text(st, 3, r->artifacts[i].url);
		sqlite3_bind_int64(st, 4, r->artifacts[i].size);
		db_bind_text(st, 5, r->artifacts[i].sha256);
		db_bind_text(st, 6,
		    r->artifacts[i].tar_sha256[0] ? r->artifacts[i].tar_sha256
						  : NULL);
		if ((err = store_deltas_text(&r->artifacts[i], &deltas)) < 0)
			return err;
		db_bind_text(st, 7, deltas);
		err = db_run(st);
		free(deltas);
		if (err < 0)
			return err;
	}
	return 0;
}

int
store_sqlite_release_find(struct store_conn *c, const char *app,
    const char *channel, const char *version, struct release *out,
    char **content)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_FIND);
	struct release r;
	char *text = NULL;
	int err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, channel);
	db_bind_text(st, 3, version);
	if ((err = db_row(st)) <= 0)
		return err == 0 ? -ENOENT : err;
	err = read_release(st, &r);
	if (err == 0 && content != NULL &&
	    (text = db_col_strdup(st, 16)) == NULL)
		err = -ENOMEM;
	sqlite3_reset(st);
	st = db_stmt(db, &store_sqlite_release_sql, R_FIND_ARTS);
	sqlite3_bind_int64(st, 1, r.id);
	while (err == 0 && (err = db_row(st)) == 1)
		err = add_artifact(st, &r);
	sqlite3_reset(st);
	if (err < 0) {
		store_release_fini(&r);
		free(text);
		return err;
	}
	*out = r;
	if (content != NULL)
		*content = text;
	return 0;
}

int
store_sqlite_release_channels(struct store_conn *c, const char *app,
    const char *version, char names[][STORE_NAME_MAX + 1], int max)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_CHANNELS);
	int n = 0, err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, version);
	while ((err = db_row(st)) == 1) {
		if (n < max)
			db_col_copy(st, 0, names[n], STORE_NAME_MAX + 1);
		n++;
	}
	return err < 0 ? err : n;
}

int
store_sqlite_release_list(struct store_conn *c, const char *app,
    const char *channel, bool with_counts, struct release **out, size_t *n)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_LIST);
	struct release *list = NULL, *r;
	size_t len = 0, cap = 0;
	int err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, channel);
	while ((err = db_row(st)) == 1) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			r = realloc(list, cap * sizeof(*list));
			if (r == NULL) {
				err = -ENOMEM;
				break;
			}
			list = r;
		}
		if ((err = read_release(st, &list[len++])) < 0)
			break;
	}
	sqlite3_reset(st);
	if (err == 0) {
		st = db_stmt(db, &store_sqlite_release_sql, R_LIST_ARTS);
		db_bind_text(st, 1, app);
		db_bind_text(st, 2, channel);
		while ((err = db_row(st)) == 1) {
			r = store_release_by_id(
			    list, len, sqlite3_column_int64(st, 0));
			if (r != NULL && (err = add_artifact(st, r)) < 0)
				break;
		}
		sqlite3_reset(st);
	}
	if (err == 0 && with_counts) {
		st = db_stmt(db, &store_sqlite_release_sql, R_COUNTS);
		db_bind_text(st, 1, app);
		db_bind_text(st, 2, channel);
		/* release_id, then a column per state in enum order */
		while ((err = db_row(st)) == 1)
			if ((r = store_release_by_id(
				 list, len, sqlite3_column_int64(st, 0))))
				for (int i = 0; i < UPG_STATE_COUNT; i++)
					r->counts[i] =
					    sqlite3_column_int64(st, 1 + i);
		sqlite3_reset(st);
	}
	if (err < 0) {
		store_release_free_list(list, len);
		return err;
	}
	*out = list;
	*n = len;
	return 0;
}

int
store_sqlite_release_update(struct store_conn *c, int64_t id,
    int rollout_percent, int paused, int yanked, int halted, int64_t now)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_UPDATE);
	int err;

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, rollout_percent);
	sqlite3_bind_int(st, 3, paused);
	sqlite3_bind_int(st, 4, yanked);
	sqlite3_bind_int64(st, 5, now);
	if ((err = db_run(st)) < 0 || halted < 0)
		return err;
	st = db_stmt(db, &store_sqlite_release_sql, halted ? R_HALT : R_RESUME);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	return db_run(st);
}

int
store_sqlite_rollback_get(struct store_conn *c, const char *app,
    const char *channel, struct rollback *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_RB_GET);
	struct rollback rb = {0};
	int err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, channel);
	if ((err = db_row(st)) <= 0)
		return err == 0 ? -ENOENT : err;
	db_col_copy(st, 0, rb.app, sizeof(rb.app));
	db_col_copy(st, 1, rb.channel, sizeof(rb.channel));
	rb.release_id = sqlite3_column_int64(st, 2);
	rb.rollout_percent = sqlite3_column_int(st, 3);
	if (col_opt_text(st, 4, &rb.signed_doc) < 0 ||
	    col_opt_text(st, 5, &rb.signature) < 0)
		err = -ENOMEM;
	else
		err = 0;
	rb.serial = sqlite3_column_int64(st, 6);
	rb.created_at = sqlite3_column_int64(st, 7);
	sqlite3_reset(st);
	if (err < 0) {
		store_rollback_fini(&rb);
		return err;
	}
	*out = rb;
	return 0;
}

int
store_sqlite_rollback_set(struct store_conn *c, const struct rollback *rb)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_RB_SET);

	db_bind_text(st, 1, rb->app);
	db_bind_text(st, 2, rb->channel);
	sqlite3_bind_int64(st, 3, rb->release_id);
	sqlite3_bind_int(st, 4, rb->rollout_percent);
	db_bind_text(st, 5, rb->signed_doc);
	db_bind_text(st, 6, rb->signature);
	if (rb->serial > 0)
		sqlite3_bind_int64(st, 7, rb->serial);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int64(st, 8, rb->created_at);
	return db_run(st);
}

int
store_sqlite_rollback_delete(
    struct store_conn *c, const char *app, const char *channel)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_RB_DELETE);
	int err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, channel);
	if ((err = db_run(st)) < 0)
		return err;
	return sqlite3_changes(sqlite3_db_handle(st)) ? 0 : -ENOENT;
}

int
store_sqlite_serial_max(
    struct store_conn *c, const char *app, const char *channel, int64_t *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st = db_stmt(db, &store_sqlite_release_sql, R_SERIAL_MAX);
	int err;

	db_bind_text(st, 1, app);
	db_bind_text(st, 2, channel);
	if ((err = db_row(st)) < 0)
		return err;
	*out = err == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

int
store_sqlite_catalog_version(struct store_conn *c, int64_t *out)
{
	struct db *db = store_sqlite_db(c);
	sqlite3_stmt *st =
	    db_stmt(db, &store_sqlite_release_sql, R_CATALOG_VERSION);
	int err;

	if ((err = db_row(st)) <= 0)
		return err == 0 ? -EIO : err;
	*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}
