/* SPDX-License-Identifier: MIT */
/* All SQL for releases, their artifacts and rollbacks, on PostgreSQL. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"

static const char *const sql[R_COUNT] = {
    [R_INSERT] = "INSERT INTO releases (app, channel, version, notes,"
		 " rollout_percent, mandatory, paused, content, created_at,"
		 " updated_at, signed, signature, serial)"
		 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11,"
		 " $12) RETURNING id",
    [R_ART_INSERT] = "INSERT INTO artifacts (release_id, platform, url,"
		     " size, sha256, tar_sha256, deltas)"
		     " VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [R_FIND] = "SELECT " RELEASE_COLS ", content FROM releases"
	       " WHERE app = $1 AND channel = $2 AND version = $3",
    [R_FIND_ARTS] = "SELECT " STORE_COLS_ARTIFACTS
		    " FROM artifacts WHERE release_id = $1 ORDER BY platform",
    [R_CHANNELS] = "SELECT channel FROM releases WHERE app = $1 AND"
		   " version = $2 ORDER BY channel",
    [R_LIST] = "SELECT " RELEASE_COLS " FROM releases"
	       " WHERE ($1::text IS NULL OR app = $1)"
	       " AND ($2::text IS NULL OR channel = $2) ORDER BY id",
    [R_LIST_ARTS] =
	"SELECT a.release_id, a.platform, a.url, a.size, a.sha256,"
	" a.tar_sha256, a.deltas"
	" FROM artifacts a JOIN releases r ON r.id = a.release_id"
	" WHERE ($1::text IS NULL OR r.app = $1) AND ($2::text IS NULL OR"
	" r.channel = $2) ORDER BY a.release_id, a.platform",
    [R_COUNTS] = "SELECT c.release_id, c.offered, c.downloading,"
		 " c.downloaded, c.verifying, c.installing, c.succeeded,"
		 " c.failed, c.timed_out FROM release_counts c"
		 " JOIN releases r ON r.id = c.release_id"
		 " WHERE ($1::text IS NULL OR r.app = $1)"
		 " AND ($2::text IS NULL OR r.channel = $2)",
    [R_UPDATE] =
	"UPDATE releases SET"
	" rollout_percent = CASE WHEN $2::int >= 0 THEN $2::int"
	"   ELSE rollout_percent END,"
	" paused = CASE WHEN $3::int >= 0 THEN $3::int ELSE paused END,"
	" yanked = CASE WHEN $4::int >= 0 THEN $4::int ELSE yanked END,"
	" updated_at = $5 WHERE id = $1",
    [R_HALT] = "UPDATE releases SET halted = 1, halted_at = $2,"
	       " updated_at = $2 WHERE id = $1 AND halted = 0",
    [R_RESUME] = "UPDATE releases r SET halted = 0, halted_at = 0,"
		 " base_finished = c.succeeded + c.failed + c.timed_out,"
		 " base_failed = c.failed + c.timed_out,"
		 " updated_at = $2 FROM release_counts c"
		 " WHERE r.id = $1 AND c.release_id = r.id AND r.halted = 1",
    [R_RB_GET] = "SELECT app, channel, release_id, rollout_percent, signed,"
		 " signature, serial, created_at FROM rollbacks"
		 " WHERE app = $1 AND channel = $2",
    [R_RB_SET] = "INSERT INTO rollbacks (app, channel, release_id,"
		 " rollout_percent, signed, signature, serial, created_at)"
		 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
		 " ON CONFLICT (app, channel) DO UPDATE SET"
		 " release_id = excluded.release_id,"
		 " rollout_percent = excluded.rollout_percent,"
		 " signed = excluded.signed, signature = excluded.signature,"
		 " serial = excluded.serial, created_at = excluded.created_at",
    [R_RB_DELETE] = "DELETE FROM rollbacks WHERE app = $1 AND channel = $2",
    [R_SERIAL_MAX] = "SELECT greatest(coalesce((SELECT max(serial)"
		     " FROM releases WHERE app = $1 AND channel = $2), 0),"
		     " coalesce((SELECT max(serial) FROM rollbacks"
		     " WHERE app = $1 AND channel = $2), 0))",
    [R_CATALOG_VERSION] = "SELECT v FROM catalog_version",
};

const struct pg_sqlset store_pg_release_sql = {"release", sql, R_COUNT};

/* Row i of a RELEASE_COLS result into r. */
static int
read_release(const PGresult *res, int i, struct release *r)
{
	memset(r, 0, sizeof(*r));
	r->id = pg_int(res, i, 0);
	pg_copy(res, i, 1, r->app, sizeof(r->app));
	pg_copy(res, i, 2, r->channel, sizeof(r->channel));
	pg_copy(res, i, 3, r->version, sizeof(r->version));
	r->notes = pg_strdup(res, i, 4);
	r->rollout_percent = (int)pg_int(res, i, 5);
	r->mandatory = pg_int(res, i, 6);
	r->paused = pg_int(res, i, 7);
	r->yanked = pg_int(res, i, 8);
	r->halted = pg_int(res, i, 9);
	r->created_at = pg_int(res, i, 10);
	r->updated_at = pg_int(res, i, 11);
	r->halted_at = pg_int(res, i, 12);
	if (pg_opt_text(res, i, 13, &r->signed_doc) < 0 ||
	    pg_opt_text(res, i, 14, &r->signature) < 0)
		return -ENOMEM;
	r->serial = pg_int(res, i, 15);
	return r->notes ? 0 : -ENOMEM;
}

