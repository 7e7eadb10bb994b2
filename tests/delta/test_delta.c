/* SPDX-License-Identifier: MIT */
/* Tests of delta patches on generated tars: two releases that share most
 * of their bytes, packed as .tar.gz and .tar.zst with libarchive; the
 * patch between their tars is small, applies to the old tar only, and
 * `zstd --patch-from` agrees with it both ways. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <sodium.h>

#include "upgate/delta.h"
#include "upgate/file.h"

static char dir[64];
static int64_t fsize; /* file_sha256 sets it */

static void
path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* A release: three files, one of 1 MiB of pseudo-random bytes seeded by
 * seed (so versions share it when seeds match), one that says the
 * version. filter: "gzip", "zstd" or "none". */
static void
pack(const char *name, const char *version, unsigned seed, const char *filter)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	static unsigned char big[1 << 20];
	char out[256], text[64];
	const struct {
		const char *name;
		const void *data;
		size_t len;
	} files[] = {
	    {"bin/app", big, sizeof(big)},
	    {"VERSION", text,
		(size_t)snprintf(text, sizeof(text), "%s\n", version)},
	    {"README", "an app\n", 7},
	};

	randombytes_buf_deterministic(
	    big, sizeof(big), (const unsigned char[32]){(unsigned char)seed});
	big[4096] ^= (unsigned char)version[0]; /* a small change per version */
	path(out, sizeof(out), name);
	archive_write_set_format_pax_restricted(a);
	if (strcmp(filter, "gzip") == 0)
		archive_write_add_filter_gzip(a);
	else if (strcmp(filter, "zstd") == 0)
		archive_write_add_filter_zstd(a);
	assert_int_equal(archive_write_open_filename(a, out), ARCHIVE_OK);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, files[i].name);
		archive_entry_set_size(e, (la_int64_t)files[i].len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0755);
		archive_entry_set_mtime(e, 1700000000, 0);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(
		    archive_write_data(a, files[i].data, files[i].len),
		    (la_ssize_t)files[i].len);
	}
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void
write_test_file(const char *p, const void *bytes, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(file_write_all(fd, bytes, len), 0);
	close(fd);
}

static int64_t
size_of(const char *name)
{
	char p[256];
	struct stat st;

	path(p, sizeof(p), name);
	assert_int_equal(stat(p, &st), 0);
	return (int64_t)st.st_size;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/upgate-delta-XXXXXX");
	assert_non_null(mkdtemp(dir));
	pack("old.tar.gz", "1.0.0", 7, "gzip");
	pack("new.tar.zst", "2.0.0", 7, "zstd");
	pack("new.tar", "2.0.0", 7, "none");
	pack("other.tar.gz", "1.0.0", 9, "gzip");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return file_rmtree(dir) < 0;
}

static void
test_round_trip(void **state)
{
	char old_tar[256], new_tar[256], patch[256], out[256], why[256];
	char sha_old[65], sha_new[65], sha_out[65], sha_plain[65];
	char p[256];

	(void)state;
	path(old_tar, sizeof(old_tar), "old.tar");
	path(new_tar, sizeof(new_tar), "new.from-zst.tar");
	path(patch, sizeof(patch), "new.tar.zst.from-1.0.0.zst");
	path(out, sizeof(out), "applied.tar");
	path(p, sizeof(p), "old.tar.gz");
	assert_int_equal(
	    delta_tar(p, old_tar, 1 << 30, sha_old, why, sizeof(why)), 0);
	path(p, sizeof(p), "new.tar.zst");
	assert_int_equal(
	    delta_tar(p, new_tar, 1 << 30, sha_new, why, sizeof(why)), 0);
	/* the tar inside the .tar.zst is the plain tar, byte for byte */
	path(p, sizeof(p), "new.tar");
	assert_int_equal(file_sha256(p, sha_plain, &fsize), 0);
	assert_string_equal(sha_new, sha_plain);
	assert_string_not_equal(sha_old, sha_new);

	assert_int_equal(
	    delta_make(old_tar, new_tar, 19, patch, why, sizeof(why)), 0);
	/* a shared MiB costs next to nothing */
	assert_true(size_of("new.tar.zst.from-1.0.0.zst") < 4096);
	assert_int_equal(delta_apply(old_tar, patch, out, 1 << 30, sha_out, why,
			     sizeof(why)),
	    0);
	assert_string_equal(sha_out, sha_new);
	/* a limit below the result refuses it, writing nothing */
	unlink(out);
	assert_int_equal(
	    delta_apply(old_tar, patch, out, 1000, sha_out, why, sizeof(why)),
	    -EFBIG);
	assert_int_equal(access(out, F_OK), -1);
	assert_int_equal(
	    delta_tar(p, out, 1000, sha_out, why, sizeof(why)), -EFBIG);
	assert_int_equal(access(out, F_OK), -1);
}

