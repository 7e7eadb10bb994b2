/* SPDX-License-Identifier: MIT */
/* upgatectl token: named tokens on either daemon (SPEC "Tokens, roles and
 * the audit log"). */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static int
token_create(struct ctl *x, enum ctl_target t, const char *name)
{
	json_t *body, *ans = NULL;
	int rc;

	if (x->o.role == NULL) {
		ctl_err(x, "create needs --role viewer, publisher or admin");
		return CTL_USAGE;
	}
	body = json_pack("{s:s, s:s, s:s}", "name", name, "role", x->o.role,
	    "apps", x->o.apps ? x->o.apps : "*");
	rc = ctl_call(x, t, "POST", "/v1/admin/tokens", body, &ans, NULL);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	if (x->json) {
		ctl_print_json(ans);
	} else {
		printf(
		    "%s\n", json_string_value(json_object_get(ans, "token")));
		fprintf(stderr,
		    "token %s (%s, apps %s): shown once, keep it now\n", name,
		    x->o.role, x->o.apps ? x->o.apps : "*");
	}
	json_decref(ans);
	return CTL_OK;
}

int
cmd_token(struct ctl *x, int argc, char **argv)
{
	static const struct col cols[] = {
	    {"NAME", "name", COL_STR},
	    {"ROLE", "role", COL_STR},
	    {"APPS", "apps", COL_STR},
	    {"CREATED", "created_at", COL_STR},
	    {"BY", "created_by", COL_STR},
	    {"SOURCE", "source", COL_STR},
	};
	enum ctl_target t = x->o.on_mgmt ? CTL_MGMT : CTL_GATEWAY;
	const char *what = argv[0];
	json_t *ans = NULL;
	char path[256];
	int rc;

	if (strcmp(what, "create") == 0 && argc == 2)
		return token_create(x, t, argv[1]);
	if (strcmp(what, "list") == 0 && argc == 1) {
		if ((rc = ctl_call(x, t, "GET", "/v1/admin/tokens", NULL, &ans,
			 NULL)) != CTL_OK)
			return rc;
		if (x->json)
			ctl_print_json(ans);
		else
			table_print(
			    cols, NCOLS(cols), json_object_get(ans, "tokens"));
		json_decref(ans);
		return CTL_OK;
	}
	if (strcmp(what, "revoke") == 0 && argc == 2) {
		char *e = curl_easy_escape(x->h, argv[1], 0);

		if (e == NULL)
			return CTL_FAIL;
		snprintf(path, sizeof(path), "/v1/admin/tokens/%s", e);
		curl_free(e);
		if ((rc = ctl_call(x, t, "DELETE", path, NULL, &ans, NULL)) !=
		    CTL_OK)
			return rc;
		if (x->json)
			ctl_print_json(ans);
		else
			printf("token %s revoked\n", argv[1]);
		json_decref(ans);
		return CTL_OK;
	}
	ctl_err(x, "token takes create NAME, list, or revoke NAME");
	return CTL_USAGE;
}
