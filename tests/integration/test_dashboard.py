# SPDX-License-Identifier: MIT
"""The dashboard's server side: the page, the live event stream, the
outcomes-over-time chart, halted releases through the gateway, and a
100,000-outcome archive served page by page."""
import datetime
import http.client
import json
import os
import re
import sqlite3
import time
import unittest

from gwlib import TOKEN, Gateway, Mgmt, SharedMgmt, gateway_and_mgmt, wait_for
from test_mgmt import outcome

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
APP = "com.example.editor"


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Stream:
    """GET /v1/events/stream read frame by frame."""

    def __init__(self, port, token=TOKEN):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": "Bearer " + token} if token else {}
        self.conn.request("GET", "/v1/events/stream", headers=headers)
        self.resp = self.conn.getresponse()

    def frame(self):
        """The next event frame: (event, data) with comments skipped."""
        lines = []
        while True:
            line = self.resp.readline().decode()
            if line == "":
                raise EOFError
            line = line.rstrip("\n")
            if line == "" and lines:
                fields = dict(l.split(": ", 1) for l in lines if not l.startswith(":")
                              and ": " in l)
                if "data" in fields:
                    return fields.get("event", "message"), fields["data"]
                lines = []
            elif line:
                lines.append(line)

    def close(self):
        self.conn.close()


