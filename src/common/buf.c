/* SPDX-License-Identifier: MIT */
/* Growing text buffers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "upgate/buf.h"

int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 1024;
		char *nb;

		while (c < b->len + n + 1)
			c *= 2;
		if ((nb = realloc(b->p, c)) == NULL)
			return -ENOMEM;
		b->p = nb;
		b->cap = c;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

char *
buf_steal(struct buf *b)
{
	char *p;

	if (b->p == NULL && buf_add(b, "", 0) < 0)
		return NULL;
	p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
