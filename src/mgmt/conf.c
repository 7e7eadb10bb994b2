/* SPDX-License-Identifier: MIT */
/* mgmt.conf: every key, its type, default and bounds, in one table; and the
 * secrets the config names. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg.h"
#include "notify.h"
#include "upgate/cfg.h"
#include "upgate/daemon.h"
#include "upgate/log.h"
#include "upgate/secret.h"

#define S(f) offsetof(struct mg_conf, f)
#define MS_DAY CFG_MS_DAY

static const char *const tls_modes[] = {"no", "try", "required", NULL};

#define KEY(sec, k, t, f, d, lo, hi)                                           \
	CFG_KEY(struct mg_conf, sec, k, t, f, d, lo, hi)
#define STR(sec, k, f, d) KEY(sec, k, CFG_STR, f, d, 0, 0)

static const struct cfg_key keys[] = {
    DAEMON_SERVER_KEYS(struct mg_conf, "127.0.0.1:8471"),
    DAEMON_STORAGE_KEYS(
	struct mg_conf, "/var/lib/upgate/mgmt.db", "2000", "16000"),
    STR("admin", "token_file", token_file, "/etc/upgate/admin.token"),
    KEY("admin", "audit_retention", CFG_DUR, audit_retention, "365d", 0,
	3650 * MS_DAY),
    STR("ingest", "secret_file", ingest_secret_file,
	"/etc/upgate/forward.secret"),
    KEY("ingest", "max_skew", CFG_DUR, max_skew, "5m", 1000, MS_DAY),
    STR("email", "smtp_host", smtp_host, ""),
    KEY("email", "smtp_port", CFG_INT, smtp_port, "25", 1, 65535),
    {.section = "email",
	.key = "starttls",
	.type = CFG_ENUM,
	.off = S(starttls),
	.dflt = "no",
	.choices = tls_modes},
    STR("email", "username", smtp_username, ""),
    STR("email", "password_file", smtp_password_file, ""),
    STR("email", "ca_file", smtp_ca_file, ""),
    STR("email", "from", mail_from, "upgate@localhost"),
    STR("email", "to", mail_to, "ops@example.com"),
    STR("email", "spool_dir", spool_dir, "/var/lib/upgate/mail"),
    KEY("email", "timeout", CFG_DUR, smtp_timeout, "30s", 1000, 600000),
    STR("sms", "url", sms_url, ""),
    STR("sms", "to", sms_to, ""),
    STR("sms", "auth_file", sms_auth_file, ""),
    KEY("sms", "timeout", CFG_DUR, sms_timeout, "15s", 1000, 600000),
    STR("webhook", "url", webhook_url, ""),
    STR("alertmanager", "url", alertmanager_url, ""),
    KEY("alertmanager", "resend_interval", CFG_DUR, alertmanager_resend, "5m",
	1000, MS_DAY),
    STR("webhook", "secret_file", webhook_secret_file, ""),
    KEY("alerts", "group_window", CFG_DUR, group_window, "5m", 0, MS_DAY),
    KEY("alerts", "repeat_interval", CFG_DUR, repeat_interval, "4h", 0,
	30 * MS_DAY),
    KEY("alerts", "retry_initial", CFG_DUR, retry_initial, "10s", 100, MS_DAY),
    KEY("alerts", "retry_max", CFG_DUR, retry_max, "15m", 100, MS_DAY),
    STR("gateway", "url", gateway_url, ""),
    STR("gateway", "token_file", gateway_token_file, ""),
    STR("gateway", "ca_file", gateway_ca_file, ""),
    KEY("gateway", "timeout", CFG_DUR, gateway_timeout, "10s", 1000, 600000),
    CFG_LOG_LEVEL(struct mg_conf, log_level),
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static size_t
key_index(size_t off)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].off == off)
			return i;
	return 0;
}

/* The secret file keys[] names at off; an empty file name means none. */
static int
secret_of(const char *path, size_t off, const char *file, bool named,
    char **out, char **errors)
{
	const struct cfg_key *k = &keys[key_index(off)];

	*out = NULL;
	if (file[0] == '\0')
		return 0;
	return cfg_secret(path, k->section, k->key, file, named, out, errors);
}

/* [email] ca_file must load, as each delivery will load it. */
static int
ca_check(const char *path, const char *file, char **errors)
{
	char why[160];

	if (notify_smtp_ca_check(file, why, sizeof(why)) == 0)
		return 0;
	return cfg_file_problem(
	    errors, path, "email", "ca_file", "use", file, why);
}

int
mg_conf_load(const char *path, struct mg_conf *c, char **errors)
{
	int set[N_KEYS];
	int err, e;

	memset(c, 0, sizeof(*c));
	*errors = NULL;
	if ((err = cfg_load(path, keys, N_KEYS, c, set, errors)) < 0)
		return err;
	c->token_file_set = set[key_index(S(token_file))];
	if ((e = secret_of(path, S(token_file), c->token_file,
		 c->token_file_set, &c->admin_token, errors)) < 0)
		err = e;
	if ((e = secret_of(path, S(ingest_secret_file), c->ingest_secret_file,
		 set[key_index(S(ingest_secret_file))], &c->ingest_secret,
		 errors)) < 0)
		err = e;
	if ((e = secret_of(path, S(smtp_password_file), c->smtp_password_file,
		 true, &c->smtp_password, errors)) < 0)
		err = e;
	if (c->smtp_ca_file[0] != '\0' &&
	    (e = ca_check(path, c->smtp_ca_file, errors)) < 0)
		err = e;
	if ((e = secret_of(path, S(sms_auth_file), c->sms_auth_file, true,
		 &c->sms_auth, errors)) < 0)
		err = e;
	if ((e = secret_of(path, S(webhook_secret_file), c->webhook_secret_file,
		 true, &c->webhook_secret, errors)) < 0)
		err = e;
	if ((e = secret_of(path, S(gateway_token_file), c->gateway_token_file,
		 true, &c->gateway_token, errors)) < 0)
		err = e;
	if ((e = daemon_server_check(path, &c->server, errors)) < 0)
		err = e;
	if ((e = daemon_storage_check(path, &c->storage, keys, N_KEYS, set,
		 "postgresql://upgate@db.example.com/upgate_mgmt", errors)) < 0)
		err = e;
	return err;
}

void
mg_conf_free(struct mg_conf *c)
{
	cfg_free(keys, N_KEYS, c);
	secret_free(c->admin_token);
	secret_free(c->ingest_secret);
	secret_free(c->smtp_password);
	secret_free(c->sms_auth);
	secret_free(c->gateway_token);
	secret_free(c->webhook_secret);
}

int
mg_conf_log_level(const struct mg_conf *c)
{
	return LOG_LVL_ERR + c->log_level;
}
