/* SPDX-License-Identifier: MIT */
/* Who asks, and whether they may: the bearer token's caller, the role a
 * route needs, a publisher held to its apps, and the audit line of a
 * change the handler did not log with it. http_request.c asks these
 * before any handler runs and answers the refusals. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

#include "upgate/log.h"

/* A request that changes something with a token: it is audited. */
bool
http_is_change(const struct conn_req *cr)
{
	return cr->route != NULL && cr->route->auth >= HTTP_AUTH_VIEWER &&
	       strcmp(cr->r.method, "GET") != 0 &&
	       strcmp(cr->r.method, "HEAD") != 0;
}

struct audit_arg {
	const struct req *r;
	int status;
};

static int
audit_run(const struct access_conn *c, void *arg)
{
	const struct audit_arg *a = arg;

	return access_audit_req(c, a->r, a->status);
}

/* The audit line of a change the handler did not log with its change:
 * refused, failed, or one outside this daemon's store. */
void
http_audit_answer(struct conn_req *cr, int status)
{
	const struct access_store *st = cr->r.server->cfg.access;
	struct audit_arg a = {&cr->r, status};
	int err;

	if (!http_is_change(cr) || cr->r.caller == NULL || cr->r.audited ||
	    st == NULL)
		return;
	cr->r.audited = true;
	if ((err = st->write(st->ctx, audit_run, &a)) < 0)
		log_err("audit: cannot log %s %s (%d) by %s: %s", cr->r.method,
		    cr->r.path, status, cr->caller.name, strerror(-err));
}

/* Who holds the request's bearer token: 0, -EACCES, or why the daemon
 * cannot tell. */
int
http_identify(struct http_server *s, struct conn_req *cr)
{
	const char *h = MHD_lookup_connection_value(
	    cr->r.conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	int err;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return -EACCES;
	h += 7;
	while (*h == ' ')
		h++;
	if (s->cfg.authorize == NULL)
		return -EACCES;
	if ((err = s->cfg.authorize(s->cfg.ctx, h, strlen(h), &cr->caller)) ==
	    0)
		cr->r.caller = &cr->caller;
	return err;
}

/* The {name} segment of the request's path, NULL when its route has
 * none. */
const char *
http_route_param(const struct conn_req *cr, const char *name)
{
	size_t len = strlen(name);
	int i = 0;

	for (const char *p = cr->route->pattern; (p = strchr(p, '{')); p++) {
		if (strncmp(p + 1, name, len) == 0 && p[len + 1] == '}')
			return i < HTTP_MAX_PARAMS ? cr->r.params[i] : NULL;
		i++;
	}
	return NULL;
}

/* The least role a route that needs a token needs. */
enum access_role
http_route_role(const struct http_route *rt)
{
	return rt->auth == HTTP_AUTH_ADMIN	 ? ACCESS_ADMIN
	       : rt->auth == HTTP_AUTH_PUBLISHER ? ACCESS_PUBLISHER
						 : ACCESS_VIEWER;
}

/* Whether the request is a change to app (NULL: none named) that its
 * caller may not make: a publisher's token holds it to its apps. */
bool
http_app_refused(const struct conn_req *cr, const char *app)
{
	return app != NULL && cr->r.caller != NULL && http_is_change(cr) &&
	       !access_app_allowed(&cr->caller, app);
}
