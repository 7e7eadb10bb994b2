/* SPDX-License-Identifier: MIT */
/* Listen addresses: "host:port", "[v6]:port"; address ranges (CIDR) and
 * the client address behind trusted proxies. */
#ifndef UPGATE_ADDR_H
#define UPGATE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Parse a numeric host (IPv4, or IPv6 in brackets) and port 0-65535 into
 * out. No name lookup. Returns 0 or -EINVAL. */
int addr_parse(const char *s, struct sockaddr_storage *out, socklen_t *len);

/* Write "a.b.c.d:port" or "[v6]:port" for a peer address into buf. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Whether s is empty or parses as addr_parse() takes it (for an
 * optional address key's check). */
bool addr_listen_valid(const char *s);

/* Write the host part alone ("a.b.c.d", "v6") into buf. */
void addr_format_host(const struct sockaddr *sa, char *buf, size_t len);

/* An address range: an IPv4 or IPv6 network and its prefix length. */
struct addr_range {
	int family; /* AF_INET, AF_INET6 */
	unsigned char net[16];
	int bits;
};

#define ADDR_RANGES_MAX 64

/* The bytes that identify a client address: a family byte, then the
 * IPv4 address, or the first v6_bits bits of an IPv6 one (the rest
 * zero). An IPv4-mapped IPv6 address counts as IPv4. */
#define ADDR_KEY_LEN 17
void addr_key(
    const struct sockaddr *sa, int v6_bits, unsigned char key[ADDR_KEY_LEN]);

/* Parse a comma-separated list of addresses and CIDR ranges ("10.0.0.0/8,
 * ::1, fd00::/8"; empty: none) into out (at most max). Returns how many,
 * or -EINVAL (a bad entry, or more than max). */
int addr_ranges_parse(const char *list, struct addr_range *out, size_t max);
/* Whether list parses (for a config key's check). */
bool addr_ranges_valid(const char *list);

/* Whether sa (an IPv4-mapped IPv6 address counts as IPv4) is in one of
 * the n ranges. */
bool addr_in_ranges(
    const struct sockaddr *sa, const struct addr_range *r, size_t n);

/* The client of a request from peer: when peer is in the n trusted
 * ranges, the right-most address of xff (the X-Forwarded-For list,
 * NULL: none) that is not itself trusted; else, and when xff is absent,
 * malformed or longer than it may be, peer. Returns 1 with *out (port 0)
 * when it came from xff, 0 with *out = peer. */
int addr_client(const struct sockaddr *peer, const char *xff,
    const struct addr_range *r, size_t n, struct sockaddr_storage *out);

#endif
