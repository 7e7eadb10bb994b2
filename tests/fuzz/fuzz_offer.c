/* SPDX-License-Identifier: MIT */
/* What the launcher takes from a gateway's launch answer: the offer and
 * its signed release document, as a hostile gateway could send them. */
#include <stdint.h>
#include <string.h>

#include "../../src/launcher/ln.h"
#include "upgate/relsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *ans = json_loadb((const char *)data, size, 0, NULL);
	struct offer o;
	struct relsig_doc d;
	unsigned char pk[RELSIG_PK_BYTES] = {0};
	char why[256];

	memset(&o, 0, sizeof(o));
	if (json_is_object(ans) &&
	    offer_parse(json_object_get(ans, "upgrade"), &o, why,
		sizeof(why)) == 0 &&
	    o.signed_doc != NULL) {
		(void)relsig_verify(o.signed_doc, o.signature, pk);
		if (relsig_parse(o.signed_doc, &d, why, sizeof(why)) == 0)
			(void)relsig_artifacts_equal(&d, d.artifacts);
		relsig_fini(&d);
	}
	offer_fini(&o);
	json_decref(ans);
	return 0;
}
