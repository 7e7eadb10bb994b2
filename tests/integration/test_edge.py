# SPDX-License-Identifier: MIT
"""The HTTP edge as a hostile client meets it (docs/security.md, "At the
HTTP edge"): request framing, encoded control characters, slow clients
from one address, and the admin listener. Raw sockets, so nothing in a
client library tidies the requests up; clients are told apart by their
source addresses (127.0.0.N: all of 127/8 is loopback)."""
import json
import socket
import time
import unittest

from gwlib import TOKEN, Gateway, Mgmt, free_port, sign

APP = "com.ex.ed"


def connect(port, source="127.0.0.1", timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0))
    return s


def exchange(port, data, timeout=5):
    """Send data on a new connection; everything that comes back until
    the server closes it, and whether it did (rather than time out)."""
    s = connect(port, timeout=timeout)
    s.sendall(data)
    out, closed = b"", False
    try:
        while True:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            out += d
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    return out, closed


def responses(raw):
    """[(status, json body)] of the HTTP/1.1 answers in raw."""
    out = []
    while raw.startswith(b"HTTP/1.1 "):
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        body, raw = rest[:n], rest[n:]
        out.append((int(lines[0].split()[1]), json.loads(body) if body else None, hdrs))
    return out


def answered(port, source="127.0.0.1", path="/healthz", timeout=2):
    """One GET on a new connection from source: its status."""
    s = connect(port, source, timeout)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        if not data:
            raise ConnectionError("closed without an answer")
        return responses(data)[0][0]
    finally:
        s.close()


POST = b"POST /v1/launch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
LAUNCH = b'{"client_id":"c1","app":"com.ex.ed","version":"1.0.0","platform":"linux-x86_64"}'

