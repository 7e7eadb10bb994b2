# SPDX-License-Identifier: MIT
"""Start a real upgate-gatewayd on loopback and talk HTTP to it."""
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pglib

BIN = os.environ.get("UPGATE_BIN", os.path.join(os.path.dirname(__file__), "../../bin"))
TOKEN = "test-admin-token-0123456789"
SECRET = "test-forward-secret-abcdef"
SHA = "ab" * 32


def artifact(platform="linux-x86_64", url="https://dl.example.com/a.tar.gz", size=1024):
    return {platform: {"url": url, "size": size, "sha256": SHA}}


class Daemon:
    """One daemon process with its own directory, config and database."""
    program = None
    name = None

    def __init__(self, directory=None):
        self.dir = directory or tempfile.mkdtemp(prefix="upgate-it-")
        self.owns_dir = directory is None
        self.db = os.path.join(self.dir, self.name + ".db")
        self.token_file = os.path.join(self.dir, "admin.token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        self.secret_file = os.path.join(self.dir, "forward.secret")
        if not os.path.exists(self.secret_file):
            with open(self.secret_file, "w") as f:
                f.write(SECRET + "\n")
        self.conf = os.path.join(self.dir, self.name + ".conf")
        self.proc = None
        self.port = None
        self.log = os.path.join(self.dir, self.name + ".log")

    extra = {}   # more sections or keys, merged into the config
    env = None   # the daemon's environment (None: ours)
    ssl_context = None  # for https: trusts the test's CA

    def write_sections(self, sections):
        sections = {k: dict(v) for k, v in sections.items()}
        for sec, kv in self.extra.items():
            sections.setdefault(sec, {}).update(kv)
        lines = []
        for sec, kv in sections.items():
            lines.append("[%s]" % sec)
            lines += ["%s = %s" % item for item in kv.items()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    scheme = "http"
    server = {}

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def server_section(self):
        """[server]: loopback, 4 threads, no rate limit unless asked."""
        sec = {"listen": "127.0.0.1:%d" % self.listen_port, "threads": 4, "rate_limit": 0}
        sec.update(self.server)
        return sec

    def start(self, port=None):
        if port is not None:
            self.listen_port = port
        self.write_conf()
        logf = open(self.log, "a")
        start = os.path.getsize(self.log)
        cmd = [os.path.join(BIN, self.program), "-c", self.conf]
        vg = os.environ.get("UPGATE_VALGRIND")
        if vg:  # make valgrind: every daemon under memcheck, a log per process
            os.makedirs(vg, exist_ok=True)
            cmd = ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite",
                   "--errors-for-leak-kinds=definite", "--num-callers=30",
                   "--log-file=" + os.path.join(os.path.abspath(vg), self.program + "-%p.log")
                   ] + cmd
        self.proc = subprocess.Popen(cmd, stderr=logf, stdout=logf, env=self.env)
        logf.close()
        deadline = time.time() + (120 if os.environ.get("UPGATE_VALGRIND") else 30)
        while time.time() < deadline:
            with open(self.log) as f:
                f.seek(start)
                m = re.search(r"listening on (https?)://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.scheme, self.port = m.group(1), int(m.group(2))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(self.name + " exited: " + open(self.log).read())
            time.sleep(0.05)
        raise RuntimeError(self.name + " did not start: " + open(self.log).read())

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log_tail(self, n=4000):
        """The end of the daemon's log (stderr too: sanitizer and panic
        reports), for a failure message."""
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError as e:
            return "(no log: %s)" % e

    def cleanup(self):
        if self.proc is not None:
            self.kill()
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, token=None, headers=None, raw=None,
                ctype="application/json"):
        url = self.url + path
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None and ctype:
            req.add_header("Content-Type", ctype)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl_context) as r:
                status, hdrs, payload = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, payload = e.code, dict(e.headers), e.read()
        doc = None
        if payload and hdrs.get("Content-Type", "").startswith("application/json"):
            doc = json.loads(payload)
        return status, hdrs, doc if doc is not None else payload

    def admin(self, method, path, body=None):
        return self.request(method, path, body, token=TOKEN)

    pg_db = None  # the PostgreSQL database, when the backend is postgres
    pg = None     # and its server

    def storage_section(self):
        """[storage]: the SQLite file, or a PostgreSQL database of its
        own on the test process's server (UPGATE_BACKEND=postgres)."""
        if self.pg_db is None:
            return {"database": self.db}
        return {"backend": "postgres", "url": self.pg.url(self.pg_db)}

    def use_postgres(self, db=None, server=None):
        """Keep state in PostgreSQL: a new database, or db (shared), on
        server (the test process's by default)."""
        self.pg = server or pglib.server()
        self.pg_db = db or self.pg.new_db(self.name)
        return self.pg_db

    def sql(self, query, *args):
        """Rows of query (? parameters) on the daemon's database."""
        if self.pg_db is not None:
            for a in args:
                lit = str(a) if isinstance(a, int) else "'%s'" % str(a).replace("'", "''")
                query = query.replace("?", lit, 1)
            return [tuple(int(v) if v is not None and re.fullmatch(r"-?\d+", v) else v
                          for v in row)
                    for row in self.pg.psql(self.pg_db, query)]
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()

    def execute(self, *statements):
        """Change the database behind the daemon's back, in one
        transaction."""
        if self.pg_db is not None:
            self.pg.psql(self.pg_db, "BEGIN; %s; COMMIT" % "; ".join(statements))
            return
        con = sqlite3.connect(self.db, timeout=10)
        with con:
            for st in statements:
                con.execute(st)
        con.close()

    def integrity(self):
        """SQLite's integrity check of the file; on PostgreSQL, whose WAL
        keeps its files whole, that the database answers a query."""
        if self.pg_db is not None:
            return "ok" if self.sql("SELECT 1") == [(1,)] else "broken"
        return self.sql("pragma integrity_check")[0][0]


