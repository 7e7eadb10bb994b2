# SPDX-License-Identifier: MIT
"""The dashboard end to end in Debian's Chromium (headless, loopback only),
driven by tests/browser/dashboard.mjs with playwright-core: log in, see a
failure pop up as it is posted, open its detail, filter, resume a halted
release, survive an mgmtd restart. A screenshot of the main view lands in
build/artifacts/dashboard.png."""
import datetime
import os
import shutil
import subprocess
import unittest

from gwlib import TOKEN, gateway_and_mgmt
from test_mgmt import outcome

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BROWSER = os.path.join(ROOT, "tests/browser")
CHROMIUM = "/usr/bin/chromium"
APP = "com.example.editor"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def missing():
    if not os.path.exists(CHROMIUM):
        return "Debian's chromium is not installed (make browser-deps installs it)"
    if shutil.which("node") is None:
        return "node is not installed"
    v = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    if int(v.lstrip("v").split(".")[0] or 0) < 20:
        return "playwright-core needs Node.js 20 or later, this is " + v.strip()
    if not os.path.isdir(os.path.join(BROWSER, "node_modules", "playwright-core")):
        return "playwright-core is not installed (make browser-deps runs npm ci)"
    return None


@unittest.skipIf(missing(), missing())
class TestDashboardInBrowser(unittest.TestCase):
    def test_dashboard(self):
        # A group window long enough that the seeds' second failure
        # waits in a digest the page shows.
        gw, mgmt = gateway_and_mgmt(self, mgmt_sections={"alerts": {"group_window": "1h"}})
        # Something to show: a release with outcomes, and one halted.
        gw.publish(APP, "1.5.0")
        gw.admin("PATCH", "/v1/admin/releases/%s/1.5.0" % APP, {"halted": True})
        for i in range(6):
            mgmt.ingest(outcome(9000 + i, result="succeeded" if i % 3 else "failed",
                                client_id="seed-%d" % i, finished_at=now()))
        # one through a delta: 3 MiB of 5 spared
        mgmt.ingest(outcome(9010, result="succeeded", client_id="seed-delta", finished_at=now(),
                            delta_used=True, bytes_downloaded=2 << 20, artifact_size=5 << 20))
        artifacts = os.path.join(ROOT, "build", "artifacts")
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.join(artifacts, "dashboard.png")
        if os.path.exists(shot):
            os.unlink(shot)
        st, _, doc = mgmt.admin("POST", "/v1/admin/tokens", {"name": "wall", "role": "viewer"})
        self.assertEqual(st, 201, doc)
        env = dict(os.environ, MGMT_URL=mgmt.url, UPGATE_TOKEN=TOKEN, SCREENSHOT=shot,
                   VIEWER_TOKEN=doc["token"])
        proc = subprocess.Popen(["node", "dashboard.mjs"], cwd=BROWSER, env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.stdin.close)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        out, n = [], 0
        for line in proc.stdout:
            out.append(line.rstrip())
            if not line.startswith("ASK "):
                continue
            what = line.split()[1:]
            if what[0] == "failure":
                n += 1
                st, _, doc = mgmt.ingest(outcome(9100 + n, client_id=what[1],
                                                 finished_at=now()))
                self.assertEqual(st, 200, doc)
            elif what[0] == "halt":
                gw.admin("PATCH", "/v1/admin/releases/%s/1.5.0" % APP, {"halted": True})
            elif what[0] == "restart":
                self.assertEqual(mgmt.stop(), 0)
                mgmt.start()
            proc.stdin.write("OK\n")
            proc.stdin.flush()
        rc = proc.wait(timeout=120)
        log = "\n".join(out)
        self.assertEqual(rc, 0, log)
        self.assertIn("RESULT pass", log)
        self.assertTrue(os.path.getsize(shot) > 10000, "a screenshot was saved")
        print("\n" + log)
