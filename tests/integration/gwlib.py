# SPDX-License-Identifier: MIT
"""Start a real upgate-gatewayd on loopback and talk HTTP to it."""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ.get("UPGATE_BIN", os.path.join(os.path.dirname(__file__), "../../bin"))
TOKEN = "test-admin-token-0123456789"
SHA = "ab" * 32


def artifact(platform="linux-x86_64", url="https://dl.example.com/a.tar.gz", size=1024):
    return {platform: {"url": url, "size": size, "sha256": SHA}}


class Gateway:
    """One gateway process with its own directory, config and database."""

    def __init__(self, **upgrade):
        self.dir = tempfile.mkdtemp(prefix="upgate-it-")
        self.db = os.path.join(self.dir, "gateway.db")
        self.token_file = os.path.join(self.dir, "admin.token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        self.conf = os.path.join(self.dir, "gateway.conf")
        self.write_conf(**upgrade)
        self.proc = None
        self.port = None
        self.log = os.path.join(self.dir, "gateway.log")

    def write_conf(self, **upgrade):
        lines = ["[server]", "listen = 127.0.0.1:0", "threads = 4",
                 "[storage]", "database = " + self.db,
                 "[admin]", "token_file = " + self.token_file,
                 "[upgrade]"]
        lines += ["%s = %s" % kv for kv in upgrade.items()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        logf = open(self.log, "a")
        start = os.path.getsize(self.log)
        self.proc = subprocess.Popen([os.path.join(BIN, "upgate-gatewayd"), "-c", self.conf],
                                     stderr=logf, stdout=logf)
        logf.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.log) as f:
                f.seek(start)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited: " + open(self.log).read())
            time.sleep(0.05)
        raise RuntimeError("gateway did not start: " + open(self.log).read())

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        if self.proc is not None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, token=None, headers=None, raw=None,
                ctype="application/json"):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None and ctype:
            req.add_header("Content-Type", ctype)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, hdrs, payload = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, payload = e.code, dict(e.headers), e.read()
        doc = None
        if payload and hdrs.get("Content-Type", "").startswith("application/json"):
            doc = json.loads(payload)
        return status, hdrs, doc if doc is not None else payload

    def admin(self, method, path, body=None):
        return self.request(method, path, body, token=TOKEN)

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

    def sql(self, query, *args):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()
