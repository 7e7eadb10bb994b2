/* SPDX-License-Identifier: MIT */
/* What an engine of mgmtd's storage implements: a table of functions
 * (store.c calls through it), and what the engines share. */
#ifndef MG_STORE_OPS_H
#define MG_STORE_OPS_H

#include "store.h"
#include "upgate/access.h"

/* The tables --import-sqlite copies, in an order that satisfies their
 * references, and their columns in both engines. The counts of /metrics
 * are not copied: the importing engine counts what it receives. */
enum store_table {
	STORE_T_OUTCOMES,
	STORE_T_RELEASE_STATS,
	STORE_T_ALERT_GROUPS,
	STORE_T_ALERTS,
	STORE_T_DELIVERIES,
	STORE_T_TOKENS, /* access.h */
	STORE_T_AUDIT,
	STORE_T_COUNT
};
#define STORE_COLS_OUTCOMES                                                    \
	"id, outcome_id, kind, gateway_id, upgrade_id, client_id, app,"        \
	" platform, channel, from_version, to_version, result, error_code,"    \
	" message, started_at, finished_at, received_at, download_ms,"         \
	" install_ms, events, detail, waiting, alert, delta_used,"             \
	" bytes_downloaded, artifact_size"
#define STORE_COLS_RELEASE_STATS                                               \
	"app, version, total, succeeded, failed, timed_out, deltas,"           \
	" bytes_downloaded, bytes_saved"
#define STORE_COLS_ALERT_GROUPS                                                \
	"app, version, announced_at, window_end, pending, due_at"
#define STORE_COLS_ALERTS                                                      \
	"id, alert_id, kind, app, version, outcome_id, failures, subject,"     \
	" body, sms, created_at, resolved_at"
#define STORE_COLS_DELIVERIES                                                  \
	"id, alert, channel, recipient, state, attempts, next_at,"             \
	" last_error, created_at, updated_at, sent_at"

/* Called with each row of a table as text (NULL: SQL NULL). */
typedef int (*store_row_fn)(void *arg, const char *const *vals, int n);

struct store_ops {
	const char *name;
	int (*open)(const struct store_opts *o, struct store **out);
	void (*close)(struct store *s);
	int (*import)(struct store *to, struct store *from);
	int (*rows)(
	    struct store *s, enum store_table t, store_row_fn row, void *arg);
	struct store_conn *(*reader_get)(struct store *s);
	void (*reader_put)(struct store *s, struct store_conn *c);
	struct store_conn *(*writer)(struct store *s);
	/* c as the tokens and audit log SQL (access.h) needs it. */
	void (*access)(struct store_conn *c, struct access_conn *out);
	int (*txn_begin)(struct store_conn *c);
	int (*txn_end)(struct store_conn *c, int err);
	bool shared;
	int (*watch)(
	    struct store *s, int timeout_ms, store_watch_fn fn, void *arg);
	bool (*watching)(const struct store *s);

	int (*outcome_insert)(
	    struct store_conn *c, struct outcome *o, int64_t now);
	int (*outcome_list)(struct store_conn *c, struct outcome_filter *f,
	    char **json, int64_t *next);
	int (*outcome_get)(
	    struct store_conn *c, const char *outcome_id, char **json);
	int (*outcome_csv)(struct store_conn *c, struct outcome_filter *f,
	    bool header, FILE *out, int64_t *last, int64_t *n);
	int (*stats)(struct store_conn *c, const char *app, char **json);
	int (*timeline)(struct store_conn *c, const char *app, int64_t since,
	    int64_t bucket_ms, char **json);
	int (*outcome_counts)(struct store_conn *c, FILE *out);
	int (*group_get)(struct store_conn *c, const char *app,
	    const char *version, struct alert_group *out);
	int (*group_put)(struct store_conn *c, const struct alert_group *g);
	int (*group_due)(struct store_conn *c, int64_t now,
	    struct alert_group *out, int max);
	int (*alert_insert)(struct store_conn *c, struct alert *a);
	int (*delivery_add)(struct store_conn *c, int64_t alert,
	    const char *channel, const char *recipient, const char *state,
	    int64_t now);
	int (*outcome_wait)(struct store_conn *c, int64_t row);
	int (*outcome_claim)(struct store_conn *c, const char *app,
	    const char *version, int64_t alert);
	int (*outcome_waiting)(struct store_conn *c, const char *app,
	    const char *version, struct waiting *out, int max, int64_t *total);
	int (*delivery_inhibit)(struct store_conn *c, const char *app,
	    const char *version, int64_t now);
	int (*delivery_due)(struct store_conn *c, const char *channel,
	    int64_t now, int64_t lease, struct delivery *out, int max);
	int (*delivery_done)(struct store_conn *c, int64_t id, bool ok,
	    bool permanent, const char *error, int64_t now, int64_t next_at);
	int (*next_due)(struct store_conn *c, const char *channel, int64_t *at);
	int (*digest_list)(struct store_conn *c, int64_t limit, char **json);
	int (*delivery_list)(struct store_conn *c, const char *state,
	    const char *channel, const char *app, int64_t after, int64_t limit,
	    char **json, int64_t *next);
	int (*delivery_counts)(struct store_conn *c, FILE *out);
	int (*halts_open)(struct store_conn *c, struct delivery *out, int max);
	int (*halt_resolved)(struct store_conn *c, int64_t alert, int64_t now);
};

/* For the engines (store.c). */

/* One CSV field: quoted when it holds a separator, quote or line end;
 * a leading = + - @ is prefixed with ' so spreadsheets do not run it. */
void store_csv_field(FILE *out, const char *s);
/* The header line of an export. */
void store_csv_header(FILE *out);

/* A Prometheus gauge's HELP and TYPE lines, then one line per row. */
void store_gauge_head(FILE *out, const char *name, const char *help);
void store_gauge_row(FILE *out, const char *name, const char *l1,
    const char *v1, const char *l2, const char *v2, int64_t n);

/* The kind column's value for o. */
const char *store_kind_name(const struct outcome *o);

/* The form of an outcome query that can use an index for f's filters:
 * 0 any, 1 by client, 2 by release, 3 by app, 4 failures, 5 failures
 * of an app (added to the first). */
int store_filter_form(const struct outcome_filter *f);

/* The form of store_next_due's query for channel (added to the first of
 * the A_NEXT_* statements): 0 anything, 1 a digest, 2 a delivery on
 * channel. Each reads its own index: a channel's worker asking for its
 * next delivery once read the whole queue of every other channel. */
int store_next_due_form(const char *channel);

#endif
