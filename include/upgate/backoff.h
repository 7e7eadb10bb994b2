/* SPDX-License-Identifier: MIT */
/* Capped exponential backoff with jitter, for every retry loop. */
#ifndef UPGATE_BACKOFF_H
#define UPGATE_BACKOFF_H

#include <stdint.h>

/* The ceiling before the attempt-th retry (1 = first): initial doubled
 * attempt - 1 times, never over max. Milliseconds. */
int64_t backoff_cap(int64_t initial, int64_t max, unsigned attempt);

/* The delay to wait: uniformly random in [cap / 2, cap], so retries of
 * many senders spread out instead of arriving together. */
int64_t backoff_delay(int64_t initial, int64_t max, unsigned attempt);

#endif
