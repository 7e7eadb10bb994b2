/* SPDX-License-Identifier: MIT */
/* Timestamps: wall-clock milliseconds and RFC 3339 text. */
#ifndef UPGATE_TS_H
#define UPGATE_TS_H

#include <stddef.h>
#include <stdint.h>

#define TS_LEN 32

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t ts_now_ms(void);

/* Milliseconds on CLOCK_MONOTONIC: for intervals, deaf to clock steps. */
int64_t ts_mono_ms(void);

/* "2026-11-24T10:00:07Z" (UTC, whole seconds) into buf of TS_LEN. */
void ts_format(int64_t ms, char buf[TS_LEN]);

/* Parse RFC 3339 ("...Z" or "+hh:mm", optional fraction) or plain Unix
 * seconds. Returns 0 or -EINVAL. */
int ts_parse(const char *s, int64_t *out_ms);

#endif