static void
test_wrong_old_or_corrupt_patch_is_refused(void **state)
{
	char old_tar[256], other[256], patch[256], out[256], why[256], p[256];
	char sha[65];
	char *bytes = NULL;
	size_t len = 0;

	(void)state;
	path(old_tar, sizeof(old_tar), "old.tar");
	path(other, sizeof(other), "other.tar");
	path(patch, sizeof(patch), "new.tar.zst.from-1.0.0.zst");
	path(out, sizeof(out), "bad.tar");
	path(p, sizeof(p), "other.tar.gz");
	assert_int_equal(
	    delta_tar(p, other, 1 << 30, sha, why, sizeof(why)), 0);
	/* made from old.tar: against another file it fails its checksum */
	assert_int_equal(
	    delta_apply(other, patch, out, 1 << 30, sha, why, sizeof(why)),
	    -EBADMSG);
	assert_non_null(strstr(why, "does not apply"));
	assert_int_equal(access(out, F_OK), -1);
	/* a flipped byte in the middle */
	assert_int_equal(file_read(patch, 1 << 20, &bytes, &len), 0);
	bytes[len / 2] ^= 0x55;
	path(p, sizeof(p), "corrupt.zst");
	write_test_file(p, bytes, len);
	assert_int_equal(
	    delta_apply(old_tar, p, out, 1 << 30, sha, why, sizeof(why)),
	    -EBADMSG);
	/* not a patch at all */
	assert_int_equal(
	    delta_apply(old_tar, old_tar, out, 1 << 30, sha, why, sizeof(why)),
	    -EBADMSG);
	assert_int_equal(delta_result_size("nope", 4), -EBADMSG);
	free(bytes);
	bytes = NULL;
	/* a .tar.gz cut short */
	path(p, sizeof(p), "old.tar.gz");
	assert_int_equal(file_read(p, 1 << 22, &bytes, &len), 0);
	path(p, sizeof(p), "short.tar.gz");
	write_test_file(p, bytes, len / 2);
	free(bytes);
	assert_int_equal(
	    delta_tar(p, out, 1 << 30, sha, why, sizeof(why)), -EBADMSG);
}

/* Make a patch declare a result 100 bytes smaller than it makes: its
 * frame header's Frame_Content_Size field, lowered (RFC 8878 3.1.1.1). */
static void
shrink_declared_size(unsigned char *p, size_t len)
{
	unsigned fhd = p[4], fcs_flag = fhd >> 6, single = (fhd >> 5) & 1;
	static const size_t did_len[4] = {0, 1, 2, 4};
	static const size_t fcs_len[4] = {0, 2, 4, 8};
	size_t at = 5 + (single ? 0 : 1) + did_len[fhd & 3];
	size_t n = fcs_flag == 0 ? (single ? 1 : 0) : fcs_len[fcs_flag];
	uint64_t v = 0;

	assert_true(n >= 4 && at + n <= len); /* our tars are large */
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[at + i] << (8 * i);
	v -= 100;
	for (size_t i = 0; i < n; i++)
		p[at + i] = (unsigned char)(v >> (8 * i));
}

/* A patch that makes more than it declares is stopped at that size:
 * nothing is written past it, and the patch is refused. */
static void
test_patch_past_its_size_is_stopped(void **state)
{
	char old_tar[256], patch[256], p[256], out[256], why[256], sha[65];
	char *bytes = NULL;
	size_t len = 0;
	long long declared;

	(void)state;
	path(old_tar, sizeof(old_tar), "old.tar");
	path(patch, sizeof(patch), "new.tar.zst.from-1.0.0.zst");
	path(p, sizeof(p), "long.zst");
	path(out, sizeof(out), "long.tar");
	assert_int_equal(file_read(patch, 1 << 20, &bytes, &len), 0);
	declared = delta_result_size(bytes, len);
	shrink_declared_size((unsigned char *)bytes, len);
	assert_int_equal(delta_result_size(bytes, len), declared - 100);
	write_test_file(p, bytes, len);
	free(bytes);
	assert_int_equal(
	    delta_apply(old_tar, p, out, 1 << 30, sha, why, sizeof(why)),
	    -EBADMSG);
	assert_int_equal(access(out, F_OK), -1);
}

/* Patches are the zstd command line's format: each side applies the
 * other's. */
static void
test_zstd_command_line_agrees(void **state)
{
	char cmd[1024], old_tar[256], new_tar[256], ours[256], theirs[256];
	char out[256], back[256], why[256], sha[65], sha_new[65], sha_back[65];

	(void)state;
	if (system("command -v zstd >/dev/null 2>&1") != 0)
		skip();
	path(old_tar, sizeof(old_tar), "old.tar");
	path(new_tar, sizeof(new_tar), "new.from-zst.tar");
	path(ours, sizeof(ours), "new.tar.zst.from-1.0.0.zst");
	path(theirs, sizeof(theirs), "cli.zst");
	path(out, sizeof(out), "cli-applied.tar");
	path(back, sizeof(back), "ours-by-cli.tar");
	assert_int_equal(file_sha256(new_tar, sha_new, &fsize), 0);
	snprintf(cmd, sizeof(cmd),
	    "zstd -q -f --long=27 -19 --patch-from=%s %s -o %s", old_tar,
	    new_tar, theirs);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(
	    delta_apply(old_tar, theirs, out, 1 << 30, sha, why, sizeof(why)),
	    0);
	assert_string_equal(sha, sha_new);
	snprintf(cmd, sizeof(cmd),
	    "zstd -q -f -d --long=31 --patch-from=%s %s -o %s", old_tar, ours,
	    back);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(file_sha256(back, sha_back, &fsize), 0);
	assert_string_equal(sha_back, sha_new);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_wrong_old_or_corrupt_patch_is_refused),
	    cmocka_unit_test(test_patch_past_its_size_is_stopped),
	    cmocka_unit_test(test_zstd_command_line_agrees),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
