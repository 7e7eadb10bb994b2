/* SPDX-License-Identifier: MIT */
/* The patch decoder on any input: the first two bytes say how much of
 * the rest is the old tar (the prefix), the remainder is the patch. No
 * crash, nothing written past the output, and a result only of the size
 * the patch declares; with and without the thread that hashes it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upgate/delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (1 << 20)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char out[OUT_MAX], sha[32];
	size_t old_len;
	long long want, got;

	if (size < 2)
		return 0;
	old_len = ((size_t)data[0] << 8 | data[1]) % (size - 1);
	data += 2;
	size -= 2;
	want = delta_result_size(data + old_len, size - old_len);
	got = delta_apply_mem(data, old_len, data + old_len, size - old_len,
	    out, OUT_MAX,
	    /* half the inputs with the hashing thread the launcher runs */
	    size % 2 ? sha : NULL);
	if (got >= 0 && (want < 0 || got != want || got > OUT_MAX))
		abort();
	return 0;
}
