# SPDX-License-Identifier: MIT
"""Prometheus: both daemons' /metrics pass promtool's lint (with the
database away too), the shipped alerting rules check and pass their unit
tests, and the Grafana dashboard asks only for metrics the daemons
export."""
import json
import os
import re
import shutil
import subprocess
import unittest

import pglib
from gwlib import Gateway, Mgmt, wait_for
from test_mgmt import outcome

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
APP = "com.example.editor"


def lint(test, text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True)
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)


@unittest.skipIf(not os.path.exists(PROMTOOL), "promtool is not installed")
class TestPrometheus(unittest.TestCase):
    def scrape(self, d):
        st, _, text = d.request("GET", "/metrics")
        self.assertEqual(st, 200)
        return text.decode()

    def test_metrics_lint_and_a_halted_release(self):
        mg = Mgmt()
        self.addCleanup(mg.cleanup)
        mg.start()
        gw = Gateway(mgmt_url=mg.url, halt_min_samples=2, halt_failure_rate=0.5)
        self.addCleanup(gw.cleanup)
        gw.start()
        self.assertEqual(gw.publish(APP, "1.5.0")[0], 201)
        for c in ("p-1", "p-2"):
            uid = gw.launch(c, APP, "1.4.2")["upgrade"]["upgrade_id"]
            gw.report(uid, c, 1, "failed", error_code="disk_full")
        text = wait_for(lambda: (lambda t: "upgate_releases_halted 1" in t and t)(
            self.scrape(gw)), what="the halt in /metrics")
        self.assertIn('upgate_release_halted{app="%s",channel="stable",version="1.5.0"} 1'
                      % APP, text)
        self.assertIn("upgate_storage_up 1", text)
        lint(self, text)
        text = wait_for(lambda: (lambda t: 'result="halted"' in t and t)(self.scrape(mg)),
                        what="the halt archived")
        self.assertIn("upgate_storage_up 1", text)
        lint(self, text)
        self.__class__.exported = set(re.findall(r"^(upgate_[a-z_]+)", self.scrape(gw) +
                                                 self.scrape(mg), re.M))

    def test_metrics_while_the_database_is_away(self):
        """A scrape still answers, says upgate_storage_up 0 and leaves out
        what only the database knows: UpgateStorageUnavailable fires, not
        UpgateDown."""
        pg = pglib.Postgres().start()
        self.addCleanup(pg.cleanup)
        gw = Gateway()
        gw.use_postgres(server=pg)
        mg = Mgmt()
        mg.use_postgres(server=pg)
        for d in (gw, mg):
            self.addCleanup(d.cleanup)
            d.start()
        self.assertEqual(mg.ingest(outcome(1))[0], 200)
        pg.stop()
        for d in (gw, mg):
            text = wait_for(lambda d=d: (lambda t: "upgate_storage_up 0" in t and t)(
                self.scrape(d)), what="upgate_storage_up 0")
            lint(self, text)
            self.assertFalse("upgate_outcomes{" in text or "upgate_upgrades{" in text)
            self.assertTrue("upgate_http_request_duration_seconds_count{" in text)
        pg.start()
        for d in (gw, mg):
            wait_for(lambda d=d: "upgate_storage_up 1" in self.scrape(d), timeout=30,
                     what="upgate_storage_up 1 again")

    def test_rules_check_and_pass_their_tests(self):
        d = os.path.join(ROOT, "contrib", "prometheus")
        for args in (["check", "rules", "upgate-rules.yml"],
                     ["test", "rules", "upgate-rules.test.yml"]):
            r = subprocess.run([PROMTOOL] + args, cwd=d, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(d, "upgate-rules.yml")) as f:
            names = set(re.findall(r"alert: (\w+)", f.read()))
        self.assertEqual(names, {"UpgateDown", "UpgateStorageUnavailable",
                                 "UpgateOutboxGrowing", "UpgateForwardingFailing",
                                 "UpgateAlertDeliveriesFailing", "UpgateReleaseHalted"})
        with open(os.path.join(d, "upgate-rules.test.yml")) as f:
            tested = set(re.findall(r"alertname: (\w+)", f.read()))
        self.assertEqual(tested, names)

    def test_dashboard_asks_for_exported_metrics(self):
        if not getattr(self.__class__, "exported", None):
            self.test_metrics_lint_and_a_halted_release()
        with open(os.path.join(ROOT, "contrib", "grafana", "upgate.json")) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 10)
        for e in exprs:
            for name in re.findall(r"\b(upgate_[a-z_]+)", e):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertTrue(name in self.exported or base in self.exported,
                                "%s (in %s) is not exported" % (name, e))
        self.assertEqual(len({p["id"] for p in dash["panels"]}), len(dash["panels"]))


if __name__ == "__main__":
    unittest.main()
