# SPDX-License-Identifier: MIT
"""Real release tarballs, and a loopback HTTP server that serves them the
ways real mirrors misbehave: cut short, too long, stalled, no ranges."""
import hashlib
import http.server
import io
import re
import sys
import tarfile
import threading

APP_SCRIPT = """#!/bin/sh
echo "app {version} ran: $*"
echo "env $UPGATE_APP $UPGATE_VERSION"
grep SigIgn /proc/$$/status
"""


def tarball(version=None, entries=None):
    """A .tar.gz as bytes: bin/app printing its version, plus entries, a
    list of (name, kind, data) with kind 'file', 'dir', 'symlink' (data is
    the target) or 'hardlink'."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        items = []
        if version is not None:
            items.append(("bin/app", "file", APP_SCRIPT.format(version=version).encode(), 0o755))
            items.append(("README", "file", b"version %s\n" % version.encode(), 0o644))
        for e in entries or []:
            items.append(tuple(e) + ((0o644,) if len(e) == 3 else ()))
        for name, kind, data, mode in items:
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            if kind == "file":
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tar.addfile(ti)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = data
                tar.addfile(ti)
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = data
                tar.addfile(ti)
    return out.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A launcher that gives up on a download (a full disk, a body
        # larger than announced) drops its connection: that is the
        # behaviour under test, not a fault of this stand-in.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ArtifactServer:
    """Serves files[path] over HTTP on 127.0.0.1 with Range support.
    mode[path]: 'ok', 'short' (a shorter body, honestly sized), 'cut'
    (full Content-Length, connection closed half way), 'extra' (more bytes
    than the file), 'stall' (stops after stall_at bytes until release()),
    'norange' (ignores Range)."""

    def __init__(self):
        self.files = {}
        self.mode = {}
        self.requests = []  # (path, Range header or None)
        self.sent = {}      # path -> bytes sent so far, over all requests
        self.stall_at = 0
        self.go = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path
                rng = self.headers.get("Range")
                server.requests.append((path, rng))
                data = server.files.get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                mode = server.mode.get(path, "ok")
                start = 0
                m = re.match(r"bytes=(\d+)-$", rng or "")
                if m and mode != "norange":
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", "bytes */%d" % len(data))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                if mode == "short":
                    data = data[: len(data) // 2]
                elif mode == "extra":
                    data = data + b"\0" * 4096
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body)))
                if mode == "cut":
                    self.send_header("Connection", "close")
                self.end_headers()
                if mode == "cut":
                    body = body[: len(body) // 2]
                    self.close_connection = True
                pos = 0
                while pos < len(body):
                    if mode == "stall" and start + pos >= server.stall_at and not server.go.is_set():
                        server.go.wait(60)
                        if not server.go.is_set():
                            return
                    n = 1024 if mode == "stall" else 65536
                    chunk = body[pos: pos + n]
                    try:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    except OSError:
                        return
                    pos += len(chunk)
                    server.sent[path] = server.sent.get(path, 0) + len(chunk)
                if mode == "cut":
                    self.connection.shutdown(2)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, name, data, mode="ok"):
        path = "/" + name
        self.files[path] = data
        self.mode[path] = mode
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def release(self):
        self.go.set()

    def stop(self):
        self.go.set()
        self.httpd.shutdown()
        self.httpd.server_close()
