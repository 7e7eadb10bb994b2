# SPDX-License-Identifier: MIT
"""A loopback stand-in for the GitHub releases API hazel-server fetches its
release list from: one published release, 1.1.0, with a macOS zip and a
deb. Prints "listening PORT" once bound; stops on SIGTERM."""
import http.server
import json

RELEASES = json.dumps([{
    "tag_name": "1.1.0", "draft": False, "prerelease": False,
    "body": "Bench release", "published_at": "2026-11-24T10:00:00Z",
    "assets": [
        {"name": "bench-1.1.0-mac.zip", "url": "http://127.0.0.1:9/api/1",
         "browser_download_url": "http://127.0.0.1:9/bench-1.1.0-mac.zip",
         "content_type": "application/zip", "size": 52428800},
        {"name": "bench_1.1.0_amd64.deb", "url": "http://127.0.0.1:9/api/2",
         "browser_download_url": "http://127.0.0.1:9/bench_1.1.0_amd64.deb",
         "content_type": "application/vnd.debian.binary-package", "size": 41943040},
    ]}]).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.startswith("/repos/example/bench/releases"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(RELEASES)))
        self.end_headers()
        self.wfile.write(RELEASES)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