/* Append the artifact in row i of res to r. */
static int
add_artifact(const PGresult *res, int i, struct release *r)
{
	struct artifact *a;

	a = realloc(r->artifacts, (r->n_artifacts + 1) * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	r->artifacts = a;
	a = &a[r->n_artifacts];
	pg_copy(res, i, 1, a->platform, sizeof(a->platform));
	a->url = pg_strdup(res, i, 2);
	a->size = pg_int(res, i, 3);
	pg_copy(res, i, 4, a->sha256, sizeof(a->sha256));
	pg_copy(res, i, 5, a->tar_sha256, sizeof(a->tar_sha256));
	r->n_artifacts++; /* store_release_fini frees what there is */
	if (a->url == NULL)
		return -ENOMEM;
	return store_deltas_parse(
	    a, PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6));
}

int
store_pg_release_insert(
    struct store_conn *c, struct release *r, const char *content)
{
	struct pg *pg = store_pg_of(c);
	struct pg_params p;
	PGresult *res;
	char *deltas;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, r->app);
	pg_param_text(&p, r->channel);
	pg_param_text(&p, r->version);
	pg_param_text(&p, r->notes ? r->notes : "");
	pg_param_int(&p, r->rollout_percent);
	pg_param_int(&p, r->mandatory);
	pg_param_int(&p, r->paused);
	pg_param_text(&p, content);
	pg_param_int(&p, r->created_at);
	pg_param_text(&p, r->signed_doc);
	pg_param_text(&p, r->signature);
	pg_param_opt(&p, r->serial > 0 ? r->serial : -1);
	if ((err = pg_run(pg, &store_pg_release_sql, R_INSERT, &p, &res)) < 0)
		return err;
	r->id = pg_int(res, 0, 0);
	PQclear(res);
	for (size_t i = 0; i < r->n_artifacts; i++) {
		pg_params_init(&p);
		pg_param_int(&p, r->id);
		pg_param_text(&p, r->artifacts[i].platform);
		pg_param_text(&p, r->artifacts[i].url);
		pg_param_int(&p, r->artifacts[i].size);
		pg_param_text(&p, r->artifacts[i].sha256);
		pg_param_text(&p, r->artifacts[i].tar_sha256[0]
				      ? r->artifacts[i].tar_sha256
				      : NULL);
		if ((err = store_deltas_text(&r->artifacts[i], &deltas)) < 0)
			return err;
		pg_param_text(&p, deltas);
		err = pg_run(pg, &store_pg_release_sql, R_ART_INSERT, &p, NULL);
		free(deltas);
		if (err < 0)
			return err;
	}
	return 0;
}

