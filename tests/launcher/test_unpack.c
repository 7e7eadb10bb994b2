/* SPDX-License-Identifier: MIT */
/* unpack_archive(): tarballs written here with libarchive, unpacked into a
 * temporary directory; nothing may land outside it. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "ln.h"
#include "upgate/file.h"

struct ent {
	const char *path;
	mode_t type;
	const char *data; /* file content, or link target */
	bool hard;
};

static char root[256];

static void
make_tar(const char *path, const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae;

	assert_non_null(a);
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_filetype(ae, e[i].type);
		archive_entry_set_perm(ae, e[i].type == AE_IFDIR       ? 0755
					   : strstr(e[i].path, "suid") ? 04755
								       : 0644);
		if (e[i].hard)
			archive_entry_set_hardlink(ae, e[i].data);
		else if (e[i].type == AE_IFLNK)
			archive_entry_set_symlink(ae, e[i].data);
		else if (e[i].type == AE_IFREG)
			archive_entry_set_size(
			    ae, (la_int64_t)strlen(e[i].data));
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (e[i].type == AE_IFREG && !e[i].hard)
			archive_write_data(a, e[i].data, strlen(e[i].data));
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
}

/* Unpack entries into root/dest; returns unpack_archive()'s result. */
static int
unpack(const struct ent *e, size_t n, struct report *r)
{
	char tar[300], dest[300];

	snprintf(tar, sizeof(tar), "%s/a.tar.gz", root);
	snprintf(dest, sizeof(dest), "%s/dest", root);
	file_rmtree(dest);
	make_tar(tar, e, n);
	*r = (struct report)REPORT_INIT("installing");
	return unpack_archive(tar, dest, r);
}

static bool
exists(const char *rel)
{
	char p[400];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &st) == 0;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/upgate-unpack-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return file_rmtree(root);
}

static void
test_good_tree(void **state)
{
	const struct ent e[] = {
	    {"bin", AE_IFDIR, NULL, false},
	    {"bin/app", AE_IFREG, "#!/bin/sh\n", false},
	    {"share/doc/README", AE_IFREG, "hello", false},
	    {"share/doc/link", AE_IFLNK, "../../bin/app", false},
	    {"bin/same", AE_IFREG, "bin/app", true},
	    {"./dot/file", AE_IFREG, "x", false},
	    {"bin/suid", AE_IFREG, "#!/bin/sh\n", false},
	};
	char p[400];
	struct stat st;
	struct report r;

	(void)state;
	assert_int_equal(unpack(e, 7, &r), 0);
	assert_true(exists("dest/bin/app"));
	assert_true(exists("dest/share/doc/link"));
	assert_true(exists("dest/bin/same"));
	assert_true(exists("dest/dot/file"));
	/* Executable bits survive; set-uid does not. */
	snprintf(p, sizeof(p), "%s/dest/bin/suid", root);
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	assert_false(st.st_mode & S_ISUID);
}

static void
expect_refused(const struct ent *e, size_t n, const char *code)
{
	struct report r;

	assert_true(unpack(e, n, &r) < 0);
	assert_string_equal(r.state, "failed");
	assert_string_equal(r.error_code, code);
	assert_true(r.message[0] != '\0');
	assert_false(exists("evil"));
}

static void
test_escapes_refused(void **state)
{
	const struct ent dotdot[] = {{"../evil", AE_IFREG, "x", false}};
	const struct ent deep[] = {{"a/../../evil", AE_IFREG, "x", false}};
	const struct ent sym_out[] = {{"a/l", AE_IFLNK, "../../evil", false}};
	const struct ent sym_abs[] = {{"l", AE_IFLNK, "/etc", false}};
	const struct ent hard_out[] = {{"h", AE_IFREG, "../evil", true}};
	const struct ent fifo[] = {{"p", AE_IFIFO, NULL, false}};
	/* A symlink inside, then a file written through it. */
	const struct ent through[] = {
	    {"sub", AE_IFDIR, NULL, false},
	    {"d", AE_IFLNK, "sub", false},
	    {"d/file", AE_IFREG, "x", false},
	};
	char abs[300];

	(void)state;
	expect_refused(dotdot, 1, "unpack_failed");
	expect_refused(deep, 1, "unpack_failed");
	expect_refused(sym_out, 1, "unpack_failed");
	expect_refused(sym_abs, 1, "unpack_failed");
	expect_refused(hard_out, 1, "unpack_failed");
	expect_refused(fifo, 1, "unpack_failed");
	expect_refused(through, 3, "unpack_failed");
	snprintf(abs, sizeof(abs), "%s/evil", root);
	{
		const struct ent absolute[] = {{abs, AE_IFREG, "x", false}};

		expect_refused(absolute, 1, "unpack_failed");
	}
}

static void
test_bad_archives(void **state)
{
	char tar[300], dest[300];
	struct report r = REPORT_INIT("installing");
	int fd;

	(void)state;
	snprintf(tar, sizeof(tar), "%s/junk.tar.gz", root);
	snprintf(dest, sizeof(dest), "%s/dest2", root);
	fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x1f\x8b\x08\x00garbage", 12), 12);
	close(fd);
	assert_true(unpack_archive(tar, dest, &r) < 0);
	assert_string_equal(r.error_code, "unpack_failed");
	/* An empty archive installs nothing: refused. */
	assert_true(unpack(NULL, 0, &r) < 0);
	assert_string_equal(r.error_code, "unpack_failed");
	/* The destination must be new. */
	mkdir(dest, 0755);
	{
		const struct ent ok[] = {{"f", AE_IFREG, "x", false}};

		make_tar(tar, ok, 1);
	}
	r = (struct report)REPORT_INIT("installing");
	assert_true(unpack_archive(tar, dest, &r) < 0);
	assert_string_equal(r.error_code, "install_failed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_tree),
	    cmocka_unit_test(test_escapes_refused),
	    cmocka_unit_test(test_bad_archives),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
