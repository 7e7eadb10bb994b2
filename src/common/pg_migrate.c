/* SPDX-License-Identifier: MIT */
/* A database brought to a program's schema: its version in upgate_schema,
 * each missing migration in a transaction of its own, under an advisory
 * lock that every upgate program takes, so two starting at once do not
 * both migrate. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "pg_int.h"
#include "upgate/log.h"

/* One key for every upgate program: a migration waits for any other. */
#define PG_MIGRATE_LOCK 0x75706761746531LL

/* One row of one column of a query run at start-up, as a number; -1
 * when there is no row. */
static int
query_int(struct pg *pg, const char *sql, const char *param, int64_t *out)
{
	PGresult *r = PQexecParams(
	    pg->conn, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0);
	int err = 0;

	if (!pg_result_ok(r))
		err = pg_failed(pg, r, sql);
	else
		*out = PQntuples(r) > 0 ? pg_int(r, 0, 0) : -1;
	PQclear(r);
	return err;
}

/* The schema's version in this database (0: none yet), refusing a
 * database of another program or of a newer schema. */
int
pg_schema_version(struct pg *pg, int64_t *out)
{
	const struct pg_schema *s = pg->schema;
	int64_t v, others;
	int err;

	if ((err = query_int(pg,
		 "SELECT count(*) FROM upgate_schema WHERE program <> $1",
		 s->program, &others)) < 0 ||
	    (err = query_int(pg,
		 "SELECT version FROM upgate_schema WHERE program = $1",
		 s->program, &v)) < 0)
		return err;
	if (others > 0) {
		log_err("database %s: it belongs to another program than %s "
			"(see its upgate_schema table); refusing to touch it",
		    pg->where, s->program);
		return -EPROTO;
	}
	if (v > (int64_t)s->n_migrations) {
		log_err("database %s: schema version %" PRId64 " is newer "
			"than this program knows (%zu); refusing to touch it",
		    pg->where, v, s->n_migrations);
		return -EPROTO;
	}
	*out = v < 0 ? 0 : v;
	return 0;
}

static int
migrate_locked(struct pg *pg)
{
	const struct pg_schema *s = pg->schema;
	char ver[24];
	int64_t v, tables;
	int err;

	/* A database with tables but no upgate_schema is someone else's:
	 * left as it is. */
	if ((err = query_int(pg,
		 "SELECT count(*) FROM information_schema.tables WHERE"
		 " table_schema = current_schema() AND table_name <> $1",
		 "upgate_schema", &tables)) < 0 ||
	    (err = query_int(pg, "SELECT 1 WHERE to_regclass($1) IS NOT NULL",
		 "upgate_schema", &v)) < 0)
		return err;
	if (v < 0 && tables > 0) {
		log_err("database %s: it holds %" PRId64 " table(s) of "
			"something else; %s wants a database of its own",
		    pg->where, tables, s->program);
		return -EPROTO;
	}
	if ((err = pg_exec(pg, "CREATE TABLE IF NOT EXISTS upgate_schema ("
			       " program text PRIMARY KEY,"
			       " version integer NOT NULL)")) < 0 ||
	    (err = pg_schema_version(pg, &v)) < 0)
		return err;
	for (; err == 0 && v < (int64_t)s->n_migrations; v++) {
		const char *params[2] = {s->program, ver};
		PGresult *r;

		snprintf(ver, sizeof(ver), "%" PRId64, v + 1);
		if ((err = pg_begin(pg)) < 0)
			return err;
		if ((err = pg_exec(pg, s->migrations[v])) == 0) {
			r = PQexecParams(pg->conn,
			    "INSERT INTO upgate_schema VALUES ($1, $2)"
			    " ON CONFLICT (program) DO UPDATE"
			    " SET version = excluded.version",
			    2, NULL, params, NULL, NULL, 0);
			if (!pg_result_ok(r))
				err = pg_failed(pg, r, "upgate_schema");
			PQclear(r);
		}
		if ((err = pg_end(pg, err)) < 0) {
			log_err("database %s: migration to version %s failed",
			    pg->where, ver);
			return err;
		}
		log_info("database %s: schema migrated to version %s",
		    pg->where, ver);
	}
	return err;
}

int
pg_migrate(struct pg *pg)
{
	char sql[80];
	int err, unlock;

	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)",
	    (long long)PG_MIGRATE_LOCK);
	if ((err = pg_exec(pg, sql)) < 0)
		return err;
	err = migrate_locked(pg);
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)",
	    (long long)PG_MIGRATE_LOCK);
	unlock = pg_exec(pg, sql);
	if (err == 0)
		err = unlock;
	/* Every statement must fit the schema: fail here, not at first use. */
	for (size_t i = 0; err == 0 && i < pg->schema->n_sets; i++) {
		const struct pg_sqlset *set = pg->schema->sets[i];

		for (size_t j = 0; err == 0 && j < set->n; j++)
			err = pg_prepare(pg, pg->first[i] + j, set->sql[j]);
	}
	return err;
}
