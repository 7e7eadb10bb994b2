/* SPDX-License-Identifier: MIT */
/* One upgrade, from the offer to its final report: download, verify,
 * unpack into a fresh versions/<to>/, switch current, keep the previous
 * version. Any failure leaves current as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln.h"
#include "upgate/file.h"
#include "upgate/log.h"

/* Unpack archive (the artifact, or the tar a delta made) as o's
 * version and switch to it. */
static int
install(struct ln *l, const struct offer *o, const char *part, struct report *r)
{
	char tmp[4096], dest[4096];
	struct stat st;
	int err;

	snprintf(tmp, sizeof(tmp), "%s/versions/.new-%s-%ld", l->c.install_dir,
	    o->to, (long)getpid());
	snprintf(dest, sizeof(dest), "%s/versions/%s", l->c.install_dir, o->to);
	if ((err = file_rmtree(tmp)) < 0) {
		report_fail(r, "install_failed", "cannot remove %s: %s", tmp,
		    strerror(-err));
		return err;
	}
	if ((err = unpack_archive(part, tmp, r)) < 0)
		goto fail;
	/* A directory left by an earlier attempt is not trusted: replace
	 * it (it is never current, or nothing would have been offered). */
	if (lstat(dest, &st) == 0 && (err = file_rmtree(dest)) < 0) {
		report_fail(r, "install_failed", "cannot remove %s: %s", dest,
		    strerror(-err));
		goto fail;
	}
	if (rename(tmp, dest) < 0) {
		err = -errno;
		report_fail(r, "install_failed", "cannot move %s to %s: %s",
		    tmp, dest, strerror(-err));
		goto fail;
	}
	if ((err = install_switch(l, o->to)) < 0) {
		report_fail(r,
		    ln_no_space(err) ? "disk_full" : "install_failed",
		    "cannot switch %s/current to %s: %s", l->c.install_dir,
		    o->to, strerror(-err));
		file_rmtree(dest);
		return err;
	}
	return 0;
fail:
	file_rmtree(tmp);
	return err;
}

/* The sha256 each kept version was installed from:
 * .upgate/installed/<version>. */
static void
installed_path(const struct ln *l, const char *version, char *out, size_t len)
{
	snprintf(out, len, "%s/installed/%s", l->state, version);
}

static void
remember_install(const struct ln *l, const struct offer *o)
{
	char dir[4200];

	snprintf(dir, sizeof(dir), "%s/installed", l->state);
	if (file_mkdirs(dir, 0755) == 0)
		file_write_atomic(dir, o->to, o->sha256, strlen(o->sha256));
}

/* A rollback to a version still kept from the same artifact: switch back
 * to it without downloading. */
static bool
kept_copy(const struct ln *l, const struct offer *o)
{
	char path[4400], dir[4400], *sha = NULL;
	struct stat st;
	bool same;

	installed_path(l, o->to, path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s/versions/%s", l->c.install_dir, o->to);
	if (!o->rollback || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    file_read(path, 128, &sha, NULL) < 0)
		return false;
	same = strcasecmp(sha, o->sha256) == 0;
	free(sha);
	return same;
}

/* The final report r says how the bytes came: a delta or not, how many
 * were downloaded, and why a delta was not used. */
static void
say_how(const struct ln *l, struct report *r, bool used, const char *why)
{
	r->delta_used = used;
	r->bytes_downloaded = l->fetched;
	if (why[0] != '\0' && r->message[0] == '\0')
		snprintf(r->message, sizeof(r->message),
		    "the delta was not used (%s); the whole artifact was "
		    "downloaded",
		    why);
}

int
upgrade_run(struct ln *l, struct offer *o, bool resume)
{
	struct report r = REPORT_INIT("downloading"), s;
	char previous[SEMVER_MAX + 1], part[4200], state[32] = "";
	char why[400] = "";
	bool used = false;
	int64_t t0;
	int err;

	l->seq = 0;
	l->reached = 0;
	l->fetched = 0;
	if (resume) {
		if ((err = api_progress(
			 l, o->upgrade_id, state, sizeof(state))) < 0) {
			log_warn("cannot resume upgrade %s: the gateway does "
				 "not say where it is",
			    o->upgrade_id);
			return err;
		}
		l->reached = state_order(state) < 0 ? 0 : state_order(state);
		log_notice("resuming upgrade %s to %s %s (at %s, seq %lld)",
		    o->upgrade_id, l->c.app, o->to, state, (long long)l->seq);
		if (strcmp(l->installed, o->to) == 0) {
			/* The earlier run switched, then stopped. */
			struct report done = REPORT_INIT("succeeded");

			return api_report(l, o, &done);
		}
	} else {
		log_notice("upgrading %s from %s to %s", l->c.app,
		    *l->installed ? l->installed : "nothing", o->to);
	}
	snprintf(previous, sizeof(previous), "%s", l->installed);
	if ((err = trust_check(l, o, &r)) < 0)
		goto failed;
	if (kept_copy(l, o)) {
		log_notice("rolling back to the kept %s", o->to);
		s = (struct report)REPORT_INIT("installing");
		api_report(l, o, &s);
		t0 = ts_mono_ms();
		if ((err = install_switch(l, o->to)) < 0) {
			report_fail(&r, "install_failed",
			    "cannot switch %s/current to %s: %s",
			    l->c.install_dir, o->to, strerror(-err));
			goto failed;
		}
		goto done;
	}
	t0 = ts_mono_ms();
	install_part_path(l, o->sha256, part, sizeof(part));
	if (o->delta.url != NULL) {
		char tar[4200];

		snprintf(tar, sizeof(tar), "%s/download/%s.tar", l->state,
		    o->delta.tar_sha256);
		if (delta_upgrade(l, o, tar, why, sizeof(why)) == 0) {
			used = true;
			snprintf(part, sizeof(part), "%s", tar);
			log_notice("%s %s made from the delta from %s (%lld "
				   "bytes downloaded of %lld)",
			    l->c.app, o->to, o->from, (long long)l->fetched,
			    (long long)o->size);
		} else {
			log_warn("the delta from %s was not used: %s; "
				 "downloading the whole artifact",
			    o->from, why);
		}
	}
	if (!used && (err = fetch_artifact(l, o, &r)) < 0)
		goto failed;
	s = (struct report)REPORT_INIT("downloaded");
	s.download_ms = ts_mono_ms() - t0;
	api_report(l, o, &s);
	s = (struct report)REPORT_INIT("verifying");
	api_report(l, o, &s);
	if (!used && (err = fetch_verify(l, o, &r)) < 0)
		goto failed;
	s = (struct report)REPORT_INIT("installing");
	api_report(l, o, &s);
	t0 = ts_mono_ms();
	if ((err = install(l, o, part, &r)) < 0)
		goto failed;
	remember_install(l, o);
	keep_artifact(l, o->to, part);
done:
	install_prune(l, *previous ? previous : NULL);
	s = (struct report)REPORT_INIT("succeeded");
	s.install_ms = ts_mono_ms() - t0;
	say_how(l, &s, used, why);
	api_report(l, o, &s);
	log_notice("%s %s installed", l->c.app, o->to);
	return 0;
failed:
	log_err("upgrade of %s to %s failed: %s: %s", l->c.app, o->to,
	    r.error_code, r.message);
	say_how(l, &r, used, "");
	api_report(l, o, &r);
	return err;
}
