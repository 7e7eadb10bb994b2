/* SPDX-License-Identifier: MIT */
/* upgate-launch: what an app icon runs. Shared by the launcher's files. */
#ifndef UPGATE_LN_H
#define UPGATE_LN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "upgate/id.h"
#include "upgate/semver.h"
#include "upgate/ts.h"

/* Options, from a config file's [launcher] section and the command line. */
struct ln_conf {
	char *gateway, *app, *client_id, *install_dir, *channel, *platform;
	char *ca_file;
	char *public_keys;	   /* base64 Ed25519 keys, comma-separated */
	int64_t timeout;	   /* ms: every gateway call before the app */
	int64_t connect_timeout;   /* ms: download connect */
	int64_t stall_timeout;	   /* ms: download without a byte */
	int64_t progress_interval; /* ms between downloading reports */
	int log_level;
};

int ln_conf_load(const char *path, struct ln_conf *c, char **errors);
/* Set key (a [launcher] key) from the command line. */
int ln_conf_set(struct ln_conf *c, const char *key, const char *value,
    char *why, size_t wl);
/* Fill what has a computed default (platform, client_id) and check that
 * what has none is there. Returns 0 or -EINVAL with why. */
int ln_conf_finish(struct ln_conf *c, char *why, size_t wl);
void ln_conf_free(struct ln_conf *c);

/* An upgrade the gateway offered (or is still waiting for). */
struct offer {
	char upgrade_id[ID_LEN + 1];
	char from[SEMVER_MAX + 1], to[SEMVER_MAX + 1];
	char sha256[65];
	char *url;
	int64_t size;
	bool rollback;		      /* to a lower version */
	char *signed_doc, *signature; /* NULL when the gateway sent none */
	/* The patch from the installed version's tar (url NULL: none). */
	struct {
		char *url;
		int64_t size;
		char sha256[65], tar_sha256[65];
	} delta;
};

/* Read the "upgrade" object of a launch answer. Returns 0 or -EBADMSG
 * with why; out->upgrade_id is set whenever the id itself was valid. */
int offer_parse(const json_t *o, struct offer *out, char *why, size_t wl);
/* Set o's delta to d (url, size, sha256), a patch from version from to
 * the tar with tar_sha256, when it is well-formed and from o's from
 * version; else o has none. Returns 0 or -ENOMEM. */
int offer_set_delta(
    struct offer *o, const char *from, const json_t *d, const char *tar_sha256);
/* Set o's sha256 from 64 hex digits (checked by the caller), lowercased. */
void offer_set_sha256(struct offer *o, const char *hex);
void offer_fini(struct offer *o);

#define LN_MAX_KEYS 8

struct ln {
	struct ln_conf c;
	unsigned char keys[LN_MAX_KEYS][32]; /* trusted release keys */
	size_t n_keys;			     /* 0: offers are not checked */
	char *state; /* DIR/.upgate: lock, downloads, unsent reports */
	char installed[SEMVER_MAX + 1]; /* "" when nothing is */
	CURL *api;			/* gateway API calls */
	int64_t deadline;		/* monotonic ms for calls; 0: none */
	int64_t seq;			/* last seq used for the upgrade */
	int reached;			/* state_order() of the last report */
	int64_t fetched;    /* bytes downloaded for the upgrade in this run */
	char why_none[256]; /* with nothing installed: what happens next */
};

/* A progress or final report; fields < 0 or NULL are left out. */
struct report {
	const char *state;
	const char *error_code;
	char message[512];
	int progress;
	int64_t download_ms, install_ms;
	int delta_used;		  /* -1: not said, 0 or 1 */
	int64_t bytes_downloaded; /* -1: not said */
};
#define REPORT_INIT(st)                                                        \
	{                                                                      \
		.state = (st), .progress = -1, .download_ms = -1,              \
		.install_ms = -1, .delta_used = -1, .bytes_downloaded = -1     \
	}

/* Where state comes in the order of an upgrade (offered first, final
 * states last); -1 for an unknown state. */
int state_order(const char *state);

/* Whether errno e (positive or negative) means "no room to store it":
 * a full disk, a quota, a file-size limit. Those fail as disk_full. */
bool ln_no_space(int e);

