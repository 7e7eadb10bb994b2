/* SPDX-License-Identifier: MIT */
/* mgmtd's route table: every endpoint, its handler, auth and limit. */
#include "mg.h"

#define INGEST_MAX_BODY (4 * 1024 * 1024)

const struct http_route mg_routes[] = {
    {"GET", "/healthz", http_healthz_get, HTTP_AUTH_NONE, 0, HTTP_PUBLIC},
    {"GET", "/readyz", h_readyz_get, HTTP_AUTH_NONE, 0, HTTP_PUBLIC},
    {"GET", "/metrics", h_metrics_get, HTTP_AUTH_NONE, 0, HTTP_INTERNAL},
    {"POST", "/v1/outcomes", h_outcomes_post, HTTP_AUTH_SIGNED, INGEST_MAX_BODY,
	HTTP_PUBLIC},
    {"GET", "/v1/outcomes", h_outcomes_get, HTTP_AUTH_VIEWER, 0, HTTP_INTERNAL},
    {"GET", "/v1/outcomes.csv", h_outcomes_csv_get, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/outcomes/{id}", h_outcome_get, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/stats", h_stats_get, HTTP_AUTH_VIEWER, 0, HTTP_INTERNAL},
    {"GET", "/v1/alerts", h_alerts_get, HTTP_AUTH_VIEWER, 0, HTTP_INTERNAL},
    {"POST", "/v1/alerts/test", h_alerts_test_post, HTTP_AUTH_ADMIN, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/alerts/digests", h_digests_get, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/stats/timeline", h_timeline_get, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/events/stream", h_events_stream, HTTP_AUTH_VIEWER, 0,
	HTTP_INTERNAL},
    {"GET", "/v1/halted", h_halted_get, HTTP_AUTH_VIEWER, 0, HTTP_INTERNAL},
    {"GET", "/v1/releases", h_releases_get, HTTP_AUTH_VIEWER, 0, HTTP_INTERNAL},
    {"POST", "/v1/halted/{app}/{version}/resume", h_halted_resume,
	HTTP_AUTH_ADMIN, 0, HTTP_INTERNAL},
    /* The dashboard (web/, compiled in). */
    {"GET", "/", h_asset_get, HTTP_AUTH_NONE, 0, HTTP_INTERNAL},
    {"GET", "/app.js", h_asset_get, HTTP_AUTH_NONE, 0, HTTP_INTERNAL},
    {"GET", "/app.css", h_asset_get, HTTP_AUTH_NONE, 0, HTTP_INTERNAL},
    {"GET", "/favicon.svg", h_asset_get, HTTP_AUTH_NONE, 0, HTTP_INTERNAL},
    /* What browsers ask for by themselves: the same icon. */
    {"GET", "/favicon.ico", h_asset_get, HTTP_AUTH_NONE, 0, HTTP_INTERNAL},
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

const size_t mg_n_routes = sizeof(mg_routes) / sizeof(mg_routes[0]);
