/* SPDX-License-Identifier: MIT */
/* semver_parse and precedence on any input: no crash, and a parsed
 * version compares equal to itself and consistently with others. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upgate/semver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct semver a, b;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (semver_parse(s, &a) == 0) {
		if (semver_cmp(&a, &a) != 0 || !semver_valid(s))
			abort();
		if (semver_parse("1.0.0-rc.1", &b) == 0 &&
		    (semver_cmp(&a, &b) > 0) != (semver_cmp(&b, &a) < 0))
			abort();
	}
	(void)semver_cmp_str(s, "1.10.0");
	free(s);
	return 0;
}
