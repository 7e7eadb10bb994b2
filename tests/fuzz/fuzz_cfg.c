/* SPDX-License-Identifier: MIT */
/* The INI reader (cfg_load over inih) with the gateway's key table, on
 * any file content: problems are reported, never crashes or leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../src/gateway/gw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/upgate-fuzz-cfg-XXXXXX";
	struct gw_conf c;
	char *errors = NULL;
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		(void)gw_conf_load(path, &c, &errors);
		gw_conf_free(&c);
		free(errors);
	}
	close(fd);
	unlink(path);
	return 0;
}