int
store_pg_release_find(struct store_conn *c, const char *app,
    const char *channel, const char *version, struct release *out,
    char **content)
{
	struct pg *pg = store_pg_of(c);
	struct pg_params p;
	struct release r;
	PGresult *res;
	char *text = NULL;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, app);
	pg_param_text(&p, channel);
	pg_param_text(&p, version);
	if ((err = pg_run(pg, &store_pg_release_sql, R_FIND, &p, &res)) < 0)
		return err;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return -ENOENT;
	}
	err = read_release(res, 0, &r);
	if (err == 0 && content != NULL &&
	    (text = pg_strdup(res, 0, 16)) == NULL)
		err = -ENOMEM;
	PQclear(res);
	res = NULL;
	if (err == 0) {
		pg_params_init(&p);
		pg_param_int(&p, r.id);
		err = pg_run(pg, &store_pg_release_sql, R_FIND_ARTS, &p, &res);
		for (int i = 0; err == 0 && i < PQntuples(res); i++)
			err = add_artifact(res, i, &r);
		if (res != NULL)
			PQclear(res);
	}
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
store_pg_release_channels(struct store_conn *c, const char *app,
    const char *version, char names[][STORE_NAME_MAX + 1], int max)
{
	struct pg_params p;
	PGresult *res;
	int n, err;

	pg_params_init(&p);
	pg_param_text(&p, app);
	pg_param_text(&p, version);
	if ((err = pg_run(store_pg_of(c), &store_pg_release_sql, R_CHANNELS, &p,
		 &res)) < 0)
		return err;
	n = PQntuples(res);
	for (int i = 0; i < n && i < max; i++)
		pg_copy(res, i, 0, names[i], STORE_NAME_MAX + 1);
	PQclear(res);
	return n;
}

int
store_pg_release_list(struct store_conn *c, const char *app,
    const char *channel, bool with_counts, struct release **out, size_t *n)
{
	struct pg *pg = store_pg_of(c);
	struct release *list = NULL, *r;
	struct pg_params p;
	PGresult *res = NULL;
	size_t len = 0;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, app);
	pg_param_text(&p, channel);
	if ((err = pg_run(pg, &store_pg_release_sql, R_LIST, &p, &res)) < 0)
		return err;
	if (PQntuples(res) > 0 &&
	    (list = calloc((size_t)PQntuples(res), sizeof(*list))) == NULL)
		err = -ENOMEM;
	for (int i = 0; err == 0 && i < PQntuples(res); i++, len++)
		err = read_release(res, i, &list[i]);
	PQclear(res);
	res = NULL;
	if (err == 0)
		err = pg_run(pg, &store_pg_release_sql, R_LIST_ARTS, &p, &res);
	for (int i = 0; err == 0 && i < PQntuples(res); i++)
		if ((r = store_release_by_id(list, len, pg_int(res, i, 0))) !=
		    NULL)
			err = add_artifact(res, i, r);
	if (res != NULL)
		PQclear(res);
	res = NULL;
	if (err == 0 && with_counts)
		err = pg_run(pg, &store_pg_release_sql, R_COUNTS, &p, &res);
	/* release_id, then a column per state in enum order */
	for (int i = 0; err == 0 && res != NULL && i < PQntuples(res); i++)
		if ((r = store_release_by_id(list, len, pg_int(res, i, 0))) !=
		    NULL)
			for (int s = 0; s < UPG_STATE_COUNT; s++)
				r->counts[s] = pg_int(res, i, 1 + s);
	if (res != NULL)
		PQclear(res);
	if (err < 0) {
		store_release_free_list(list, len);
		return err;
	}
	*out = list;
	*n = len;
	return 0;
}

