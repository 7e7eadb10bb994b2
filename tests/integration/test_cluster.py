# SPDX-License-Identifier: MIT
"""Several gateways on one PostgreSQL database: every rule holds across
them as it does for one (SPEC "Storage on PostgreSQL")."""
import json
import os
import re
import subprocess
import threading
import time
import unittest
import urllib.request

import pglib
from gwlib import BIN, Gateway, Mgmt, artifact, check_access_moved, free_port, wait_for

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


class TestImport(unittest.TestCase):
    """--import-sqlite: a SQLite gateway's database moved whole into
    PostgreSQL; launches then behave as they did before the move."""

    def test_import_then_launch_as_before(self):
        old = Gateway(halt_min_samples=1000)
        self.addCleanup(old.cleanup)
        old.pg_db = None
        old.write_conf()
        old.start()
        old.publish(APP, "1.1.0", notes="tab\there, back\\slash\nnew line")
        old.publish(APP, "1.2.0", channel="beta")
        delta = {"url": "https://dl.example.com/d.zst", "size": 9, "sha256": "ef" * 32}
        arts = artifact()
        arts["linux-x86_64"].update(tar_sha256="cd" * 32, deltas={"1.0.0": delta})
        old.publish(APP, "1.0.0", channel="delta")
        old.publish(APP, "1.3.0", channel="delta", artifacts=arts)
        busy = old.launch("busy", APP, "1.0.0")["upgrade"]["upgrade_id"]
        self.assertEqual(old.report(busy, "busy", 1, "downloading", progress=40)[0], 200)
        failed = old.launch("failed", APP, "1.0.0")["upgrade"]["upgrade_id"]
        old.report(failed, "failed", 1, "failed", error_code="disk_full", message="full")
        done = old.launch("done", APP, "1.0.0")["upgrade"]["upgrade_id"]
        old.report(done, "done", 1, "succeeded")
        for i in range(40):  # launch records, past one statement's rows
            old.launch("plain-%d" % i, APP, "1.1.0")
        wait_for(lambda: old.sql("select count(*) from launches")[0][0] >= 43,
                 what="launch records written")
        # A named token (kept as its hash only) and the audit log.
        st, _, tok = old.admin("POST", "/v1/admin/tokens", {"name": "ops", "role": "viewer"})
        self.assertEqual(st, 201, tok)
        before = {p: old.admin("GET", p)[2] for p in (
            "/v1/admin/releases?app=" + APP, "/v1/admin/upgrades?limit=100",
            "/v1/admin/tokens", "/v1/admin/audit")}
        self.assertTrue(before["/v1/admin/audit"]["audit"])
        self.assertEqual(old.stop(), 0)
        counts = {t: old.sql("select count(*) from " + t)[0][0] for t in (
            "releases", "artifacts", "upgrades", "events", "outbox", "launches",
            "tokens", "audit")}

        new = Gateway(halt_min_samples=1000)
        self.addCleanup(new.cleanup)
        new.use_postgres()
        new.write_conf()
        cmd = [os.path.join(BIN, "upgate-gatewayd"), "-c", new.conf, "--import-sqlite", old.db]
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual({t: new.sql("select count(*) from " + t)[0][0] for t in counts},
                         counts)
        # Into a database that holds data: refused, nothing changed.
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already holds data", r.stderr)
        self.assertEqual({t: new.sql("select count(*) from " + t)[0][0] for t in counts},
                         counts)

        new.start()
        after = {p: new.admin("GET", p)[2] for p in before}
        self.assertEqual(after, before)
        check_access_moved(self, new, tok["token"], "/v1/admin/upgrades?limit=1",
                           before["/v1/admin/audit"]["audit"])
        d = new.launch("busy", APP, "1.0.0")
        self.assertEqual((d["reason"], d["upgrade"]["upgrade_id"]), ("upgrade_in_progress", busy))
        d = new.launch("failed", APP, "1.0.0")
        self.assertEqual(d["previous_failure"]["upgrade_id"], failed)
        self.assertIsNone(new.launch("failed", APP, "1.0.0")["previous_failure"])
        self.assertEqual(new.launch("done", APP, "1.1.0")["reason"], "up_to_date")
        fresh = new.launch("fresh", APP, "1.0.0")["upgrade"]["upgrade_id"]
        self.assertEqual(new.report(fresh, "fresh", 1, "succeeded")[0], 200)
        self.assertEqual(new.sql("select count(*) from outbox")[0][0], counts["outbox"] + 1)
        st, _, doc = new.request("GET", "/v1/apps/%s/manifest?platform=linux-x86_64" % APP)
        self.assertEqual(doc["notes"], "tab\there, back\\slash\nnew line")
        # deltas came along
        d = new.launch("delta", APP, "1.0.0", channel="delta")
        self.assertEqual(d["upgrade"]["delta"]["url"], "https://dl.example.com/d.zst")

    def test_import_needs_postgres(self):
        gw = Gateway()
        self.addCleanup(gw.cleanup)
        gw.pg_db = None
        gw.write_conf()
        r = subprocess.run([os.path.join(BIN, "upgate-gatewayd"), "-c", gw.conf,
                            "--import-sqlite", gw.db], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("backend = postgres", r.stderr)


class TestThreads(unittest.TestCase):
    """[server] threads = 0: on SQLite a CPU is left to the group-commit
    writer; on PostgreSQL a request thread mostly waits for the server, so
    there is one per CPU (with one, launches that read the database ran
    at a tenth of the rate on two cores)."""

    def thread_names(self, gw):
        names = []
        for t in os.listdir("/proc/%d/task" % gw.proc.pid):
            try:
                with open("/proc/%d/task/%s/comm" % (gw.proc.pid, t)) as f:
                    names.append(f.read().strip())
            except FileNotFoundError:  # a thread that just ended
                pass
        return names

    def test_default_follows_the_engine(self):
        cpus = len(os.sched_getaffinity(0))
        for engine, want in (("sqlite", max(cpus - 1, 1)), ("postgres", cpus)):
            gw = Gateway()
            self.addCleanup(gw.cleanup)
            if engine == "postgres":
                gw.use_postgres()
            else:
                gw.pg_db = None
            gw.server = {"threads": 0}
            gw.start()
            self.assertIsNone(gw.proc.poll(), "%s: the gateway is running" % engine)
            # libmicrohttpd's threads name themselves as they start
            # (MHD-single, MHD-worker): on a loaded machine, a moment on.
            deadline = time.time() + 10
            while True:
                names = self.thread_names(gw)
                got = len([x for x in names if x.startswith("MHD-")])
                if got == want or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(got, want,
                             "%s: %s" % (engine, names))


class TestPlans(unittest.TestCase):
    """A prepared statement's plan made while upgrades was empty (a new
    database) does not outlive the table's growth: the gateway's
    connections drop their cached plans every 10 s (src/common/pg.c).
    Seen in make bench BACKEND=postgres: the client's latest upgrade was
    read through the app's index, every upgrade of the app per launch,
    10x slower, until an ANALYZE. The plans are read from the server's
    log (auto_explain, for this test's database only)."""

    LATEST = "WHERE client_id = $1 AND app = $2 ORDER BY id DESC LIMIT 1"

    def latest_plans(self, gw, since):
        """The index each read of a client's latest upgrade used, in the
        server's log after offset since."""
        with open(gw.pg.log) as f:
            f.seek(since)
            entries = f.read().split("LOG:  duration: ")[1:]
        return [re.search(r"using (\w+) on upgrades", e).group(1)
                for e in entries if self.LATEST in e]

    def test_a_plan_made_on_an_empty_table_is_made_again(self):
        gw = Gateway()
        self.addCleanup(gw.cleanup)
        db = gw.use_postgres()
        for setting in ("session_preload_libraries = 'auto_explain'",
                        "auto_explain.log_min_duration = 0"):
            gw.pg.psql(db, "ALTER DATABASE %s SET %s" % (db, setting))
        gw.start()
        # autovacuum's ANALYZE would make the plan again too: off, so
        # that only the gateway's own re-planning is seen (the ALTER
        # comes before any plan is made; it would drop them)
        gw.sql("ALTER TABLE upgrades SET (autovacuum_enabled = false)")
        gw.publish(APP, "1.0.0")
        for _ in range(100):  # on each connection five custom plans,
            gw.launch("c-up-to-date", APP, "1.0.0")  # then the generic one
        rel = gw.sql("select id from releases")[0][0]
        gw.sql("insert into upgrades (upgrade_id, client_id, app, release_id, platform,"
               " channel, from_version, to_version, state, final, url, size, sha256,"
               " notes, mandatory, created_at, updated_at)"
               " select 'u' || i, 'c' || i, ?, ?, 'linux-x86_64', 'stable', '0.9.0',"
               " '1.0.0', 'succeeded', 1, 'http://x/a', 1, repeat('0', 64), '', 0, 0, 0"
               " from generate_series(1, 20000) i", APP, rel)
        since = os.path.getsize(gw.pg.log)
        for _ in range(5):
            gw.launch("c-up-to-date", APP, "1.0.0")
        stale = self.latest_plans(gw, since)
        time.sleep(10.5)
        for _ in range(20):
            gw.launch("c-up-to-date", APP, "1.0.0")
        since = os.path.getsize(gw.pg.log)
        for _ in range(10):
            gw.launch("c-up-to-date", APP, "1.0.0")
        fresh = self.latest_plans(gw, since)
        # made on the empty table: the app's index, all 20,000 of its
        # entries read to find none of the client's
        self.assertIn("upgrades_app", stale, "the empty table's plan (precondition)")
        self.assertEqual(len(fresh), 10, fresh)
        self.assertEqual(set(fresh), {"upgrades_client"})


class TestStartup(unittest.TestCase):
    """Bad storage settings and databases are refused at start, clearly,
    and never with the password in a message."""

    def run_gateway(self, gw, *args):
        return subprocess.run([os.path.join(BIN, "upgate-gatewayd"), "-c", gw.conf] +
                              list(args), capture_output=True, text=True, timeout=60)

    def gateway(self, storage):
        gw = Gateway()
        self.addCleanup(gw.cleanup)
        gw.storage_section = lambda: storage
        gw.write_conf()
        return gw

    def test_bad_combinations_name_file_and_line(self):
        gw = self.gateway({"database": "/tmp/x.db", "url": "postgresql://u@127.0.0.1/x"})
        r = self.run_gateway(gw, "--check-config")
        self.assertEqual(r.returncode, 2)
        with open(gw.conf) as f:
            line = f.read().splitlines().index("url = postgresql://u@127.0.0.1/x") + 1
        self.assertIn("%s:%d: [storage] url: only backend = postgres reads it" % (gw.conf, line),
                      r.stderr)
        gw = self.gateway({"backend": "postgres"})
        r = self.run_gateway(gw, "--check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("[storage] url: backend = postgres needs", r.stderr)
        gw = self.gateway({"backend": "mysql"})
        self.assertEqual(self.run_gateway(gw, "--check-config").returncode, 2)
        gw = self.gateway({"backend": "postgres", "url": "postgresql://u@127.0.0.1/x",
                           "password_file": "/nonexistent/pw"})
        r = self.run_gateway(gw, "--check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("[storage] password_file: cannot read /nonexistent/pw", r.stderr)

    def test_unreachable_and_wrong_password(self):
        pg = pglib.Postgres(password="right-horse-battery").start()
        self.addCleanup(pg.cleanup)
        db = pg.new_db("auth")
        gw = self.gateway({})
        pw = os.path.join(gw.dir, "pg.password")
        with open(pw, "w") as f:
            f.write("wrong-staple-secret\n")
        gw.storage_section = lambda: {"backend": "postgres", "url": pg.url(db),
                                      "password_file": pw}
        gw.write_conf()
        r = self.run_gateway(gw)
        self.assertEqual(r.returncode, 1)
        self.assertIn("127.0.0.1:%d/%s: cannot connect" % (pg.port, db), r.stderr)
        self.assertIn("password authentication failed", r.stderr)
        self.assertNotIn("wrong-staple-secret", r.stderr)
        # The right one, as a systemd credential (a bare name).
        with open(pw, "w") as f:
            f.write("right-horse-battery\n")
        gw.env = dict(os.environ, CREDENTIALS_DIRECTORY=gw.dir)
        gw.storage_section = lambda: {"backend": "postgres", "url": pg.url(db),
                                      "password_file": "pg.password"}
        gw.start()
        self.assertEqual(gw.request("GET", "/readyz")[0], 200)
        with open(gw.log) as f:
            self.assertNotIn("right-horse-battery", f.read())
        gw.stop()
        # Nothing listening there.
        port = free_port()
        gw.storage_section = lambda: {"backend": "postgres",
                                      "url": "postgresql://upgate@127.0.0.1:%d/x" % port}
        gw.write_conf()
        r = self.run_gateway(gw)
        self.assertEqual(r.returncode, 1)
        self.assertIn("upgate@127.0.0.1:%d/x: cannot connect" % port, r.stderr)
        self.assertIn("Connection refused", r.stderr)

    def refused(self, setup, expect):
        server = pglib.server()
        db = server.new_db("refuse")
        server.psql(db, setup)
        tables = server.psql(db, "SELECT count(*) FROM information_schema.tables"
                                 " WHERE table_schema = 'public'")
        gw = self.gateway({"backend": "postgres", "url": server.url(db)})
        r = self.run_gateway(gw)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(expect, r.stderr)
        self.assertEqual(server.psql(db, "SELECT count(*) FROM information_schema.tables"
                                         " WHERE table_schema = 'public'"), tables)

    def test_other_daemons_or_newer_database_refused(self):
        self.refused("CREATE TABLE upgate_schema (program text PRIMARY KEY,"
                     " version integer NOT NULL);"
                     "INSERT INTO upgate_schema VALUES ('upgate-mgmtd', 1)",
                     "belongs to another program")
        self.refused("CREATE TABLE upgate_schema (program text PRIMARY KEY,"
                     " version integer NOT NULL);"
                     "INSERT INTO upgate_schema VALUES ('upgate-gatewayd', 99)",
                     "schema version 99 is newer than this program knows")
        self.refused("CREATE TABLE inventory (id int)", "of something else")
