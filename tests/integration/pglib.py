# SPDX-License-Identifier: MIT
"""A throwaway PostgreSQL server for the tests: its own cluster in a
temporary directory, on a free loopback port, stopped by PID."""
import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

USER = "upgate"


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make deps installs it)")
    return os.path.dirname(found[-1])


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postgres:
    """One cluster. As root its tools run as the postgres user (initdb
    refuses root); otherwise as whoever runs the tests."""

    def __init__(self, password=None, fsync=False):
        """password: connections over TCP must give it (scram-sha-256);
        none: trust. fsync: as a production server (benchmarks); tests
        run without, since a test cluster outlives no machine crash."""
        self.password = password
        self.fsync = fsync
        self.bin = _bindir()
        self.dir = tempfile.mkdtemp(prefix="upgate-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "log")
        self.port = None
        self.pid = None
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.n = 0

    def _run(self, *cmd):
        subprocess.run(self.as_user + list(cmd), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, cwd=self.dir)

    def start(self):
        if not os.path.exists(self.data):
            auth = ["-A", "trust"]
            if self.password:
                pwfile = os.path.join(self.dir, "pwfile")
                with open(pwfile, "w") as f:
                    f.write(self.password + "\n")
                if self.as_user:
                    shutil.chown(pwfile, "postgres")
                auth = ["--auth-local=trust", "--auth-host=scram-sha-256",
                        "--pwfile=" + pwfile]
            self._run(os.path.join(self.bin, "initdb"), "-D", self.data, *auth,
                      "-U", USER, "--no-sync")
        if self.port is None:
            self.port = _free_port()
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
                  "-o", "-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=%s "
                  "-c max_connections=300" % (self.dir, self.port,
                                              "on" if self.fsync else "off"), "start")
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        return self

    def stop(self):
        """Fast shutdown by PID: connections are cut, as in an outage."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.pid = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db):
        return "postgresql://%s@127.0.0.1:%d/%s" % (USER, self.port, db)

    def psql(self, db, sql):
        """Rows of sql's result, each a tuple of strings (None for NULL)."""
        out = subprocess.run(
            [os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-F", "\x1f",
             "-P", "null=\x1e", "-v", "ON_ERROR_STOP=1", "-c", sql, self.url(db)],
            check=True, capture_output=True, text=True,
            env=dict(os.environ, PGPASSWORD=self.password or "")).stdout
        rows = []
        for line in out.split("\n")[:-1]:
            rows.append(tuple(None if v == "\x1e" else v for v in line.split("\x1f")))
        return rows

    def new_db(self, prefix="gw"):
        self.n += 1
        name = "%s_%d_%d" % (prefix, os.getpid(), self.n)
        self.psql("postgres", "CREATE DATABASE %s" % name)
        return name


_server = None


def server():
    """The test process's cluster, started on first use and removed at
    exit."""
    global _server
    if _server is None:
        _server = Postgres().start()
        atexit.register(_server.cleanup)
    return _server


def backend():
    """The storage backend the daemons under test use: UPGATE_BACKEND,
    sqlite unless it says postgres."""
    return os.environ.get("UPGATE_BACKEND", "sqlite")
