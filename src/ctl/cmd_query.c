/* SPDX-License-Identifier: MIT */
/* Listing commands: upgrades (gateway), outcomes, stats and alerts
 * (mgmtd), and either daemon's audit log. Pages follow the daemons' cursors
 * when --all is given. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* GET path (with its filters, no cursor), page by page when --all, and
 * print the rows under key. */
static int
list(struct ctl *x, enum ctl_target t, const char *path, const char *key,
    const struct col *cols, size_t ncols)
{
	json_t *rows = json_array(), *ans = NULL, *next;
	char q[4096], cursor[64] = "";
	int rc;

	if (rows == NULL)
		return CTL_FAIL;
	if (x->o.after)
		snprintf(cursor, sizeof(cursor), "%s", x->o.after);
	for (;;) {
		snprintf(q, sizeof(q), "%s", path);
		if (*cursor)
			ctl_query(x, q, sizeof(q), "after", cursor);
		if ((rc = ctl_call(x, t, "GET", q, NULL, &ans, NULL)) != CTL_OK)
			goto out;
		json_array_extend(rows, json_object_get(ans, key));
		next = json_object_get(ans, "next");
		cursor[0] = '\0';
		if (json_is_string(next))
			snprintf(cursor, sizeof(cursor), "%s",
			    json_string_value(next));
		json_decref(ans);
		ans = NULL;
		if (!x->o.all || *cursor == '\0')
			break;
	}
	if (x->json) {
		json_t *doc = json_pack("{s:O, s:o}", key, rows, "next",
		    *cursor ? json_string(cursor) : json_null());

		ctl_print_json(doc);
		json_decref(doc);
	} else {
		table_print(cols, ncols, rows);
		if (*cursor)
			fprintf(
			    stderr, "(more: --after %s, or --all)\n", cursor);
	}
out:
	json_decref(rows);
	return rc;
}

static void
limit(struct ctl *x, char *q, size_t len)
{
	char n[32];

	if (x->o.limit > 0) {
		snprintf(n, sizeof(n), "%lld", (long long)x->o.limit);
		ctl_query(x, q, len, "limit", n);
	}
}

int
cmd_upgrades(struct ctl *x, int argc, char **argv)
{
	static const struct col cols[] = {
	    {"UPGRADE", "upgrade_id", COL_STR},
	    {"CLIENT", "client_id", COL_STR},
	    {"APP", "app", COL_STR},
	    {"FROM", "from_version", COL_FROM},
	    {"TO", "to_version", COL_STR},
	    {"STATE", "state", COL_STR},
	    {"ERROR", "error_code", COL_STR},
	    {"UPDATED", "updated_at", COL_STR},
	};
	char q[2048] = "/v1/admin/upgrades";

	(void)argc;
	(void)argv;
	ctl_query(x, q, sizeof(q), "app", x->o.app);
	ctl_query(x, q, sizeof(q), "state", x->o.state);
	ctl_query(x, q, sizeof(q), "client_id", x->o.client);
	limit(x, q, sizeof(q));
	return list(x, CTL_GATEWAY, q, "upgrades", cols, NCOLS(cols));
}

int
cmd_outcomes(struct ctl *x, int argc, char **argv)
{
	static const struct col cols[] = {
	    {"OUTCOME", "outcome_id", COL_STR},
	    {"FINISHED", "finished_at", COL_STR},
	    {"KIND", "kind", COL_STR},
	    {"APP", "app", COL_STR},
	    {"CLIENT", "client_id", COL_STR},
	    {"FROM", "from_version", COL_FROM},
	    {"TO", "to_version", COL_STR},
	    {"RESULT", "result", COL_STR},
	    {"ERROR", "error_code", COL_STR},
	};
	char q[2048] = "/v1/outcomes";

	(void)argc;
	(void)argv;
	ctl_query(x, q, sizeof(q), "app", x->o.app);
	ctl_query(x, q, sizeof(q), "version", x->o.version);
	ctl_query(x, q, sizeof(q), "result", x->o.result);
	ctl_query(x, q, sizeof(q), "client_id", x->o.client);
	ctl_query(x, q, sizeof(q), "kind", x->o.kind);
	ctl_query(x, q, sizeof(q), "since", x->o.since);
	ctl_query(x, q, sizeof(q), "until", x->o.until);
	limit(x, q, sizeof(q));
	return list(x, CTL_MGMT, q, "outcomes", cols, NCOLS(cols));
}

