/* SPDX-License-Identifier: MIT */
/* Table-driven INI configuration on top of inih. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "upgate/addr.h"
#include "upgate/cfg.h"
#include "upgate/dur.h"
#include "upgate/secret.h"

const char *const cfg_log_levels[] = {
    "error", "warning", "notice", "info", "debug", NULL};

struct load {
	const char *path;
	const struct cfg_key *keys;
	size_t n;
	void *conf;
	int *line_of; /* line each key was set on, 0: not set */
	FILE *in;
	int line;
	int long_line; /* first line over inih's limit, 0: none */
	FILE *errs;    /* memstream collecting problems */
	int nerr;
};

static void problem(struct load *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(struct load *l, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(l->errs, "%s:%d: ", l->path, line);
	va_start(ap, fmt);
	vfprintf(l->errs, fmt, ap);
	va_end(ap);
	fputc('\n', l->errs);
	l->nerr++;
}

static int
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Parse v for k into its field; on error write a reason into why. */
static int
set_value(
    const struct cfg_key *k, void *conf, const char *v, char *why, size_t wl)
{
	char *field = (char *)conf + k->off;
	char *end;

	switch (k->type) {
	case CFG_ADDR: {
		struct sockaddr_storage ss;
		socklen_t len;

		if (addr_parse(v, &ss, &len) < 0) {
			snprintf(why, wl,
			    "'%s' is not host:port (numeric "
			    "IPv4, [IPv6] or localhost, port 0-65535)",
			    v);
			return -EINVAL;
		}
	}
		/* fall through */
	case CFG_STR: {
		char *copy;

		if (k->check != NULL && !k->check(v)) {
			snprintf(why, wl, "'%s' %s", v, k->check_what);
			return -EINVAL;
		}
		copy = strdup(v);

		if (copy == NULL) {
			snprintf(why, wl, "out of memory");
			return -ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case CFG_INT: {
		long long x;

		errno = 0;
		x = strtoll(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0') {
			snprintf(why, wl, "'%s' is not a whole number", v);
			return -EINVAL;
		}
		if ((double)x < k->min || (double)x > k->max) {
			snprintf(why, wl, "%lld is outside %.0f..%.0f", x,
			    k->min, k->max);
			return -EINVAL;
		}
		*(int64_t *)field = x;
		return 0;
	}
	case CFG_DUR: {
		int64_t ms;

		if (dur_parse(v, &ms) < 0) {
			snprintf(why, wl,
			    "'%s' is not a duration (like 30s, "
			    "5m, 1h, 7d)",
			    v);
			return -EINVAL;
		}
		if ((double)ms < k->min || (double)ms > k->max) {
			char lo[32], hi[32];

			dur_format((int64_t)k->min, lo, sizeof(lo));
			dur_format((int64_t)k->max, hi, sizeof(hi));
			snprintf(why, wl, "'%s' is outside %s..%s", v, lo, hi);
			return -EINVAL;
		}
		*(int64_t *)field = ms;
		return 0;
	}
	case CFG_REAL: {
		double x;

		errno = 0;
		x = strtod(v, &end);
		if (errno != 0 || end == v || *end != '\0' || !isfinite(x)) {
			snprintf(why, wl, "'%s' is not a number", v);
			return -EINVAL;
		}
		if (x < k->min || x > k->max) {
			snprintf(
			    why, wl, "%s is outside %g..%g", v, k->min, k->max);
			return -EINVAL;
		}
		*(double *)field = x;
		return 0;
	}
	case CFG_BOOL:
		if (parse_bool(v, (bool *)field) < 0) {
			snprintf(why, wl, "'%s' is not yes or no", v);
			return -EINVAL;
		}
		return 0;
	case CFG_ENUM:
		for (int i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(v, k->choices[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		{
			size_t off =
			    (size_t)snprintf(why, wl, "'%s' is not one of", v);

			for (int i = 0; k->choices[i] != NULL && off < wl; i++)
				off += (size_t)snprintf(
				    why + off, wl - off, " %s", k->choices[i]);
		}
		return -EINVAL;
	}
	snprintf(why, wl, "bad key type");
	return -EINVAL;
}

static int
on_pair(void *user, const char *section, const char *name, const char *value)
{
	struct load *l = user;
	char why[256];

	for (size_t i = 0; i < l->n; i++) {
		const struct cfg_key *k = &l->keys[i];

		if (strcmp(k->section, section) != 0 ||
		    strcmp(k->key, name) != 0)
			continue;
		if (l->line_of[i] != 0) {
			problem(l, l->line,
			    "[%s] %s: set twice (first on line "
			    "%d)",
			    section, name, l->line_of[i]);
			return 1;
		}
		l->line_of[i] = l->line;
		if (set_value(k, l->conf, value, why, sizeof(why)) < 0)
			problem(l, l->line, "[%s] %s: %s", section, name, why);
		return 1;
	}
	problem(l, l->line, "[%s] %s: unknown key", section, name);
	return 1;
}

/* fgets for inih that counts lines, so errors can name them. */
static char *
read_line(char *buf, int size, void *stream)
{
	struct load *l = stream;
	char *r = fgets(buf, size, l->in);
	size_t len;

	if (r == NULL)
		return NULL;
	l->line++;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] != '\n' && !feof(l->in)) {
		int c;

		if (l->long_line == 0)
			l->long_line = l->line;
		while ((c = fgetc(l->in)) != EOF && c != '\n')
			;
	}
	return r;
}

int
cfg_load(const char *path, const struct cfg_key *keys, size_t n, void *conf,
    int *lines, char **errors)
{
	struct load l = {.path = path ? path : "(defaults)",
	    .keys = keys,
	    .n = n,
	    .conf = conf};
	char *text = NULL;
	size_t text_len = 0;
	char why[256];
	int rc;

	*errors = NULL;
	l.line_of = calloc(n ? n : 1, sizeof(*l.line_of));
	l.errs = open_memstream(&text, &text_len);
	if (l.line_of == NULL || l.errs == NULL) {
		free(l.line_of);
		if (l.errs != NULL)
			fclose(l.errs);
		free(text);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (set_value(&keys[i], conf, keys[i].dflt, why, sizeof(why)) <
		    0)
			problem(&l, 0, "[%s] %s: bad default: %s",
			    keys[i].section, keys[i].key, why);
	}
	if (path != NULL) {
		l.in = fopen(path, "r");
		if (l.in == NULL) {
			fprintf(l.errs, "%s: cannot open: %s\n", path,
			    strerror(errno));
			l.nerr++;
		} else {
			rc = ini_parse_stream(read_line, &l, on_pair, &l);
			if (rc > 0)
				problem(&l, rc,
				    "syntax error: expected "
				    "'[section]', 'key = value' or a comment");
			if (l.long_line != 0)
				problem(&l, l.long_line, "line too long");
			fclose(l.in);
		}
	}
	if (lines != NULL)
		memcpy(lines, l.line_of, n * sizeof(*lines));
	free(l.line_of);
	fclose(l.errs);
	if (l.nerr == 0) {
		free(text);
		return 0;
	}
	*errors = text;
	return -EINVAL;
}

int
cfg_set(const struct cfg_key *keys, size_t n, void *conf, const char *section,
    const char *key, const char *value, char *why, size_t wl)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].key, key) == 0)
			return set_value(&keys[i], conf, value, why, wl);
	snprintf(why, wl, "[%s] %s: unknown key", section, key);
	return -ENOENT;
}

