/* SPDX-License-Identifier: MIT */
/* Requests per client address: a token bucket per address in a fixed
 * table, so memory stays bounded whatever the number of addresses. */
#ifndef UPGATE_RATELIMIT_H
#define UPGATE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct sockaddr;
struct ratelimit;

/* rate tokens per second, up to burst, for each address. NULL when out of
 * memory. sodium_init() must have succeeded (the table's hash is keyed). */
struct ratelimit *ratelimit_new(double rate, int64_t burst);
void ratelimit_free(struct ratelimit *rl);

/* Take a token for addr at now_ms (monotonic). True when allowed; false
 * with *retry_ms, when one more token is there. Thread-safe. */
bool ratelimit_take(struct ratelimit *rl, const struct sockaddr *addr,
    int64_t now_ms, int64_t *retry_ms);

#endif
