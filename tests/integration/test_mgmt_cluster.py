# SPDX-License-Identifier: MIT
"""Several mgmtd on one PostgreSQL database: ingest, alerts and the live
stream hold across them as they do for one (SPEC "Storage on
PostgreSQL")."""
import email
import email.policy
import glob
import json
import os
import socket
import subprocess
import threading
import time
import unittest

import pglib
from gwlib import BIN, Mgmt, Sink, check_access_moved, free_port, sign, wait_for
from test_dashboard import Stream
from test_mgmt import outcome


def shared_mgmts(test, n=2, server=None, **sections):
    """n mgmtd on one new database, removed when test ends."""
    server = server or pglib.server()
    db = server.new_db("mgmt_cluster")
    out = []
    for _ in range(n):
        mg = Mgmt(**sections)
        mg.use_postgres(db, server)
        mg.write_conf()
        test.addCleanup(mg.cleanup)
        out.append(mg)
    return out


def at_once(calls):
    """Run every call on a thread of its own, released together."""
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


def mails(inbox):
    out = []
    for path in sorted(glob.glob(os.path.join(inbox, "*.eml"))):
        with open(path, "rb") as f:
            out.append(email.message_from_binary_file(f, policy=email.policy.default))
    return out


class TestSharedIngest(unittest.TestCase):
    def test_same_outcome_to_both_is_archived_once(self):
        a, b = shared_mgmts(self)
        a.start()
        b.start()
        st, _, doc = a.ingest(outcome(1))
        self.assertEqual((st, doc["duplicate"]), (200, False))
        st, _, doc = b.ingest(outcome(1))
        self.assertEqual((st, doc["duplicate"]), (200, True))
        # The same batch to both at once: each outcome is new for one.
        batch = {"outcomes": [outcome(i) for i in range(10, 30)]}
        answers = at_once([lambda m=m: m.ingest(batch) for m in (a, b)])
        self.assertEqual([x[0] for x in answers], [200, 200])
        self.assertEqual(sum(x[2]["accepted"] for x in answers), 20)
        self.assertEqual(sum(x[2]["duplicates"] for x in answers), 20)
        self.assertEqual(a.sql("select count(*) from outcomes")[0][0], 21)
        for m in (a, b):
            stats = m.admin("GET", "/v1/stats")[2]["stats"]
            self.assertEqual([(s["total"], s["failed"]) for s in stats], [(21, 21)])
            text = m.request("GET", "/metrics")[2].decode()
            self.assertIn('upgate_outcomes{kind="upgrade",result="failed"} 21', text)
            self.assertEqual(len(m.outcomes(limit=100)["outcomes"]), 21)

    def test_failure_on_one_reaches_every_stream(self):
        a, b = shared_mgmts(self)
        a.start()
        b.start()
        streams = [Stream(m.port) for m in (a, b)]
        for s in streams:
            self.addCleanup(s.close)
        time.sleep(0.3)  # the streams are open
        t0 = time.time()
        st, _, _ = a.ingest(outcome(7))
        self.assertEqual(st, 200)
        for s in streams:
            event, data = s.frame()
            self.assertEqual(event, "failure")
            self.assertEqual(json.loads(data)["outcome_id"], outcome(7)["outcome_id"])
        self.assertLess(time.time() - t0, 1.0)
        # Each failure once on each stream: the next frame is the next one.
        b.ingest(outcome(7))  # a duplicate: nothing new
        b.ingest(outcome(8))
        for s in streams:
            self.assertEqual(json.loads(s.frame()[1])["outcome_id"],
                             outcome(8)["outcome_id"])


class TestSharedTokens(unittest.TestCase):
    def test_token_made_on_one_works_on_both_and_revoking_ends_every_stream(self):
        a, b = shared_mgmts(self)
        a.start()
        b.start()
        st, _, doc = a.admin("POST", "/v1/admin/tokens", {"name": "wall", "role": "viewer"})
        self.assertEqual(st, 201, doc)
        token = doc["token"]
        self.assertEqual(b.request("GET", "/v1/stats", token=token)[0], 200)
        stream = Stream(b.port, token)
        self.addCleanup(stream.close)
        self.assertEqual(stream.resp.status, 200)
        self.assertEqual(a.admin("DELETE", "/v1/admin/tokens/wall")[0], 200)
        # b hears of it through the database and ends the stream.
        with self.assertRaises(EOFError):
            stream.frame()
        self.assertEqual(b.request("GET", "/v1/stats", token=token)[0], 401)
        audit = b.admin("GET", "/v1/admin/audit")[2]["audit"]
        self.assertEqual([(x["method"], x["path"]) for x in audit],
                         [("DELETE", "/v1/admin/tokens/wall"), ("POST", "/v1/admin/tokens")])


