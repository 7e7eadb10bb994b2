/* SPDX-License-Identifier: MIT */
/* Crash-safe file writes (temporary file, fsync, rename, directory fsync)
 * and directory trees. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "upgate/file.h"

int
file_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
file_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int
file_write_atomic(
    const char *dir, const char *name, const void *data, size_t len)
{
	char tmp[4096], path[4096];
	int fd, r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-XXXXXX", dir,
		name) >= sizeof(tmp))
		return -ENAMETOOLONG;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return -errno;
	r = file_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return file_sync_dir(dir);
}

int
file_read(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *p;
	size_t n;
	int r = 0;

	if (f == NULL)
		return -errno;
	if ((p = malloc(max + 2)) == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(p, 1, max + 1, f);
	if (ferror(f))
		r = -EIO;
	else if (n > max)
		r = -EFBIG;
	fclose(f);
	if (r < 0) {
		free(p);
		return r;
	}
	p[n] = '\0';
	*out = p;
	if (len != NULL)
		*len = n;
	return 0;
}

int
file_mkdirs(const char *dir, unsigned mode)
{
	char p[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

int
file_rmtree(const char *path)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return r < 0 ? -errno : r;
}

int
file_sha256(const char *path, char hex[65], int64_t *size)
{
	crypto_hash_sha256_state st;
	unsigned char md[crypto_hash_sha256_BYTES], buf[65536];
	int64_t total = 0;
	ssize_t n;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
		total += n;
	}
	close(fd);
	if (r < 0)
		return r;
	crypto_hash_sha256_final(&st, md);
	sodium_bin2hex(hex, 65, md, sizeof(md));
	*size = total;
	return 0;
}
