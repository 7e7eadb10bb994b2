/* SPDX-License-Identifier: MIT */
/* Numeric listen addresses, address ranges, the client behind proxies. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upgate/addr.h"

int
addr_parse(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
	char host[64];
	const char *colon, *port;
	char *end;
	long p;
	size_t hl;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl);
		port = rb + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		memcpy(host, "127.0.0.1", sizeof("127.0.0.1"));
	if (*port == '\0')
		return -EINVAL;
	errno = 0;
	p = strtol(port, &end, 10);
	if (errno != 0 || *end != '\0' || p < 0 || p > 65535)
		return -EINVAL;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)p);
		*len = sizeof(*a4);
	}
	return 0;
}

void
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a4->sin_port));
	} else {
		snprintf(buf, len, "-");
	}
}

void
addr_format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a =
	    sa->sa_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "-");
}

/* One address without port or brackets into out (16 bytes), its family
 * into *family. 0 or -EINVAL. */
static int
host_parse(const char *s, size_t n, unsigned char *out, int *family)
{
	char host[INET6_ADDRSTRLEN + 1];

	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, out) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, out) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* Trim spaces from [*s, *e). */
static void
trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

int
addr_ranges_parse(const char *list, struct addr_range *out, size_t max)
{
	size_t n = 0;
	const char *p = list;

	while (*p) {
		const char *e = strchr(p, ',');
		const char *end = e ? e : p + strlen(p);
		const char *s = p, *slash;
		struct addr_range r = {0};
		int bits;

		trim(&s, &end);
		if (s == end)
			return -EINVAL;
		slash = memchr(s, '/', (size_t)(end - s));
		if (host_parse(s, (size_t)((slash ? slash : end) - s), r.net,
			&r.family) < 0)
			return -EINVAL;
		bits = r.family == AF_INET ? 32 : 128;
		if (slash != NULL) {
			char num[4];
			size_t k = (size_t)(end - slash - 1);
			char *x;
			long b;

			if (k == 0 || k >= sizeof(num))
				return -EINVAL;
			memcpy(num, slash + 1, k);
			num[k] = '\0';
			b = strtol(num, &x, 10);
			if (*x != '\0' || b < 0 || b > bits)
				return -EINVAL;
			bits = (int)b;
		}
		r.bits = bits;
		if (n == max)
			return -EINVAL;
		out[n++] = r;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return (int)n;
}

bool
addr_ranges_valid(const char *list)
{
	struct addr_range r[ADDR_RANGES_MAX];

	return addr_ranges_parse(list, r, ADDR_RANGES_MAX) >= 0;
}

bool
addr_listen_valid(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return s[0] == '\0' || addr_parse(s, &ss, &len) == 0;
}

/* Whether the first bits of a and b agree. */
static bool
prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest))) == 0;
}

/* sa's address bytes and family, an IPv4-mapped IPv6 one as IPv4. */
static const unsigned char *
addr_bytes(const struct sockaddr *sa, int *family)
{
	static const unsigned char mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (sa->sa_family == AF_INET) {
		*family = AF_INET;
		return (const unsigned char *)&((const struct sockaddr_in *)sa)
		    ->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *b =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (memcmp(b, mapped, sizeof(mapped)) == 0) {
			*family = AF_INET;
			return b + 12;
		}
		*family = AF_INET6;
		return b;
	}
	return NULL;
}

bool
addr_in_ranges(const struct sockaddr *sa, const struct addr_range *r, size_t n)
{
	int family;
	const unsigned char *b = addr_bytes(sa, &family);

	for (size_t i = 0; b != NULL && i < n; i++)
		if (r[i].family == family && prefix_eq(b, r[i].net, r[i].bits))
			return true;
	return false;
}

/* The longest X-Forwarded-For taken, and the most addresses in it. */
#define XFF_MAX_LEN 2048
#define XFF_MAX_HOPS 32

static void
set_addr(struct sockaddr_storage *out, int family, const unsigned char *b)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)out;

		a4->sin_family = AF_INET;
		memcpy(&a4->sin_addr, b, 4);
	} else {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

		a6->sin6_family = AF_INET6;
		memcpy(&a6->sin6_addr, b, 16);
	}
}

int
addr_client(const struct sockaddr *peer, const char *xff,
    const struct addr_range *r, size_t n, struct sockaddr_storage *out)
{
	size_t len = xff ? strlen(xff) : 0;
	const char *end;
	int hops = 0;

	memset(out, 0, sizeof(*out));
	memcpy(out, peer,
	    peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					: sizeof(struct sockaddr_in));
	if (xff == NULL || n == 0 || len > XFF_MAX_LEN ||
	    !addr_in_ranges(peer, r, n))
		return 0;
	end = xff + len;
	/* Right to left: each hop a trusted proxy added, until one that
	 * is not a trusted proxy (the client as the nearest proxy saw it).
	 * When every one is, the left-most: the request began there. */
	while (hops++ < XFF_MAX_HOPS) {
		const char *seg = end, *s, *e = end;
		struct sockaddr_storage a;
		unsigned char b[16];
		int family;

		while (seg > xff && seg[-1] != ',')
			seg--;
		s = seg;
		trim(&s, &e);
		if (host_parse(s, (size_t)(e - s), b, &family) < 0)
			return 0; /* malformed: the peer it is */
		set_addr(&a, family, b);
		if (!addr_in_ranges((struct sockaddr *)&a, r, n) ||
		    seg == xff) {
			*out = a;
			return 1;
		}
		end = seg - 1;
	}
	return 0;
}

void
addr_key(
    const struct sockaddr *sa, int v6_bits, unsigned char key[ADDR_KEY_LEN])
{
	memset(key, 0, ADDR_KEY_LEN);
	if (sa != NULL && sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			key[0] = 4;
			memcpy(key + 1, a->s6_addr + 12, 4);
			return;
		}
		key[0] = 6;
		for (int i = 0; i < 16 && v6_bits > 0; i++, v6_bits -= 8)
			key[1 + i] =
			    v6_bits >= 8
				? a->s6_addr[i]
				: (unsigned char)(a->s6_addr[i] &
						  (0xff << (8 - v6_bits)));
	}
}