class TestSharedAlerts(unittest.TestCase):
    def test_burst_over_both_one_email_one_digest(self):
        port = free_port()
        a, b = shared_mgmts(self, email={"smtp_host": "127.0.0.1", "smtp_port": port},
                            alerts={"group_window": "3s", "repeat_interval": "1h"})
        inbox = os.path.join(a.dir, "inbox")
        sink = Sink("smtp_sink.py", port, inbox)
        self.addCleanup(sink.stop)
        a.start()
        b.start()
        for i in range(5):
            st, _, _ = (a, b)[i % 2].ingest(outcome(i, client_id="burst-%d" % i))
            self.assertEqual(st, 200)
        got = wait_for(lambda: len(mails(inbox)) >= 2 and mails(inbox),
                       what="the first email and the digest")
        time.sleep(2)
        got = mails(inbox)
        self.assertEqual(len(got), 2, [m["Subject"] for m in got])
        self.assertIn("burst-0", got[0]["Subject"])
        self.assertIn("4 more failures", got[1]["Subject"])
        text = got[0].get_content() + got[1].get_content()
        for i in range(5):
            self.assertIn(outcome(i)["upgrade_id"], text)
        sent = [d for d in a.alerts(channel="email")]
        self.assertEqual(sorted((d["kind"], d["state"]) for d in sent),
                         [("digest", "sent"), ("failure", "sent")])

    def test_killed_holder_leaves_its_delivery_to_the_other(self):
        """A's attempt hangs on a relay that never greets; A is killed
        with the delivery claimed. B sends it once the claim lapses
        (2 x its channel's timeout + 10 s)."""
        port = free_port()
        a, b = shared_mgmts(self, email={"smtp_host": "127.0.0.1", "smtp_port": port,
                                         "timeout": "2s"},
                            sms={"timeout": "1s"})
        hole = socket.socket()
        hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hole.bind(("127.0.0.1", port))
        hole.listen(8)
        self.addCleanup(hole.close)
        a.start()
        self.assertEqual(a.ingest(outcome(1))[0], 200)
        wait_for(lambda: a.sql("select count(*) from deliveries"
                               " where channel = 'email' and claimed_until > 0")[0][0] == 1,
                 what="A's claim on the email")
        a.kill()
        hole.close()
        inbox = os.path.join(b.dir, "inbox")
        sink = Sink("smtp_sink.py", port, inbox)
        self.addCleanup(sink.stop)
        b.start()
        d = wait_for(lambda: [d for d in b.alerts(channel="email") if d["state"] == "sent"],
                     timeout=40, what="B to send the email")[0]
        self.assertEqual(d["attempts"], 1)
        self.assertEqual(len(mails(inbox)), 1)


class TestOutage(unittest.TestCase):
    """PostgreSQL stopped: ingest and queries answer 503 (the gateways'
    outboxes keep the outcomes), /readyz 503; started again, every mgmtd
    comes back by itself, its stream included."""

    def test_stop_and_start(self):
        pg = pglib.Postgres().start()
        self.addCleanup(pg.cleanup)
        a, b = shared_mgmts(self, server=pg)
        a.start()
        b.start()
        stream = Stream(b.port)
        self.addCleanup(stream.close)
        time.sleep(0.3)  # the stream is open
        self.assertEqual(a.ingest(outcome(1))[0], 200)
        self.assertEqual(json.loads(stream.frame()[1])["outcome_id"],
                         outcome(1)["outcome_id"])
        pg.stop()
        for m in (a, b):
            wait_for(lambda m=m: m.request("GET", "/readyz")[0] == 503,
                     what="readyz 503 while the database is down")
            t = time.time()
            st, _, doc = m.ingest(outcome(2))
            self.assertEqual((st, doc["error"]["code"]), (503, "storage_unavailable"))
            st, _, doc = m.admin("GET", "/v1/outcomes")
            self.assertEqual((st, doc["error"]["code"]), (503, "storage_unavailable"))
            self.assertLess(time.time() - t, 5)
        pg.start()
        for m in (a, b):
            wait_for(lambda m=m: m.request("GET", "/readyz")[0] == 200, timeout=30,
                     what="readyz 200 again")
            self.assertIsNone(m.proc.poll())
        self.assertEqual(a.ingest(outcome(2))[0], 200)
        # b's stream follows again: its listening connection came back.
        event, data = stream.frame()
        self.assertEqual(json.loads(data)["outcome_id"], outcome(2)["outcome_id"])
        ids = {o["outcome_id"] for o in b.outcomes()["outcomes"]}
        self.assertEqual(ids, {outcome(1)["outcome_id"], outcome(2)["outcome_id"]})


