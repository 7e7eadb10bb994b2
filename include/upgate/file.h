/* SPDX-License-Identifier: MIT */
/* Files that must survive a crash whole or not at all, and directory trees. */
#ifndef UPGATE_FILE_H
#define UPGATE_FILE_H

#include <stddef.h>
#include <stdint.h>

/* write() all n bytes of p to fd, retrying short writes and EINTR.
 * Returns 0 or a negative errno. */
int file_write_all(int fd, const void *p, size_t n);

/* Make dir/name hold exactly data: a temporary file in dir, fsync,
 * rename over name, fsync of dir. Afterwards a crash leaves either the old
 * file or the new one, never a mix. Returns 0 or a negative errno. */
int file_write_atomic(
    const char *dir, const char *name, const void *data, size_t len);

/* fsync a directory, so renames and unlinks in it are on disk. */
int file_sync_dir(const char *dir);

/* Read the whole file at path, up to max bytes, NUL-terminated, into
 * malloc'd *out (length in *len when not NULL). -EFBIG when larger. */
int file_read(const char *path, size_t max, char **out, size_t *len);

/* Create dir and its missing parents with mode. EEXIST is no error. */
int file_mkdirs(const char *dir, unsigned mode);

/* Remove path and, when it is a directory, everything under it, without
 * following symbolic links. A missing path is no error. */
int file_rmtree(const char *path);

/* SHA-256 of the file at path as 64 lowercase hex digits, and its size.
 * sodium_init() must have succeeded. Returns 0 or a negative errno. */
int file_sha256(const char *path, char hex[65], int64_t *size);

#endif
