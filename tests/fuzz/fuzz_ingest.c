/* SPDX-License-Identifier: MIT */
/* mgmtd's outcome ingest body (one outcome or a batch) through the
 * validation every item passes before anything is stored. */
#include <stdint.h>

#include "../../src/mgmt/h_ingest.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *b = json_loadb((const char *)data, size, 0, NULL);
	json_t *list = json_object_get(b, "outcomes");
	size_t n = json_is_array(list) ? json_array_size(list) : 1, i;
	struct item *items;
	struct jv_err e;

	if (!json_is_object(b) || n == 0 || n > MAX_BATCH ||
	    (items = calloc(n, sizeof(*items))) == NULL) {
		json_decref(b);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (parse_item(list ? json_array_get(list, i) : b, &items[i],
			&e) < 0)
			break;
	items_free(items, i < n ? i + 1 : n);
	json_decref(b);
	return 0;
}
