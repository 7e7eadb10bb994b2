/* SPDX-License-Identifier: MIT */
/* The admin routes both daemons share: tokens (make, list, revoke), the
 * audit log, and who the caller is; and the audit line of a request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "upgate/access.h"
#include "upgate/addr.h"
#include "upgate/http.h"
#include "upgate/log.h"
#include "upgate/ts.h"

#define AUDIT_DEFAULT_LIMIT 100
#define AUDIT_MAX_LIMIT 1000

int
access_audit_req(const struct access_conn *c, const struct req *r, int status)
{
	char client[64] = "-";
	char *change = NULL;
	struct access_audit a;
	int err;

	if (r->client != NULL)
		addr_format_host(r->client, client, sizeof(client));
	if (r->body != NULL && (change = json_dumps(r->body,
				    JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return -ENOMEM;
	a = (struct access_audit){
	    .at = ts_now_ms(),
	    .token = r->caller ? r->caller->name : "-",
	    .role = access_role_name(r->caller ? r->caller->role : ACCESS_NONE),
	    .client = client,
	    .method = r->method,
	    .path = r->path,
	    .change = change,
	    .status = status,
	};
	err = access_audit_add(c, &a);
	free(change);
	return err;
}

static json_t *
caller_json(const struct access_caller *c)
{
	return json_pack("{s:s, s:s, s:s}", "name", c->name, "role",
	    access_role_name(c->role), "apps", c->apps);
}

int
access_h_whoami_get(struct req *r, struct resp *rs)
{
	return http_reply(rs, 200, caller_json(r->caller));
}

struct create {
	const struct req *r;
	struct access_caller t;
	char hash[65];
};

static int
create_run(const struct access_conn *c, void *arg)
{
	struct create *x = arg;
	int err;

	err = access_token_insert(
	    c, &x->t, x->hash, ts_now_ms(), x->r->caller->name);
	return err < 0 ? err : access_audit_req(c, x->r, 201);
}

int
access_h_tokens_post(struct req *r, struct resp *rs)
{
	const struct access_store *st = http_access(r->server);
	const char *name = NULL, *role = NULL, *apps = "*";
	char token[ACCESS_TOKEN_LEN + 1];
	struct create x = {.r = r};
	json_t *ans;
	int err;

	if (r->body == NULL || json_unpack(r->body, "{s?s, s?s, s?s}", "name",
				   &name, "role", &role, "apps", &apps) < 0)
		return http_error(rs, -EINVAL, "invalid_value", NULL,
		    "the body must be {\"name\", \"role\", \"apps\"} with "
		    "string values");
	if (!access_name_valid(name))
		return http_error(rs, -EINVAL, "invalid_value", "name",
		    "name must be 1-64 of A-Z a-z 0-9 . _ -, starting with a "
		    "letter or digit");
	if ((x.t.role = access_role_parse(role)) == ACCESS_NONE)
		return http_error(rs, -EINVAL, "invalid_value", "role",
		    "role must be viewer, publisher or admin");
	if (!access_apps_valid(apps))
		return http_error(rs, -EINVAL, "invalid_value", "apps",
		    "apps must be a glob of 1-128 app-name characters "
		    "(A-Z a-z 0-9 . _ -) and * or ?");
	if (strcmp(name, ACCESS_FILE_TOKEN_NAME) == 0)
		return http_error(rs, -EINVAL, "invalid_value", "name",
		    "%s is the name of the [admin] token_file token", name);
	snprintf(x.t.name, sizeof(x.t.name), "%s", name);
	snprintf(x.t.apps, sizeof(x.t.apps), "%s", apps);
	access_token_new(token);
	access_token_hash(token, strlen(token), x.hash);
	err = st->write(st->ctx, create_run, &x);
	if (err == -EEXIST)
		return http_error(rs, -EINVAL, "invalid_value", "name",
		    "a token named %s exists already", name);
	if (err < 0)
		return err;
	r->audited = true;
	log_notice("token %s (%s, apps %s) made by %s", x.t.name,
	    access_role_name(x.t.role), x.t.apps, r->caller->name);
	ans = caller_json(&x.t);
	if (ans != NULL)
		json_object_set_new(ans, "token", json_string(token));
	sodium_memzero(token, sizeof(token));
	return http_reply(rs, 201, ans);
}

static int
list_run(const struct access_conn *c, void *arg)
{
	return access_token_list(c, arg);
}

int
access_h_tokens_get(struct req *r, struct resp *rs)
{
	const struct access_store *st = http_access(r->server);
	json_t *list = NULL;
	size_t i;
	json_t *t;
	int err;

	if ((err = st->read(st->ctx, list_run, &list)) < 0)
		return err;
	json_array_foreach(list, i, t)
	    json_object_set_new(t, "source", json_string("api"));
	if (st->file_token(st->ctx))
		json_array_insert_new(list, 0,
		    json_pack("{s:s, s:s, s:s, s:n, s:n, s:s}", "name",
			ACCESS_FILE_TOKEN_NAME, "role", "admin", "apps", "*",
			"created_at", "created_by", "source", "token_file"));
	return http_reply(rs, 200, json_pack("{s:o}", "tokens", list));
}

struct revoke {
	const struct req *r;
	const char *name;
	int file_admins;
};

static int
revoke_run(const struct access_conn *c, void *arg)
{
	struct revoke *x = arg;
	int err = access_token_delete(c, x->name, x->file_admins);

	return err < 0 ? err : access_audit_req(c, x->r, 200);
}

int
access_h_token_delete(struct req *r, struct resp *rs)
{
	const struct access_store *st = http_access(r->server);
	struct revoke x = {r, r->params[0], st->file_token(st->ctx) ? 1 : 0};
	int err;

	if (strcmp(x.name, ACCESS_FILE_TOKEN_NAME) == 0 && x.file_admins)
		return http_error(rs, -EEXIST, "conflict", "name",
		    "%s is the [admin] token_file token: change or empty that "
		    "file and send SIGHUP",
		    x.name);
	err = st->write(st->ctx, revoke_run, &x);
	if (err == -ENOENT)
		return http_error(rs, err, "not_found", "name",
		    "no token is named %s", x.name);
	if (err == -EBUSY)
		return http_error(rs, -EEXIST, "last_admin", "name",
		    "%s is the last admin token: make another admin token "
		    "before revoking it",
		    x.name);
	if (err < 0)
		return err;
	r->audited = true;
	/* Its streams here end now; other daemons on the same PostgreSQL
	 * database hear of it at commit (ACCESS_REVOKED_CHANNEL). */
	http_streams_close_caller(r->server, x.name);
	log_notice("token %s revoked by %s", x.name, r->caller->name);
	return http_reply(
	    rs, 200, json_pack("{s:s, s:b}", "name", x.name, "revoked", 1));
}

struct page {
	const struct access_audit_filter *f;
	json_t *out;
};

static int
page_run(const struct access_conn *c, void *arg)
{
	struct page *p = arg;

	return access_audit_page(c, p->f, &p->out);
}

int
access_h_audit_get(struct req *r, struct resp *rs)
{
	const struct access_store *st = http_access(r->server);
	struct access_audit_filter f = {.since = -1, .until = -1};
	struct page p = {&f, NULL};
	int64_t since, until;
	const char *token = req_query(r, "token");
	int err;

	if ((err = http_query_time(r, rs, "since", &since)) < 0 ||
	    (err = http_query_time(r, rs, "until", &until)) < 0 ||
	    (err = http_query_int(r, rs, "limit", 1, AUDIT_MAX_LIMIT,
		 AUDIT_DEFAULT_LIMIT, &f.limit)) < 0 ||
	    (err = http_query_int(r, rs, "after", 1, INT64_MAX, 0, &f.after)) <
		0)
		return err;
	f.since = since > 0 ? since : -1;
	f.until = until > 0 ? until : -1;
	f.token = token && *token ? token : NULL;
	if ((err = st->read(st->ctx, page_run, &p)) < 0)
		return err;
	return http_reply(rs, 200, p.out);
}
