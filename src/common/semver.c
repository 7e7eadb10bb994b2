/* SPDX-License-Identifier: MIT */
/* Semantic version parsing and semver 2.0.0 precedence. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "upgate/semver.h"

/* Parse a numeric core part with no leading zero; advance *p. */
static int
parse_num(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	if (s[0] == '0' && isdigit((unsigned char)s[1]))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s++ - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	*p = s;
	*out = n;
	return 0;
}

static bool
ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '-';
}

static bool
all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Check dot-separated identifiers up to end or stop; advance *p. For the
 * pre-release, numeric identifiers may not have leading zeros. */
static int
parse_idents(const char **p, char stop, bool pre)
{
	const char *s = *p;

	for (;;) {
		const char *start = s;

		while (ident_char(*s))
			s++;
		if (s == start)
			return -EINVAL;
		if (pre && s - start > 1 && start[0] == '0' &&
		    all_digits(start, (size_t)(s - start)))
			return -EINVAL;
		if (*s != '.')
			break;
		s++;
	}
	if (*s != '\0' && *s != stop)
		return -EINVAL;
	*p = s;
	return 0;
}

int
semver_parse(const char *s, struct semver *out)
{
	struct semver v;
	const char *p = s;
	size_t len = strlen(s);

	if (len == 0 || len > SEMVER_MAX)
		return -EINVAL;
	memset(&v, 0, sizeof(v));
	if (parse_num(&p, &v.major) < 0 || *p++ != '.' ||
	    parse_num(&p, &v.minor) < 0 || *p++ != '.' ||
	    parse_num(&p, &v.patch) < 0)
		return -EINVAL;
	if (*p == '-') {
		const char *start = ++p;

		if (parse_idents(&p, '+', true) < 0)
			return -EINVAL;
		v.pre_off = (uint8_t)(start - s);
		v.pre_len = (uint8_t)(p - start);
	}
	if (*p == '+') {
		p++;
		if (parse_idents(&p, '\0', false) < 0)
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	memcpy(v.text, s, len + 1);
	*out = v;
	return 0;
}

bool
semver_valid(const char *s)
{
	struct semver v;

	return semver_parse(s, &v) == 0;
}

static int
cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* Compare one pre-release identifier pair as semver 2.0.0 says. */
static int
cmp_ident(const char *a, size_t alen, const char *b, size_t blen)
{
	bool an = all_digits(a, alen), bn = all_digits(b, blen);
	int c;

	if (an && bn) {
		/* No leading zeros: longer is larger, else compare digits. */
		if (alen != blen)
			return alen < blen ? -1 : 1;
		return memcmp(a, b, alen);
	}
	if (an != bn)
		return an ? -1 : 1;
	c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int
semver_cmp(const struct semver *a, const struct semver *b)
{
	const char *pa, *pb, *ea, *eb;
	int c;

	if ((c = cmp_u64(a->major, b->major)) != 0 ||
	    (c = cmp_u64(a->minor, b->minor)) != 0 ||
	    (c = cmp_u64(a->patch, b->patch)) != 0)
		return c;
	if (a->pre_len == 0 || b->pre_len == 0)
		return (a->pre_len == 0) - (b->pre_len == 0);
	pa = a->text + a->pre_off;
	ea = pa + a->pre_len;
	pb = b->text + b->pre_off;
	eb = pb + b->pre_len;
	for (;;) {
		const char *da = memchr(pa, '.', (size_t)(ea - pa));
		const char *db = memchr(pb, '.', (size_t)(eb - pb));

		if (da == NULL)
			da = ea;
		if (db == NULL)
			db = eb;
		c = cmp_ident(pa, (size_t)(da - pa), pb, (size_t)(db - pb));
		if (c != 0)
			return c < 0 ? -1 : 1;
		if (da == ea || db == eb)
			return (da != ea) - (db != eb);
		pa = da + 1;
		pb = db + 1;
	}
}

int
semver_cmp_str(const char *a, const char *b)
{
	struct semver va, vb;
	bool oka = semver_parse(a, &va) == 0, okb = semver_parse(b, &vb) == 0;

	if (!oka || !okb)
		return oka - okb;
	return semver_cmp(&va, &vb);
}

const char *
semver_from_shown(const char *v)
{
	return v != NULL && strcmp(v, "0.0.0") == 0 ? "(first install)" : v;
}
