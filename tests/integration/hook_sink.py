# SPDX-License-Identifier: MIT
"""A loopback HTTP receiver for webhook and Alertmanager posts.

usage: python3 hook_sink.py PORT FILE [FAIL]
Each POST is appended to FILE as one JSON line: its path, the headers a
receiver checks (Content-Type, X-Upgate-Timestamp, X-Upgate-Signature)
and the body as text. The first FAIL posts (0 unless given) are answered
500, later ones 200. Prints "ready"; stops on SIGTERM.
"""
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    fail = [int(sys.argv[3]) if len(sys.argv) > 3 else 0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n).decode()
            rec = {"path": self.path, "body": body,
                   "headers": {k: self.headers.get(k) for k in (
                       "Content-Type", "X-Upgate-Timestamp", "X-Upgate-Signature")}}
            with lock:
                refuse = fail[0] > 0
                fail[0] -= 1
                rec["answered"] = 500 if refuse else 200
                with open(path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            self.send_response(rec["answered"])
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
