# SPDX-License-Identifier: MIT
"""Running upgate in production: HTTPS with a test CA, rate limits, idle
connections, the log file, systemd notifications and credentials, the
unit files and `make install`."""
import http.client
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from gwlib import BIN, TOKEN, Gateway, Mgmt, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    """A CA and a server certificate for 127.0.0.1/localhost signed by it."""
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", name + "-ca.key", "-out", name + "-ca.pem",
            "-days", "2", "-subj", "/CN=upgate test CA " + name, cwd=d)
    openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=localhost", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", name + "-ca.pem", "-CAkey",
            name + "-ca.key", "-CAcreateserial", "-out", name + ".pem", "-days", "2",
            "-extfile", "san.ext", cwd=d)
    return tuple(os.path.join(d, name + s) for s in ("-ca.pem", ".pem", ".key"))


@unittest.skipIf(shutil.which("openssl") is None, "openssl is not installed")
class TestTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="upgate-tls-")
        cls.ca, cls.cert, cls.key = make_ca(cls.tmp, "good")
        cls.other_ca, _, cls.other_key = make_ca(cls.tmp, "other")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tls_daemon(self, d):
        d.server = {"tls_cert": self.cert, "tls_key": self.key}
        d.ssl_context = ssl.create_default_context(cafile=self.ca)
        return d

    def test_both_daemons_and_the_forwarder(self):
        mgmt = self.tls_daemon(Mgmt())
        mgmt.start()
        self.addCleanup(mgmt.cleanup)
        self.assertEqual(mgmt.scheme, "https")
        gw = self.tls_daemon(Gateway(mgmt_url="https://127.0.0.1:%d" % mgmt.port,
                                     forward={"ca_file": self.ca}))
        gw.start()
        self.addCleanup(gw.cleanup)
        self.assertTrue(gw.url.startswith("https://"))
        st, _, doc = gw.request("GET", "/healthz")
        self.assertEqual(st, 200, doc)
        # The wrong CA is refused, and so is plain HTTP on the TLS port.
        bad = ssl.create_default_context(cafile=self.other_ca)
        with self.assertRaises(urllib.error.URLError) as e:
            urllib.request.urlopen(gw.url + "/healthz", timeout=10, context=bad)
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(e.exception))
        with self.assertRaises(Exception):
            urllib.request.urlopen("http://127.0.0.1:%d/healthz" % gw.port, timeout=10)
        # An outcome crosses to mgmtd over HTTPS, its certificate checked.
        st, _, _ = gw.publish("com.example.tls", "1.0.0")
        self.assertEqual(st, 201)
        up = gw.launch("tls-1", "com.example.tls", "0.9.0")["upgrade"]
        gw.report(up["upgrade_id"], "tls-1", 1, "succeeded")
        wait_for(lambda: mgmt.outcomes(app="com.example.tls")["outcomes"],
                 what="the outcome over https")
        # A gateway that trusts another CA keeps its outcomes.
        gw2 = self.tls_daemon(Gateway(mgmt_url="https://127.0.0.1:%d" % mgmt.port,
                                      forward={"ca_file": self.other_ca}))
        gw2.start()
        self.addCleanup(gw2.cleanup)
        gw2.publish("com.example.tls2", "1.0.0")
        up = gw2.launch("tls-2", "com.example.tls2", "0.9.0")["upgrade"]
        gw2.report(up["upgrade_id"], "tls-2", 1, "succeeded")

        def failures():
            _, _, text = gw2.request("GET", "/metrics")
            m = re.search(rb"upgate_forward_failures_total (\d+)", text)
            return m and int(m.group(1)) >= 2
        wait_for(failures, what="refused forwarding attempts")
        self.assertEqual(gw2.sql("SELECT count(*) FROM outbox")[0][0], 1)
        self.assertEqual(mgmt.outcomes(app="com.example.tls2")["outcomes"], [])

    def test_sighup_reloads_the_certificate(self):
        """SIGHUP serves new handshakes with the files' new pair, keeps
        open connections, and keeps the running pair when the new one
        does not load; in both daemons."""
        _, next_cert, next_key = make_ca(self.tmp, "next")

        def der(pem):
            with open(pem) as f:
                return ssl.PEM_cert_to_DER_cert(f.read())

        def put(cert, key, live):
            for src, dst in ((cert, live[0]), (key, live[1])):
                shutil.copy(src, dst + ".tmp")
                os.replace(dst + ".tmp", dst)

        def served(d):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
                with ctx.wrap_socket(raw) as tls:
                    return tls.getpeercert(binary_form=True)

        def logged(d, text):
            with open(d.log) as f:
                return text in f.read()

        for cls in (Gateway, Mgmt):
            with self.subTest(program=cls.__name__):
                live = [os.path.join(self.tmp, cls.__name__ + s) for s in (".pem", ".key")]
                put(self.cert, self.key, live)
                d = cls()
                d.server = {"tls_cert": live[0], "tls_key": live[1]}
                d.ssl_context = ssl.create_default_context(cafile=self.ca)
                d.start()
                self.addCleanup(d.cleanup)
                self.assertEqual(served(d), der(self.cert))
                kept = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=10,
                                                   context=d.ssl_context)
                self.addCleanup(kept.close)
                kept.request("GET", "/healthz")
                r = kept.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                put(next_cert, next_key, live)
                d.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: logged(d, "reloaded the TLS certificate and key"),
                         what="the reload")
                self.assertEqual(served(d), der(next_cert))
                kept.request("GET", "/healthz")
                r = kept.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                # A key that is not the certificate's: the configuration
                # is invalid, and the running pair stays.
                put(self.cert, next_key, live)
                d.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: logged(d, "configuration invalid, keeping the running one"),
                         what="the refused reload")
                self.assertEqual(served(d), der(next_cert))
                self.assertEqual(d.stop(), 0)

    def test_bad_tls_files_refused_with_the_key(self):
        """--check-config (and start-up) name the [server] key whose file
        cannot serve, in both daemons; a good pair passes."""
        not_pem = os.path.join(self.tmp, "good-ca.srl")
        missing = os.path.join(self.tmp, "missing.pem")
        cases = [
            ({"tls_cert": self.cert}, "[server] tls_key: must be set with tls_cert"),
            ({"tls_key": self.key}, "[server] tls_cert: must be set with tls_key"),
            ({"tls_cert": missing, "tls_key": self.key},
             "[server] tls_cert: cannot read %s: No such file or directory" % missing),
            ({"tls_cert": self.cert, "tls_key": not_pem},
             "[server] tls_key: cannot use %s: not PEM" % not_pem),
            ({"tls_cert": self.cert, "tls_key": self.other_key},
             "[server] tls_key: cannot use %s: " % self.other_key),
        ]
        for cls in (Gateway, Mgmt):
            d = cls()
            self.addCleanup(d.cleanup)
            for server, says in cases:
                with self.subTest(program=d.program, server=server):
                    d.server = server
                    d.write_conf()
                    r = subprocess.run([os.path.join(BIN, d.program), "--check-config",
                                        "-c", d.conf], capture_output=True, text=True)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn(d.conf + ": " + says, r.stderr)
            d.server = {"tls_cert": self.cert, "tls_key": self.key}
            d.write_conf()
            r = subprocess.run([os.path.join(BIN, d.program), "--check-config", "-c", d.conf],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_launcher_and_ctl_check_the_gateway(self):
        gw = self.tls_daemon(Gateway())
        gw.start()
        self.addCleanup(gw.cleanup)
        d = os.path.join(self.tmp, "inst")
        os.makedirs(os.path.join(d, "versions", "1.0.0"))
        with open(os.path.join(d, "versions", "1.0.0", "app"), "w") as f:
            f.write("#!/bin/sh\necho app ran\n")
        os.chmod(os.path.join(d, "versions", "1.0.0", "app"), 0o755)
        os.symlink("versions/1.0.0", os.path.join(d, "current"))
        gw.publish("com.example.lt", "1.1.0")
        base = [os.path.join(BIN, "upgate-launch"), "--gateway", gw.url, "--app",
                "com.example.lt", "--client-id", "lt-1", "--install-dir", d,
                "--platform", "linux-x86_64", "-v"]
        r = subprocess.run(base + ["--ca-file", self.other_ca, "--", "app"],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("app ran", r.stdout)
        self.assertIn("no answer from the gateway", r.stderr)
        self.assertEqual(gw.sql("SELECT count(*) FROM upgrades")[0][0], 0)
        r = subprocess.run(base + ["--ca-file", self.ca, "--", "app"],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("app ran", r.stdout)
        self.assertNotIn("no answer", r.stderr)
        self.assertEqual(gw.sql("SELECT count(*) FROM upgrades")[0][0], 1)
        env = dict(os.environ, UPGATE_TOKEN=TOKEN)
        ctl = [os.path.join(BIN, "upgatectl"), "--gateway", gw.url, "releases"]
        r = subprocess.run(ctl + ["--ca-file", self.ca], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(ctl + ["--ca-file", self.other_ca], capture_output=True, text=True,
                           env=env)
        self.assertEqual(r.returncode, 1, r.stderr)


class TestLimits(unittest.TestCase):
    def test_rate_limit_per_address(self):
        gw = Gateway()
        gw.server = {"rate_limit": 1, "rate_burst": 3}
        gw.start()
        self.addCleanup(gw.cleanup)
        got = [gw.request("GET", "/v1/apps/com.example.x/manifest") for _ in range(12)]
        limited = [r for r in got if r[0] == 429]
        self.assertGreaterEqual(len(limited), 5, [r[0] for r in got])
        st, hdrs, doc = limited[0]
        self.assertGreaterEqual(int(hdrs["Retry-After"]), 1)
        self.assertEqual(doc["error"]["code"], "rate_limited")
        # Admin endpoints are not limited.
        self.assertEqual(gw.admin("GET", "/v1/admin/releases")[0], 200)
        time.sleep(1.1)  # a token for the scrape
        st, _, text = gw.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn(b'status="429"', text)

    def test_idle_and_slow_connections_are_dropped(self):
        gw = Gateway()
        gw.server = {"connection_timeout": "1s"}
        gw.start()
        self.addCleanup(gw.cleanup)
        idle = socket.create_connection(("127.0.0.1", gw.port))
        slow = socket.create_connection(("127.0.0.1", gw.port))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        for s in (idle, slow):
            s.settimeout(30)
            self.assertEqual(s.recv(100), b"", "the server closed the connection")
            s.close()
        self.assertEqual(gw.request("GET", "/healthz")[0], 200)


def threads_and_connections(d):
    """A running daemon's HTTP threads and its open connections to its
    database (the writer and every reader)."""
    pid = d.proc.pid
    tasks = os.listdir("/proc/%d/task" % pid)
    http = 0
    for t in tasks:
        with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
            http += f.read().startswith("MHD-")
    db = os.path.realpath(d.db)
    conns = sum(os.path.realpath("/proc/%d/fd/%s" % (pid, fd)) == db
                for fd in os.listdir("/proc/%d/fd" % pid))
    return http, conns


def assert_threads_and_connections(d, want):
    """threads_and_connections(d) reaches `want`: a libmicrohttpd thread
    names itself once it runs, which on a loaded machine can be after the
    daemon has already answered on another thread."""
    try:
        wait_for(lambda: threads_and_connections(d) == want, timeout=10,
                 what="%s threads and connections %r" % (d.name, want))
    except AssertionError:
        raise AssertionError("%s: %r != %r" % (d.name, threads_and_connections(d), want))


class TestThreads(unittest.TestCase):
    def test_default_threads_and_readers_count_the_cpus_allowed(self):
        """threads = 0 and readers = 0 size both daemons from the CPUs
        they may run on (taskset, CPUAffinity=, a cpuset): the gateway
        leaves one to its writer (keeping at least one HTTP thread), mgmtd
        does not, and each opens HTTP threads + 2 readers."""
        allowed = os.sched_getaffinity(0)
        for cpus in sorted({frozenset([min(allowed)]), frozenset(allowed)}, key=len):
            os.sched_setaffinity(0, cpus)  # the daemons inherit it
            try:
                gw = Gateway()
                gw.server = {"threads": 0}
                gw.start()
                self.addCleanup(gw.cleanup)
                mg = Mgmt(server={"threads": 0})
                mg.start()
                self.addCleanup(mg.cleanup)
            finally:
                os.sched_setaffinity(0, allowed)
            n = len(cpus)
            with self.subTest(cpus=n):
                assert_threads_and_connections(gw, (max(n - 1, 1), max(n - 1, 1) + 3))
                assert_threads_and_connections(mg, (n, n + 3))
            gw.cleanup()
            mg.cleanup()

    def test_one_thread_starts_without_warnings(self):
        """One HTTP thread is libmicrohttpd's polling thread, not a pool
        of one (which it would warn of and ignore): both daemons, wired
        to each other, start with 1 or 2 threads, log no warning and
        serve."""
        for threads in (1, 2):
            with self.subTest(threads=threads):
                mg = Mgmt(server={"threads": threads})
                mg.start()
                self.addCleanup(mg.cleanup)
                gw = Gateway(mgmt_url=mg.url)
                gw.server = {"threads": threads}
                gw.start()
                self.addCleanup(gw.cleanup)
                for d in (gw, mg):
                    status, _, _ = d.request("GET", "/healthz")
                    self.assertEqual(status, 200)
                    assert_threads_and_connections(d, (threads, threads + 3))
                    with open(d.log) as f:
                        warned = [l for l in f if " warning: " in l or " error: " in l]
                    self.assertEqual(warned, [], d.name)
                gw.cleanup()
                mg.cleanup()


class TestLogAndSystemd(unittest.TestCase):
    def test_request_log_file_and_reopen(self):
        gw = Gateway()
        gw.extra = {"log": {"file": gw.log, "level": "info"}}
        gw.start()
        self.addCleanup(gw.cleanup)
        gw.request("GET", "/v1/apps/com.example.x/manifest")

        def logged():
            with open(gw.log) as f:
                text = f.read()
            return "route=" in text and text
        text = wait_for(logged, what="the request line")
        self.assertRegex(text, r'info: 127\.0\.0\.1:\d+ "GET /v1/apps/com\.example\.x/manifest" 404 '
                               r'[\d.]+ms route=/v1/apps/\{app\}/manifest')
        # logrotate: move the file away, SIGHUP, a new file starts.
        os.rename(gw.log, gw.log + ".1")
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(gw.log), what="a new log file")
        gw.request("GET", "/healthz")
        def read(path):
            with open(path) as f:
                return f.read()
        wait_for(lambda: '"GET /healthz" 200' in read(gw.log), what="the request in the new file")
        self.assertNotIn("/healthz", read(gw.log + ".1"))

    def test_sd_notify_ready_watchdog_reload_stopping(self):
        tmp = tempfile.mkdtemp(prefix="upgate-notify-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(30)
        self.addCleanup(sock.close)
        for cls in (Gateway, Mgmt):
            d = cls()
            d.env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="300000")
            d.start()
            self.addCleanup(d.cleanup)
            seen = []

            def until(word):
                while True:
                    msg = sock.recv(4096).decode()
                    seen.append(msg)
                    if word in msg.split("\n"):
                        return msg
            ready = until("READY=1")
            self.assertIn("STATUS=listening on http://127.0.0.1:%d" % d.port, ready)
            until("WATCHDOG=1")
            until("WATCHDOG=1")
            d.proc.send_signal(signal.SIGHUP)
            until("RELOADING=1")
            until("READY=1")
            self.assertEqual(d.stop(), 0)
            until("STOPPING=1")

    def test_credentials_directory(self):
        """Secrets named by a bare name, or by a path whose name systemd
        passed as a credential, come from $CREDENTIALS_DIRECTORY."""
        creds = tempfile.mkdtemp(prefix="upgate-creds-")
        self.addCleanup(shutil.rmtree, creds, True)
        with open(os.path.join(creds, "admin.token"), "w") as f:
            f.write("credential-token-0123456789\n")
        with open(os.path.join(creds, "forward.secret"), "w") as f:
            f.write("credential-secret\n")
        gw = Gateway()
        gw.extra = {"admin": {"token_file": "admin.token"}}
        gw.env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
        gw.start()
        self.addCleanup(gw.cleanup)
        self.assertEqual(gw.request("GET", "/v1/admin/releases",
                                    token="credential-token-0123456789")[0], 200)
        self.assertEqual(gw.admin("GET", "/v1/admin/releases")[0], 401)
        # The installed example configs name /etc/upgate/... paths; with
        # the unit's credentials they check out as valid.
        for prog, conf in (("upgate-gatewayd", "etc/gateway.conf"),
                           ("upgate-mgmtd", "etc/mgmt.conf")):
            r = subprocess.run([os.path.join(BIN, prog), "--check-config", "-c",
                                os.path.join(ROOT, conf)], capture_output=True, text=True,
                               env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
            self.assertEqual(r.returncode, 0, r.stderr)


class TestBackup(unittest.TestCase):
    def test_documented_online_backup(self):
        """The sqlite3 .backup line of docs/operations.md, on a running
        gateway with writes going on."""
        gw = Gateway().start()
        self.addCleanup(gw.cleanup)
        for i in range(20):
            gw.publish("com.example.bk", "1.0.%d" % i)
        out = os.path.join(gw.dir, "backup.db")
        with open(os.path.join(ROOT, "docs/operations.md")) as f:
            self.assertIn('sqlite3 /var/lib/upgate/gateway.db ".backup', f.read())
        r = subprocess.run(["sqlite3", gw.db, ".backup '%s'" % out], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        gw.publish("com.example.bk", "2.0.0")
        con = sqlite3.connect(out)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(con.execute("SELECT count(*) FROM releases").fetchone()[0], 20)
        finally:
            con.close()


@unittest.skipIf(shutil.which("systemd-analyze") is None, "systemd-analyze is not installed")
class TestInstallAndUnits(unittest.TestCase):
    def test_install_tree_units_and_uninstall(self):
        dest = tempfile.mkdtemp(prefix="upgate-destdir-")
        self.addCleanup(shutil.rmtree, dest, True)
        make = ["make", "--no-print-directory", "-C", ROOT, "DESTDIR=" + dest,
                "PREFIX=/opt/upgate", "BINDIR=" + os.path.abspath(BIN)]
        r = subprocess.run(make + ["install"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        files = sorted(os.path.relpath(os.path.join(d, f), dest)
                       for d, _, fs in os.walk(dest) for f in fs)
        for want in ("opt/upgate/bin/upgate-launch", "opt/upgate/bin/upgatectl",
                     "opt/upgate/sbin/upgate-gatewayd", "opt/upgate/sbin/upgate-mgmtd",
                     "opt/upgate/share/man/man1/upgatectl.1",
                     "opt/upgate/share/man/man8/upgate-gatewayd.8",
                     "opt/upgate/lib/systemd/system/upgate-gatewayd.service",
                     "opt/upgate/lib/systemd/system/upgate-mgmtd.service",
                     "opt/upgate/lib/sysusers.d/upgate.conf",
                     "etc/upgate/gateway.conf", "etc/upgate/mgmt.conf",
                     "etc/upgate/admin.token", "etc/upgate/forward.secret"):
            self.assertIn(want, files)
        self.assertEqual(os.stat(os.path.join(dest, "etc/upgate/admin.token")).st_mode & 0o777,
                         0o600)
        for unit in ("upgate-gatewayd", "upgate-mgmtd"):
            path = os.path.join(dest, "opt/upgate/lib/systemd/system", unit + ".service")
            with open(path) as f:
                text = f.read()
            self.assertIn("ExecStart=/opt/upgate/sbin/%s --config /etc/upgate/" % unit, text)
            self.assertIn("Type=notify", text)
            # Verify against the binary as installed in DESTDIR.
            local = os.path.join(dest, unit + ".service")
            with open(local, "w") as f:
                f.write(text.replace("/opt/upgate/sbin/", dest + "/opt/upgate/sbin/"))
            r = subprocess.run(["systemd-analyze", "verify", "--man=no", local],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                                "--threshold=20", local],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
            self.assertTrue(m, r.stdout + r.stderr)
            self.assertLessEqual(float(m.group(1)), 2.0, r.stdout)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A second install keeps the configs and secrets it finds.
        with open(os.path.join(dest, "etc/upgate/admin.token")) as f:
            token = f.read()
        subprocess.run(make + ["install"], check=True, capture_output=True, timeout=120)
        with open(os.path.join(dest, "etc/upgate/admin.token")) as f:
            self.assertEqual(f.read(), token)
        r = subprocess.run(make + ["uninstall"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        left = sorted(os.path.relpath(os.path.join(d, f), dest)
                      for d, _, fs in os.walk(dest) for f in fs if not f.endswith(".service"))
        self.assertEqual(left, ["etc/upgate/admin.token", "etc/upgate/forward.secret",
                                "etc/upgate/gateway.conf", "etc/upgate/mgmt.conf",
                                "etc/upgate/upgatectl.conf"])


if __name__ == "__main__":
    unittest.main()