class TestImport(unittest.TestCase):
    def test_import_then_serve_as_before(self):
        old = Mgmt()
        self.addCleanup(old.cleanup)
        old.pg_db = None
        old.write_conf()
        old.start()
        old.ingest({"outcomes": [outcome(i, result="succeeded" if i % 3 else "failed",
                                         message="tab\there\nline")
                                 for i in range(30)]})
        old.ingest(outcome(99, kind="release_halted", halted_at="2026-11-24T10:00:09Z",
                           finished=30, failed=10, failure_rate=0.33,
                           halt_failure_rate=0.25))
        wait_for(lambda: all(d["state"] != "pending" for d in old.alerts()),
                 what="deliveries done")
        # A named token (kept as its hash only) and the audit log.
        st, _, tok = old.admin("POST", "/v1/admin/tokens", {"name": "ops", "role": "viewer"})
        self.assertEqual(st, 201, tok)
        paths = ("/v1/outcomes?limit=100&kind=all", "/v1/stats", "/v1/alerts?limit=100",
                 "/v1/outcomes/" + outcome(3)["outcome_id"], "/v1/admin/tokens",
                 "/v1/admin/audit")
        before = {p: old.admin("GET", p)[2] for p in paths}
        metrics = sorted(l for l in old.request("GET", "/metrics")[2].decode().splitlines()
                         if l.startswith(("upgate_outcomes{", "upgate_alert_deliveries{")))
        self.assertEqual(old.stop(), 0)

        new = Mgmt()
        self.addCleanup(new.cleanup)
        new.use_postgres()
        new.write_conf()
        cmd = [os.path.join(BIN, "upgate-mgmtd"), "-c", new.conf, "--import-sqlite", old.db]
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        tables = ("outcomes", "release_stats", "alert_groups", "alerts", "deliveries",
                  "tokens", "audit")
        counts = {t: new.sql("select count(*) from " + t)[0][0] for t in tables}
        self.assertEqual(counts, {t: old.sql("select count(*) from " + t)[0][0]
                                  for t in tables})
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already holds data", r.stderr)
        self.assertEqual({t: new.sql("select count(*) from " + t)[0][0] for t in tables},
                         counts)

        new.start()
        after = {p: new.admin("GET", p)[2] for p in paths}
        self.assertEqual(after, before)
        self.assertTrue(before["/v1/admin/audit"]["audit"])
        check_access_moved(self, new, tok["token"], "/v1/outcomes?limit=1",
                           before["/v1/admin/audit"]["audit"])
        self.assertEqual(
            sorted(l for l in new.request("GET", "/metrics")[2].decode().splitlines()
                   if l.startswith(("upgate_outcomes{", "upgate_alert_deliveries{"))),
            metrics)
        st, _, doc = new.ingest(outcome(100))
        self.assertEqual((st, doc["duplicate"]), (200, False))
        self.assertEqual(new.ingest(outcome(5))[2]["duplicate"], True)

    def test_import_needs_postgres(self):
        mg = Mgmt()
        self.addCleanup(mg.cleanup)
        mg.pg_db = None
        mg.write_conf()
        r = subprocess.run([os.path.join(BIN, "upgate-mgmtd"), "-c", mg.conf,
                            "--import-sqlite", mg.db], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("backend = postgres", r.stderr)


class TestStartup(unittest.TestCase):
    def run_mgmt(self, mg, *args):
        return subprocess.run([os.path.join(BIN, "upgate-mgmtd"), "-c", mg.conf] +
                              list(args), capture_output=True, text=True, timeout=60)

    def mgmt(self, storage):
        mg = Mgmt()
        self.addCleanup(mg.cleanup)
        mg.storage_section = lambda: storage
        mg.write_conf()
        return mg

    def test_bad_settings_and_wrong_password(self):
        mg = self.mgmt({"database": "/tmp/x.db", "url": "postgresql://u@127.0.0.1/x"})
        r = self.run_mgmt(mg, "--check-config")
        self.assertEqual(r.returncode, 2)
        with open(mg.conf) as f:
            line = f.read().splitlines().index("url = postgresql://u@127.0.0.1/x") + 1
        self.assertIn("%s:%d: [storage] url: only backend = postgres reads it" % (mg.conf, line),
                      r.stderr)
        r = self.run_mgmt(self.mgmt({"backend": "postgres"}), "--check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("[storage] url: backend = postgres needs", r.stderr)

        pg = pglib.Postgres(password="right-horse-battery").start()
        self.addCleanup(pg.cleanup)
        db = pg.new_db("auth")
        pw = os.path.join(mg.dir, "pg.password")
        with open(pw, "w") as f:
            f.write("wrong-staple-secret\n")
        mg = self.mgmt({"backend": "postgres", "url": pg.url(db), "password_file": pw})
        r = self.run_mgmt(mg)
        self.assertEqual(r.returncode, 1)
        self.assertIn("127.0.0.1:%d/%s: cannot connect" % (pg.port, db), r.stderr)
        self.assertNotIn("wrong-staple-secret", r.stderr)
        with open(pw, "w") as f:
            f.write("right-horse-battery\n")
        mg.start()
        self.assertEqual(mg.request("GET", "/readyz")[0], 200)
        with open(mg.log) as f:
            self.assertNotIn("right-horse-battery", f.read())
        # A gateway's database is not mgmtd's.
        server = pglib.server()
        gdb = server.new_db("gwdb")
        server.psql(gdb, "CREATE TABLE upgate_schema (program text PRIMARY KEY,"
                         " version integer NOT NULL);"
                         "INSERT INTO upgate_schema VALUES ('upgate-gatewayd', 1)")
        r = self.run_mgmt(self.mgmt({"backend": "postgres", "url": server.url(gdb)}))
        self.assertEqual(r.returncode, 1)
        self.assertIn("belongs to another program", r.stderr)


if __name__ == "__main__":
    unittest.main()
