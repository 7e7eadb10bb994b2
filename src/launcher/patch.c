/* SPDX-License-Identifier: MIT */
/* Delta upgrades on the client: the artifact of the installed version is
 * kept (state/kept/<version>), and an offer's delta from that version
 * is downloaded like an artifact (resumable, capped at its size,
 * checked), applied to the kept artifact's tar, and the result checked
 * against the release's tar_sha256. Anything wrong on the way is the
 * caller's cue to download the whole artifact instead. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ln.h"
#include "upgate/delta.h"
#include "upgate/file.h"
#include "upgate/log.h"

/* No tar bigger than this is taken out of a kept artifact (16 GiB). */
#define TAR_MAX (INT64_C(16) << 30)

int
kept_artifact(const struct ln *l, char *out, size_t len)
{
	snprintf(out, len, "%s/kept/%s", l->state, l->installed);
	return l->installed[0] != '\0' && access(out, R_OK) == 0 ? 0 : -ENOENT;
}

void
keep_artifact(const struct ln *l, const char *version, const char *file)
{
	char dir[4200], path[4600];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/kept", l->state);
	if (file_mkdirs(dir, 0755) < 0)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, version);
	if (rename(file, path) < 0) {
		log_warn("cannot keep %s as %s: %s (the next upgrade "
			 "downloads the whole artifact)",
		    file, path, strerror(errno));
		unlink(file);
	}
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strcmp(e->d_name, version) != 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
}

/* Bytes free for the launcher where path is, less a margin. */
static int64_t
room(const char *path)
{
	struct statvfs vfs;
	int64_t free_bytes;

	if (statvfs(path, &vfs) < 0)
		return TAR_MAX;
	free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
	return free_bytes > (64 << 20) ? free_bytes - (64 << 20) : 0;
}

/* The kept artifact's tar, taken out on a thread of its own while the
 * delta downloads: from a kept .tar.gz that is as long as unpacking a
 * whole artifact, and the network time hides it. */
struct old_tar {
	pthread_t t;
	const char *kept, *scratch, *tar;
	char why[512];
	int err;
};

static void *
old_tar_run(void *arg)
{
	struct old_tar *ot = arg;

	ot->err = delta_old_tar(
	    ot->kept, ot->scratch, TAR_MAX, &ot->tar, ot->why, sizeof(ot->why));
	return NULL;
}

int
delta_upgrade(struct ln *l, const struct offer *o, const char *tar_out,
    char *why, size_t wl)
{
	struct offer d = *o;
	struct report r = REPORT_INIT("downloading");
	char kept[4200], scratch[4200], part[4200], sha[65];
	struct old_tar ot = {.kept = kept, .scratch = scratch};
	bool threaded;
	int err;

	if (kept_artifact(l, kept, sizeof(kept)) < 0) {
		snprintf(why, wl, "the artifact of %s was not kept",
		    *l->installed ? l->installed : "the installed version");
		return -ENOENT;
	}
	snprintf(scratch, sizeof(scratch), "%s/download/old-%ld.tar", l->state,
	    (long)getpid());
	threaded = pthread_create(&ot.t, NULL, old_tar_run, &ot) == 0;
	/* The delta is downloaded as an artifact of its own. */
	d.url = o->delta.url;
	d.size = o->delta.size;
	memcpy(d.sha256, o->delta.sha256, sizeof(d.sha256));
	if ((err = fetch_artifact(l, &d, &r)) == 0)
		err = fetch_verify(l, &d, &r);
	if (threaded)
		pthread_join(ot.t, NULL);
	if (err < 0) {
		/* What came of the delta stays for the next try to resume. */
		snprintf(why, wl, "the delta: %s: %s", r.error_code, r.message);
		unlink(scratch);
		return err;
	}
	if (!threaded)
		old_tar_run(&ot);
	install_part_path(l, d.sha256, part, sizeof(part));
	if ((err = ot.err) < 0)
		snprintf(why, wl, "%s", ot.why);
	else
		err = delta_apply(
		    ot.tar, part, tar_out, room(l->state), sha, why, wl);
	unlink(scratch);
	unlink(part);
	if (err == 0 && strcmp(sha, o->delta.tar_sha256) != 0) {
		snprintf(why, wl,
		    "the tar the delta made has SHA-256 %s, the release's is "
		    "%s",
		    sha, o->delta.tar_sha256);
		err = -EBADMSG;
	}
	if (err < 0)
		unlink(tar_out);
	return err;
}
