/* SPDX-License-Identifier: MIT */
/* Logging: one line per message on stderr, journald-friendly under systemd. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "upgate/log.h"

static const char *const level_names[] = {
    [LOG_LVL_ERR] = "error",
    [LOG_LVL_WARNING] = "warning",
    [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info",
    [LOG_LVL_DEBUG] = "debug",
};

/* Process-wide logging state: set once at start-up, level atomically. */
static struct {
	const char *ident;
	bool journal;
	atomic_int level;
} lg = {"upgate", false, LOG_LVL_INFO};

void
log_init(const char *ident)
{
	lg.ident = ident;
	lg.journal = getenv("JOURNAL_STREAM") != NULL;
}

/* The log file's name, when logging to one; only the main thread sets it. */
static char log_path[4096];

int
log_open_file(const char *path)
{
	int fd;

	if (path == NULL || *path == '\0')
		return 0;
	if (strlen(path) >= sizeof(log_path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	/* dup2 swaps descriptor 2 atomically: a concurrent write goes to
	 * the old file or the new one. */
	if (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	if (log_path != path)
		snprintf(log_path, sizeof(log_path), "%s", path);
	lg.journal = false;
	return 0;
}

int
log_reopen(void)
{
	return log_path[0] ? log_open_file(log_path) : 0;
}

void
log_set_level(enum log_level level)
{
	atomic_store(&lg.level, (int)level);
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load(&lg.level);
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (int i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[2048];
	char line[2200];
	int n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (lg.journal) {
		n = snprintf(line, sizeof(line), "<%d>%s\n", (int)level, msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%d] %s: %s\n",
		    when, ts.tv_nsec / 1000000, lg.ident, (int)getpid(),
		    level_names[level], msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write(2) per line keeps lines whole across threads. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
