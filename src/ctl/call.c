/* SPDX-License-Identifier: MIT */
/* What every command shares: calls to the daemons with the admin token,
 * their errors as exit codes, and printing. main.c holds the table of
 * commands and the options; the commands (cmd_*.c) call in here. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ctl.h"
#include "upgate/httpc.h"
#include "upgate/secret.h"

void
ctl_err(const struct ctl *x, const char *fmt, ...)
{
	va_list ap;

	fprintf(
	    stderr, "upgatectl%s%s: ", x->cmd ? " " : "", x->cmd ? x->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
ctl_print_json(const json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

void
ctl_query(
    struct ctl *x, char *q, size_t len, const char *key, const char *value)
{
	char *e;
	size_t n = strlen(q);

	if (value == NULL || (e = curl_easy_escape(x->h, value, 0)) == NULL)
		return;
	snprintf(q + n, len - n, "%c%s=%s", strchr(q, '?') ? '&' : '?', key, e);
	curl_free(e);
}

static int
exit_for(long status)
{
	if (status == 401 || status == 403)
		return CTL_AUTH;
	if (status == 404)
		return CTL_NOTFOUND;
	if (status == 409)
		return CTL_CONFLICT;
	if (status >= 400 && status < 500)
		return CTL_USAGE;
	return CTL_FAIL;
}

int
ctl_call(struct ctl *x, enum ctl_target t, const char *method, const char *path,
    const json_t *body, json_t **out, long *status)
{
	const char *base = t == CTL_GATEWAY ? x->c.gateway_url : x->c.mgmt_url;
	const char *who = t == CTL_GATEWAY ? "gateway" : "mgmtd";
	char url[8192], auth[SECRET_MAX + 32];
	const char *hdrs[] = {auth, "Accept: application/json", NULL};
	struct httpc_reply r;
	char *text = NULL;
	json_t *ans = NULL;
	size_t n = strlen(base);
	int rc;

	*out = NULL;
	snprintf(url, sizeof(url), "%.*s%s",
	    (int)(n && base[n - 1] == '/' ? n - 1 : n), base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", x->token);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		return CTL_FAIL;
	rc = httpc_call(
	    x->h, method, url, hdrs, text, text ? strlen(text) : 0, &r);
	sodium_memzero(auth, sizeof(auth));
	free(text);
	if (rc < 0) {
		ctl_err(x, "%s at %s: %s", who, base, r.err);
		httpc_reply_fini(&r);
		return CTL_FAIL;
	}
	if (r.body != NULL)
		ans = json_loadb(r.body, r.len, 0, NULL);
	if (status != NULL)
		*status = r.status;
	if (r.status >= 200 && r.status < 300) {
		httpc_reply_fini(&r);
		*out = ans;
		return CTL_OK;
	}
	{
		json_t *e = json_object_get(ans, "error");
		const char *code =
		    json_string_value(json_object_get(e, "code"));
		const char *msg =
		    json_string_value(json_object_get(e, "message"));
		const char *field =
		    json_string_value(json_object_get(e, "field"));

		if (x->json && ans != NULL)
			ctl_print_json(ans);
		ctl_err(x, "%s: HTTP %ld%s%s%s%s%s%s%s", who, r.status,
		    code ? " " : "", code ? code : "", msg ? ": " : "",
		    msg ? msg : "", field ? " (field " : "", field ? field : "",
		    field ? ")" : "");
	}
	json_decref(ans);
	rc = exit_for(r.status);
	httpc_reply_fini(&r);
	return rc;
}
