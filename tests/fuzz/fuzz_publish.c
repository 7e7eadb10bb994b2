/* SPDX-License-Identifier: MIT */
/* POST /v1/admin/releases bodies (artifacts, signed documents) through
 * the handler's validation and canonical form. */
#include <stdint.h>

#include "../../src/gateway/h_release.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *b = json_loadb((const char *)data, size, 0, NULL);
	struct release r;
	struct jv_err e;

	if (json_is_object(b)) {
		if (parse_release(b, &r, &e) == 0)
			free(canonical(&r));
		store_release_fini(&r);
	}
	json_decref(b);
	return 0;
}
