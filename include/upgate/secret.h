/* SPDX-License-Identifier: MIT */
/* Secrets read from files, and their constant-time comparison. */
#ifndef UPGATE_SECRET_H
#define UPGATE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_MAX 4096

/* Where a secret or key file named in a config is. Under systemd with
 * LoadCredential= ($CREDENTIALS_DIRECTORY set), a bare name (no "/") is
 * the credential of that name, and a path whose last part names a
 * credential that exists is that credential (so one config serves both
 * by hand and as a service); anything else is file itself. Returns file
 * or buf. */
const char *secret_path(const char *file, char *buf, size_t len);

/* Read the secret in path (after secret_path()): the whole file up to
 * SECRET_MAX bytes, trailing white space removed. Returns 0 and a malloc'd
 * string in *out (the caller frees it with secret_free), -ENOENT/-EACCES when
 * it cannot be read, -EINVAL when it is empty or too long. */
int secret_read(const char *path, char **out);

/* Wipe and free a secret; NULL does nothing. */
void secret_free(char *s);

/* Whether given equals expected, in time independent of where they differ
 * and of their lengths (both are hashed first). expected NULL: false. */
bool secret_equal(const char *given, size_t given_len, const char *expected);

#endif