int
store_pg_release_update(struct store_conn *c, int64_t id, int rollout_percent,
    int paused, int yanked, int halted, int64_t now)
{
	struct pg *pg = store_pg_of(c);
	struct pg_params p;
	int err;

	pg_params_init(&p);
	pg_param_int(&p, id);
	pg_param_int(&p, rollout_percent);
	pg_param_int(&p, paused);
	pg_param_int(&p, yanked);
	pg_param_int(&p, now);
	if ((err = pg_run(pg, &store_pg_release_sql, R_UPDATE, &p, NULL)) < 0 ||
	    halted < 0)
		return err;
	pg_params_init(&p);
	pg_param_int(&p, id);
	pg_param_int(&p, now);
	return pg_run(
	    pg, &store_pg_release_sql, halted ? R_HALT : R_RESUME, &p, NULL);
}

int
store_pg_rollback_get(struct store_conn *c, const char *app,
    const char *channel, struct rollback *out)
{
	struct rollback rb = {0};
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, app);
	pg_param_text(&p, channel);
	if ((err = pg_run(store_pg_of(c), &store_pg_release_sql, R_RB_GET, &p,
		 &res)) < 0)
		return err;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return -ENOENT;
	}
	pg_copy(res, 0, 0, rb.app, sizeof(rb.app));
	pg_copy(res, 0, 1, rb.channel, sizeof(rb.channel));
	rb.release_id = pg_int(res, 0, 2);
	rb.rollout_percent = (int)pg_int(res, 0, 3);
	if (pg_opt_text(res, 0, 4, &rb.signed_doc) < 0 ||
	    pg_opt_text(res, 0, 5, &rb.signature) < 0)
		err = -ENOMEM;
	rb.serial = pg_int(res, 0, 6);
	rb.created_at = pg_int(res, 0, 7);
	PQclear(res);
	if (err < 0) {
		store_rollback_fini(&rb);
		return err;
	}
	*out = rb;
	return 0;
}

int
store_pg_rollback_set(struct store_conn *c, const struct rollback *rb)
{
	struct pg_params p;

	pg_params_init(&p);
	pg_param_text(&p, rb->app);
	pg_param_text(&p, rb->channel);
	pg_param_int(&p, rb->release_id);
	pg_param_int(&p, rb->rollout_percent);
	pg_param_text(&p, rb->signed_doc);
	pg_param_text(&p, rb->signature);
	pg_param_opt(&p, rb->serial > 0 ? rb->serial : -1);
	pg_param_int(&p, rb->created_at);
	return pg_run(
	    store_pg_of(c), &store_pg_release_sql, R_RB_SET, &p, NULL);
}

int
store_pg_rollback_delete(
    struct store_conn *c, const char *app, const char *channel)
{
	struct pg_params p;
	PGresult *res;
	int64_t n;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, app);
	pg_param_text(&p, channel);
	if ((err = pg_run(store_pg_of(c), &store_pg_release_sql, R_RB_DELETE,
		 &p, &res)) < 0)
		return err;
	n = pg_changes(res);
	PQclear(res);
	return n > 0 ? 0 : -ENOENT;
}

int
store_pg_serial_max(
    struct store_conn *c, const char *app, const char *channel, int64_t *out)
{
	struct pg_params p;
	PGresult *res;
	int err;

	pg_params_init(&p);
	pg_param_text(&p, app);
	pg_param_text(&p, channel);
	if ((err = pg_run(store_pg_of(c), &store_pg_release_sql, R_SERIAL_MAX,
		 &p, &res)) < 0)
		return err;
	*out = PQntuples(res) > 0 ? pg_int(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

int
store_pg_catalog_version(struct store_conn *c, int64_t *out)
{
	PGresult *res;
	int err;

	if ((err = pg_run(store_pg_of(c), &store_pg_release_sql,
		 R_CATALOG_VERSION, NULL, &res)) < 0)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return -EIO;
	}
	*out = pg_int(res, 0, 0);
	PQclear(res);
	return 0;
}
