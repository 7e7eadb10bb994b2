/* SPDX-License-Identifier: MIT */
/* Rows copied in with COPY (text format, sent in chunks), and an import
 * that fills a program's empty tables from another store in one
 * transaction. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

int
pg_copy_begin(struct pg *pg, const char *sql)
{
	PGresult *r;
	int err = 0;

	if ((err = pg_ensure(pg)) < 0)
		return err;
	r = PQexec(pg->conn, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN)
		err = pg_failed(pg, r, sql);
	PQclear(r);
	pg->copy_len = 0;
	pg->copy_err = err;
	return err;
}

#define COPY_CHUNK (256 * 1024)

static int
copy_flush(struct pg *pg)
{
	if (pg->copy_err == 0 && pg->copy_len > 0 &&
	    PQputCopyData(pg->conn, pg->copy, (int)pg->copy_len) != 1)
		pg->copy_err = pg_failed(pg, NULL, "COPY");
	pg->copy_len = 0;
	return pg->copy_err;
}

/* Append n bytes of p to the waiting rows. */
static int
copy_add(struct pg *pg, const char *p, size_t n)
{
	if (pg->copy_len + n > pg->copy_cap) {
		size_t cap = pg->copy_cap ? pg->copy_cap : COPY_CHUNK;
		char *b;

		while (cap < pg->copy_len + n)
			cap *= 2;
		if ((b = realloc(pg->copy, cap)) == NULL)
			return pg->copy_err = -ENOMEM;
		pg->copy = b;
		pg->copy_cap = cap;
	}
	memcpy(pg->copy + pg->copy_len, p, n);
	pg->copy_len += n;
	return 0;
}

int
pg_copy_row(struct pg *pg, const char *const *vals, int n)
{
	for (int i = 0; pg->copy_err == 0 && i < n; i++) {
		if (i > 0)
			copy_add(pg, "\t", 1);
		if (vals[i] == NULL) {
			copy_add(pg, "\\N", 2);
			continue;
		}
		/* COPY's text format: backslash escapes for what ends a
		 * value or a row. */
		for (const char *c = vals[i]; *c && pg->copy_err == 0; c++) {
			const char *esc = *c == '\\'   ? "\\\\"
					  : *c == '\t' ? "\\t"
					  : *c == '\n' ? "\\n"
					  : *c == '\r' ? "\\r"
						       : NULL;

			copy_add(pg, esc ? esc : c, esc ? 2 : 1);
		}
	}
	copy_add(pg, "\n", 1);
	if (pg->copy_err == 0 && pg->copy_len >= COPY_CHUNK)
		copy_flush(pg);
	return pg->copy_err;
}

int
pg_copy_end(struct pg *pg)
{
	PGresult *r;
	int err = copy_flush(pg);

	if (PQputCopyEnd(pg->conn, err < 0 ? "upgate: import failed" : NULL) !=
		1 &&
	    err == 0)
		err = pg_failed(pg, NULL, "COPY");
	while ((r = PQgetResult(pg->conn)) != NULL) {
		if (!pg_result_ok(r) && err == 0)
			err = pg_failed(pg, r, "COPY");
		PQclear(r);
	}
	return err;
}

static int
copy_row(void *pg, const char *const *vals, int n)
{
	return pg_copy_row(pg, vals, n);
}

static int
import_tables(struct pg *pg, const char *lock,
    const struct pg_sqlset *count_set, int count_idx,
    const char *const *copy_sql, const char *const *before, int n,
    pg_source_fn src_rows, void *src, const char *after)
{
	PGresult *res;
	int err;

	if ((err = pg_exec(pg, lock)) < 0 ||
	    (err = pg_run(pg, count_set, count_idx, NULL, &res)) < 0)
		return err;
	err = pg_int(res, 0, 0) > 0 ? -ENOTEMPTY : 0;
	PQclear(res);
	for (int t = 0; err == 0 && t < n; t++) {
		if (before != NULL && before[t] != NULL &&
		    (err = pg_exec(pg, before[t])) < 0)
			break;
		if ((err = pg_copy_begin(pg, copy_sql[t])) < 0)
			break;
		err = src_rows(src, t, copy_row, pg);
		/* Ended either way; a failed row aborts the COPY. */
		if (err < 0)
			pg_copy_end(pg);
		else
			err = pg_copy_end(pg);
	}
	if (err == 0)
		err = pg_exec(pg, after);
	return err;
}

int
pg_import(struct pg *pg, const char *lock, const struct pg_sqlset *count_set,
    int count_idx, const char *const *copy_sql, const char *const *before,
    int n, pg_source_fn src_rows, void *src, const char *after)
{
	int err;

	if ((err = pg_begin(pg)) < 0)
		return err;
	return pg_end(pg, import_tables(pg, lock, count_set, count_idx,
			      copy_sql, before, n, src_rows, src, after));
}
