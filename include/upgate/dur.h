/* SPDX-License-Identifier: MIT */
/* Durations: "90s", "5m", "1h", "7d", "250ms"; a bare number means seconds. */
#ifndef UPGATE_DUR_H
#define UPGATE_DUR_H

#include <stddef.h>
#include <stdint.h>

/* Parse s into milliseconds. Sums like "1h30m" are accepted. Returns 0, or
 * -EINVAL for anything else (empty, negative, unknown unit, overflow). */
int dur_parse(const char *s, int64_t *out_ms);

/* Write ms in the largest exact unit ("90s", "5m", "250ms") into buf. */
void dur_format(int64_t ms, char *buf, size_t len);

#endif
