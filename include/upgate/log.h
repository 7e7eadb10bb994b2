/* SPDX-License-Identifier: MIT */
/* Logging to stderr: journald priority prefixes under systemd, else readable.
 */
#ifndef UPGATE_LOG_H
#define UPGATE_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Set the program name shown in readable mode and detect systemd's journal
 * (JOURNAL_STREAM). Call once at start-up, before threads. */
void log_init(const char *ident);

/* Log to the file at path (appended, created 0640) instead of stderr:
 * it replaces file descriptor 2, so library messages land there too.
 * NULL or "" keeps stderr. Returns 0 or a negative errno. */
int log_open_file(const char *path);

/* Open the log file again by name (after logrotate moved it); nothing
 * when logging to stderr. Returns 0 or a negative errno. */
int log_reopen(void);

/* Messages above level are dropped. Thread-safe. */
void log_set_level(enum log_level level);

/* Parse "error|warning|notice|info|debug". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Whether level would be written; lets callers skip costly formatting. */
bool log_enabled(enum log_level level);

/* Write one line. Thread-safe; never blocks on anything but stderr. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log at error level and exit(1). Only at start-up or on broken invariants. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
