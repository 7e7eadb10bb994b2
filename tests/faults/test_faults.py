# SPDX-License-Identifier: MIT
"""Crashes under load. The gateway is SIGKILLed over and over while
clients launch and report: afterwards every acknowledged report is in its
database, every finished upgrade's outcome is in mgmtd exactly once, and
the database is intact. mgmtd is SIGKILLed during ingest and alert
delivery: no acknowledged outcome lost or doubled, every alert mailed, an
email re-sent only across a kill. UPGATE_FAULT_KILLS sets the count."""
import json
import os
import random
import re
import resource
import signal
import socket
import sys
import sqlite3
import threading
import time
import unittest
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from gwlib import Gateway, Mgmt, Sink, free_port, wait_for
from test_mgmt import outcome

APP = "com.example.crash"
KILLS = int(os.environ.get("UPGATE_FAULT_KILLS", "20"))


def kill_repeatedly(daemon, port, kills, rnd, low, high):
    """SIGKILL daemon kills times, each after a random low..high s, and
    start it again on the same port each time."""
    for _ in range(kills):
        time.sleep(rnd.uniform(low, high))
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        daemon.proc = None
        daemon.start(port=port)


class Client(threading.Thread):
    """Clicks and reports as a launcher would, retrying through outages;
    remembers every report the gateway acknowledged."""

    def __init__(self, gw, name, stop):
        super().__init__(daemon=True)
        self.gw, self.name, self.stop = gw, name, stop
        self.acked = []      # (upgrade_id, seq, state)
        self.finished = set()
        self.version = "1.0.0"

    def call(self, fn, *args, **kw):
        while not self.stop.is_set():
            try:
                return fn(*args, **kw)
            except (OSError, urllib.error.URLError, AssertionError, ValueError):
                time.sleep(0.02)  # the gateway is down: try again
        return None

    def run(self):
        rnd = random.Random(self.name)
        while not self.stop.is_set():
            doc = self.call(self.gw.launch, self.name, APP, self.version)
            if doc is None:
                return
            up = doc.get("upgrade")
            if up is None:
                time.sleep(0.01)
                continue
            uid, seq = up["upgrade_id"], 0
            if doc["action"] == "launch":  # in progress: read where it is
                st = self.call(self.gw.request, "GET",
                               "/v1/upgrades/%s?client_id=%s" % (uid, self.name))
                if st is None:
                    return
                seq = st[2]["last_seq"]
            final = "succeeded" if rnd.random() < 0.7 else "failed"
            for state in ("downloading", "verifying", final):
                seq += 1
                kw = {"error_code": "download_failed"} if state == "failed" else {}
                res = self.call(self.gw.report, uid, self.name, seq, state, **kw)
                if res is None:
                    return
                st, body = res
                if st == 200:
                    self.acked.append((uid, seq, state))
                elif st == 409:
                    break  # finished meanwhile (timed out): nothing to add
                else:
                    raise AssertionError((st, body))
            else:
                self.finished.add(uid)
            self.version = "1.0.0"


class TestGatewayKills(unittest.TestCase):
    def test_sigkill_under_load(self):
        mgmt = Mgmt().start()
        self.addCleanup(mgmt.cleanup)
        gw = Gateway(mgmt_url=mgmt.url, retry_backoff="0s", max_attempts=1000, halt_min_samples=1000000)
        gw.start()
        self.addCleanup(gw.cleanup)
        port = gw.port
        for i in range(3):
            gw.publish(APP, "2.0.%d" % i)
        stop = threading.Event()
        clients = [Client(gw, "crash-%d" % i, stop) for i in range(6)]
        for c in clients:
            c.start()
        kill_repeatedly(gw, port, KILLS, random.Random(7), 0.05, 0.3)
        time.sleep(0.3)
        stop.set()
        for c in clients:
            c.join(timeout=60)
        acked = [a for c in clients for a in c.acked]
        self.assertGreater(len(acked), 20, "the load got through between kills")
        # Every acknowledged report is stored, with its state.
        stored = {(u, s): st for u, s, st in gw.sql(
            "SELECT u.upgrade_id, e.seq, e.state FROM events e"
            " JOIN upgrades u ON u.id = e.upgrade")}
        for uid, seq, state in acked:
            self.assertEqual(stored.get((uid, seq)), state, (uid, seq))
        self.assertEqual(gw.sql("PRAGMA integrity_check")[0][0], "ok")
        # Every finished upgrade's outcome reaches mgmtd, once.
        finals = {u for (u,) in gw.sql(
            "SELECT upgrade_id FROM upgrades WHERE final = 1")}
        self.assertTrue({u for c in clients for u in c.finished} <= finals)
        wait_for(lambda: gw.sql("SELECT count(*) FROM outbox")[0][0] == 0, timeout=60,
                 what="the outbox to drain")
        rows = mgmt.sql("SELECT upgrade_id, count(*) FROM outcomes"
                        " WHERE kind != 'release_halted' GROUP BY upgrade_id")
        self.assertEqual({u for u, _ in rows}, finals)
        self.assertEqual([r for r in rows if r[1] != 1], [])
        print("\n%d kills, %d acknowledged reports, %d outcomes" % (KILLS, len(acked),
                                                                    len(rows)))