class TestDashboard(SharedMgmt, unittest.TestCase):
    def test_page_is_served_from_the_binary(self):
        st, hdrs, body = self.mgmt.request("GET", "/")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/html"))
        self.assertIn(b"upgate dashboard", body)
        self.assertIn("default-src 'self'", hdrs["Content-Security-Policy"])
        for path, ctype in (("/app.js", "text/javascript"), ("/app.css", "text/css")):
            st, hdrs, body = self.mgmt.request("GET", path)
            self.assertEqual(st, 200)
            self.assertTrue(hdrs["Content-Type"].startswith(ctype))
        # Nothing on the page reaches another host.
        for name in ("index.html", "app.js", "app.css"):
            with open(os.path.join(ROOT, "web", name)) as f:
                text = f.read()
            hosts = re.findall(r"(?:https?:)?//([a-z0-9.-]+\.[a-z]{2,})", text)
            # The SVG namespace is a name, not a request.
            self.assertEqual([h for h in hosts if h != "www.w3.org"], [], name)

    def test_head_on_the_page_the_export_and_the_stream(self):
        """HEAD answers as GET does with no body, streamed answers (the
        CSV export, the live stream) included; mgmtd serves on after."""
        for path in ("/", "/v1/outcomes.csv", "/v1/events/stream"):
            with self.subTest(path=path):
                st, hdrs, body = self.mgmt.request("HEAD", path, token=TOKEN)
                self.assertEqual((st, body), (200, b""))
                self.assertTrue(hdrs["Content-Type"].split(";")[0] in
                                ("text/html", "text/csv", "text/event-stream"))
        self.assertEqual(self.mgmt.request("HEAD", "/v1/events/stream")[0], 401)
        self.assertEqual(self.mgmt.request("GET", "/healthz")[0], 200)

    def test_stream_needs_the_token_and_carries_failures_and_halts(self):
        s = Stream(self.mgmt.port, token=None)
        self.assertEqual(s.resp.status, 401)
        s.close()
        s = Stream(self.mgmt.port)
        self.assertEqual(s.resp.status, 200)
        self.assertEqual(s.resp.getheader("Content-Type"), "text/event-stream")
        self.addCleanup(s.close)
        ours = {outcome(n)["outcome_id"] for n in (100, 101, 102, 103)} | {"%032x" % 0x4a17}

        def frame(stream):
            """The next frame about this test's outcomes: on PostgreSQL
            every failure comes through NOTIFY and the watcher, so one an
            earlier test of this class ingested may still be on its way."""
            while True:
                ev, data = stream.frame()
                if json.loads(data).get("outcome_id") in ours:
                    return ev, data
        self.mgmt.ingest(outcome(100, result="succeeded"))  # not announced
        self.mgmt.ingest(outcome(101))
        ev, data = frame(s)
        self.assertEqual(ev, "failure")
        o = json.loads(data)
        self.assertEqual(o["outcome_id"], outcome(101)["outcome_id"])
        self.assertEqual(o["upgrade_id"], outcome(101)["upgrade_id"])
        self.assertEqual(o["error_code"], "sha256_mismatch")
        self.assertEqual(o["events"][0]["state"], "downloading")
        self.mgmt.ingest(outcome(101))  # a duplicate: not announced again
        self.mgmt.ingest(outcome(102, result="timed_out", error_code="timed_out"))
        ev, data = frame(s)
        self.assertEqual((ev, json.loads(data)["result"]), ("failure", "timed_out"))
        halt = {"outcome_id": "%032x" % 0x4a17, "gateway_id": "gw-1", "kind": "release_halted",
                "app": APP, "to_version": "1.5.0", "channel": "stable",
                "halted_at": iso(time.time() * 1000), "finished": 20, "failed": 9,
                "failure_rate": 0.45, "halt_failure_rate": 0.25, "halt_min_samples": 20}
        st, _, doc = self.mgmt.ingest(halt)
        self.assertEqual(st, 200, doc)
        ev, data = frame(s)
        self.assertEqual(ev, "halt")
        self.assertEqual(json.loads(data)["kind"], "release_halted")
        # Scripts with the token can follow it too; two streams both get it.
        s2 = Stream(self.mgmt.port)
        self.addCleanup(s2.close)
        self.mgmt.ingest(outcome(103))
        self.assertEqual(json.loads(frame(s)[1])["outcome_id"], outcome(103)["outcome_id"])
        self.assertEqual(json.loads(frame(s2)[1])["outcome_id"], outcome(103)["outcome_id"])

    def test_rollback_outcomes_listed_and_counted(self):
        app = "com.example.rb"
        st, _, doc = self.mgmt.ingest(outcome(7000, kind="rollback", app=app,
                                              from_version="2.0.0", to_version="1.9.0"))
        self.assertEqual(st, 200, doc)
        listed = self.mgmt.outcomes(app=app)["outcomes"]
        self.assertEqual([o["kind"] for o in listed], ["rollback"])
        self.assertEqual(len(self.mgmt.outcomes(app=app, kind="rollback")["outcomes"]), 1)
        self.assertEqual(self.mgmt.outcomes(app=app, kind="upgrade")["outcomes"], [])
        st, _, doc = self.mgmt.admin("GET", "/v1/stats?app=" + app)
        self.assertEqual((doc["stats"][0]["version"], doc["stats"][0]["failed"]), ("1.9.0", 1))

    def test_timeline(self):
        now = int(time.time() * 1000)
        hour = 3600 * 1000
        app = "com.example.chart"
        batch = []
        for i, (ago, result) in enumerate([(1, "failed"), (1, "succeeded"), (2, "succeeded"),
                                           (30, "failed"), (72, "timed_out")]):
            batch.append(outcome(5000 + i, result=result, app=app,
                                 finished_at=iso(now - ago * hour + 60000)))
        st, _, doc = self.mgmt.ingest({"outcomes": batch})
        self.assertEqual(st, 200, doc)
        st, _, doc = self.mgmt.admin("GET", "/v1/stats/timeline?app=%s" % app)
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["range"], doc["bucket_seconds"]), ("24h", 3600))
        total = lambda d, k: sum(b[k] for b in d["buckets"])
        self.assertEqual((total(doc, "succeeded"), total(doc, "failed"),
                          total(doc, "timed_out")), (2, 1, 0))
        st, _, doc = self.mgmt.admin("GET", "/v1/stats/timeline?app=%s&range=7d" % app)
        self.assertEqual(doc["bucket_seconds"], 6 * 3600)
        self.assertEqual((total(doc, "succeeded"), total(doc, "failed"),
                          total(doc, "timed_out")), (2, 2, 1))
        starts = [b["start"] for b in doc["buckets"]]
        self.assertEqual(starts, sorted(starts))
        st, _, doc = self.mgmt.admin("GET", "/v1/stats/timeline?range=1y")
        self.assertEqual(st, 422)
        self.assertEqual(self.mgmt.request("GET", "/v1/stats/timeline")[0], 401)


class TestHalted(unittest.TestCase):
    def test_halted_list_and_resume_through_the_gateway(self):
        gw, mgmt = gateway_and_mgmt(self)
        gw.publish(APP, "1.5.0")
        gw.publish(APP, "1.6.0")
        st, _, doc = gw.admin("PATCH", "/v1/admin/releases/%s/1.5.0" % APP, {"halted": True})
        self.assertEqual(st, 200, doc)
        st, _, doc = mgmt.admin("GET", "/v1/halted")
        self.assertEqual(st, 200, doc)
        self.assertEqual([(r["app"], r["version"]) for r in doc["releases"]], [(APP, "1.5.0")])
        st, _, doc = mgmt.admin("POST", "/v1/halted/%s/1.5.0/resume?channel=stable" % APP)
        self.assertEqual(st, 200, doc)
        self.assertFalse(doc["halted"])
        self.assertEqual(mgmt.admin("GET", "/v1/halted")[2]["releases"], [])
        # The gateway's own answer comes back when it refuses.
        st, _, doc = mgmt.admin("POST", "/v1/halted/%s/9.9.9/resume" % APP)
        self.assertEqual(st, 404, doc)
        self.assertEqual(doc["error"]["code"], "release_not_found")
        self.assertEqual(mgmt.request("POST", "/v1/halted/%s/1.5.0/resume" % APP)[0], 401)
        # Without a gateway configured: 503 with the reason.
        alone = Mgmt().start()
        self.addCleanup(alone.cleanup)
        st, _, doc = alone.admin("GET", "/v1/halted")
        self.assertEqual((st, doc["error"]["code"]), (503, "gateway_not_configured"))
        gw.stop()
        st, _, doc = mgmt.admin("GET", "/v1/halted")
        self.assertEqual((st, doc["error"]["code"]), (503, "gateway_unavailable"))


