/* SPDX-License-Identifier: MIT */
/* The gateway's admin bodies: POST /v1/admin/releases (artifacts, signed
 * documents) with its canonical form, PATCH of a release, and POST
 * /v1/admin/rollbacks (with a signed record checked against artifacts). */
#include <stdint.h>

#include "../../src/gateway/h_release.c"
#include "../../src/gateway/h_rollback.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *b = json_loadb((const char *)data, size, 0, NULL);
	struct release r;
	struct jv_err e;

	if (json_is_object(b)) {
		const char *app, *channel = "stable", *version;
		char *doc = NULL, *sig = NULL;
		int64_t rollout = -1, percent = 100, serial = 0;
		int p, y, h;

		if (parse_release(b, &r, &e) == 0)
			free(canonical(&r));
		store_release_fini(&r);
		(void)parse_patch(b, &rollout, &p, &y, &h, &e);
		if (parse_rollback(b, &app, &channel, &version, &percent, &e) ==
		    0)
			(void)gw_signed_parse(b, app, channel, version,
			    json_object_get(b, "artifacts"), true, &doc, &sig,
			    &serial, &e);
		free(doc);
		free(sig);
	}
	json_decref(b);
	return 0;
}
