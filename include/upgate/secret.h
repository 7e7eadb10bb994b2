/* SPDX-License-Identifier: MIT */
/* Secrets read from files, and their constant-time comparison. */
#ifndef UPGATE_SECRET_H
#define UPGATE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_MAX 4096

/* Read the secret in path: the whole file up to SECRET_MAX bytes, trailing
 * white space removed. Returns 0 and a malloc'd string in *out (the
 * caller frees it with secret_free), -ENOENT/-EACCES when it cannot be
 * read, -EINVAL when it is empty or too long. */
int secret_read(const char *path, char **out);

/* Wipe and free a secret; NULL does nothing. */
void secret_free(char *s);

/* Whether given equals expected, in time independent of where they differ
 * and of their lengths (both are hashed first). expected NULL: false. */
bool secret_equal(const char *given, size_t given_len, const char *expected);

#endif
