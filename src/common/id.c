/* SPDX-License-Identifier: MIT */
/* Random ids and the shape checks for identifiers from outside. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include <sodium.h>

#include "upgate/id.h"

void
id_new(char out[ID_LEN + 1])
{
	unsigned char raw[ID_LEN / 2];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(out, ID_LEN + 1, raw, sizeof(raw));
}

static bool
all_of(const char *s, size_t min, size_t max, int (*pred)(int))
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!pred((unsigned char)s[i]))
			return false;
	return true;
}

static int
is_lower_hex(int c)
{
	return isdigit(c) || (c >= 'a' && c <= 'f');
}

static int
is_app_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-';
}

static int
is_print_ascii(int c)
{
	return c >= 0x20 && c < 0x7f;
}

static int
is_code_char(int c)
{
	return islower(c) || isdigit(c) || c == '_';
}

bool
id_valid(const char *s)
{
	return all_of(s, ID_LEN, ID_LEN, is_lower_hex);
}

bool
id_app_valid(const char *s)
{
	return isalnum((unsigned char)s[0]) && all_of(s, 1, 128, is_app_char);
}

bool
id_client_valid(const char *s)
{
	return all_of(s, 1, 128, is_print_ascii);
}

bool
id_code_valid(const char *s)
{
	return islower((unsigned char)s[0]) && all_of(s, 1, 64, is_code_char);
}

bool
id_sha256_valid(const char *s)
{
	return all_of(s, 64, 64, isxdigit);
}

void
id_lower(char *out, size_t len, const char *s)
{
	size_t i;

	for (i = 0; len > 0 && i < len - 1 && s[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	if (len > 0)
		out[i] = '\0';
}

int
id_platform(char *out, size_t len)
{
	struct utsname u;

	if (uname(&u) < 0)
		return -EIO;
	snprintf(out, len, "%s-%s", u.sysname, u.machine);
	id_lower(out, len, out);
	return 0;
}
