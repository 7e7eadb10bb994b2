/* SPDX-License-Identifier: MIT */
/* Counters and latency histograms by route and status, and the scrape
 * text they make. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

#include "upgate/connguard.h"

/* Status codes counted one by one in metrics; others count as "other". */
static const int counted_status[] = {200, 201, 204, 304, 400, 401, 403, 404,
    405, 409, 413, 415, 422, 429, 500, 501, 503};
#define N_STATUS (sizeof(counted_status) / sizeof(counted_status[0]) + 1)

static const double buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct route_counts {
	atomic_uint_fast64_t by_status[N_STATUS];
	atomic_uint_fast64_t le[N_BUCKETS + 1]; /* last: +Inf */
	atomic_uint_fast64_t sum_us;
};

struct http_counts {
	struct route_counts route[1]; /* n_routes + 1 */
};

struct http_counts *
http_counts_new(size_t n_routes)
{
	return calloc(1, sizeof(struct route_counts) * (n_routes + 1));
}

void
http_counts_free(struct http_counts *c)
{
	free(c);
}

static size_t
status_index(int status)
{
	for (size_t i = 0; i < N_STATUS - 1; i++)
		if (counted_status[i] == status)
			return i;
	return N_STATUS - 1;
}

void
http_counts_add(struct http_counts *c, size_t route, int status, double secs)
{
	struct route_counts *m = &c->route[route];
	size_t b;

	atomic_fetch_add(&m->by_status[status_index(status)], 1);
	for (b = 0; b < N_BUCKETS && secs > buckets[b]; b++)
		;
	atomic_fetch_add(&m->le[b], 1);
	atomic_fetch_add(&m->sum_us, (uint_fast64_t)(secs * 1e6));
}

/* Route i's method and pattern for a label ("", "unmatched" past the
 * table). */
static void
route_label(
    const struct http_server *s, size_t i, const char **meth, const char **pat)
{
	*meth = i < s->cfg.n_routes ? s->cfg.routes[i].method : "";
	*pat = i < s->cfg.n_routes ? s->cfg.routes[i].pattern : "unmatched";
}

int
http_storage_metrics(FILE *out, int (*write)(void *arg, FILE *f), void *arg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int err = f ? write(arg, f) : -ENOMEM;

	if (f != NULL && fclose(f) != 0 && err == 0)
		err = -ENOMEM;
	if (err == 0)
		fwrite(text, 1, len, out);
	free(text);
	fprintf(out,
	    "# HELP upgate_storage_up Whether the database answered this "
	    "scrape (1) or not (0).\n# TYPE upgate_storage_up gauge\n"
	    "upgate_storage_up %d\n",
	    err == 0 ? 1 : 0);
	return err;
}

void
http_metrics(struct http_server *s, FILE *out)
{
	connguard_metrics(s->guard, out);
	fprintf(out,
	    "# HELP upgate_http_auth_failures_total Requests refused 401: no "
	    "token, or one no token of this daemon matches.\n"
	    "# TYPE upgate_http_auth_failures_total counter\n"
	    "upgate_http_auth_failures_total %llu\n",
	    (unsigned long long)atomic_load(&s->auth_failures));
	fputs("# HELP upgate_http_requests_total HTTP requests answered, by "
	      "route and status.\n# TYPE upgate_http_requests_total counter\n",
	    out);
	for (size_t i = 0; i <= s->cfg.n_routes; i++) {
		const char *meth, *pat;

		route_label(s, i, &meth, &pat);
		for (size_t k = 0; k < N_STATUS; k++) {
			uint_fast64_t v =
			    atomic_load(&s->counts->route[i].by_status[k]);

			if (v == 0)
				continue;
			if (k < N_STATUS - 1)
				fprintf(out,
				    "upgate_http_requests_total{route="
				    "\"%s%s%s\",status=\"%d\"} %llu\n",
				    meth, *meth ? " " : "", pat,
				    counted_status[k], (unsigned long long)v);
			else
				fprintf(out,
				    "upgate_http_requests_total{route="
				    "\"%s%s%s\",status=\"other\"} %llu\n",
				    meth, *meth ? " " : "", pat,
				    (unsigned long long)v);
		}
	}
	fputs("# HELP upgate_http_request_duration_seconds Time from request "
	      "start to response sent.\n"
	      "# TYPE upgate_http_request_duration_seconds histogram\n",
	    out);
	for (size_t i = 0; i <= s->cfg.n_routes; i++) {
		const char *meth, *pat;
		uint_fast64_t cum = 0;

		route_label(s, i, &meth, &pat);

		for (size_t b = 0; b <= N_BUCKETS; b++) {
			cum += atomic_load(&s->counts->route[i].le[b]);
			if (b < N_BUCKETS)
				fprintf(out,
				    "upgate_http_request_duration_seconds"
				    "_bucket{route=\"%s%s%s\",le=\"%g\"} "
				    "%llu\n",
				    meth, *meth ? " " : "", pat, buckets[b],
				    (unsigned long long)cum);
			else
				fprintf(out,
				    "upgate_http_request_duration_seconds"
				    "_bucket{route=\"%s%s%s\",le=\"+Inf\"} "
				    "%llu\n",
				    meth, *meth ? " " : "", pat,
				    (unsigned long long)cum);
		}
		fprintf(out,
		    "upgate_http_request_duration_seconds_sum{route="
		    "\"%s%s%s\"} %.6f\n",
		    meth, *meth ? " " : "", pat,
		    (double)atomic_load(&s->counts->route[i].sum_us) / 1e6);
		fprintf(out,
		    "upgate_http_request_duration_seconds_count{route="
		    "\"%s%s%s\"} %llu\n",
		    meth, *meth ? " " : "", pat, (unsigned long long)cum);
	}
}
