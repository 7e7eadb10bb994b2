/* SPDX-License-Identifier: MIT */
/* upgatectl: the admin command line for both daemons. */
#ifndef UPGATE_CTL_H
#define UPGATE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

/* Exit codes scripts can test; also in upgatectl(1). */
enum ctl_exit {
	CTL_OK = 0,
	CTL_FAIL = 1,	  /* no answer, or the server failed (5xx) */
	CTL_USAGE = 2,	  /* bad usage or input (also 400, 413, 415, 422) */
	CTL_NOTFOUND = 3, /* 404 */
	CTL_CONFLICT = 4, /* 409 */
	CTL_AUTH = 5,	  /* 401, 403 */
};

/* Where the daemons are and how to talk to them; [upgatectl] in the
 * config file, overridden by the environment, overridden by options. */
struct ctl_conf {
	char *gateway_url, *mgmt_url, *token_file, *ca_file;
	int64_t timeout;
};

/* Every option any command takes; NULL/false/-1 when not given. */
struct ctl_opts {
	const char *app, *version, *channel, *state, *client, *result, *kind;
	const char *since, *until, *after, *notes, *delivery_channel;
	const char *out, *sign_key, *expires, *to;
	const char *role, *apps, *token_name; /* token, audit */
	bool on_mgmt;			      /* token, audit: --on mgmt */
	int64_t limit, rollout, serial, percent;
	int64_t delta_level; /* publish --delta-level: zstd's, 1-19 */
	bool all, mandatory, cancel;
	/* publish: artifacts from files, in the order given */
	struct ctl_artifact {
		const char *file, *url, *platform;
		const char *delta_from[8]; /* older artifacts */
		size_t n_delta;
	} art[16];
	size_t n_art;
};

struct ctl {
	struct ctl_conf c;
	struct ctl_opts o;
	bool json;
	char *token;
	CURL *h;
	const char *cmd; /* the command's name, for messages */
};

/* Which daemon a call goes to. */
enum ctl_target { CTL_GATEWAY, CTL_MGMT };

/* call.c, what every command shares. Call a daemon's admin API. On a 2xx, *out is the answer (NULL when it
 * has no JSON body) and *status its status when not NULL; otherwise the
 * problem is printed and the exit code returned. */
int ctl_call(struct ctl *x, enum ctl_target t, const char *method,
    const char *path, const json_t *body, json_t **out, long *status);

/* Append "?key=value" or "&key=value" (escaped) to the path q when value
 * is set. */
void ctl_query(
    struct ctl *x, char *q, size_t len, const char *key, const char *value);

/* Print a problem with the command's name in front. */
void ctl_err(const struct ctl *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write o to stdout as indented JSON. */
void ctl_print_json(const json_t *o);

/* table.c: print rows (JSON objects) as a table of columns. */
struct col {
	const char *head;
	const char *key; /* a field; "a.b" for a nested one */
	enum {
		COL_STR,
		COL_INT,
		COL_RATE,
		COL_PCT,
		COL_RELSTATE,
		COL_FROM /* a from_version: 0.0.0 shows as a first install */
	} fmt;
};
#define NCOLS(a) (sizeof(a) / sizeof(a[0]))
void table_print(const struct col *cols, size_t n, const json_t *rows);

/* The commands, each run with the arguments after its name. */
int cmd_publish(struct ctl *x, int argc, char **argv);
int cmd_releases(struct ctl *x, int argc, char **argv);
int cmd_pause(struct ctl *x, int argc, char **argv);
int cmd_resume(struct ctl *x, int argc, char **argv);
int cmd_yank(struct ctl *x, int argc, char **argv);
int cmd_rollout(struct ctl *x, int argc, char **argv);
int cmd_upgrades(struct ctl *x, int argc, char **argv);
int cmd_outcomes(struct ctl *x, int argc, char **argv);
int cmd_stats(struct ctl *x, int argc, char **argv);
int cmd_alerts(struct ctl *x, int argc, char **argv);
int cmd_keygen(struct ctl *x, int argc, char **argv);
int cmd_rollback(struct ctl *x, int argc, char **argv);
int cmd_token(struct ctl *x, int argc, char **argv);
int cmd_audit(struct ctl *x, int argc, char **argv);
/* After a yank with --sign-key: a signed rollback record to the newest
 * release below version, so signed launchers on it can leave. */
int sign_after_yank(struct ctl *x, const char *app, const char *version);

/* cmd_delta.c: add to art (the artifact a, as a publish body has it)
 * tar_sha256 and, for each --delta-from, the patch from that published
 * version's tar, written beside a's file. Returns an exit code. */
int ctl_add_deltas(struct ctl *x, const struct ctl_artifact *a, const char *app,
    const char *version, const char *channel, json_t *art);

/* cmd_sign.c: with --sign-key, add "signed" and "signature" to body, a
 * publish (rollback false) or rollback record (true) of app, channel,
 * version with artifacts. The serial is --serial or one above the
 * highest the gateway has for app/channel. Returns an exit code. */
int sign_body(struct ctl *x, json_t *body, const char *app, const char *channel,
    const char *version, json_t *artifacts, bool rollback);

#endif
