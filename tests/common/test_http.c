/* SPDX-License-Identifier: MIT */
/* Tests of the HTTP layer on a real loopback server, and of addresses. */
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

#include "upgate/addr.h"
#include "upgate/http.h"

static int
h_item(struct req *r, struct resp *rs)
{
	return http_reply(rs, 200,
	    json_pack(
		"{s:s, s:s?}", "id", r->params[0], "q", req_query(r, "q")));
}

static int
h_echo(struct req *r, struct resp *rs)
{
	if (r->body == NULL)
		return http_error(rs, -EBADMSG, "missing_body", NULL, "body!");
	return http_reply(rs, 201, json_incref(r->body));
}

static int
h_fail(struct req *r, struct resp *rs)
{
	(void)r;
	(void)rs;
	return -EBUSY;
}

static const struct http_route routes[] = {
    {"GET", "/v1/items/{id}", h_item, HTTP_AUTH_NONE, 0, HTTP_PUBLIC},
    {"POST", "/v1/items/{id}/echo", h_echo, HTTP_AUTH_ADMIN, 32, HTTP_INTERNAL},
    {"GET", "/fail", h_fail, HTTP_AUTH_NONE, 0, HTTP_PUBLIC},
};

static int
auth(void *ctx, const char *token, size_t len, struct access_caller *out)
{
	(void)ctx;
	if (len != 3 || memcmp(token, "tok", 3) != 0)
		return -EACCES;
	*out = (struct access_caller){"tok", ACCESS_ADMIN, "*"};
	return 0;
}

