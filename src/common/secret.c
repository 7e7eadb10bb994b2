/* SPDX-License-Identifier: MIT */
/* Secrets: read from files named in configs, compared in constant time. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "upgate/secret.h"

const char *
secret_path(const char *file, char *buf, size_t len)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	const char *base = strrchr(file, '/');
	bool bare = base == NULL;

	base = bare ? file : base + 1;
	if (dir == NULL || *dir == '\0' || *base == '\0' ||
	    (size_t)snprintf(buf, len, "%s/%s", dir, base) >= len)
		return file;
	/* A bare name is a credential; a path is one when systemd passed a
	 * credential of that name (LoadCredential=admin.token:/etc/...). */
	return bare || access(buf, F_OK) == 0 ? buf : file;
}

int
secret_read(const char *path, char **out)
{
	char buf[SECRET_MAX + 2], where[4096];
	size_t len = 0;
	ssize_t r;
	char *s;
	int fd, err = 0;

	fd =
	    open(secret_path(path, where, sizeof(where)), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < sizeof(buf) - 1) {
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (err == 0 && len > SECRET_MAX)
		err = -EINVAL;
	while (err == 0 && len > 0 &&
	       (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
		   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (err == 0 && len == 0)
		err = -EINVAL;
	if (err == 0) {
		s = malloc(len + 1);
		if (s == NULL) {
			err = -ENOMEM;
		} else {
			memcpy(s, buf, len);
			s[len] = '\0';
			*out = s;
		}
	}
	sodium_memzero(buf, sizeof(buf));
	return err;
}

void
secret_free(char *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}

bool
secret_equal(const char *given, size_t given_len, const char *expected)
{
	unsigned char a[crypto_hash_sha256_BYTES], b[crypto_hash_sha256_BYTES];

	if (expected == NULL)
		return false;
	crypto_hash_sha256(a, (const unsigned char *)given, given_len);
	crypto_hash_sha256(
	    b, (const unsigned char *)expected, strlen(expected));
	return sodium_memcmp(a, b, sizeof(a)) == 0;
}
