# SPDX-License-Identifier: MIT
"""Several gateways on one PostgreSQL database: every rule holds across
them as it does for one (SPEC "Storage on PostgreSQL")."""
import json
import threading
import time
import unittest
import urllib.request

import pglib
from gwlib import TOKEN, Gateway, Mgmt, free_port, wait_for

APP = "com.example.editor"


def shared_gateways(test, n=2, server=None, forward=None, **kw):
    """n gateways (gw-1, gw-2 ...) on one new database, stopped when test
    ends."""
    server = server or pglib.server()
    db = server.new_db("cluster")
    gws = []
    for i in range(n):
        gw = Gateway(forward=dict(forward or {}, gateway_id="gw-%d" % (i + 1)), **kw)
        gw.use_postgres(db, server)
        gw.write_conf()
        test.addCleanup(gw.cleanup)
        gws.append(gw)
    return gws


def started(gws):
    """Start them all at once: the schema is created by whichever takes
    the advisory lock first; the others wait and find it done."""
    errors = []

    def go(g):
        try:
            g.start()
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=go, args=(g,)) for g in gws]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return gws


def at_once(calls):
    """Run every call on a thread of its own, released together; their
    results in order."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def run(i, fn):
        barrier.wait()
        out[i] = fn()
    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


class TestSharedDatabase(unittest.TestCase):
    def setUp(self):
        self.gws = started(shared_gateways(self, halt_min_samples=4,
                                           halt_failure_rate=0.25))
        self.a, self.b = self.gws

    def test_concurrent_clicks_make_one_upgrade(self):
        self.assertEqual(self.a.publish(APP, "1.1.0")[0], 201)
        docs = at_once([(lambda g=self.gws[i % 2]: g.launch("host-1", APP, "1.0.0"))
                        for i in range(16)])
        ids = {d["upgrade"]["upgrade_id"] for d in docs}
        self.assertEqual(len(ids), 1, docs)
        self.assertEqual(sum(d["action"] == "upgrade" for d in docs), 1, docs)
        self.assertTrue(all(d["action"] == "upgrade" or d["reason"] == "upgrade_in_progress"
                            for d in docs), docs)
        self.assertEqual(self.a.sql("select count(*) from upgrades"), [(1,)])

    def test_failure_told_once_across_gateways(self):
        self.a.publish(APP, "1.1.0")
        uid = self.a.launch("host-1", APP, "1.0.0")["upgrade"]["upgrade_id"]
        st, _ = self.a.report(uid, "host-1", 1, "failed", error_code="disk_full",
                              message="no space left")
        self.assertEqual(st, 200)
        docs = at_once([(lambda g=self.gws[i % 2]: g.launch("host-1", APP, "1.0.0"))
                        for i in range(8)])
        told = [d["previous_failure"] for d in docs if d["previous_failure"]]
        self.assertEqual(len(told), 1, docs)
        self.assertEqual((told[0]["upgrade_id"], told[0]["error_code"]), (uid, "disk_full"))
        # Backoff counts the attempt whichever gateway asks.
        self.assertTrue(all(d["action"] == "launch" for d in docs))
        self.assertEqual(self.b.launch("host-1", APP, "1.0.0")["reason"], "retry_backoff")

    def test_halt_from_both_is_announced_once(self):
        self.a.publish(APP, "1.1.0")
        offers = []
        for i in range(4):
            g = self.gws[i % 2]
            offers.append((g, "host-%d" % i, g.launch("host-%d" % i, APP, "1.0.0")
                           ["upgrade"]["upgrade_id"]))
        # Every finish at once, half on each gateway: 3 of 4 fail.
        results = at_once([(lambda g=g, c=c, u=u, i=i: g.report(
            u, c, 1, "failed" if i else "succeeded", error_code="crash")[0])
            for i, (g, c, u) in enumerate(offers)])
        self.assertEqual(results, [200] * 4)
        notices = self.a.sql("select body from outbox where kind = 'halt'")
        self.assertEqual(len(notices), 1, notices)
        self.assertEqual(json.loads(notices[0][0])["finished"], 4)
        for g in self.gws:
            st, _, doc = g.admin("GET", "/v1/admin/releases?app=" + APP)
            self.assertTrue(doc["releases"][0]["halted"], doc)
            self.assertEqual(g.launch("host-9", APP, "1.0.0")["action"], "launch")

    def test_changes_reach_every_gateway(self):
        """A change through one gateway is what the next launch on the
        other decides on: the catalog's version is read in each launch's
        own snapshot, so no cache outlives a change."""
        self.assertEqual(self.b.launch("host-1", APP, "1.0.0")["reason"], "no_release")
        self.a.publish(APP, "1.1.0")
        self.assertEqual(self.b.launch("host-1", APP, "1.0.0")["action"], "upgrade")
        st, _, _ = self.b.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP, {"paused": True})
        self.assertEqual(st, 200)
        self.assertEqual(self.a.launch("host-2", APP, "1.0.0")["action"], "launch")
        self.b.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP, {"paused": False})
        self.assertEqual(self.a.launch("host-2", APP, "1.0.0")["action"], "upgrade")

    def test_reaper_times_out_once(self):
        for g in self.gws:
            g.stop()
            g.upgrade = {"session_timeout": "1s"}
            g.write_conf()
        started(self.gws)
        self.a.publish(APP, "1.1.0")
        uid = self.a.launch("host-1", APP, "1.0.0")["upgrade"]["upgrade_id"]
        wait_for(lambda: self.a.sql("select state from upgrades") == [("timed_out",)],
                 what="the reaper")
        time.sleep(2.5)  # both reapers passed again
        rows = self.a.sql("select body from outbox where kind = 'outcome'")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(json.loads(rows[0][0])["upgrade_id"], uid)


class TestSharedOutbox(unittest.TestCase):
    def test_killed_gateway_strands_nothing(self):
        port = free_port()
        a, b = shared_gateways(self, mgmt_url="http://127.0.0.1:%d" % port,
                               forward={"timeout": "2s"}, halt_min_samples=1000)
        started([a, b])
        a.publish(APP, "1.1.0")
        for i in range(30):
            g = (a, b)[i % 2]
            c = "host-%d" % i
            uid = g.launch(c, APP, "1.0.0")["upgrade"]["upgrade_id"]
            self.assertEqual(g.report(uid, c, 1, "failed" if i % 3 else "succeeded",
                                      error_code="crash")[0], 200)
        self.assertEqual(a.sql("select count(*) from outbox"), [(30,)])
        a.kill()  # for good, perhaps holding a claim
        mgmt = Mgmt()
        mgmt.listen_port = mgmt.port = port
        mgmt.start()
        self.addCleanup(mgmt.cleanup)
        wait_for(lambda: b.sql("select count(*) from outbox") == [(0,)], timeout=30,
                 what="the survivor to forward every outcome")
        outcomes = mgmt.outcomes(limit=100)["outcomes"]
        self.assertEqual(len(outcomes), 30)
        self.assertEqual(len({o["upgrade_id"] for o in outcomes}), 30)


class TestOutage(unittest.TestCase):
    """PostgreSQL stopped under load and started again: the gateways keep
    running, answer 503 storage_unavailable meanwhile, and come back by
    themselves; nothing they acknowledged is lost."""

    def test_stop_and_start_under_load(self):
        pg = pglib.Postgres().start()
        self.addCleanup(pg.cleanup)
        gws = started(shared_gateways(self, server=pg))
        gws[0].publish(APP, "1.1.0")
        acked, answers, slow, wrong = [], [], [], []
        stop = threading.Event()

        def load(g, n):
            i = 0
            while not stop.is_set():
                c = "w%d-%d" % (n, i)
                i += 1
                body = {"client_id": c, "app": APP, "version": "1.0.0",
                        "platform": "linux-x86_64"}
                t = time.time()
                st, _, doc = g.request("POST", "/v1/launch", body)
                took = time.time() - t
                answers.append(st)
                if took > 5:
                    slow.append(took)
                if st == 200 and doc.get("action") == "upgrade":
                    uid = doc["upgrade"]["upgrade_id"]
                    st, _ = g.report(uid, c, 1, "succeeded")
                    if st == 200:
                        acked.append(uid)
                elif st != 200 and (st, doc["error"]["code"]) != (503, "storage_unavailable"):
                    wrong.append((st, doc))
                time.sleep(0.01)
        threads = [threading.Thread(target=load, args=(gws[i % 2], i)) for i in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 20, what="load before the outage")
        pg.stop()
        for g in gws:
            wait_for(lambda g=g: g.request("GET", "/readyz")[0] == 503,
                     what="readyz 503 while the database is down")
        wait_for(lambda: answers.count(503) >= 10, what="requests answered 503")
        pg.start()
        for g in gws:
            wait_for(lambda g=g: g.request("GET", "/readyz")[0] == 200, timeout=30,
                     what="readyz 200 again")
        n = len(acked)
        wait_for(lambda: len(acked) >= n + 20, what="launches after the outage")
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(slow, [])
        self.assertEqual(wrong, [])
        for g in gws:
            self.assertIsNone(g.proc.poll(), "the gateway exited")
        rows = dict(gws[0].sql("select upgrade_id, state from upgrades"))
        lost = [u for u in acked if rows.get(u) != "succeeded"]
        self.assertEqual(lost, [])


if __name__ == "__main__":
    unittest.main()
