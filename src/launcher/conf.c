/* SPDX-License-Identifier: MIT */
/* The launcher's options: one key table for the config file and the
 * command line, which overrides it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln.h"
#include "upgate/cfg.h"
#include "upgate/file.h"

#define KEY(k, t, f, d, lo, hi)                                                \
	CFG_KEY(struct ln_conf, "launcher", k, t, f, d, lo, hi)
#define STR(k, f, d) KEY(k, CFG_STR, f, d, 0, 0)

static bool
url_ok(const char *s)
{
	return *s == '\0' || strncmp(s, "http://", 7) == 0 ||
	       strncmp(s, "https://", 8) == 0;
}

static bool
app_ok(const char *s)
{
	return *s == '\0' || id_app_valid(s);
}

static bool
client_ok(const char *s)
{
	return *s == '\0' || id_client_valid(s);
}

#define CHECKED(k, f, d, chk, what)                                            \
	CFG_CHECKED(struct ln_conf, "launcher", k, f, d, chk, what)

static const struct cfg_key keys[] = {
    CHECKED(
	"gateway", gateway, "", url_ok, "is not an http:// or https:// URL"),
    CHECKED("app", app, "", app_ok, ID_APP_RULE),
    CHECKED("client_id", client_id, "", client_ok,
	"must be 1-128 printable ASCII characters"),
    STR("install_dir", install_dir, ""),
    CHECKED("channel", channel, "stable", id_app_valid, ID_APP_RULE),
    CHECKED("platform", platform, "", app_ok, ID_APP_RULE),
    STR("ca_file", ca_file, ""),
    STR("public_keys", public_keys, ""),
    KEY("timeout", CFG_DUR, timeout, "3s", 100, 60000),
    KEY("connect_timeout", CFG_DUR, connect_timeout, "10s", 100, 300000),
    KEY("stall_timeout", CFG_DUR, stall_timeout, "30s", 1000, 3600000),
    KEY("progress_interval", CFG_DUR, progress_interval, "2s", 100, 3600000),
    /* A launcher is quiet unless something is wrong. */
    {.section = "log",
	.key = "level",
	.type = CFG_ENUM,
	.off = offsetof(struct ln_conf, log_level),
	.dflt = "warning",
	.choices = cfg_log_levels},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

int
ln_conf_load(const char *path, struct ln_conf *c, char **errors)
{
	memset(c, 0, sizeof(*c));
	return cfg_load(path, keys, N_KEYS, c, NULL, errors);
}

int
ln_conf_set(
    struct ln_conf *c, const char *key, const char *value, char *why, size_t wl)
{
	return cfg_set(keys, N_KEYS, c, "launcher", key, value, why, wl);
}

int
ln_conf_finish(struct ln_conf *c, char *why, size_t wl)
{
	if (*c->platform == '\0') {
		char p[256];

		if (id_platform(p, sizeof(p)) < 0) {
			snprintf(why, wl,
			    "cannot tell the platform: uname "
			    "failed; give --platform");
			return -EINVAL;
		}
		if (ln_conf_set(c, "platform", p, why, wl) < 0)
			return -EINVAL;
	}
	if (*c->client_id == '\0') {
		/* A machine is a client: its machine id, when it has one. */
		char *id = NULL;

		if (file_read("/etc/machine-id", 128, &id, NULL) == 0) {
			id[strcspn(id, "\n")] = '\0';
			if (id_client_valid(id) &&
			    ln_conf_set(c, "client_id", id, why, wl) < 0) {
				free(id);
				return -EINVAL;
			}
			free(id);
		}
	}
	if (*c->gateway == '\0' || *c->app == '\0' || *c->client_id == '\0' ||
	    *c->install_dir == '\0') {
		snprintf(why, wl,
		    "missing %s (give it as an option or in the "
		    "config's [launcher] section)",
		    *c->gateway == '\0'	    ? "--gateway"
		    : *c->app == '\0'	    ? "--app"
		    : *c->client_id == '\0' ? "--client-id"
					    : "--install-dir");
		return -EINVAL;
	}
	if (!id_app_valid(c->platform)) {
		snprintf(why, wl, "platform '%s' %s", c->platform, ID_APP_RULE);
		return -EINVAL;
	}
	/* Calls append "/v1/..." to the gateway URL. */
	for (size_t n = strlen(c->gateway); n > 0 && c->gateway[n - 1] == '/';)
		c->gateway[--n] = '\0';
	return 0;
}

void
ln_conf_free(struct ln_conf *c)
{
	cfg_free(keys, N_KEYS, c);
}
