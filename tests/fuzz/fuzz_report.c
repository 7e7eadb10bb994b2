/* SPDX-License-Identifier: MIT */
/* POST /v1/upgrades/{id}/events bodies through the handler's validation. */
#include <stdint.h>

#include "../../src/gateway/h_upgrade.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *b = json_loadb((const char *)data, size, 0, NULL);
	struct report r;
	struct jv_err e;

	if (json_is_object(b)) {
		memset(&r, 0, sizeof(r));
		(void)parse_report(b, &r, &e);
		store_event_fini(&r.ev);
	}
	json_decref(b);
	return 0;
}