class Gateway(Daemon):
    """upgate-gatewayd; forwarding is off unless mgmt_url is given."""
    program = "upgate-gatewayd"
    name = "gateway"

    def __init__(self, directory=None, mgmt_url="", forward=None, **upgrade):
        super().__init__(directory)
        self.upgrade = upgrade
        self.mgmt_url = mgmt_url
        self.forward = forward or {}
        self.listen_port = 0
        if pglib.backend() == "postgres":
            self.use_postgres()
        self.write_conf()

    def write_conf(self):
        fwd = {"mgmt_url": self.mgmt_url, "secret_file": self.secret_file,
               "retry_initial": "100ms", "retry_max": "500ms"}
        fwd.update(self.forward)
        self.write_sections({
            "server": self.server_section(),
            "storage": self.storage_section(),
            "admin": {"token_file": self.token_file},
            "forward": fwd,
            "upgrade": self.upgrade,
        })

    def publish(self, app, version, **kw):
        body = {"app": app, "version": version, "artifacts": artifact()}
        body.update(kw)
        return self.admin("POST", "/v1/admin/releases", body)

    def launch(self, client, app, version, platform="linux-x86_64", **kw):
        body = {"client_id": client, "app": app, "version": version, "platform": platform}
        body.update(kw)
        status, _, doc = self.request("POST", "/v1/launch", body)
        assert status == 200, (status, doc)
        return doc

    def report(self, upgrade_id, client, seq, state, **kw):
        body = {"client_id": client, "seq": seq, "state": state}
        body.update(kw)
        status, _, doc = self.request("POST", "/v1/upgrades/%s/events" % upgrade_id, body)
        return status, doc



