/* SPDX-License-Identifier: MIT */
/* A growing byte buffer, always NUL-terminated, for text built in pieces. */
#ifndef UPGATE_BUF_H
#define UPGATE_BUF_H

#include <stddef.h>

struct buf {
	char *p; /* malloc'd; NULL until the first byte */
	size_t len, cap;
};

/* Append n bytes of p. Returns 0 or -ENOMEM (b unchanged). */
int buf_add(struct buf *b, const void *p, size_t n);
/* Append a C string. */
int buf_adds(struct buf *b, const char *s);
/* Give the text to the caller (never NULL on success: "" for empty);
 * b is empty again. Returns NULL when out of memory. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

#endif