class TestLargeArchive(unittest.TestCase):
    def sqlite_rows(self, mgmt, now):
        con = sqlite3.connect(mgmt.db, timeout=30)
        rows = ((("%032x" % (0x10000000 + i)), "upgrade", "gw-1", "%032x" % i, "host-%d" % (i % 5000),
                 "com.example.app%d" % (i % 7), "linux-x86_64", "stable", "1.0.0",
                 "1.1.%d" % (i % 3), "failed" if i % 10 == 0 else "succeeded",
                 "sha256_mismatch" if i % 10 == 0 else None, now - (i * 5000) % (6 * 86400000),
                 now) for i in range(100000))
        with con:
            con.executemany(
                "INSERT INTO outcomes (outcome_id, kind, gateway_id, upgrade_id, client_id,"
                " app, platform, channel, from_version, to_version, result, error_code,"
                " finished_at, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        plan = " ".join(r[3] for r in con.execute(
            "EXPLAIN QUERY PLAN SELECT finished_at / 3600000, result, count(*) FROM outcomes"
            " WHERE kind IN ('upgrade', 'rollback') AND finished_at >= ? AND (? IS NULL OR app = ?)"
            " GROUP BY finished_at / 3600000", (now - 86400000, None, None)))
        con.close()
        self.assertIn("COVERING INDEX outcomes_timeline", plan)

    def test_100k_outcomes_paged_and_aggregated(self):
        mgmt = Mgmt().start()
        self.addCleanup(mgmt.cleanup)
        now = int(time.time() * 1000)
        if mgmt.pg_db is not None:
            # The same rows, made by the server.
            mgmt.execute(
                "INSERT INTO outcomes (outcome_id, kind, gateway_id, upgrade_id, client_id,"
                " app, platform, channel, from_version, to_version, result, error_code,"
                " finished_at, received_at) SELECT lpad(to_hex(268435456 + i), 32, '0'),"
                " 'upgrade', 'gw-1', lpad(to_hex(i), 32, '0'), 'host-' || (i %% 5000),"
                " 'com.example.app' || (i %% 7), 'linux-x86_64', 'stable', '1.0.0',"
                " '1.1.' || (i %% 3), CASE WHEN i %% 10 = 0 THEN 'failed' ELSE 'succeeded' END,"
                " CASE WHEN i %% 10 = 0 THEN 'sha256_mismatch' END,"
                " %d - (i::bigint * 5000) %% (6 * 86400000), %d"
                " FROM generate_series(0, 99999) i" % (now, now),
                "ANALYZE outcomes")
        else:
            self.sqlite_rows(mgmt, now)
        st, _, doc = mgmt.admin("GET", "/v1/outcomes?limit=50")
        self.assertEqual(st, 200)
        self.assertEqual(len(doc["outcomes"]), 50)
        seen = {o["outcome_id"] for o in doc["outcomes"]}
        st, _, doc2 = mgmt.admin("GET", "/v1/outcomes?limit=50&after=" + doc["next"])
        self.assertEqual(len(doc2["outcomes"]), 50)
        self.assertFalse(seen & {o["outcome_id"] for o in doc2["outcomes"]})
        st, _, doc = mgmt.admin("GET", "/v1/outcomes?result=failed&app=com.example.app3&limit=25")
        self.assertEqual(len(doc["outcomes"]), 25)
        self.assertTrue(all(o["result"] == "failed" and o["app"] == "com.example.app3"
                            for o in doc["outcomes"]))
        st, hdrs, doc = mgmt.admin("GET", "/v1/stats/timeline?range=7d")
        self.assertEqual(st, 200)
        self.assertEqual(sum(b["succeeded"] + b["failed"] for b in doc["buckets"]), 100000)
        self.assertLessEqual(len(doc["buckets"]), 29)
        st, _, page = mgmt.request("GET", "/")
        self.assertLess(len(page), 64 * 1024)


if __name__ == "__main__":
    unittest.main()
