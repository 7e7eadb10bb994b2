/* SPDX-License-Identifier: MIT */
/* POST /v1/launch bodies through the handler's own validation. */
#include <stdint.h>

#include "../../src/gateway/h_launch.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *b = json_loadb((const char *)data, size, 0, NULL);
	struct launch_req l;
	struct jv_err e;

	if (json_is_object(b))
		(void)parse(b, &l, &e);
	json_decref(b);
	return 0;
}
