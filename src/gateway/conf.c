/* SPDX-License-Identifier: MIT */
/* gateway.conf: every key, its type, default and bounds, in one table. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "upgate/cfg.h"
#include "upgate/daemon.h"
#include "upgate/log.h"

#define S(f) offsetof(struct gw_conf, f)
#define MS_DAY CFG_MS_DAY

#define KEY(sec, k, t, f, d, lo, hi)                                           \
	CFG_KEY(struct gw_conf, sec, k, t, f, d, lo, hi)
#define STR(sec, k, f, d) KEY(sec, k, CFG_STR, f, d, 0, 0)

static const struct cfg_key keys[] = {
    DAEMON_SERVER_KEYS(struct gw_conf, "127.0.0.1:8470"),
    KEY("server", "manifest_max_age", CFG_DUR, manifest_max_age, "60s", 0,
	MS_DAY),
    DAEMON_STORAGE_KEYS(
	struct gw_conf, "/var/lib/upgate/gateway.db", "512", "4096"),
    KEY("storage", "launch_retention", CFG_DUR, launch_retention, "90d", 0,
	3650 * MS_DAY),
    KEY("storage", "event_retention", CFG_DUR, event_retention, "30d", 0,
	3650 * MS_DAY),
    STR("admin", "token_file", token_file, "/etc/upgate/admin.token"),
    KEY("admin", "audit_retention", CFG_DUR, audit_retention, "365d", 0,
	3650 * MS_DAY),
    KEY("upgrade", "session_timeout", CFG_DUR, session_timeout, "1h", 1000,
	30 * MS_DAY),
    KEY("upgrade", "retry_backoff", CFG_DUR, retry_backoff, "24h", 0,
	365 * MS_DAY),
    KEY("upgrade", "max_attempts", CFG_INT, max_attempts, "3", 1, 1000),
    KEY("upgrade", "halt_failure_rate", CFG_REAL, halt_failure_rate, "0.25", 0,
	1),
    KEY("upgrade", "halt_min_samples", CFG_INT, halt_min_samples, "20", 1,
	1000000000),
    STR("forward", "mgmt_url", mgmt_url, "http://127.0.0.1:8471"),
    CFG_CHECKED(struct gw_conf, "forward", "gateway_id", gateway_id, "gw-1",
	id_app_valid, ID_APP_RULE),
    STR("forward", "secret_file", secret_file, "/etc/upgate/forward.secret"),
    KEY("forward", "batch_size", CFG_INT, forward_batch, "500", 1, 500),
    KEY("forward", "retry_initial", CFG_DUR, forward_retry_initial, "1s", 100,
	MS_DAY),
    KEY("forward", "retry_max", CFG_DUR, forward_retry_max, "5m", 100, MS_DAY),
    KEY("forward", "timeout", CFG_DUR, forward_timeout, "30s", 1000, 3600000),
    STR("forward", "ca_file", forward_ca_file, ""),
    CFG_LOG_LEVEL(struct gw_conf, log_level),
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static size_t
key_index(size_t off)
{
	size_t i = 0;

	while (i < N_KEYS - 1 && keys[i].off != off)
		i++;
	return i;
}

int
gw_conf_load(const char *path, struct gw_conf *c, char **errors)
{
	int line[N_KEYS];
	int err;

	memset(c, 0, sizeof(*c));
	if ((err = cfg_load(path, keys, N_KEYS, c, line, errors)) < 0)
		return err;
	c->token_file_set = line[key_index(S(token_file))] != 0;
	if ((err = daemon_storage_check(path, &c->storage, keys, N_KEYS, line,
		 "postgresql://upgate@db.example.com/upgate_gw", errors)) < 0)
		return err;
	return daemon_server_check(path, &c->server, errors);
}

void
gw_conf_free(struct gw_conf *c)
{
	cfg_free(keys, N_KEYS, c);
}

int
gw_conf_log_level(const struct gw_conf *c)
{
	return LOG_LVL_ERR + c->log_level;
}
