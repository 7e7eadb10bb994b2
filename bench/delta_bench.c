/* SPDX-License-Identifier: MIT */
/* The delta code as upgatectl and the launcher run it, timed, for
 * bench/bench_delta.py. One step per process, so its peak RSS is its own:
 *   make OLD_ARTIFACT NEW_ARTIFACT LEVEL PATCH   (what publish does)
 *   apply OLD_ARTIFACT PATCH TAR_SHA256 OUT_TAR  (what the launcher does
 *                                                 before it unpacks)
 *   unpack ARCHIVE DIR                           (the launcher's unpack)
 * Each prints one JSON object: seconds, peak RSS, and what it made. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ln.h" /* the launcher's unpack_archive */
#include "upgate/delta.h"

#define TAR_MAX (INT64_C(16) << 30)

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
peak_kib(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static int
fail(const char *why)
{
	fprintf(stderr, "delta_bench: %s\n", why);
	return 1;
}

int
main(int argc, char **argv)
{
	char why[512], sha[65], tar_new[4096], tar_old[4096];
	double t0;
	int err;

	if (sodium_init() < 0 || argc < 2)
		return fail("usage: make|apply|unpack ...");
	t0 = now();
	if (strcmp(argv[1], "make") == 0 && argc == 6) {
		const char *old = NULL;

		/* As upgatectl publish --delta-from does it. */
		snprintf(tar_old, sizeof(tar_old), "%s.old.tar", argv[5]);
		snprintf(tar_new, sizeof(tar_new), "%s.new.tar", argv[5]);
		if (delta_old_tar(argv[2], tar_old, TAR_MAX, &old, why,
			sizeof(why)) < 0 ||
		    delta_tar(
			argv[3], tar_new, TAR_MAX, sha, why, sizeof(why)) < 0 ||
		    delta_make(old, tar_new, atoi(argv[4]), argv[5], why,
			sizeof(why)) < 0)
			return fail(why);
		unlink(tar_old);
		unlink(tar_new);
		printf("{\"seconds\": %.4f, \"peak_kib\": %ld, "
		       "\"tar_sha256\": \"%s\"}\n",
		    now() - t0, peak_kib(), sha);
		return 0;
	}
	if (strcmp(argv[1], "apply") == 0 && argc == 6) {
		const char *old = NULL;
		double t1;

		snprintf(tar_old, sizeof(tar_old), "%s.old.tar", argv[5]);
		err = delta_old_tar(
		    argv[2], tar_old, TAR_MAX, &old, why, sizeof(why));
		t1 = now();
		if (err == 0)
			err = delta_apply(old, argv[3], argv[5], TAR_MAX, sha,
			    why, sizeof(why));
		unlink(tar_old);
		if (err < 0)
			return fail(why);
		if (strcmp(sha, argv[4]) != 0)
			return fail("the tar made is not the release's");
		printf("{\"seconds\": %.4f, \"old_tar_seconds\": %.4f, "
		       "\"patch_seconds\": %.4f, \"peak_kib\": %ld}\n",
		    now() - t0, t1 - t0, now() - t1, peak_kib());
		return 0;
	}
	if (strcmp(argv[1], "unpack") == 0 && argc == 4) {
		struct report r = REPORT_INIT("installing");

		if (unpack_archive(argv[2], argv[3], &r) < 0)
			return fail(r.message);
		printf("{\"seconds\": %.4f, \"peak_kib\": %ld}\n", now() - t0,
		    peak_kib());
		return 0;
	}
	return fail("usage: make OLD NEW LEVEL PATCH | apply OLD PATCH "
		    "TAR_SHA256 OUT | unpack ARCHIVE DIR");
}
