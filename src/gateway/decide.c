/* SPDX-License-Identifier: MIT */
/* The launch decision rules: rollout, in-progress, retries and halts. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "decide.h"
#include "upgate/semver.h"

static const char *const reason_names[REASON_COUNT] = {
    [REASON_UPGRADE_IN_PROGRESS] = "upgrade_in_progress",
    [REASON_NO_RELEASE] = "no_release",
    [REASON_UP_TO_DATE] = "up_to_date",
    [REASON_NOT_IN_ROLLOUT] = "not_in_rollout",
    [REASON_RELEASE_HALTED] = "release_halted",
    [REASON_ATTEMPTS_EXHAUSTED] = "attempts_exhausted",
    [REASON_RETRY_BACKOFF] = "retry_backoff",
};

const char *
decide_reason_name(enum decide_reason r)
{
	return r > REASON_NONE && r < REASON_COUNT ? reason_names[r] : NULL;
}

int
decide_bucket(const char *client_id, const char *app, const char *version)
{
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];
	uint64_t v = 0;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(
	    &st, (const unsigned char *)client_id, strlen(client_id) + 1);
	crypto_hash_sha256_update(
	    &st, (const unsigned char *)app, strlen(app) + 1);
	crypto_hash_sha256_update(
	    &st, (const unsigned char *)version, strlen(version));
	crypto_hash_sha256_final(&st, h);
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return (int)(v % 100);
}

/* The client's failures at release id, counting a just-expired latest. */
static void
failures_of(const struct decide_in *in, const struct decide_out *out,
    int64_t release_id, int64_t *count, int64_t *last_at)
{
	*count = 0;
	*last_at = 0;
	for (size_t i = 0; i < in->n_fails; i++) {
		if (in->fails[i].release_id == release_id) {
			*count = in->fails[i].failures;
			*last_at = in->fails[i].last_at;
		}
	}
	if (out->expire_latest && in->latest->release_id == release_id) {
		(*count)++;
		*last_at = in->now;
	}
}

/* Whether r can be offered on this platform at all. */
static bool
offerable(const struct decide_in *in, const struct release *r)
{
	return !r->paused && !r->yanked && !r->halted &&
	       store_release_artifact(r, in->platform) != NULL;
}

/* The admin's rollback target, when it is still offerable; its version
 * caps what anyone is offered. */
static const struct release *
rollback_target(const struct decide_in *in, struct semver *cap)
{
	for (size_t i = 0; in->rollback != NULL && i < in->n_releases; i++) {
		const struct release *r = &in->releases[i];

		if (r->id == in->rollback->release_id && offerable(in, r) &&
		    semver_parse(r->version, cap) == 0)
			return r;
	}
	return NULL;
}

/* A client on a yanked release with nothing newer to go to: the newest
 * offerable release below it. */
static const struct release *
yank_fallback(const struct decide_in *in, const struct semver *cur)
{
	const struct release *best = NULL;
	struct semver bv, v;
	bool on_yanked = false;

	for (size_t i = 0; i < in->n_releases; i++)
		if (in->releases[i].yanked &&
		    semver_cmp_str(in->releases[i].version, cur->text) == 0)
			on_yanked = true;
	for (size_t i = 0; on_yanked && i < in->n_releases; i++) {
		const struct release *r = &in->releases[i];

		if (!offerable(in, r) || semver_parse(r->version, &v) < 0 ||
		    semver_cmp(&v, cur) >= 0)
			continue;
		if (best == NULL || semver_cmp(&v, &bv) > 0) {
			best = r;
			bv = v;
		}
	}
	return best;
}

void
decide(const struct decide_in *in, struct decide_out *out)
{
	const struct upgrade *l = in->latest;
	const struct release *newest = NULL, *target = NULL, *rb;
	struct semver cur, best, tv, v, cap;
	bool any = false;
	int64_t fails, last_at;

	memset(out, 0, sizeof(*out));
	out->action = DECIDE_LAUNCH;

	/* Rule 2: an unfinished upgrade that has not timed out blocks. */
	if (l != NULL && !store_state_final(l->state)) {
		if (in->now < l->created_at + in->session_timeout) {
			out->in_progress = true;
			out->reason = REASON_UPGRADE_IN_PROGRESS;
			return;
		}
		out->expire_latest = true; /* rule 5: a failure */
	}
	/* Rule 3: the last upgrade failed and the client was not told. */
	if (l != NULL && !l->failure_told &&
	    (out->expire_latest || l->state == UPG_FAILED ||
		l->state == UPG_TIMED_OUT))
		out->tell_failure = true;

	/* Rule 1: the newest eligible release newer than what runs. */
	if (semver_parse(in->version, &cur) < 0) {
		out->reason = REASON_NO_RELEASE;
		return;
	}
	/* An admin's rollback: clients above its target (in its rollout)
	 * go back to it; nobody is offered anything above it. */
	rb = rollback_target(in, &cap);
	if (rb != NULL && semver_cmp(&cur, &cap) > 0) {
		char key[SEMVER_MAX + 16];

		snprintf(key, sizeof(key), "rollback:%s", rb->version);
		if (decide_bucket(in->client_id, rb->app, key) >=
		    in->rollback->rollout_percent) {
			out->reason = REASON_NOT_IN_ROLLOUT;
			return;
		}
		target = rb;
		out->rollback = out->by_rollback = true;
		goto retries;
	}
	for (size_t i = 0; i < in->n_releases; i++) {
		const struct release *r = &in->releases[i];

		if (r->paused || r->yanked ||
		    store_release_artifact(r, in->platform) == NULL ||
		    semver_parse(r->version, &v) < 0)
			continue;
		any = true;
		if (semver_cmp(&v, &cur) <= 0 ||
		    (rb != NULL && semver_cmp(&v, &cap) > 0))
			continue;
		if (newest == NULL || semver_cmp(&v, &best) > 0) {
			newest = r;
			best = v;
		}
		if (r->halted || decide_bucket(in->client_id, r->app,
				     r->version) >= r->rollout_percent)
			continue;
		if (target == NULL || semver_cmp(&v, &tv) > 0) {
			target = r;
			tv = v;
		}
	}
	if (target == NULL && (target = yank_fallback(in, &cur)) != NULL) {
		/* Off a yanked release, even downwards. */
		out->rollback = true;
		goto retries;
	}
	if (!any) {
		out->reason = REASON_NO_RELEASE;
		return;
	}
	if (newest == NULL) {
		out->reason = REASON_UP_TO_DATE;
		return;
	}
	if (target == NULL) {
		out->reason = newest->halted ? REASON_RELEASE_HALTED
					     : REASON_NOT_IN_ROLLOUT;
		return;
	}

retries:
	/* Rule 4: retries of a release that failed for this client. */
	if (in->fails_unread) {
		out->needs_failures = true;
		return;
	}
	failures_of(in, out, target->id, &fails, &last_at);
	if (fails >= in->max_attempts) {
		out->reason = REASON_ATTEMPTS_EXHAUSTED;
		return;
	}
	if (fails > 0 && in->now < last_at + in->retry_backoff) {
		out->reason = REASON_RETRY_BACKOFF;
		out->retry_at = last_at + in->retry_backoff;
		return;
	}
	out->action = DECIDE_UPGRADE;
	out->target = target;
	out->artifact = store_release_artifact(target, in->platform);
}
