/* SPDX-License-Identifier: MIT */
/* Tables for people: one row per object, columns as wide as their widest
 * cell, "-" for what is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "upgate/semver.h"

#define CELL_MAX 64

static const json_t *
field(const json_t *row, const char *key)
{
	char part[64];
	const char *dot;

	while ((dot = strchr(key, '.')) != NULL) {
		snprintf(part, sizeof(part), "%.*s", (int)(dot - key), key);
		row = json_object_get(row, part);
		key = dot + 1;
	}
	return json_object_get(row, key);
}

static void
cell(const struct col *c, const json_t *row, char out[CELL_MAX + 1])
{
	const json_t *v = field(row, c->key);

	switch (c->fmt) {
	case COL_RELSTATE:
		/* What an admin asks first: is it being offered? */
		snprintf(out, CELL_MAX + 1, "%s",
		    json_is_true(json_object_get(row, "yanked"))   ? "yanked"
		    : json_is_true(json_object_get(row, "halted")) ? "halted"
		    : json_is_true(json_object_get(row, "paused")) ? "paused"
								   : "active");
		return;
	case COL_RATE:
		if (json_is_number(v)) {
			snprintf(out, CELL_MAX + 1, "%.1f%%",
			    json_number_value(v) * 100.0);
			return;
		}
		break;
	case COL_PCT:
		if (json_is_integer(v)) {
			snprintf(out, CELL_MAX + 1, "%lld%%",
			    (long long)json_integer_value(v));
			return;
		}
		break;
	case COL_FROM: { /* SPEC: a first install is "from" 0.0.0 */
		const char *s = json_string_value(v);

		if (s != NULL && semver_from_shown(s) != s) {
			snprintf(out, CELL_MAX + 1, "%s", semver_from_shown(s));
			return;
		}
	}
		/* fall through */
	case COL_INT:
	case COL_STR:
		if (json_is_integer(v)) {
			snprintf(out, CELL_MAX + 1, "%lld",
			    (long long)json_integer_value(v));
			return;
		}
		if (json_is_string(v) && *json_string_value(v)) {
			const char *s = json_string_value(v);
			size_t n = strcspn(s, "\r\n");

			if (n > CELL_MAX)
				snprintf(out, CELL_MAX + 1, "%.*s...",
				    CELL_MAX - 3, s);
			else
				snprintf(out, CELL_MAX + 1, "%.*s", (int)n, s);
			return;
		}
		if (json_is_boolean(v)) {
			snprintf(out, CELL_MAX + 1, "%s",
			    json_is_true(v) ? "yes" : "no");
			return;
		}
		break;
	}
	snprintf(out, CELL_MAX + 1, "-");
}

void
table_print(const struct col *cols, size_t n, const json_t *rows)
{
	size_t w[16] = {0}, nrows = json_array_size(rows);
	char buf[CELL_MAX + 1];

	if (n > 16)
		n = 16;
	for (size_t c = 0; c < n; c++) {
		w[c] = strlen(cols[c].head);
		for (size_t r = 0; r < nrows; r++) {
			cell(&cols[c], json_array_get(rows, r), buf);
			if (strlen(buf) > w[c])
				w[c] = strlen(buf);
		}
	}
	for (size_t c = 0; c < n; c++)
		printf("%-*s%s", c + 1 < n ? (int)w[c] : 0, cols[c].head,
		    c + 1 < n ? "  " : "\n");
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < n; c++) {
			cell(&cols[c], json_array_get(rows, r), buf);
			printf("%-*s%s", c + 1 < n ? (int)w[c] : 0, buf,
			    c + 1 < n ? "  " : "\n");
		}
}
