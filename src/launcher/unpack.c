/* SPDX-License-Identifier: MIT */
/* Unpack a release (.tar.gz, .tar.zst, or the tar a delta made) with
 * libarchive into a new directory, letting nothing land outside it:
 * libarchive's secure flags refuse "..", absolute paths and writing
 * through symlinks, and we refuse what they let through (symlinks and
 * hard links pointing outside, special files). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "ln.h"
#include "upgate/log.h"

/* Whether target, seen from a link at path, stays inside the tree:
 * relative, and never climbing above the root. A NULL path means target
 * is itself a path from the root (a hard link). */
static bool
stays_inside(const char *path, const char *target)
{
	int depth = 0;
	const char *s;

	if (*target == '/' || *target == '\0')
		return false;
	/* The directories holding the link. */
	for (s = path; s != NULL && (s = strchr(s, '/')) != NULL; s++)
		if (s[1] != '\0')
			depth++;
	for (s = target; *s != '\0';) {
		size_t n = strcspn(s, "/");

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (n > 0 && !(n == 1 && s[0] == '.')) {
			depth++;
		}
		s += n;
		while (*s == '/')
			s++;
	}
	return true;
}

/* Why entry e may not be unpacked, or NULL when it may. */
static const char *
refuse(struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);
	const char *link = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);

	if (path == NULL || *path == '/')
		return "has an absolute path";
	if (!stays_inside(NULL, path))
		return "leaves the version directory";
	if (link != NULL && !stays_inside(NULL, link))
		return "is a hard link to outside the version directory";
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);

		if (target == NULL || !stays_inside(path, target))
			return "is a symbolic link to outside the version "
			       "directory";
		return NULL;
	}
	if (link == NULL && type != AE_IFREG && type != AE_IFDIR)
		return "is not a file, directory or link";
	return NULL;
}

static int
copy_data(struct archive *in, struct archive *out)
{
	const void *p;
	size_t n;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(in, &p, &n, &off)) == ARCHIVE_OK)
		if (archive_write_data_block(out, p, n, off) < ARCHIVE_OK)
			return -1;
	return r == ARCHIVE_EOF ? 0 : -1;
}

/* The error of a, as a report. */
static int
lib_fail(struct archive *a, const char *what, struct report *r)
{
	int en = archive_errno(a);

	report_fail(r, ln_no_space(en) ? "disk_full" : "unpack_failed",
	    "%s: %s", what, archive_error_string(a) ?: strerror(en));
	return en > 0 ? -en : -EIO;
}

int
unpack_archive(const char *archive, const char *dest, struct report *r)
{
	const int flags = ARCHIVE_EXTRACT_TIME |
			  ARCHIVE_EXTRACT_SECURE_NODOTDOT |
			  ARCHIVE_EXTRACT_SECURE_SYMLINKS |
			  ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	struct archive *in = archive_read_new(),
		       *out = archive_write_disk_new();
	struct archive_entry *e;
	int cwd = -1, err = 0, rc, entries = 0;

	if (in == NULL || out == NULL) {
		report_fail(r, "unpack_failed", "out of memory");
		err = -ENOMEM;
		goto out;
	}
	archive_read_support_filter_gzip(in);
	archive_read_support_filter_zstd(in); /* .tar.zst artifacts */
	archive_read_support_format_tar(in);
	archive_write_disk_set_options(out, flags);
	archive_write_disk_set_standard_lookup(out);
	if (archive_read_open_filename(in, archive, 65536) != ARCHIVE_OK) {
		err = lib_fail(in, "cannot read the artifact", r);
		goto out;
	}
	if (mkdir(dest, 0755) < 0) {
		err = -errno;
		report_fail(r,
		    ln_no_space(err) ? "disk_full" : "install_failed",
		    "cannot create %s: %s", dest, strerror(-err));
		goto out;
	}
	/* Entries are relative to dest: extract from inside it, so the
	 * secure flags see the names as the archive gives them. */
	if ((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    chdir(dest) < 0) {
		err = -errno;
		report_fail(r, "install_failed", "cannot enter %s: %s", dest,
		    strerror(-err));
		goto out;
	}
	while ((rc = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		const char *why = refuse(e);

		if (why != NULL) {
			report_fail(r, "unpack_failed", "entry '%s' %s",
			    archive_entry_pathname(e) ?: "", why);
			err = -EPERM;
			goto out;
		}
		rc = archive_write_header(out, e);
		if (rc < ARCHIVE_WARN) {
			char what[512];

			snprintf(what, sizeof(what), "entry '%s'",
			    archive_entry_pathname(e));
			err = lib_fail(out, what, r);
			goto out;
		}
		if (archive_entry_size(e) > 0 && copy_data(in, out) < 0) {
			err = archive_errno(out) ? lib_fail(out, "write", r)
						 : lib_fail(in, "read", r);
			goto out;
		}
		if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
			err = lib_fail(out, "finish", r);
			goto out;
		}
		entries++;
	}
	if (rc != ARCHIVE_EOF) {
		err = lib_fail(in, "bad archive", r);
		goto out;
	}
	if (entries == 0) {
		report_fail(r, "unpack_failed", "the artifact is empty");
		err = -EINVAL;
		goto out;
	}
	if (archive_write_close(out) != ARCHIVE_OK)
		err = lib_fail(out, "cannot finish unpacking", r);
out:
	if (cwd >= 0) {
		if (fchdir(cwd) < 0)
			log_err("cannot return to the working directory: %s",
			    strerror(errno));
		close(cwd);
	}
	if (in != NULL)
		archive_read_free(in);
	if (out != NULL)
		archive_write_free(out);
	return err;
}
