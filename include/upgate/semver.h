/* SPDX-License-Identifier: MIT */
/* Semantic versions (semver 2.0.0): parsing and precedence. */
#ifndef UPGATE_SEMVER_H
#define UPGATE_SEMVER_H

#include <stdbool.h>
#include <stdint.h>

#define SEMVER_MAX 128

/* A parsed version. Self-contained: it may be copied by assignment. */
struct semver {
	uint64_t major, minor, patch;
	char text[SEMVER_MAX + 1]; /* the version as given */
	uint8_t pre_off, pre_len;  /* pre-release inside text, 0 len: none */
};

/* Parse s (at most SEMVER_MAX characters, no leading "v"). Returns 0, or
 * -EINVAL when s is not a semver 2.0.0 version. */
int semver_parse(const char *s, struct semver *out);

/* Whether s is a valid version. */
bool semver_valid(const char *s);

/* Precedence: <0, 0, >0 as a is lower, equal, higher than b. Build metadata
 * is ignored, as semver 2.0.0 says. */
int semver_cmp(const struct semver *a, const struct semver *b);

/* semver_cmp on strings; an invalid version sorts below every valid one. */
int semver_cmp_str(const char *a, const char *b);

/* An upgrade's from_version as a person should read it: the SPEC's
 * "0.0.0" (nothing installed) is "(first install)"; v otherwise. */
const char *semver_from_shown(const char *v);

#endif
