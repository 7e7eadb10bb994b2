/* SPDX-License-Identifier: MIT */
/* Download an artifact into DIR/.upgate/download/<sha256>.part, resuming
 * what an earlier run left, capped at the announced size; then check its
 * size and SHA-256. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln.h"
#include "upgate/file.h"
#include "upgate/httpc.h"
#include "upgate/log.h"

struct dl {
	struct ln *l;
	const struct offer *o;
	CURL *h;
	int fd;
	int64_t have;	     /* bytes in the part file */
	int write_err;	     /* errno of a failed write */
	bool too_big;	     /* the server sent more than o->size */
	bool checked;	     /* the first answer was looked at */
	int64_t last_report; /* ts_mono_ms() of the last downloading report */
	int last_pct;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct dl *d = arg;
	size_t len = size * n;
	int err;

	if (!d->checked) {
		long st = 0;

		d->checked = true;
		curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &st);
		if (st == 200 && d->have > 0) {
			/* The server ignored the range: start over. */
			log_info("the server does not resume: downloading "
				 "from the start");
			if (ftruncate(d->fd, 0) < 0 ||
			    lseek(d->fd, 0, SEEK_SET) < 0) {
				d->write_err = errno;
				return 0;
			}
			d->have = 0;
		}
	}
	if (d->have + (int64_t)len > d->o->size) {
		d->too_big = true;
		return 0;
	}
	if ((err = file_write_all(d->fd, p, len)) < 0) {
		d->write_err = -err;
		return 0;
	}
	d->have += (int64_t)len;
	d->l->fetched += (int64_t)len;
	return len;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct dl *d = arg;
	int64_t now = ts_mono_ms();
	int pct;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	pct = d->o->size > 0 ? (int)(d->have * 100 / d->o->size) : 100;
	if (pct > d->last_pct &&
	    now - d->last_report >= d->l->c.progress_interval) {
		struct report r = REPORT_INIT("downloading");

		r.progress = pct;
		d->last_pct = pct;
		d->last_report = now;
		api_report(d->l, d->o, &r);
		d->last_report = ts_mono_ms();
	}
	return 0;
}

int
fetch_artifact(struct ln *l, const struct offer *o, struct report *r)
{
	struct dl d = {.l = l, .o = o, .fd = -1, .last_pct = -1};
	struct report start = REPORT_INIT("downloading");
	char part[4200], errbuf[CURL_ERROR_SIZE] = "";
	struct stat st;
	CURLcode rc;
	long status = 0;
	int err = 0;

	install_part_path(l, o->sha256, part, sizeof(part));
	if ((d.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
	    fstat(d.fd, &st) < 0) {
		err = -errno;
		report_fail(r,
		    ln_no_space(err) ? "disk_full" : "download_failed",
		    "cannot create %s: %s", part, strerror(-err));
		goto out;
	}
	d.have = st.st_size;
	if (d.have > o->size) {
		if (ftruncate(d.fd, 0) < 0) {
			err = -errno;
			report_fail(r, "download_failed",
			    "cannot truncate %s: %s", part, strerror(-err));
			goto out;
		}
		d.have = 0;
	}
	if (lseek(d.fd, 0, SEEK_END) < 0) {
		err = -errno;
		report_fail(r, "download_failed", "cannot seek in %s: %s", part,
		    strerror(-err));
		goto out;
	}
	start.progress = o->size ? (int)(d.have * 100 / o->size) : 0;
	d.last_pct = start.progress;
	api_report(l, o, &start);
	d.last_report = ts_mono_ms();
	if (d.have == o->size) {
		log_info("%s is already complete", part);
		goto out;
	}
	if (d.have > 0)
		log_info(
		    "resuming the download at byte %lld", (long long)d.have);
	d.h = httpc_new(
	    "upgate-launch", (long)l->c.connect_timeout, 0, l->c.ca_file);
	if (d.h == NULL) {
		err = -ENOMEM;
		report_fail(r, "download_failed", "out of memory");
		goto out;
	}
	curl_easy_setopt(d.h, CURLOPT_URL, o->url);
	curl_easy_setopt(d.h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(d.h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(d.h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(d.h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(d.h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)d.have);
	/* A stalled server ends the download; a slow one does not. */
	curl_easy_setopt(d.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(
	    d.h, CURLOPT_LOW_SPEED_TIME, (long)(l->c.stall_timeout / 1000));
	curl_easy_setopt(d.h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(d.h, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(d.h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(d.h, CURLOPT_XFERINFODATA, &d);
	curl_easy_setopt(d.h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(d.h, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(d.h);
	curl_easy_getinfo(d.h, CURLINFO_RESPONSE_CODE, &status);
	if (d.too_big) {
		err = -EFBIG;
		report_fail(r, "size_mismatch",
		    "the server sent more than the announced %lld bytes",
		    (long long)o->size);
		unlink(part);
	} else if (d.write_err != 0) {
		err = -d.write_err;
		report_fail(r,
		    ln_no_space(d.write_err) ? "disk_full" : "download_failed",
		    "cannot write %s: %s", part, strerror(d.write_err));
	} else if (rc != CURLE_OK) {
		err = -EIO;
		report_fail(r, "download_failed", "%s: %s", o->url,
		    errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
out:
	if (d.fd >= 0 && err == 0 && fsync(d.fd) < 0)
		err = -errno;
	if (d.fd >= 0)
		close(d.fd);
	if (d.h != NULL)
		curl_easy_cleanup(d.h);
	return err;
}

int
fetch_verify(struct ln *l, const struct offer *o, struct report *r)
{
	char hex[65], part[4200];
	int64_t size;
	int err;

	install_part_path(l, o->sha256, part, sizeof(part));
	if ((err = file_sha256(part, hex, &size)) < 0) {
		report_fail(r, "download_failed", "cannot read %s: %s", part,
		    strerror(-err));
		return err;
	}
	if (size != o->size) {
		report_fail(r, "size_mismatch", "expected %lld bytes, got %lld",
		    (long long)o->size, (long long)size);
		unlink(part);
		return -EBADMSG;
	}
	if (strcmp(hex, o->sha256) != 0) {
		report_fail(r, "sha256_mismatch", "expected %s, got %s",
		    o->sha256, hex);
		unlink(part);
		return -EBADMSG;
	}
	return 0;
}
