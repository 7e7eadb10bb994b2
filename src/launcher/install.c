/* SPDX-License-Identifier: MIT */
/* The install directory: versions/<version>/ for each kept release,
 * current -> versions/<version>, and .upgate/ for the launcher's own
 * state (lock, partial downloads, unsent reports). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln.h"
#include "upgate/file.h"
#include "upgate/log.h"

int
install_open(struct ln *l)
{
	static const char *const sub[] = {
	    "versions", ".upgate", ".upgate/download", ".upgate/pending"};
	char p[4096];
	int err;

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", l->c.install_dir, sub[i]);
		if ((err = file_mkdirs(p, 0755)) < 0) {
			log_err("cannot create %s: %s", p, strerror(-err));
			return err;
		}
	}
	snprintf(p, sizeof(p), "%s/.upgate", l->c.install_dir);
	if ((l->state = strdup(p)) == NULL)
		return -ENOMEM;
	install_read_current(l);
	return 0;
}

int
install_lock(struct ln *l, bool wait)
{
	char p[4200];
	int fd;

	snprintf(p, sizeof(p), "%s/lock", l->state);
	/* O_CLOEXEC: the app that runs afterwards must not hold it. */
	if ((fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return -errno;
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		int err = -errno;

		if (err == -EINTR)
			continue;
		close(fd);
		return err == -EAGAIN ? -EWOULDBLOCK : err;
	}
	/* Held until exec or exit. */
	return 0;
}

void
install_read_current(struct ln *l)
{
	char p[4096], target[4096];
	const char *base;
	ssize_t n;

	l->installed[0] = '\0';
	snprintf(p, sizeof(p), "%s/current", l->c.install_dir);
	n = readlink(p, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	while (n > 0 && target[n - 1] == '/')
		target[--n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) <= SEMVER_MAX && semver_valid(base))
		memcpy(l->installed, base, strlen(base) + 1);
	else
		log_warn("%s points at %s, which is not a version", p, target);
}

int
install_switch(struct ln *l, const char *version)
{
	char tmp[4096], cur[4096], target[SEMVER_MAX + 16];

	snprintf(target, sizeof(target), "versions/%s", version);
	snprintf(tmp, sizeof(tmp), "%s/.current.new", l->c.install_dir);
	snprintf(cur, sizeof(cur), "%s/current", l->c.install_dir);
	if ((unlink(tmp) < 0 && errno != ENOENT) || symlink(target, tmp) < 0 ||
	    rename(tmp, cur) < 0) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	file_sync_dir(l->c.install_dir);
	snprintf(l->installed, sizeof(l->installed), "%s", version);
	return 0;
}

void
install_prune(struct ln *l, const char *keep)
{
	char dir[4096], p[4400];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/versions", l->c.install_dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int err;

		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, l->installed) == 0 ||
		    (keep != NULL && strcmp(e->d_name, keep) == 0))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if ((err = file_rmtree(p)) < 0)
			log_warn("cannot remove %s: %s", p, strerror(-err));
		else
			log_info("removed %s", p);
	}
	closedir(d);
}

void
install_part_path(const struct ln *l, const char *sha256, char *out, size_t len)
{
	snprintf(out, len, "%s/download/%s.part", l->state, sha256);
}
