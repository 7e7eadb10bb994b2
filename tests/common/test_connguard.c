/* SPDX-License-Identifier: MIT */
/* Tests of the connection guard: the cap per address (an IPv6 client is
 * its /64), trusted addresses past it, and deadlines that shut sockets
 * down whatever bytes came. Real sockets (socket pairs), fake clocks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "upgate/connguard.h"

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &a->sin_addr), 1);
	}
	return ss;
}

#define SA(s) ((const struct sockaddr *)&(s))

static void
test_cap_per_address(void **state)
{
	struct addr_range proxy[1];
	struct connguard *g;
	struct cg_conn *c[4];
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2"),
				p = addr("10.0.0.7"),
				m = addr("::ffff:192.0.2.1");

	(void)state;
	assert_int_equal(addr_ranges_parse("10.0.0.0/8", proxy, 1), 1);
	g = connguard_new(&(struct connguard_conf){.per_address = 2,
	    .idle_ms = 1000,
	    .request_ms = 1000,
	    .exempt = proxy,
	    .n_exempt = 1});
	assert_non_null(g);
	assert_true(connguard_admit(g, SA(a)));
	c[0] = connguard_open(g, SA(a), -1, 0);
	assert_true(connguard_admit(g, SA(a)));
	c[1] = connguard_open(g, SA(a), -1, 0);
	assert_false(connguard_admit(g, SA(a)));
	assert_false(connguard_admit(g, SA(m))); /* the same IPv4 client */
	assert_true(connguard_admit(g, SA(b)));
	for (int i = 0; i < 5; i++) /* a trusted proxy carries many */
		assert_true(connguard_admit(g, SA(p)));
	c[2] = connguard_open(g, SA(p), -1, 0);
	c[3] = connguard_open(g, SA(p), -1, 0);
	assert_true(connguard_admit(g, SA(p)));
	connguard_close(g, c[0]);
	assert_true(connguard_admit(g, SA(a)));
	connguard_close(g, c[1]);
	connguard_close(g, c[2]);
	connguard_free(g); /* c[3] still open: freed with it */
}

static void
test_ipv6_counts_by_64(void **state)
{
	struct sockaddr_storage x = addr("2001:db8:1:2::1"),
				y = addr("2001:db8:1:2:ffff::9"),
				z = addr("2001:db8:1:3::1");
	struct connguard *g = connguard_new(&(struct connguard_conf){
	    .per_address = 1, .idle_ms = 1000, .request_ms = 1000});

	(void)state;
	assert_non_null(connguard_open(g, SA(x), -1, 0));
	assert_false(connguard_admit(g, SA(y))); /* same /64 */
	assert_true(connguard_admit(g, SA(z)));	 /* next /64 */
	connguard_free(g);
}

/* Whether the peer of fd sees the end of the stream (the guard shut its
 * other end down). */
static bool
peer_sees_end(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static void
test_deadlines(void **state)
{
	int idle[2], slow[2], busy[2], kept[2];
	struct sockaddr_storage a = addr("192.0.2.1");
	struct connguard *g = connguard_new(&(struct connguard_conf){
	    .per_address = 0, .idle_ms = 3000, .request_ms = 2000});
	struct cg_conn *ci, *cs, *cb, *ck;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, idle), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, slow), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, busy), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, kept), 0);
	ci = connguard_open(g, SA(a), idle[0], 0);
	cs = connguard_open(g, SA(a), slow[0], 0);
	cb = connguard_open(g, SA(a), busy[0], 0);
	ck = connguard_open(g, SA(a), kept[0], 0);
	connguard_request(cs, 500); /* headers due at 2500 */
	connguard_request(cb, 500);
	connguard_answering(cb); /* in: the server works on it */
	connguard_request(ck, 2000);
	connguard_answering(ck);
	connguard_idle(ck, 2900); /* answered; next line due at 5900 */
	assert_int_equal(connguard_sweep(g, 2499), 0);
	assert_int_equal(connguard_sweep(g, 2500), 1);
	assert_true(peer_sees_end(slow[1]));
	assert_false(peer_sees_end(idle[1]));
	assert_int_equal(connguard_sweep(g, 3000), 1); /* the idle one */
	assert_true(peer_sees_end(idle[1]));
	assert_int_equal(connguard_sweep(g, 3001), 0); /* each cut once */
	assert_int_equal(connguard_sweep(g, 5899), 0);
	assert_false(peer_sees_end(busy[1]));
	assert_false(peer_sees_end(kept[1]));
	assert_int_equal(connguard_sweep(g, 5900), 1);
	assert_true(peer_sees_end(kept[1]));
	assert_int_equal(connguard_sweep(g, 100000), 0); /* busy: no deadline */
	f = open_memstream(&text, &len);
	connguard_metrics(g, f);
	fclose(f);
	assert_non_null(strstr(text,
	    "upgate_http_connections_timed_out_total{phase=\"request\"} 1\n"));
	assert_non_null(strstr(text, "{phase=\"request_line\"} 2\n"));
	free(text);
	connguard_close(g, ci);
	connguard_close(g, cs);
	connguard_close(g, cb);
	connguard_close(g, ck);
	connguard_free(g);
	for (int i = 0; i < 2; i++) {
		close(idle[i]);
		close(slow[i]);
		close(busy[i]);
		close(kept[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cap_per_address),
	    cmocka_unit_test(test_ipv6_counts_by_64),
	    cmocka_unit_test(test_deadlines),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
