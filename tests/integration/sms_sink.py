# SPDX-License-Identifier: MIT
"""A tiny HTTP SMS gateway on loopback that records every POST.

usage: python3 sms_sink.py PORT FILE
Each POST's form fields and Authorization header are appended to FILE as
one JSON line; answers 201. Prints "ready"; stops on SIGTERM.
"""
import json
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    port, path = int(sys.argv[1]), sys.argv[2]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(n).decode())
            rec = {"path": self.path, "auth": self.headers.get("Authorization"),
                   "ctype": self.headers.get("Content-Type"),
                   "form": {k: v[0] for k, v in form.items()}}
            with open(path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            self.send_response(201)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