/* Send raw request text to port; return the whole answer (malloc'd). */
static char *
fetch(unsigned port, const char *text)
{
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char *buf = calloc(1, 65536);
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	while ((n = read(fd, buf + len, 65535 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return buf;
}

static void
expect(unsigned port, const char *req, const char *status, const char *has)
{
	char *ans = fetch(port, req);

	if (strncmp(ans, status, strlen(status)) != 0 ||
	    (has != NULL && strstr(ans, has) == NULL))
		fail_msg("request:\n%s\nwant %s with '%s', got:\n%s", req,
		    status, has ? has : "", ans);
	free(ans);
}

static void
test_server(void **state)
{
	struct http_config c = {.listen = "127.0.0.1:0",
	    .threads = 2,
	    .conn_limit = 16,
	    .conn_timeout_s = 5,
	    .routes = routes,
	    .n_routes = 3,
	    .authorize = auth};
	struct http_server *s;
	unsigned p;
	FILE *m;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(http_start(&c, &s), 0);
	p = http_port(s);
	assert_true(p > 0);
	expect(p, "GET /v1/items/abc?q=x%20y HTTP/1.0\r\n\r\n", "HTTP/1.1 200",
	    "{\"id\":\"abc\",\"q\":\"x y\"}");
	expect(p, "GET /v1/items/ HTTP/1.0\r\n\r\n", "HTTP/1.1 404",
	    "\"code\":\"not_found\"");
	expect(p, "GET /v1/items/a/b HTTP/1.0\r\n\r\n", "HTTP/1.1 404", NULL);
	expect(p, "DELETE /v1/items/abc HTTP/1.0\r\n\r\n", "HTTP/1.1 405",
	    "Allow: GET");
	expect(p,
	    "POST /v1/items/a/echo HTTP/1.0\r\nContent-Type: "
	    "application/json\r\nContent-Length: 2\r\n\r\n{}",
	    "HTTP/1.1 401", "WWW-Authenticate: Bearer");
	expect(p,
	    "POST /v1/items/a/echo HTTP/1.0\r\nAuthorization: Bearer tok"
	    "\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
	    "{\"a\":1}",
	    "HTTP/1.1 201", "{\"a\":1}");
	expect(p,
	    "POST /v1/items/a/echo HTTP/1.0\r\nAuthorization: Bearer tok"
	    "\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
	    "HTTP/1.1 415", "unsupported_media_type");
	expect(p,
	    "POST /v1/items/a/echo HTTP/1.0\r\nAuthorization: Bearer tok"
	    "\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
	    "{\"a\":\"0123456789012345678901234567890\"}",
	    "HTTP/1.1 413", "body_too_large");
	expect(p,
	    "POST /v1/items/a/echo HTTP/1.0\r\nAuthorization: Bearer tok"
	    "\r\nContent-Type: application/json; charset=utf-8\r\n"
	    "Content-Length: 3\r\n\r\n{x}",
	    "HTTP/1.1 400", "malformed_json");
	expect(p,
	    "POST /v1/items/a/echo HTTP/1.0\r\nAuthorization: Bearer tok"
	    "\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.1 400", "missing_body");
	expect(p, "GET /fail HTTP/1.0\r\n\r\n", "HTTP/1.1 503",
	    "storage_unavailable");

	m = open_memstream(&text, &len);
	http_metrics(s, m);
	fclose(m);
	assert_non_null(strstr(text, "upgate_http_requests_total{route=\"GET "
				     "/v1/items/{id}\",status=\"200\"} 1"));
	assert_non_null(strstr(text, "{route=\"unmatched\",status=\"404\"} 2"));
	free(text);
	http_quiesce(s);
	assert_true(http_drain(s, 1000));
	http_free(s);
}

static void
test_status_mapping(void **state)
{
	(void)state;
	assert_int_equal(http_status_from_err(-EBADMSG), 400);
	assert_int_equal(http_status_from_err(-EACCES), 401);
	assert_int_equal(http_status_from_err(-ENOENT), 404);
	assert_int_equal(http_status_from_err(-EEXIST), 409);
	assert_int_equal(http_status_from_err(-EINVAL), 422);
	assert_int_equal(http_status_from_err(-ENOSPC), 503);
	assert_int_equal(http_status_from_err(-ENOMEM), 500);
}

static void
test_addresses(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64];

	(void)state;
	assert_int_equal(addr_parse("127.0.0.1:8470", &ss, &len), 0);
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8470");
	assert_int_equal(addr_parse("[::1]:0", &ss, &len), 0);
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:0");
	assert_int_equal(addr_parse("localhost:1", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(addr_parse("127.0.0.1", &ss, &len), -EINVAL);
	assert_int_equal(addr_parse("127.0.0.1:65536", &ss, &len), -EINVAL);
	assert_int_equal(addr_parse("127.0.0.1:", &ss, &len), -EINVAL);
	assert_int_equal(addr_parse("::1:80", &ss, &len), -EINVAL);
	assert_int_equal(addr_parse("example.com:80", &ss, &len), -EINVAL);
}

/* The client addr_client names for peer and xff, as text. */
static const char *
client(const char *peer, const char *xff, const struct addr_range *r, int n,
    char *buf, size_t len)
{
	struct sockaddr_storage p, out;
	socklen_t pl;

	assert_int_equal(addr_parse(peer, &p, &pl), 0);
	addr_client((struct sockaddr *)&p, xff, r, (size_t)n, &out);
	addr_format_host((struct sockaddr *)&out, buf, len);
	return buf;
}

static void
test_ranges_and_forwarded_clients(void **state)
{
	struct addr_range r[ADDR_RANGES_MAX];
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64], longer[3000];
	int n;

	(void)state;
	assert_int_equal(addr_ranges_parse("", r, ADDR_RANGES_MAX), 0);
	n = addr_ranges_parse(
	    "127.0.0.1, 10.0.0.0/8,::1 ,fd00::/8", r, ADDR_RANGES_MAX);
	assert_int_equal(n, 4);
	assert_int_equal(addr_parse("10.200.3.4:1", &ss, &len), 0);
	assert_true(addr_in_ranges((struct sockaddr *)&ss, r, (size_t)n));
	assert_int_equal(addr_parse("11.0.0.1:1", &ss, &len), 0);
	assert_false(addr_in_ranges((struct sockaddr *)&ss, r, (size_t)n));
	assert_int_equal(addr_parse("[fd12::1]:1", &ss, &len), 0);
	assert_true(addr_in_ranges((struct sockaddr *)&ss, r, (size_t)n));
	/* An IPv4 peer on an IPv6 socket. */
	assert_int_equal(addr_parse("[::ffff:10.1.2.3]:1", &ss, &len), 0);
	assert_true(addr_in_ranges((struct sockaddr *)&ss, r, (size_t)n));
	for (const char *bad = "10.0.0.0/33\0/8\0host.example\0"
			       "1.2.3.4,,5.6.7.8\0::1/129\0 \0";
	     *bad; bad += strlen(bad) + 1)
		assert_false(addr_ranges_valid(bad));
	assert_true(addr_ranges_valid("0.0.0.0/0, ::/0"));

	/* The right-most address that is not a trusted proxy. */
	assert_string_equal(
	    client("127.0.0.1:5", "203.0.113.7", r, n, buf, sizeof(buf)),
	    "203.0.113.7");
	assert_string_equal(
	    client("127.0.0.1:5", "198.51.100.1, 203.0.113.7, 10.1.1.1", r, n,
		buf, sizeof(buf)),
	    "203.0.113.7");
	assert_string_equal(
	    client("127.0.0.1:5", " 2001:db8::5 ", r, n, buf, sizeof(buf)),
	    "2001:db8::5");
	/* Every hop trusted: where it began. */
	assert_string_equal(
	    client("127.0.0.1:5", "10.0.0.9, ::1", r, n, buf, sizeof(buf)),
	    "10.0.0.9");
	/* From anyone else, X-Forwarded-For is not read. */
	assert_string_equal(
	    client("192.0.2.1:5", "203.0.113.7", r, n, buf, sizeof(buf)),
	    "192.0.2.1");
	assert_string_equal(
	    client("127.0.0.1:5", "203.0.113.7", r, 0, buf, sizeof(buf)),
	    "127.0.0.1");
	/* Malformed or absurdly long: the peer. */
	assert_string_equal(
	    client("127.0.0.1:5", "203.0.113.7, junk", r, n, buf, sizeof(buf)),
	    "127.0.0.1");
	assert_string_equal(
	    client("127.0.0.1:5", "", r, n, buf, sizeof(buf)), "127.0.0.1");
	memset(longer, 0, sizeof(longer));
	while (strlen(longer) + 20 < sizeof(longer))
		strcat(longer, "10.0.0.1,");
	strcat(longer, "1.2.3.4");
	assert_string_equal(
	    client("127.0.0.1:5", longer, r, n, buf, sizeof(buf)), "127.0.0.1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server),
	    cmocka_unit_test(test_status_mapping),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_ranges_and_forwarded_clients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