int
cmd_stats(struct ctl *x, int argc, char **argv)
{
	static const struct col cols[] = {
	    {"APP", "app", COL_STR},
	    {"VERSION", "version", COL_STR},
	    {"TOTAL", "total", COL_INT},
	    {"SUCCEEDED", "succeeded", COL_INT},
	    {"FAILED", "failed", COL_INT},
	    {"TIMED_OUT", "timed_out", COL_INT},
	    {"FAILURE", "failure_rate", COL_RATE},
	};
	char q[1024] = "/v1/stats";

	(void)argc;
	(void)argv;
	ctl_query(x, q, sizeof(q), "app", x->o.app);
	return list(x, CTL_MGMT, q, "stats", cols, NCOLS(cols));
}

/* alerts test: a test alert through each configured channel. Exit 0
 * when every channel accepted it, 1 when one did not, 2 for a channel
 * that is not configured (the message names those that are). */
static int
alerts_test(struct ctl *x, const char *what)
{
	json_t *body = NULL, *ans = NULL, *r;
	long status = 0;
	size_t i;
	int rc;

	if (strcmp(what, "test") != 0) {
		ctl_err(
		    x, "unknown '%s': alerts takes test, or no argument", what);
		return CTL_USAGE;
	}
	if (x->o.channel != NULL)
		body = json_pack("{s:s}", "channel", x->o.channel);
	rc = ctl_call(
	    x, CTL_MGMT, "POST", "/v1/alerts/test", body, &ans, &status);
	json_decref(body);
	if (rc != CTL_OK) {
		json_decref(ans);
		return rc;
	}
	if (x->json)
		ctl_print_json(ans);
	json_array_foreach(json_object_get(ans, "results"), i, r)
	{
		bool ok = json_is_true(json_object_get(r, "accepted"));
		const char *err =
		    json_string_value(json_object_get(r, "error"));

		if (!x->json)
			printf("%-13s %-32s %s%s\n",
			    json_string_value(json_object_get(r, "channel")),
			    json_string_value(json_object_get(r, "recipient")),
			    ok ? "accepted" : "NOT accepted: ",
			    ok ? "" : (err ? err : "?"));
		if (!ok)
			rc = CTL_FAIL;
	}
	json_decref(ans);
	return rc;
}

int
cmd_alerts(struct ctl *x, int argc, char **argv)
{
	static const struct col cols[] = {
	    {"DELIVERY", "delivery_id", COL_INT},
	    {"CREATED", "created_at", COL_STR},
	    {"KIND", "kind", COL_STR},
	    {"CHANNEL", "channel", COL_STR},
	    {"TO", "recipient", COL_STR},
	    {"STATE", "state", COL_STR},
	    {"TRIES", "attempts", COL_INT},
	    {"APP", "app", COL_STR},
	    {"VERSION", "version", COL_STR},
	    {"LAST_ERROR", "last_error", COL_STR},
	};
	char q[1024] = "/v1/alerts";

	if (argc == 1)
		return alerts_test(x, argv[0]);
	ctl_query(x, q, sizeof(q), "state", x->o.state);
	ctl_query(x, q, sizeof(q), "channel", x->o.channel);
	ctl_query(x, q, sizeof(q), "app", x->o.app);
	limit(x, q, sizeof(q));
	return list(x, CTL_MGMT, q, "alerts", cols, NCOLS(cols));
}

int
cmd_audit(struct ctl *x, int argc, char **argv)
{
	static const struct col cols[] = {
	    {"ID", "id", COL_INT},
	    {"AT", "at", COL_STR},
	    {"TOKEN", "token", COL_STR},
	    {"ROLE", "role", COL_STR},
	    {"CLIENT", "client", COL_STR},
	    {"METHOD", "method", COL_STR},
	    {"PATH", "path", COL_STR},
	    {"STATUS", "status", COL_INT},
	};
	char q[1024] = "/v1/admin/audit";

	(void)argc;
	(void)argv;
	ctl_query(x, q, sizeof(q), "since", x->o.since);
	ctl_query(x, q, sizeof(q), "until", x->o.until);
	ctl_query(x, q, sizeof(q), "token", x->o.token_name);
	limit(x, q, sizeof(q));
	return list(x, x->o.on_mgmt ? CTL_MGMT : CTL_GATEWAY, q, "audit", cols,
	    NCOLS(cols));
}