/* Make r a failed report with code and a message. */
void report_fail(struct report *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* api.c: the gateway's launcher endpoints. Each call gets the time left
 * before l->deadline (at most [launcher] timeout); -ETIMEDOUT when none. */
int api_launch(struct ln *l, json_t **out);
/* Report r with the next seq. A final report is first kept in the
 * install directory and removed once the gateway has it (or refused it
 * for good), so a failed send is retried on the next run. */
int api_report(struct ln *l, const struct offer *o, const struct report *r);
/* Send the reports earlier runs could not. */
void api_flush_pending(struct ln *l);
/* Whether a final report for upgrade_id is still waiting to be sent. */
bool api_pending(const struct ln *l, const char *upgrade_id);
/* Where the gateway has upgrade_id: its state, and its last seq (into
 * l->seq, so reports go on from there). */
int api_progress(struct ln *l, const char *upgrade_id, char *state, size_t len);

/* install.c: the install directory. */
int install_open(struct ln *l);
/* Take the launcher lock: 0, -EWOULDBLOCK when another launcher has it
 * (wait false), or another negative errno. */
int install_lock(struct ln *l, bool wait);
/* Read which version current points at into l->installed. */
void install_read_current(struct ln *l);
/* Point current at versions/version by renaming a new symlink over it. */
int install_switch(struct ln *l, const char *version);
/* Remove versions other than current and keep, and stale temporaries. */
void install_prune(struct ln *l, const char *keep);
/* What a downloading artifact is kept as: state/download/<sha256>.part
 * (sha256 as struct offer holds it, lowercase). */
void install_part_path(
    const struct ln *l, const char *sha256, char *out, size_t len);

/* fetch.c: download o's artifact into the part file, resuming what is
 * there, never more than o->size bytes; downloading reports along the
 * way. Returns 0, or a negative errno with r filled as a failed report. */
int fetch_artifact(struct ln *l, const struct offer *o, struct report *r);
/* Check size and SHA-256 of the part file. */
int fetch_verify(struct ln *l, const struct offer *o, struct report *r);

/* patch.c: the artifact kept from the installed
 * version, for the next upgrade's delta: its path into out, or -ENOENT. */
int kept_artifact(const struct ln *l, char *out, size_t len);
/* Keep file (the artifact or tar version was installed from) as that,
 * dropping what was kept before. */
void keep_artifact(const struct ln *l, const char *version, const char *file);
/* Make o's tar from the kept artifact and o's delta, into the file
 * tar_out (its SHA-256 checked against the delta's tar_sha256). Returns
 * 0, or a negative errno with why (the caller falls back to the whole
 * artifact). */
int delta_upgrade(struct ln *l, const struct offer *o, const char *tar_out,
    char *why, size_t wl);

/* unpack.c: extract the tar (.tar.gz, .tar.zst or plain) at archive into the
 * new directory dest (which must not exist). Refuses absolute paths, "..",
 * links leading outside dest and special files. Returns 0, or a negative errno
 * with error_code ("unpack_failed", "disk_full") and message in r. */
int unpack_archive(const char *archive, const char *dest, struct report *r);

/* trust.c: with trusted keys, check o's signed document: signed by one
 * of them, naming this app, channel and o's version (and rollback as o
 * says), not expired, with a serial not below the highest this install
 * has seen on the channel (which it then remembers). The document's
 * url, size and sha256 for this platform replace o's. Returns 0, or a
 * negative errno with r a failed report (signature_invalid,
 * manifest_expired, rollback_refused). */
int trust_check(struct ln *l, struct offer *o, struct report *r);
/* Parse l->c.public_keys into l->keys. Returns 0 or -EINVAL with why. */
int trust_load_keys(struct ln *l, char *why, size_t wl);

/* upgrade.c: run o from its next step to a final report. */
int upgrade_run(struct ln *l, struct offer *o, bool resume);

/* notice.c: tell the user about a failure of the previous upgrade. */
void notice_show(const struct ln *l, const json_t *failure, const json_t *ans);
/* What happens next after the launch answer ans, for a person: the
 * next attempt and its time, or what starts. */
void notice_next(const struct ln *l, const json_t *ans, char *out, size_t len);

#endif
