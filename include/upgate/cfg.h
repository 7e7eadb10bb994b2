/* SPDX-License-Identifier: MIT */
/* INI configuration driven by a key table; errors name file, line and key. */
#ifndef UPGATE_CFG_H
#define UPGATE_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Field types in the daemon's config struct, by cfg_type:
 * CFG_STR, CFG_ADDR: char * (malloc'd, freed by cfg_free)
 * CFG_INT: int64_t; CFG_DUR: int64_t milliseconds; CFG_REAL: double
 * CFG_BOOL: bool ("yes/no/true/false/on/off/1/0"); CFG_ENUM: int index */
enum cfg_type {
	CFG_STR,
	CFG_ADDR,
	CFG_INT,
	CFG_DUR,
	CFG_REAL,
	CFG_BOOL,
	CFG_ENUM
};

struct cfg_key {
	const char *section;
	const char *key;
	enum cfg_type type;
	size_t off;		     /* offsetof the field */
	const char *dflt;	     /* default, parsed as a file value */
	double min, max;	     /* INT, REAL; DUR in milliseconds */
	const char *const *choices;  /* ENUM: NULL-terminated */
	bool (*check)(const char *); /* STR: extra check, NULL: none */
	const char *check_what;	     /* what check wants, for errors */
};

/* One row of a key table for config struct S: field f of type t,
 * default d, bounds lo..hi. */
#define CFG_KEY(S, sec, k, t, f, d, lo, hi)                                    \
	{                                                                      \
		.section = sec, .key = k, .type = t, .off = offsetof(S, f),    \
		.dflt = d, .min = lo, .max = hi                                \
	}

/* A string key of S that must pass check(); what describes what it wants
 * for the error message. */
#define CFG_CHECKED(S, sec, k, f, d, chk, what)                                \
	{                                                                      \
		.section = sec, .key = k, .type = CFG_STR,                     \
		.off = offsetof(S, f), .dflt = d, .check = chk,                \
		.check_what = what                                             \
	}

/* The [log] level key, an ENUM over cfg_log_levels stored in int field f;
 * LOG_LVL_ERR + its value is the enum log_level. */
#define CFG_LOG_LEVEL(S, f)                                                    \
	{                                                                      \
		.section = "log", .key = "level", .type = CFG_ENUM,            \
		.off = offsetof(S, f), .dflt = "info",                         \
		.choices = cfg_log_levels                                      \
	}
extern const char *const cfg_log_levels[];

/* Milliseconds in a day, for duration bounds. */
#define CFG_MS_DAY (86400000.0)

/* Fill conf (a struct the keys describe) with defaults, then with the
 * values of the file at path (NULL: defaults only). On success returns 0.
 * On any problem returns -EINVAL and sets *errors to a malloc'd text, one
 * "FILE:LINE: [section] key: problem" line each (the caller frees it); conf
 * then holds what could be parsed and must still be passed to cfg_free().
 * When lines is not NULL, lines[i] is the line keys[i] was set on (0:
 * not in the file). */
int cfg_load(const char *path, const struct cfg_key *keys, size_t n, void *conf,
    int *lines, char **errors);

/* Set [section] key of conf to value as if a file said so (command-line
 * options that override a config). Returns 0; -ENOENT for an unknown key
 * or -EINVAL for a bad value, with the reason in why. */
int cfg_set(const struct cfg_key *keys, size_t n, void *conf,
    const char *section, const char *key, const char *value, char *why,
    size_t wl);

/* Read the secret in file, which [section] key of the config at path
 * (NULL: defaults) names. A missing file that was not named explicitly
 * (named false) is no error: *out is NULL. Any other failure appends
 * "PATH: [section] key: cannot read FILE: why" and a newline to *errors
 * (malloc'd; may start NULL) and returns -EINVAL, or -ENOMEM. On success
 * *out is the secret (free with secret_free) or NULL. */
int cfg_secret(const char *path, const char *section, const char *key,
    const char *file, bool named, char **out, char **errors);

/* Append "PATH: [section] key: " and the formatted text and a newline to
 * *errors (malloc'd; may start NULL): a problem found after loading, with
 * a key's value rather than a line. Returns -EINVAL, or -ENOMEM. */
int cfg_problem(char **errors, const char *path, const char *section,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The same for a key set on line (0: not in the file, no line shown):
 * a bad combination of keys is reported at the key that makes it so. */
int cfg_problem_at(char **errors, const char *path, int line,
    const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* cfg_problem with "cannot VERB FILE: why", the shape of every problem
 * with a file a config names. */
int cfg_file_problem(char **errors, const char *path, const char *section,
    const char *key, const char *verb, const char *file, const char *why);

/* Free the strings cfg_load() put into conf. */
void cfg_free(const struct cfg_key *keys, size_t n, void *conf);

#endif
