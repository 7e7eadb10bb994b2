/* SPDX-License-Identifier: MIT */
/* Wall-clock timestamps and their RFC 3339 form. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "upgate/ts.h"

static int64_t
ms_of(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ts_now_ms(void)
{
	return ms_of(CLOCK_REALTIME);
}

int64_t
ts_mono_ms(void)
{
	return ms_of(CLOCK_MONOTONIC);
}

void
ts_format(int64_t ms, char buf[TS_LEN])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, TS_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
ts_parse(const char *s, int64_t *out_ms)
{
	struct tm tm = {0};
	const char *p;
	char *end;
	int64_t frac = 0, off = 0;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		long long secs = strtoll(s, &end, 10);

		if (secs < 0 || secs > 253402300799LL)
			return -EINVAL;
		*out_ms = (int64_t)secs * 1000;
		return 0;
	}
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return -EINVAL;
	if (*p == '.') {
		int64_t scale = 100;

		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' &&
		   isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '+')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*out_ms = ((int64_t)timegm(&tm) + off) * 1000 + frac;
	return 0;
}
