/* SPDX-License-Identifier: MIT */
/* Retry delays: exponential, capped, with jitter from libsodium's RNG. */
#include <sodium.h>

#include "upgate/backoff.h"

int64_t
backoff_cap(int64_t initial, int64_t max, unsigned attempt)
{
	int64_t d = initial > 0 ? initial : 1;

	for (unsigned i = 1; i < attempt && d < max; i++)
		d *= 2;
	return d < max ? d : max;
}

int64_t
backoff_delay(int64_t initial, int64_t max, unsigned attempt)
{
	int64_t cap = backoff_cap(initial, max, attempt);
	int64_t half = cap / 2;
	uint32_t span = (uint32_t)(cap - half > UINT32_MAX - 1 ? UINT32_MAX - 1
							       : cap - half);

	return half + (int64_t)randombytes_uniform(span + 1);
}
