/* SPDX-License-Identifier: MIT */
/* Duration parsing for configuration values. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "upgate/dur.h"

static const struct {
	const char *suffix;
	int64_t ms;
} units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"h", 3600000},
    {"d", 86400000},
};

int
dur_parse(const char *s, int64_t *out_ms)
{
	int64_t total = 0;
	const char *p = s;
	int segments = 0;

	if (*p == '\0')
		return -EINVAL;
	while (*p != '\0') {
		int64_t n = 0, mul = 0;
		size_t ulen = 0;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p)) {
			if (n > (INT64_MAX - 9) / 10)
				return -EINVAL;
			n = n * 10 + (*p++ - '0');
		}
		if (*p == '\0' && segments == 0) {
			mul = 1000; /* bare number: seconds */
		} else {
			for (size_t i = 0; i < sizeof(units) / sizeof(units[0]);
			     i++) {
				size_t l = strlen(units[i].suffix);

				if (strncmp(p, units[i].suffix, l) == 0 &&
				    !isalpha((unsigned char)p[l]) && l > ulen) {
					mul = units[i].ms;
					ulen = l;
				}
			}
			if (mul == 0)
				return -EINVAL;
			p += ulen;
		}
		if (n > (INT64_MAX - total) / mul)
			return -EINVAL;
		total += n * mul;
		segments++;
	}
	*out_ms = total;
	return 0;
}

void
dur_format(int64_t ms, char *buf, size_t len)
{
	for (int i = (int)(sizeof(units) / sizeof(units[0])) - 1; i >= 0; i--) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(buf, len, "%" PRId64 "%s", ms / units[i].ms,
			    units[i].suffix);
			return;
		}
	}
	snprintf(buf, len, "%" PRId64 "ms", ms);
}
