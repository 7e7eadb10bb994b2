/* SPDX-License-Identifier: MIT */
/* Email without a mail server: RFC 5322 .eml files written atomically to
 * spool_dir (a temporary file, fsync, rename, fsync of the directory). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "notify.h"
#include "upgate/file.h"

static int
spool_send(const struct mg_conf *c, const struct delivery *d, int64_t now,
    char *err, size_t errlen, bool *permanent)
{
	char name[512];
	char *msg = NULL;
	size_t len = 0;
	int r;

	(void)permanent;
	if (mkdir(c->spool_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "cannot create spool_dir %s: %s",
		    c->spool_dir, strerror(-r));
		return r;
	}
	/* The name is the delivery's: a retry after a crash rewrites the
	 * same file instead of adding a second copy. */
	snprintf(name, sizeof(name), "%lld-%s-%lld.eml",
	    (long long)d->created_at, d->alert_id, (long long)d->id);
	if ((r = notify_email_message(c, d, now, &msg, &len)) < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	if ((r = file_write_atomic(c->spool_dir, name, msg, len)) < 0)
		snprintf(err, errlen, "cannot write %s/%s: %s", c->spool_dir,
		    name, strerror(-r));
	free(msg);
	return r;
}

const struct notify_backend notify_spool = {"spool", spool_send};