if __name__ == "__main__":
    unittest.main()


class TestMgmtKills(unittest.TestCase):
    def test_sigkill_during_ingest_and_alert_delivery(self):
        smtp_port = free_port()
        mgmt = Mgmt(email={"smtp_host": "127.0.0.1", "smtp_port": smtp_port},
                    alerts={"group_window": "0s", "repeat_interval": "0s"})
        inbox = os.path.join(mgmt.dir, "inbox")
        sink = Sink("smtp_sink.py", smtp_port, inbox)
        self.addCleanup(sink.stop)
        mgmt.start()
        self.addCleanup(mgmt.cleanup)
        port = mgmt.port
        stop = threading.Event()
        acked = []

        def load():
            n = 0
            while not stop.is_set():
                batch = {"outcomes": [outcome(50000 + n + i, app="com.example.k%d" % (n + i))
                                      for i in range(5)]}
                while not stop.is_set():
                    try:
                        st, _, _ = mgmt.ingest(batch)
                    except (OSError, urllib.error.URLError):
                        st = 0
                    if st == 200:
                        acked.extend(o["outcome_id"] for o in batch["outcomes"])
                        break
                    time.sleep(0.02)
                n += 5

        t = threading.Thread(target=load, daemon=True)
        t.start()
        kills = max(5, KILLS // 2)
        kill_repeatedly(mgmt, port, kills, random.Random(11), 0.1, 0.4)
        stop.set()
        t.join(timeout=60)
        self.assertGreater(len(acked), 20)
        # No acknowledged outcome lost, none doubled.
        rows = dict(mgmt.sql("SELECT outcome_id, count(*) FROM outcomes GROUP BY outcome_id"))
        self.assertEqual([o for o in acked if o not in rows], [])
        self.assertEqual([o for o, n in rows.items() if n != 1], [])
        self.assertEqual(mgmt.sql("PRAGMA integrity_check")[0][0], "ok")
        # Every alert gets its email; one is sent twice at most when a kill
        # came between the server's acknowledgement and the record of it.
        def all_sent():
            return mgmt.sql("SELECT count(*) FROM deliveries WHERE channel = 'email'"
                            " AND state != 'sent'")[0][0] == 0
        wait_for(all_sent, timeout=120, what="every email delivery to be sent")
        deliveries = mgmt.sql("SELECT id FROM deliveries WHERE channel = 'email'")
        ids = []
        for name in os.listdir(inbox):
            if name.endswith(".eml"):
                with open(os.path.join(inbox, name), "rb") as f:
                    m = re.search(rb"Message-ID: <[0-9a-f]+\.(\d+)@upgate-mgmtd>", f.read())
                ids.append(int(m.group(1)))
        self.assertEqual(set(ids), {d for (d,) in deliveries}, "every alert was mailed")
        resent = len(ids) - len(set(ids))
        self.assertLessEqual(resent, kills, "re-sent only across a kill")
        print("\n%d mgmtd kills, %d outcomes acknowledged, %d emails, %d re-sent" % (
            kills, len(acked), len(ids), resent))


class TestFullDisk(unittest.TestCase):
    """A file-size limit on the running gateway (RLIMIT_FSIZE, changed from
    outside with prlimit) stands in for a full disk."""

    def test_writes_503_reads_work_then_recover(self):
        gw = Gateway()
        gw.start()
        self.addCleanup(gw.cleanup)
        gw.publish(APP, "1.0.0")
        limit = os.path.getsize(gw.db) + 64 * 1024
        resource.prlimit(gw.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        refused = None
        for i in range(2000):
            st, _, doc = gw.publish(APP, "1.1.%d" % i, notes="x" * 2000)
            if st != 201:
                refused = (st, doc)
                break
        self.assertIsNotNone(refused, "the limit was never reached")
        st, doc = refused
        self.assertEqual(st, 503, doc)
        self.assertEqual(doc["error"]["code"], "storage_unavailable")
        # Reads go on; the daemon is alive and says its storage is in trouble
        # only where it is.
        st, _, doc = gw.admin("GET", "/v1/admin/releases?app=" + APP)
        self.assertEqual(st, 200)
        published = len(doc["releases"])
        self.assertEqual(gw.request("GET", "/healthz")[0], 200)
        st, _, _ = gw.request("POST", "/v1/launch", {"client_id": "full-1", "app": APP,
                                                     "version": "0.9.0",
                                                     "platform": "linux-x86_64"})
        self.assertIn(st, (200, 503))
        # Space returns: writes work again, nothing was corrupted.
        resource.prlimit(gw.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        st, _, doc = gw.publish(APP, "9.0.0")
        self.assertEqual(st, 201, doc)
        st, _, doc = gw.admin("GET", "/v1/admin/releases?app=" + APP)
        self.assertEqual(len(doc["releases"]), published + 1)
        self.assertEqual(gw.stop(), 0)
        self.assertEqual(gw.sql("PRAGMA integrity_check")[0][0], "ok")


class BadSmtp(threading.Thread):
    """An SMTP server gone wrong, on loopback: 'drop' closes every
    connection at once, 'stall' never says a word, 'tempfail' answers MAIL
    with 451. Counts connections."""

    def __init__(self, mode):
        super().__init__(daemon=True)
        self.mode, self.conns, self.held = mode, 0, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            if self.mode == "drop":
                c.close()
            elif self.mode == "stall":
                self.held.append(c)
            else:
                threading.Thread(target=self.talk, args=(c,), daemon=True).start()

    def talk(self, c):
        f = c.makefile("rwb")
        try:
            f.write(b"220 bad.example ESMTP\r\n")
            f.flush()
            for line in f:
                cmd = line[:4].upper()
                if cmd in (b"EHLO", b"HELO"):
                    f.write(b"250 bad.example\r\n")
                elif cmd == b"MAIL":
                    f.write(b"451 4.3.0 try again later\r\n")
                elif cmd == b"QUIT":
                    f.write(b"221 bye\r\n")
                    f.flush()
                    break
                else:
                    f.write(b"503 5.5.1 bad sequence\r\n")
                f.flush()
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.sock.close()
        for c in self.held:
            c.close()


class TestSmtpMisbehaving(unittest.TestCase):
    def check(self, mode, error):
        bad = BadSmtp(mode)
        self.addCleanup(bad.stop)
        mgmt = Mgmt(email={"smtp_host": "127.0.0.1", "smtp_port": bad.port, "timeout": "1s"})
        mgmt.start()
        self.addCleanup(mgmt.cleanup)
        self.assertEqual(mgmt.ingest(outcome(60000))[0], 200)

        def tried_twice():
            a = mgmt.alerts(channel="email")
            return a and a[0]["attempts"] >= 2 and a[0]
        a = wait_for(tried_twice, timeout=60, what="two attempts against a %s server" % mode)
        self.assertIn(a["state"], ("pending", "failed"))
        self.assertRegex(a["last_error"] or "", error)
        self.assertIsNotNone(a["next_attempt_at"])
        self.assertGreaterEqual(bad.conns, 2)
        # Meanwhile the daemon answers and archives as usual.
        self.assertEqual(mgmt.request("GET", "/healthz")[0], 200)
        self.assertEqual(mgmt.ingest(outcome(60001, result="succeeded"))[0], 200)
        self.assertEqual(len(mgmt.outcomes(kind="all")["outcomes"]), 2)

    def test_drop(self):
        self.check("drop", r".+")

    def test_stall(self):
        self.check("stall", r".+")

    def test_tempfail(self):
        self.check("tempfail", r"451")


class TestLongOutage(unittest.TestCase):
    ROWS = int(os.environ.get("UPGATE_OUTBOX_ROWS", "50000"))

    def test_backlog_drains_in_order_while_launches_go_on(self):
        mgmt = Mgmt()  # not running yet: down for the whole fill
        self.addCleanup(mgmt.cleanup)
        gw = Gateway(mgmt_url=mgmt.url, forward={"retry_max": "500ms"})
        gw.start()
        self.addCleanup(gw.cleanup)
        gw.publish(APP, "2.0.0")
        con = sqlite3.connect(gw.db, timeout=30)
        with con:
            con.executemany(
                "INSERT INTO outbox (outcome_id, kind, body, created_at) VALUES (?, 'outcome', ?, 0)",
                ((("%032x" % (0x70000000 + i)),
                  json.dumps(outcome(0x70000000 + i, client_id="backlog-%d" % i,
                                     result="succeeded")))
                 for i in range(self.ROWS)))
        con.close()
        # mgmtd comes back; launches go on while the backlog drains.
        mgmt.start()
        latencies = []
        while gw.sql("SELECT count(*) FROM outbox")[0][0] > 0:
            t0 = time.monotonic()
            gw.launch("live-%d" % len(latencies), APP, "1.0.0")
            latencies.append(time.monotonic() - t0)
            time.sleep(0.05)
            self.assertLess(len(latencies), 6000, "the backlog does not drain")
        n = mgmt.sql("SELECT count(*) FROM outcomes")[0][0]
        self.assertEqual(n, self.ROWS)
        # Oldest first: the archive's order is the outbox's.
        ids = [int(o, 16) for (o,) in mgmt.sql("SELECT outcome_id FROM outcomes ORDER BY id")]
        self.assertEqual(ids, sorted(ids))
        self.assertLess(max(latencies), 2.0, "a launch waited on the drain")
        print("\n%d outcomes drained; %d launches meanwhile, slowest %.0f ms" % (
            n, len(latencies), 1000 * max(latencies)))
