/* SPDX-License-Identifier: MIT */
/* Email without a mail server: RFC 5322 .eml files written atomically to
 * spool_dir (a temporary file, fsync, rename, fsync of the directory). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notify.h"

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
spool_send(const struct mg_conf *c, const struct delivery *d, int64_t now,
    char *err, size_t errlen, bool *permanent)
{
	char tmp[4096], path[4096];
	char *msg = NULL;
	size_t len = 0;
	int fd = -1, dfd = -1, r;

	(void)permanent;
	if (mkdir(c->spool_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "cannot create spool_dir %s: %s",
		    c->spool_dir, strerror(-r));
		return r;
	}
	/* The name is the delivery's: a retry after a crash rewrites the
	 * same file instead of adding a second copy. */
	snprintf(path, sizeof(path), "%s/%lld-%s-%lld.eml", c->spool_dir,
	    (long long)d->created_at, d->alert_id, (long long)d->id);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%lld-XXXXXX", c->spool_dir,
	    d->alert_id, (long long)d->id);
	if ((r = notify_email_message(c, d, now, &msg, &len)) < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create a file in %s: %s",
		    c->spool_dir, strerror(-r));
		goto out;
	}
	r = write_all(fd, msg, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	fd = -1;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(
		    err, errlen, "cannot write %s: %s", path, strerror(-r));
		unlink(tmp);
		goto out;
	}
	dfd = open(c->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(msg);
	return r;
}

const struct notify_backend notify_spool = {"spool", spool_send};
