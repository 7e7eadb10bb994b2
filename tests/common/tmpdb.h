/* SPDX-License-Identifier: MIT */
/* A database file for one test process under /tmp, and its removal with
 * the WAL and shared-memory files SQLite puts beside it. */
#ifndef TESTS_TMPDB_H
#define TESTS_TMPDB_H

#include <stdio.h>
#include <unistd.h>

/* /tmp/upgate-test-TAG-PID.db into path. */
static inline void
tmpdb_path(char *path, size_t len, const char *tag)
{
	snprintf(path, len, "/tmp/upgate-test-%s-%d.db", tag, (int)getpid());
}

static inline void
tmpdb_remove(const char *path)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[256];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
}

#endif
