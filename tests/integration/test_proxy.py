# SPDX-License-Identifier: MIT
"""Behind a reverse proxy (SPEC "Behind a reverse proxy"): a real nginx on
loopback in front of the gateway. Clients are told apart by their source
addresses (127.0.0.N: all of 127/8 is loopback); nginx itself connects
from 127.0.0.1, the one trusted proxy."""
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import ssl
import tempfile
import time
import unittest

from gwlib import BIN, TOKEN, Gateway, Mgmt, free_port, sign, wait_for
from test_mgmt import outcome
from test_ops import make_ca

APP = "com.example.editor"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


class Nginx:
    """nginx with a config, pid file and logs of its own: the servers in
    servers (text for its http block), or one in front of upstream
    (host:port) on self.port; started here, stopped by PID."""

    def __init__(self, upstream=None, servers=None, probe=None):
        self.dir = tempfile.mkdtemp(prefix="upgate-nginx-")
        self.port = free_port()
        self.probe = probe
        if servers is None:
            servers = """
    upstream gateway {{ server {up}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://gateway;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
""".format(up=upstream, port=self.port)
        conf = """
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
user root;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{servers}
}}
""".format(d=self.dir, servers=servers)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([NGINX, "-c", self.conf, "-p", self.dir,
                                      "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(self.ready, what="nginx listening")

    def ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("nginx exited: " + self.proc.stderr.read().decode())
        if self.probe is not None:
            return self.probe()
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            c.request("GET", "/healthz")
            return c.getresponse().status == 200
        except OSError:
            return False

    def stop(self):
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGQUIT)
            self.proc.wait(timeout=30)
            self.proc.stderr.close()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def launch(port, source, client, headers=None):
    """POST /v1/launch from source address (127.0.0.N) to port."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                   source_address=(source, 0))
    body = json.dumps({"client_id": client, "app": APP, "version": "1.0.0",
                       "platform": "linux-x86_64"})
    c.request("POST", "/v1/launch", body=body,
              headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


class TestBehindNginx(unittest.TestCase):
    def start(self, **server):
        gw = Gateway()
        gw.server = dict({"trusted_proxies": "127.0.0.1"}, **server)
        gw.extra = {"log": {"file": gw.log, "level": "info"}}
        self.addCleanup(gw.cleanup)
        gw.start()
        self.assertEqual(gw.publish(APP, "1.1.0")[0], 201)
        ng = Nginx("127.0.0.1:%d" % gw.port)
        self.addCleanup(ng.stop)
        return gw, ng

    def log(self, gw):
        with open(gw.log) as f:
            return f.read()

    def test_many_clients_through_one_proxy_with_the_defaults(self):
        """The shipped default has no rate limit: 300 launches in a burst
        from 30 clients, all through one nginx, are all answered."""
        gw = Gateway()
        gw.extra = {"log": {"file": gw.log, "level": "info"}}
        self.addCleanup(gw.cleanup)
        # As shipped: no [server] rate_limit in the file (the tests' own
        # default of 0 taken out) and no trusted_proxies.
        gw.server_section = lambda: {"listen": "127.0.0.1:%d" % gw.listen_port}
        gw.start()
        self.assertEqual(gw.publish(APP, "1.1.0")[0], 201)
        ng = Nginx("127.0.0.1:%d" % gw.port)
        self.addCleanup(ng.stop)
        calls = [("127.0.0.%d" % (2 + i % 30), "c-%d" % i) for i in range(300)]
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            got = list(ex.map(lambda a: launch(ng.port, *a), calls))
        self.assertEqual(got, [200] * 300)

    def test_limit_keys_on_the_real_client(self):
        gw, ng = self.start(rate_limit=2, rate_burst=5)
        noisy = [launch(ng.port, "127.0.0.77", "noisy-%d" % i) for i in range(30)]
        self.assertGreaterEqual(noisy.count(429), 20, noisy)
        quiet = [launch(ng.port, "127.0.0.%d" % n, "quiet-%d-%d" % (n, i))
                 for n in range(2, 12) for i in range(3)]
        self.assertEqual(quiet, [200] * 30)
        # The request log names each client, not the proxy.
        text = wait_for(lambda: (lambda t: '127.0.0.11 "POST /v1/launch"' in t and t)(
            self.log(gw)), what="the request lines")
        self.assertIn('127.0.0.77 "POST /v1/launch" 429', text)
        self.assertIn('127.0.0.2 "POST /v1/launch" 200', text)
        lines = [l for l in text.splitlines() if '"POST /v1/launch"' in l]
        self.assertFalse([l for l in lines if re.search(r"info: 127\.0\.0\.1[: ]", l)])

    def test_forwarded_for_from_others_is_ignored(self):
        gw, ng = self.start(rate_limit=1, rate_burst=3)
        # Straight to the gateway from an address it does not trust: the
        # header is the client's say-so, not read. Changing it every time
        # does not get around the limit.
        got = [launch(gw.port, "127.0.0.5", "liar-%d" % i,
                      {"X-Forwarded-For": "203.0.113.%d" % i}) for i in range(10)]
        self.assertGreaterEqual(got.count(429), 5, got)
        text = wait_for(lambda: (lambda t: t.count('"POST /v1/launch"') >= 10 and t)(
            self.log(gw)), what="the request lines")
        self.assertNotIn("203.0.113.", text)
        self.assertRegex(text, r'127\.0\.0\.5:\d+ "POST /v1/launch" 429')
        # Through the proxy, what the client claims is left of what nginx
        # saw: the client is the right-most untrusted address.
        self.assertEqual(launch(ng.port, "127.0.0.6", "honest",
                                {"X-Forwarded-For": "203.0.113.50"}), 200)
        wait_for(lambda: '127.0.0.6 "POST /v1/launch" 200' in self.log(gw),
                 what="the proxied client logged")

    def test_malformed_or_long_forwarded_for_uses_the_peer(self):
        gw, _ = self.start()
        for value in ("not-an-address", "203.0.113.1,,", "10.0.0.1, " * 400 + "1.2.3.4"):
            self.assertEqual(launch(gw.port, "127.0.0.1", "odd", {"X-Forwarded-For": value}),
                             200)
        text = wait_for(lambda: (lambda t: t.count('"POST /v1/launch" 200') >= 3 and t)(
            self.log(gw)), what="the request lines")
        self.assertEqual(len(re.findall(r'127\.0\.0\.1:\d+ "POST /v1/launch" 200', text)), 3)

    def test_bad_trusted_proxies_names_file_and_line(self):
        gw = Gateway()
        self.addCleanup(gw.cleanup)
        gw.server = {"trusted_proxies": "127.0.0.1, 10.0.0.0/33"}
        gw.write_conf()
        r = subprocess.run([os.path.join(BIN, "upgate-gatewayd"), "-c", gw.conf,
                            "--check-config"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        with open(gw.conf) as f:
            line = [i + 1 for i, l in enumerate(f.read().splitlines())
                    if l.startswith("trusted_proxies")][0]
        self.assertIn("%s:%d: [server] trusted_proxies:" % (gw.conf, line), r.stderr)


@unittest.skipIf(shutil.which("openssl") is None, "openssl is not installed")
class TestShippedExample(unittest.TestCase):
    """contrib/nginx/upgate.conf as shipped, but for its listen lines,
    certificates and upstream ports: TLS ends at nginx, launchers reach
    the gateway, admins the dashboard's live stream, each client logged
    by its own address."""

    def test_tls_launch_and_live_stream(self):
        tmp = tempfile.mkdtemp(prefix="upgate-nginx-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ca, cert, key = make_ca(tmp, "proxy")
        gw = Gateway()
        gw.server = {"trusted_proxies": "127.0.0.1"}
        gw.extra = {"log": {"file": gw.log, "level": "info"}}
        self.addCleanup(gw.cleanup)
        gw.start()
        self.assertEqual(gw.publish(APP, "1.1.0")[0], 201)
        mg = Mgmt()
        mg.server = {"trusted_proxies": "127.0.0.1"}
        self.addCleanup(mg.cleanup)
        mg.start()
        with open(os.path.join(ROOT, "contrib", "nginx", "upgate.conf")) as f:
            text = f.read()
        front, admin = free_port(), free_port()
        for old, new in (("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % front),
                         ("listen 8443 ssl;", "listen 127.0.0.1:%d ssl;" % admin),
                         ("127.0.0.1:8470", "127.0.0.1:%d" % gw.port),
                         ("127.0.0.1:8471", "127.0.0.1:%d" % mg.port)):
            self.assertIn(old, text)
            text = text.replace(old, new)
        text = re.sub(r"/etc/ssl/upgate/[a-z.-]+\.pem", cert, text)
        text = re.sub(r"/etc/ssl/upgate/[a-z.-]+\.key", key, text)
        ctx = ssl.create_default_context(cafile=ca)

        def https(port, source="127.0.0.1"):
            return http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ctx,
                                               source_address=(source, 0))

        def probe():
            try:
                c = https(front)
                c.request("GET", "/healthz")
                return c.getresponse().status == 200
            except OSError:
                return False
        ng = Nginx(servers=text, probe=probe)
        self.addCleanup(ng.stop)

        c = https(front, "127.0.0.9")
        c.request("POST", "/v1/launch", body=json.dumps(
            {"client_id": "tls-1", "app": APP, "version": "1.0.0",
             "platform": "linux-x86_64"}), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read())["action"], "upgrade")
        wait_for(lambda: '127.0.0.9 "POST /v1/launch" 200' in open(gw.log).read(),
                 what="the launcher logged by its own address")

        s = https(admin)
        s.request("GET", "/v1/events/stream", headers={"Authorization": "Bearer " + TOKEN})
        stream = s.getresponse()
        self.assertEqual(stream.status, 200)
        self.assertTrue(stream.getheader("Content-Type").startswith("text/event-stream"))
        # A signed batch through the proxy, as a gateway behind it posts.
        body = json.dumps(outcome(1)).encode()
        c = https(admin)
        c.request("POST", "/v1/outcomes", body=body,
                  headers=dict(sign(body), **{"Content-Type": "application/json"}))
        self.assertEqual(c.getresponse().status, 200)
        t0 = time.time()
        fields = {}
        while "data" not in fields:  # frames until one with data
            fields, line = {}, None
            while line != "":
                line = stream.readline().decode().rstrip("\n")
                if ": " in line and not line.startswith(":"):
                    fields.update([line.split(": ", 1)])
        self.assertLess(time.time() - t0, 5)
        self.assertEqual(fields["event"], "failure")
        self.assertEqual(json.loads(fields["data"])["outcome_id"], outcome(1)["outcome_id"])


if __name__ == "__main__":
    unittest.main()