static int problem_v(char **errors, const char *path, int line,
    const char *section, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static int
problem_v(char **errors, const char *path, int line, const char *section,
    const char *key, const char *fmt, va_list ap)
{
	char *text = NULL, *joined = NULL, at[16] = "";
	int n;

	n = vasprintf(&text, fmt, ap);
	if (n < 0)
		return -ENOMEM;
	if (line > 0)
		snprintf(at, sizeof(at), ":%d", line);
	n = asprintf(&joined, "%s%s%s: [%s] %s: %s\n", *errors ? *errors : "",
	    path ? path : "(defaults)", at, section, key, text);
	free(text);
	if (n < 0)
		return -ENOMEM;
	free(*errors);
	*errors = joined;
	return -EINVAL;
}

int
cfg_problem(char **errors, const char *path, const char *section,
    const char *key, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = problem_v(errors, path, 0, section, key, fmt, ap);
	va_end(ap);
	return err;
}

int
cfg_problem_at(char **errors, const char *path, int line, const char *section,
    const char *key, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = problem_v(errors, path, line, section, key, fmt, ap);
	va_end(ap);
	return err;
}

int
cfg_file_problem(char **errors, const char *path, const char *section,
    const char *key, const char *verb, const char *file, const char *why)
{
	return cfg_problem(
	    errors, path, section, key, "cannot %s %s: %s", verb, file, why);
}

int
cfg_secret(const char *path, const char *section, const char *key,
    const char *file, bool named, char **out, char **errors)
{
	int err;

	*out = NULL;
	err = secret_read(file, out);
	if (err == 0 || (err == -ENOENT && !named))
		return 0;
	return cfg_file_problem(errors, path, section, key, "read", file,
	    err == -EINVAL ? "empty or over 4096 bytes" : strerror(-err));
}

void
cfg_free(const struct cfg_key *keys, size_t n, void *conf)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i].type == CFG_STR || keys[i].type == CFG_ADDR) {
			char **f = (char **)((char *)conf + keys[i].off);

			free(*f);
			*f = NULL;
		}
	}
}
