/* SPDX-License-Identifier: MIT */
/* The dashboard's files, compiled in from web/ by tools/embed.sh. */
#ifndef UPGATE_MG_WEB_H
#define UPGATE_MG_WEB_H

#include <stddef.h>

struct web_asset {
	const char *path;  /* the URL path it is served at */
	const char *ctype; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_n_assets;

#endif
