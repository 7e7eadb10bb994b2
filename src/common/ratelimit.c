/* SPDX-License-Identifier: MIT */
/* Token buckets per client address in a table of fixed size. Addresses
 * hash (SipHash with a random key, so nobody can aim at one slot) to a
 * slot; a slot whose bucket has refilled completely can be taken by
 * another address, as it would start full anyway. Colliding busy
 * addresses share a bucket, which only errs on the strict side. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "upgate/addr.h"
#include "upgate/ratelimit.h"

#define SLOTS 8192
#define STRIPES 64

struct slot {
	unsigned char key[ADDR_KEY_LEN];
	double tokens;
	int64_t at_ms; /* last refill */
};

struct ratelimit {
	double rate, burst;
	unsigned char hash_key[crypto_shorthash_KEYBYTES];
	pthread_mutex_t lock[STRIPES];
	struct slot slot[SLOTS];
};

struct ratelimit *
ratelimit_new(double rate, int64_t burst)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return NULL;
	rl->rate = rate;
	rl->burst = (double)(burst > 0 ? burst : 1);
	crypto_shorthash_keygen(rl->hash_key);
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&rl->lock[i], NULL);
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&rl->lock[i]);
	free(rl);
}

bool
ratelimit_take(struct ratelimit *rl, const struct sockaddr *addr,
    int64_t now_ms, int64_t *retry_ms)
{
	unsigned char key[ADDR_KEY_LEN], h[crypto_shorthash_BYTES];
	uint64_t hv;
	struct slot *s;
	pthread_mutex_t *m;
	double tokens;
	bool ok;

	addr_key(addr, 128, key);
	crypto_shorthash(h, key, sizeof(key), rl->hash_key);
	memcpy(&hv, h, sizeof(hv));
	s = &rl->slot[hv % SLOTS];
	m = &rl->lock[(hv % SLOTS) % STRIPES];
	pthread_mutex_lock(m);
	tokens = s->tokens + (double)(now_ms - s->at_ms) * rl->rate / 1000.0;
	if (tokens > rl->burst || s->at_ms == 0)
		tokens = rl->burst;
	if (memcmp(s->key, key, sizeof(key)) != 0 && tokens >= rl->burst)
		memcpy(s->key, key, sizeof(key)); /* idle slot: take it */
	ok = tokens >= 1.0;
	if (ok)
		tokens -= 1.0;
	else
		*retry_ms = (int64_t)((1.0 - tokens) * 1000.0 / rl->rate) + 1;
	s->tokens = tokens;
	s->at_ms = now_ms;
	pthread_mutex_unlock(m);
	return ok;
}