# (what, request, status, error code): each answered at once and closed.
FRAMING = [
    ("two Content-Length values",
     POST + b"Content-Length: 5\r\nContent-Length: 40\r\n\r\n" + LAUNCH, 400, "malformed_request"),
    ("Content-Length and Transfer-Encoding",
     POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
     b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request"),
    ("an unknown transfer coding",
     POST + b"Transfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     501, "unsupported_transfer_coding"),
    ("chunked then identity",
     POST + b"Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     501, "unsupported_transfer_coding"),
    ("chunked twice",
     POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     400, "malformed_request"),
    ("Transfer-Encoding in HTTP/1.0",
     POST.replace(b"HTTP/1.1", b"HTTP/1.0") + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, "malformed_request"),
    ("an encoded NUL in the path",
     b"GET /v1/apps/com.ex.ed/manifest%00.json HTTP/1.1\r\nHost: x\r\n\r\n", 400,
     "malformed_request"),
    ("an encoded line feed in the path",
     b"GET /v1/apps/com.ex.ed%0a/manifest HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request"),
    ("an encoded NUL in the query",
     b"GET /v1/apps/com.ex.ed/manifest?channel=stable%00x HTTP/1.1\r\nHost: x\r\n\r\n", 400,
     "malformed_request"),
]


class FramingMixin:
    """Run against self.d, a started daemon."""

    def test_ambiguous_framing_is_refused_and_closed(self):
        for what, req, status, code in FRAMING:
            with self.subTest(what):
                raw, closed = exchange(self.d.port, req)
                got = responses(raw)
                self.assertEqual(len(got), 1, raw)  # nothing pipelined after it ran
                self.assertEqual((got[0][0], got[0][1]["error"]["code"]), (status, code), raw)
                self.assertEqual(got[0][2].get("connection"), "close")
                self.assertTrue(closed, what)
        # "5, 5" is refused by libmicrohttpd itself, before upgate sees
        # the request: 400 with its own HTML body (docs/security.md)
        raw, closed = exchange(self.d.port, POST + b"Content-Length: 83, 83\r\n\r\n" + LAUNCH)
        self.assertTrue(raw.startswith(b"HTTP/1.1 400 "), raw)
        self.assertTrue(closed)
        # the daemon serves everyone else all along
        self.assertEqual(answered(self.d.port), 200)

    def test_plain_chunked_body_still_works(self):
        raw, _ = exchange(self.d.port, self.chunked_request(), timeout=2)
        self.chunked_answer(responses(raw)[0])


class TestGatewayFraming(FramingMixin, unittest.TestCase):
    def setUp(self):
        self.d = Gateway().start()
        self.addCleanup(self.d.cleanup)
        self.assertEqual(self.d.publish(APP, "1.0.0")[0], 201)

    def chunked_request(self):
        body = b'{"client_id":"c1"}'
        return (POST + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")

    def chunked_answer(self, got):
        # the body arrived whole: the launch names what else it lacks
        self.assertEqual(got[1]["error"]["code"], "missing_field", got)

    def test_manifest_path_is_not_cut_at_a_nul(self):
        self.assertEqual(answered(self.d.port, path="/v1/apps/com.ex.ed/manifest"), 200)
        self.assertEqual(answered(self.d.port, path="/v1/apps/com.ex.ed/manifest%00.json"), 400)


class TestMgmtFraming(FramingMixin, unittest.TestCase):
    def setUp(self):
        self.d = Mgmt().start()
        self.addCleanup(self.d.cleanup)

    def chunked_request(self):
        body = b'{"outcomes":[]}'
        signed = "".join("%s: %s\r\n" % kv for kv in sign(body).items()).encode()
        return (b"POST /v1/outcomes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + signed + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")

    def chunked_answer(self, got):
        # the signature held over the whole body; then the batch is read
        self.assertEqual((got[0], got[1]["error"]["field"]), (422, "outcomes"), got)


def slow_client(port, source):
    """A connection that sends a request line and one header, then
    trickles more headers without ever finishing them."""
    s = connect(port, source, timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return s


def trickle(socks):
    """One more header line on each open slow connection; those the
    server has closed come back."""
    gone = []
    for s in socks:
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            gone.append(s)
    return gone


def is_closed(s):
    """Whether the server has closed s (EOF or reset), without waiting."""
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


class TestSlowClients(unittest.TestCase):
    """More slow connections from one address than its cap: the rest are
    refused at accept, every other address is answered at once, and the
    slow ones are cut when their request is not in within
    request_timeout, however often they send a byte."""

    CAP = 4

    def setUp(self):
        self.gw = Gateway()
        self.gw.server = {"max_connections_per_address": self.CAP,
                          "request_timeout": "2s", "connection_timeout": "3s",
                          "trusted_proxies": "127.0.0.9"}
        self.gw.start()
        self.addCleanup(self.gw.cleanup)
        self.socks = []
        self.addCleanup(lambda: [s.close() for s in self.socks])

    def test_one_address_cannot_starve_the_others(self):
        # A request deadline long enough that a loaded machine still
        # counts the held connections before it cuts them.
        self.gw.stop()
        self.gw.server = dict(self.gw.server, request_timeout="6s",
                              connection_timeout="8s")
        self.gw.start()
        port = self.gw.port
        for _ in range(self.CAP * 5):
            try:
                self.socks.append(slow_client(port, "127.0.0.2"))
            except OSError:
                pass
        time.sleep(0.3)
        trickle(self.socks)
        # The refused ones are closed at accept; on a loaded machine that
        # may take the daemon a moment to reach, so wait for it (bounded).
        deadline = time.monotonic() + 10
        while True:
            time.sleep(0.2)
            held = [s for s in self.socks if not is_closed(s)]
            if len(held) <= self.CAP + 1 or time.monotonic() > deadline:
                break
        self.assertLessEqual(len(held), self.CAP + 1)  # +1: threads may race the count
        self.assertGreaterEqual(len(held), self.CAP - 1)
        # another address, at once, while they hold theirs
        t0 = time.monotonic()
        self.assertEqual(answered(port, "127.0.0.3"), 200)
        self.assertEqual(answered(port, "127.0.0.4"), 200)
        self.assertLess(time.monotonic() - t0, 1.5)
        # the crowded address itself gets nothing more
        with self.assertRaises(OSError):
            answered(port, "127.0.0.2")
        # trickling does not keep them: cut within request_timeout (6 s)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(is_closed(s) for s in held):
            trickle(held)
            time.sleep(0.4)
        self.assertTrue(all(is_closed(s) for s in held), "slow connections still open")
        # its address may connect again, and the cuts are counted
        self.assertEqual(answered(port, "127.0.0.2"), 200)
        st, _, text = self.gw.request("GET", "/metrics")
        text = text.decode()
        self.assertRegex(text, r"upgate_http_connections_refused_total [1-9]")
        self.assertRegex(text, r'upgate_http_connections_timed_out_total\{phase="request"\} [1-9]')

    def test_a_request_line_that_never_ends_is_cut(self):
        s = connect(self.gw.port, "127.0.0.5", timeout=10)
        self.socks.append(s)
        s.sendall(b"GET /healthz")
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not is_closed(s):
            try:
                s.sendall(b"x")  # a byte a second: the idle timeout never fires
            except OSError:
                break
            time.sleep(1)
        self.assertTrue(is_closed(s))
        self.assertLess(deadline - time.monotonic(), 8 - 2.5)

    def test_keepalive_connection_serves_many_requests(self):
        s = connect(self.gw.port, "127.0.0.6")
        self.socks.append(s)
        for _ in range(3):  # each request on time; idle between them under 3 s
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"200 OK", s.recv(4096))
            time.sleep(1.2)

    def test_trusted_proxy_is_not_capped(self):
        socks = []
        for _ in range(self.CAP * 3):
            s = connect(self.gw.port, "127.0.0.9")
            socks.append(s)
            self.socks.append(s)
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            self.assertIn(b"200 OK", s.recv(4096))


class AdminListenerMixin:
    """[server] admin_listen: internal routes only there."""

    def start_daemon(self, cls, **kw):
        self.admin_port = free_port()
        d = cls(**kw)
        d.server = {"admin_listen": "127.0.0.1:%d" % self.admin_port}
        d.start()
        self.addCleanup(d.cleanup)
        self.assertIn("127.0.0.1:%d only" % self.admin_port, open(d.log).read())
        return d

    def check(self, d, internal, public):
        pub, adm = d.port, self.admin_port
        for method, path in internal:
            with self.subTest(path):
                d.port = pub
                st, _, doc = d.request(method, path, token=TOKEN)
                self.assertEqual(st, 404, doc)
                self.assertEqual(doc["error"]["code"], "not_found")
                d.port = adm
                st, _, doc = d.request(method, path, token=TOKEN)
                self.assertNotIn(st, (404, 405), doc) if st != 404 else \
                    self.assertNotEqual(doc["error"]["code"], "not_found")
        for method, path in public:
            with self.subTest(path):
                for port in (pub, adm):
                    d.port = port
                    st, _, doc = d.request(method, path)
                    self.assertFalse(st == 404 and doc["error"]["code"] == "not_found", doc)
        d.port = pub


class TestGatewayAdminListener(AdminListenerMixin, unittest.TestCase):
    def test_public_listener_serves_only_public_routes(self):
        gw = self.start_daemon(Gateway)
        self.check(gw, [("GET", "/metrics"), ("GET", "/v1/admin/releases"),
                        ("GET", "/v1/admin/upgrades"), ("GET", "/v1/admin/rollbacks/x")],
                   [("GET", "/healthz"), ("GET", "/readyz"),
                    ("GET", "/v1/apps/com.ex.ed/manifest")])
        # not even a 405 gives an internal route away
        st, _, doc = gw.request("PUT", "/v1/admin/releases", {"a": 1})
        self.assertEqual(st, 404, doc)


class TestMgmtAdminListener(AdminListenerMixin, unittest.TestCase):
    def test_public_listener_serves_only_public_routes(self):
        mg = self.start_daemon(Mgmt)
        self.check(mg, [("GET", "/metrics"), ("GET", "/"), ("GET", "/app.js"),
                        ("GET", "/v1/outcomes"), ("GET", "/v1/stats"),
                        ("GET", "/v1/outcomes.csv"), ("GET", "/v1/alerts")],
                   [("GET", "/healthz"), ("GET", "/readyz")])
        mg.port = mg.listen_port
        st, _, doc = mg.ingest({"outcomes": []})
        self.assertNotEqual(st, 404, doc)


if __name__ == "__main__":
    unittest.main()
