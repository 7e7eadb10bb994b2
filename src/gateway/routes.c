/* SPDX-License-Identifier: MIT */
/* The gateway's route table: every endpoint, its handler, auth and limit. */
#include "gw.h"

const struct http_route gw_routes[] = {
    {"GET", "/healthz", http_healthz_get, HTTP_AUTH_NONE, 0, HTTP_PUBLIC},
    {"GET", "/readyz", h_readyz_get, HTTP_AUTH_NONE, 0, HTTP_PUBLIC},
    {"GET", "/metrics", h_metrics_get, HTTP_AUTH_NONE, 0, HTTP_INTERNAL},
    {"POST", "/v1/admin/releases", h_releases_post, HTTP_AUTH_PUBLISHER, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/admin/releases", h_releases_get, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
    {"PATCH", "/v1/admin/releases/{app}/{version}", h_release_patch,
	HTTP_AUTH_PUBLISHER, 0, HTTP_INTERNAL},
    {"GET", "/v1/admin/upgrades", h_upgrades_get, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
    {"POST", "/v1/admin/rollbacks", h_rollback_post, HTTP_AUTH_PUBLISHER, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/admin/rollbacks/{app}", h_rollback_get, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
    {"DELETE", "/v1/admin/rollbacks/{app}", h_rollback_get, HTTP_AUTH_PUBLISHER,
	0, HTTP_INTERNAL},
    {"GET", "/v1/apps/{app}/manifest", h_manifest_get, HTTP_AUTH_NONE, 0,
	HTTP_PUBLIC},
    {"POST", "/v1/launch", h_launch_post, HTTP_AUTH_NONE, 0, HTTP_PUBLIC},
    {"POST", "/v1/upgrades/{id}/events", h_events_post, HTTP_AUTH_NONE, 0,
	HTTP_PUBLIC},
    {"GET", "/v1/upgrades/{id}", h_upgrade_get, HTTP_AUTH_NONE, 0, HTTP_PUBLIC},
    /* Tokens, the audit log, who the caller is (access_http.c). */
    {"POST", "/v1/admin/tokens", access_h_tokens_post, HTTP_AUTH_ADMIN, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/admin/tokens", access_h_tokens_get, HTTP_AUTH_ADMIN, 0,
	HTTP_INTERNAL},
    {"DELETE", "/v1/admin/tokens/{name}", access_h_token_delete,
	HTTP_AUTH_ADMIN, 0, HTTP_INTERNAL},
    {"GET", "/v1/admin/audit", access_h_audit_get, HTTP_AUTH_ADMIN, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/admin/whoami", access_h_whoami_get, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
};

const size_t gw_n_routes = sizeof(gw_routes) / sizeof(gw_routes[0]);
