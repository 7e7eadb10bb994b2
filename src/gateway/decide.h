/* SPDX-License-Identifier: MIT */
/* The launch decision: pure logic over what the stores returned. */
#ifndef GW_DECIDE_H
#define GW_DECIDE_H

#include "store.h"

struct decide_in {
	const char *client_id;
	const char *version; /* installed, a valid semver */
	const char *platform;
	int64_t now;			/* ms */
	const struct release *releases; /* the app's on the channel */
	size_t n_releases;
	const struct upgrade *latest;  /* client's last upgrade, or NULL */
	const struct fail_stat *fails; /* client's failures per release */
	size_t n_fails;
	/* An admin's rollback on this channel (NULL: none): its target is
	 * one of releases (by id). */
	const struct rollback *rollback;
	int64_t session_timeout; /* ms */
	int64_t retry_backoff;	 /* ms */
	int64_t max_attempts;
	/* fails not read yet: a decision that needs them stops with
	 * needs_failures, to be made again with them. */
	bool fails_unread;
};

enum decide_action { DECIDE_LAUNCH, DECIDE_UPGRADE };

/* Why a launch is not an upgrade: the answer's "reason". */
enum decide_reason {
	REASON_NONE, /* an upgrade: no reason */
	REASON_UPGRADE_IN_PROGRESS,
	REASON_NO_RELEASE,
	REASON_UP_TO_DATE,
	REASON_NOT_IN_ROLLOUT,
	REASON_RELEASE_HALTED,
	REASON_ATTEMPTS_EXHAUSTED,
	REASON_RETRY_BACKOFF,
	REASON_COUNT
};

struct decide_out {
	enum decide_action action;
	enum decide_reason reason;	 /* launch: why */
	const struct release *target;	 /* upgrade: borrowed from in */
	const struct artifact *artifact; /* upgrade: for the platform */
	bool in_progress;		 /* launch: latest is still running */
	bool expire_latest;		 /* latest ran past session_timeout */
	bool tell_failure;		 /* latest failed, client not told */
	bool rollback;			 /* upgrade: to a lower version */
	bool by_rollback;		 /* ... that in->rollback ordered */
	int64_t retry_at;    /* retry_backoff: when it may be offered again */
	bool needs_failures; /* in->fails_unread and rule 4 reached */
};

/* The client's stable rollout bucket for app/version: 0-99. */
int decide_bucket(const char *client_id, const char *app, const char *version);

/* The reason's name in answers and launch records; NULL for none. */
const char *decide_reason_name(enum decide_reason r);

/* Apply the SPEC's decision rules to in. Never fails. */
void decide(const struct decide_in *in, struct decide_out *out);

#endif