def free_port():
    """A loopback port nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sign(body, ts=None, secret=SECRET):
    """The ingest headers for body (bytes), as the SPEC defines them."""
    ts = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Upgate-Timestamp": ts, "X-Upgate-Signature": "sha256=" + mac}


class Mgmt(Daemon):
    """upgate-mgmtd on a fixed free port (so a gateway can be pointed at it
    before it starts, and it can restart on the same one)."""
    program = "upgate-mgmtd"
    name = "mgmt"

    def __init__(self, directory=None, **sections):
        super().__init__(directory)
        self.listen_port = free_port()
        self.port = self.listen_port
        self.spool = os.path.join(self.dir, "mail")
        self.sections = sections
        if pglib.backend() == "postgres":
            self.use_postgres()
        self.write_conf()

    def write_conf(self):
        conf = {
            "server": self.server_section(),
            "storage": self.storage_section(),
            "admin": {"token_file": self.token_file},
            "ingest": {"secret_file": self.secret_file},
            "email": {"spool_dir": self.spool, "to": "ops@example.com", "timeout": "5s"},
            "alerts": {"retry_initial": "200ms", "retry_max": "1s", "group_window": "0s",
                       "repeat_interval": "0s"},
        }
        for sec, kv in self.sections.items():
            conf.setdefault(sec, {}).update(kv)
        self.write_sections(conf)

    def ingest(self, body, headers=None, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        return self.request("POST", "/v1/outcomes", raw=data,
                            headers=headers if headers is not None else sign(data))

    def outcomes(self, **query):
        st, _, doc = self.admin("GET", "/v1/outcomes?" + urllib.parse.urlencode(query))
        assert st == 200, (st, doc)
        return doc

    def alerts(self, **query):
        st, _, doc = self.admin("GET", "/v1/alerts?" + urllib.parse.urlencode(query))
        assert st == 200, (st, doc)
        return doc["alerts"]


class SharedMgmt:
    """A test-class mixin: one upgate-mgmtd (cls.mgmt) for all the class's
    tests, started before the first and removed after the last."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mgmt = Mgmt().start()

    @classmethod
    def tearDownClass(cls):
        cls.mgmt.cleanup()
        super().tearDownClass()


class Sink:
    """A helper process (SMTP or SMS sink) started here and stopped by PID."""

    def __init__(self, script, *args, python="/usr/bin/python3"):
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen([python, os.path.join(here, script)] + [str(a) for a in args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError("%s did not start: %s" % (script, self.proc.stderr.read()))

    def stop(self):
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None


def wait_for(pred, timeout=20, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


class FakeGateway:
    """A stand-in for a compromised gateway or a man in the middle, on
    loopback: each POST /v1/launch gets the next of `answers` (raw bytes)
    while there are any, else {"action": "upgrade", "upgrade": offer};
    every report is recorded in `events` as (path, body)."""

    def __init__(self):
        self.answers, self.offer, self.events = [], None, []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/launch":
                    out = fake.answers.pop(0) if fake.answers else json.dumps(
                        {"action": "upgrade", "upgrade": fake.offer,
                         "previous_failure": None}).encode()
                else:
                    fake.events.append((self.path, json.loads(raw)))
                    out = b'{"duplicate": false}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]

    def reports(self):
        return [body for _, body in self.events]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def gateway_and_mgmt(test, mgmt_sections=None, **gateway):
    """A gateway and an mgmtd that reaches its admin API ([gateway] url),
    stopped when test ends."""
    gw = Gateway(**gateway).start()
    test.addCleanup(gw.cleanup)
    mgmt = Mgmt(gateway={"url": gw.url}, **(mgmt_sections or {}))
    mgmt.start()
    test.addCleanup(mgmt.cleanup)
    return gw, mgmt


def check_access_moved(test, daemon, token, path, audit_before):
    """After --import-sqlite: the named token "ops" (token) still reads
    path, and the audit log goes on after its copied lines."""
    st, _, doc = daemon.request("GET", path, token=token)
    test.assertEqual(st, 200, doc)
    test.assertEqual(daemon.admin("DELETE", "/v1/admin/tokens/ops")[0], 200)
    audit = daemon.admin("GET", "/v1/admin/audit")[2]["audit"]
    test.assertEqual(audit[1:], audit_before)
    test.assertGreater(audit[0]["id"], audit[1]["id"])
