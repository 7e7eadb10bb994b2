/* SPDX-License-Identifier: MIT */
/* Listen addresses: "host:port", "[v6]:port". */
#ifndef UPGATE_ADDR_H
#define UPGATE_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Parse a numeric host (IPv4, or IPv6 in brackets) and port 0-65535 into
 * out. No name lookup. Returns 0 or -EINVAL. */
int addr_parse(const char *s, struct sockaddr_storage *out, socklen_t *len);

/* Write "a.b.c.d:port" or "[v6]:port" for a peer address into buf. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
