# SPDX-License-Identifier: MIT
"""upgate-mgmtd, the forwarder and alerts: real daemons, a real SMTP server
(aiosmtpd) and an HTTP SMS sink, all on loopback."""
import base64
import csv
import email
import email.policy
import glob
import hashlib
import hmac
import http.client
import io
import json
import os
import re
import socket
import subprocess
import time
import unittest

import pglib

from gwlib import (BIN, TOKEN, Gateway, Mgmt, Sink, free_port, sign,
                   wait_for)

APP = "com.example.editor"


def outcome(i=0, result="failed", **kw):
    o = {"outcome_id": "%032x" % (0xabc000 + i), "gateway_id": "gw-1",
         "upgrade_id": "%032x" % (0xdef000 + i), "client_id": "host-%d" % i,
         "app": APP, "platform": "linux-x86_64", "from_version": "1.4.2",
         "to_version": "1.5.0", "result": result,
         "started_at": "2026-11-24T10:00:00Z", "finished_at": "2026-11-24T10:00:07Z",
         "events": [{"seq": 1, "state": "downloading", "at": "2026-11-24T10:00:01Z"}]}
    if result != "succeeded":
        o.update(error_code="sha256_mismatch", message="expected ab12, got 9f00")
    o.update(kw)
    return o


class Case(unittest.TestCase):
    def assertError(self, resp, status, code=None, field=None):
        st, _, doc = resp
        self.assertEqual(st, status, doc)
        self.assertIn("error", doc)
        self.assertTrue(doc["error"]["message"])
        if code:
            self.assertEqual(doc["error"]["code"], code)
        if field:
            self.assertEqual(doc["error"].get("field"), field)


class TestIngestAndQueries(Case):
    def setUp(self):
        self.mg = Mgmt(email={"to": ""}).start()

    def tearDown(self):
        rc = self.mg.stop()
        log = self.mg.log_tail() if rc != 0 else ""
        self.mg.cleanup()
        self.assertEqual(rc, 0, "SIGTERM must end the daemon with 0; its log "
                         "ends:\n" + log)

    def count(self):
        return self.mg.sql("select count(*) from outcomes")[0][0]

    def test_single_batch_and_duplicates(self):
        st, _, doc = self.mg.ingest(outcome(1))
        self.assertEqual((st, doc["duplicate"]), (200, False))
        st, _, doc = self.mg.ingest(outcome(1))
        self.assertEqual((st, doc["duplicate"]), (200, True))
        st, _, doc = self.mg.ingest({"outcomes": [outcome(1), outcome(2), outcome(3, "succeeded")]})
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["accepted"], doc["duplicates"]), (2, 1))
        self.assertEqual([r["duplicate"] for r in doc["results"]], [True, False, False])
        self.assertEqual(self.count(), 3)
        st, _, one = self.mg.admin("GET", "/v1/outcomes/" + outcome(1)["outcome_id"])
        self.assertEqual(st, 200)
        self.assertEqual(one["events"][0]["state"], "downloading")
        self.assertEqual(one["error_code"], "sha256_mismatch")
        self.assertEqual(one["finished_at"], "2026-11-24T10:00:07Z")
        self.assertEqual(self.mg.admin("GET", "/v1/outcomes/" + "0" * 32)[0], 404)

    def test_signature_and_timestamp(self):
        body = json.dumps(outcome(1)).encode()
        self.assertError(self.mg.ingest(None, raw=body, headers={}), 401, "missing_signature")
        self.assertError(self.mg.ingest(None, raw=body, headers=sign(body, secret="wrong")),
                         401, "bad_signature")
        self.assertError(self.mg.ingest(None, raw=body + b" ", headers=sign(body)), 401,
                         "bad_signature")
        self.assertError(self.mg.ingest(None, raw=body,
                                        headers=sign(body, ts=int(time.time()) - 600)),
                         401, "stale_timestamp")
        self.assertError(self.mg.ingest(None, raw=body,
                                        headers=sign(body, ts=int(time.time()) + 600)),
                         401, "stale_timestamp")
        # Within max_skew (5m) is fine.
        st, _, _ = self.mg.ingest(None, raw=body, headers=sign(body, ts=int(time.time()) - 200))
        self.assertEqual(st, 200)
        self.assertEqual(self.count(), 1)

    def test_bad_bodies_store_nothing(self):
        self.assertError(self.mg.ingest(None, raw=b"{nope"), 400, "malformed_json")
        self.assertError(self.mg.ingest(None, raw=b"[1]"), 400)
        bad = outcome(2)
        bad["client_id"] = "\x01bad"
        self.assertError(self.mg.ingest({"outcomes": [outcome(1), bad]}), 422,
                         field="outcomes[1].client_id")
        missing = outcome(3)
        del missing["finished_at"]
        self.assertError(self.mg.ingest({"outcomes": [outcome(1), missing]}), 400,
                         field="outcomes[1].finished_at")
        self.assertError(self.mg.ingest(outcome(4, result="exploded")), 422, field="result")
        self.assertError(self.mg.ingest(outcome(4, to_version="1.x")), 422, field="to_version")
        self.assertError(self.mg.ingest({"outcomes": []}), 422, field="outcomes")
        many = [outcome(i) for i in range(501)]
        self.assertError(self.mg.ingest({"outcomes": many}), 422, field="outcomes")
        # Over 4 MiB is refused from its Content-Length, before the body.
        conn = http.client.HTTPConnection("127.0.0.1", self.mg.port, timeout=30)
        conn.putrequest("POST", "/v1/outcomes")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(4 * 1024 * 1024 + 1))
        conn.endheaders()
        r = conn.getresponse()
        doc = json.loads(r.read())
        conn.close()
        self.assertEqual((r.status, doc["error"]["code"]), (413, "body_too_large"))
        self.assertEqual(self.count(), 0)

    def test_time_windows(self):
        """Windows read the ids their hours span: outcomes hours and days
        apart, one that arrived late (its gateway cut off) and one from a
        clock ahead, paged through windows inside, across and between
        the hours, as a plain reading of the filter says."""
        def at(h):
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1790000000 + h * 3600))
        hours = [0, 0, 1, 5, 30, 30, 31, 200, 2]  # the 2 arrives last
        for i, h in enumerate(hours):
            self.assertEqual(self.mg.ingest(outcome(
                i, "failed" if i % 2 else "succeeded", finished_at=at(h),
                started_at=at(h)))[0], 200)
        for since, until in ((0, 1), (1, 1), (0, 31), (2, 4), (29, 29), (6, 29), (2, 2),
                             (-5, 500), (199, None), (None, 3)):
            q = {"limit": 2}
            if since is not None:
                q["since"] = at(since)
            if until is not None:
                q["until"] = at(until) if until == since else at(until + 1)
            want = [i for i, h in enumerate(hours)
                    if (since is None or h >= since)
                    and (until is None or (h <= since if until == since else h <= until + 1))]
            got, after = [], None
            while True:
                page = self.mg.outcomes(**(q | ({"after": after} if after else {})))
                got += [int(o["outcome_id"], 16) - 0xabc000 for o in page["outcomes"]]
                after = page["next"]
                if after is None:
                    break
            self.assertEqual(got, sorted(want, reverse=True), (since, until))

    def test_queries_pages_csv_stats(self):
        batch = [outcome(i, "failed" if i % 3 == 0 else "succeeded") for i in range(10)]
        batch.append(outcome(10, "timed_out", to_version="1.6.0", error_code="timed_out"))
        self.assertEqual(self.mg.ingest({"outcomes": batch})[0], 200)
        self.assertEqual(self.mg.request("GET", "/v1/outcomes")[0], 401)
        self.assertEqual(len(self.mg.outcomes()["outcomes"]), 11)
        self.assertEqual(len(self.mg.outcomes(result="failed")["outcomes"]), 4)
        self.assertEqual(len(self.mg.outcomes(version="1.6.0")["outcomes"]), 1)
        self.assertEqual(self.mg.outcomes(client_id="host-3")["outcomes"][0]["client_id"],
                         "host-3")
        self.assertEqual(self.mg.outcomes(since="2026-11-25T00:00:00Z")["outcomes"], [])
        # Pages: newest first, a cursor until the last page.
        seen, after = [], None
        while True:
            q = {"limit": 4} | ({"after": after} if after else {})
            page = self.mg.outcomes(**q)
            seen += [o["outcome_id"] for o in page["outcomes"]]
            after = page["next"]
            if after is None:
                break
        self.assertEqual(len(seen), 11)
        self.assertEqual(len(set(seen)), 11)
        self.assertEqual(seen[0], outcome(10)["outcome_id"])
        self.assertError(self.mg.admin("GET", "/v1/outcomes?limit=0"), 422, field="limit")
        self.assertError(self.mg.admin("GET", "/v1/outcomes?result=bad"), 422, field="result")
        # The message names what is accepted.
        st, _, doc = self.mg.admin("GET", "/v1/alerts?state=bogus")
        self.assertEqual((st, doc["error"]["field"]), (422, "state"))
        self.assertIn("pending, sent, failed", doc["error"]["message"])
        st, hdrs, text = self.mg.admin("GET", "/v1/outcomes.csv?result=failed")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/csv"))
        rows = list(csv.DictReader(io.StringIO(text.decode())))
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[0]["message"], "expected ab12, got 9f00")
        st, _, doc = self.mg.admin("GET", "/v1/stats?app=" + APP)
        self.assertEqual(st, 200)
        by = {s["version"]: s for s in doc["stats"]}
        self.assertEqual((by["1.5.0"]["total"], by["1.5.0"]["failed"],
                          by["1.5.0"]["succeeded"]), (10, 4, 6))
        self.assertAlmostEqual(by["1.5.0"]["failure_rate"], 0.4)
        self.assertEqual((by["1.6.0"]["timed_out"], by["1.6.0"]["failure_rate"]), (1, 1.0))

    def test_csv_neutralises_formulas(self):
        """A cell a spreadsheet would run as a formula starts with a quote
        in the export; the API keeps the text as sent."""
        leads = ["=", "+", "-", "@", "\t", "\r"]
        batch = [outcome(i, message=lead + "HYPERLINK(\"http://x\")") for i, lead in enumerate(leads)]
        self.assertEqual(self.mg.ingest({"outcomes": batch})[0], 200)
        st, _, text = self.mg.admin("GET", "/v1/outcomes.csv")
        self.assertEqual(st, 200)
        rows = list(csv.DictReader(io.StringIO(text.decode(), newline="")))
        got = sorted(r["message"] for r in rows)
        self.assertEqual(got, sorted("'" + lead + "HYPERLINK(\"http://x\")" for lead in leads))
        api = {o["message"] for o in self.mg.outcomes()["outcomes"]}
        self.assertIn("\tHYPERLINK(\"http://x\")", api)

    def test_csv_export_in_pages(self):
        """An export larger than a page (1,000 rows) comes whole, newest
        first and each row once, as a chunked body; limit stops it inside
        a page."""
        n = 2345
        for start in range(0, n, 100):
            batch = [outcome(i, "succeeded") for i in range(start, min(n, start + 100))]
            self.assertEqual(self.mg.ingest({"outcomes": batch})[0], 200)
        want = [outcome(i)["outcome_id"] for i in reversed(range(n))]
        st, hdrs, text = self.mg.admin("GET", "/v1/outcomes.csv?result=succeeded")
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("Transfer-Encoding"), "chunked")
        rows = list(csv.DictReader(io.StringIO(text.decode())))
        self.assertEqual([r["outcome_id"] for r in rows], want)
        self.assertEqual(rows[-1]["client_id"], "host-0")
        st, _, text = self.mg.admin("GET", "/v1/outcomes.csv?result=succeeded&limit=1500")
        self.assertEqual(st, 200)
        rows = list(csv.DictReader(io.StringIO(text.decode())))
        self.assertEqual([r["outcome_id"] for r in rows], want[:1500])
        # Nothing matches: the header line alone.
        st, _, text = self.mg.admin("GET", "/v1/outcomes.csv?result=failed")
        self.assertEqual((st, text.decode().count("\r\n")), (200, 1))
        self.assertTrue(text.decode().startswith("outcome_id,kind,"))

    def test_client_and_release_queries_page_like_the_rest(self):
        """A query naming a client, or an app and version, runs on an
        index of its own: same filters, same order, same pages."""
        batch = [outcome(i, "failed" if i % 2 else "succeeded",
                         client_id="host-%d" % (i % 3),
                         to_version="1.5.0" if i % 4 else "1.6.0") for i in range(24)]
        self.assertEqual(self.mg.ingest({"outcomes": batch})[0], 200)
        for q, want in (({"client_id": "host-1"}, [o for o in batch if o["client_id"] == "host-1"]),
                        ({"client_id": "host-1", "result": "failed"},
                         [o for o in batch if o["client_id"] == "host-1" and o["result"] == "failed"]),
                        ({"app": APP, "version": "1.6.0"}, [o for o in batch if o["to_version"] == "1.6.0"]),
                        ({"app": APP, "version": "1.6.0", "client_id": "host-0"},
                         [o for o in batch if o["to_version"] == "1.6.0" and o["client_id"] == "host-0"]),
                        ({"app": "other.app", "version": "1.6.0"}, [])):
            with self.subTest(**q):
                seen, after = [], None
                while True:
                    page = self.mg.outcomes(limit=3, **q, **({"after": after} if after else {}))
                    seen += [o["outcome_id"] for o in page["outcomes"]]
                    if (after := page["next"]) is None:
                        break
                self.assertEqual(seen, [o["outcome_id"] for o in reversed(want)])
                st, _, text = self.mg.admin("GET", "/v1/outcomes.csv?" + "&".join(
                    "%s=%s" % kv for kv in q.items()))
                ids = [l.split(",")[0] for l in text.decode().splitlines()[1:]]
                self.assertEqual((st, ids), (200, seen))

    def test_health_and_metrics(self):
        self.assertEqual(self.mg.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.mg.request("GET", "/readyz")[0], 200)
        self.mg.ingest(outcome(1))
        # The request counter moves once the answer is sent.
        text = wait_for(lambda: (lambda t: 'POST /v1/outcomes",status="200"' in t and t)(
            self.mg.request("GET", "/metrics")[2].decode()), what="the ingest counted")
        self.assertIn('upgate_outcomes{kind="upgrade",result="failed"} 1', text)
        self.assertIn('upgate_alert_deliveries{channel="popup",state="sent"} 1', text)
        self.assertIn('route="POST /v1/outcomes",status="200"', text)

    @unittest.skipIf(pglib.backend() == "postgres",
                     "a SQLite file's migration; PostgreSQL's schema starts with the counts")
    def test_metric_counts_survive_the_migration_and_follow_ingest(self):
        """/metrics reads counts kept beside the archive (schema 3); a
        database from before them has them computed from its rows."""
        def counts():
            text = self.mg.request("GET", "/metrics")[2].decode()
            return sorted(l for l in text.splitlines()
                          if l.startswith(("upgate_outcomes{", "upgate_alert_deliveries{")))

        self.mg.ingest({"outcomes": [outcome(1), outcome(2, result="succeeded"),
                                     outcome(3, result="succeeded")]})
        wait_for(lambda: 'state="sent"' in "".join(counts()), what="the alert sent")
        before = counts()
        self.assertIn('upgate_outcomes{kind="upgrade",result="succeeded"} 2', before)
        self.assertIn('upgate_outcomes{kind="upgrade",result="failed"} 1', before)
        # Back to schema 2: the same database without the counts (nor
        # what schemas 4 to 11 add, which comes back with them).
        self.assertEqual(self.mg.stop(), 0)
        self.mg.sql("DROP INDEX deliveries_lane")
        self.mg.sql("DROP INDEX outcomes_failed")
        self.mg.sql("DROP INDEX outcomes_app_failed")
        self.mg.sql("DROP TRIGGER outcomes_hours")
        self.mg.sql("DROP TABLE outcome_hours")
        self.mg.sql("DROP INDEX outcomes_app_id")
        self.mg.sql("DROP INDEX outcomes_alert")
        self.mg.sql("DROP INDEX alerts_open_halts")
        self.mg.sql("ALTER TABLE alerts DROP COLUMN resolved_at")
        for col in ("delta_used", "bytes_downloaded", "artifact_size"):
            self.mg.sql("ALTER TABLE outcomes DROP COLUMN " + col)
        for col in ("deltas", "bytes_downloaded", "bytes_saved"):
            self.mg.sql("ALTER TABLE release_stats DROP COLUMN " + col)
        for t in ("outcomes", "deliveries"):
            for what in ("counted", "moved", "removed"):
                self.mg.sql("DROP TRIGGER %s_%s" % (t, what))
        self.mg.sql("DROP TABLE outcome_counts")
        self.mg.sql("DROP TABLE delivery_counts")
        self.mg.sql("DROP TABLE tokens")
        self.mg.sql("DROP TABLE audit")
        self.mg.sql("PRAGMA user_version = 2")
        self.mg.start()
        self.assertEqual(counts(), before)
        self.mg.ingest(outcome(4, result="succeeded"))
        self.assertIn('upgate_outcomes{kind="upgrade",result="succeeded"} 3', counts())


class EndToEnd(Case):
    """Gateway -> forwarder -> mgmtd -> SMTP server and SMS gateway."""
    mgmt = {}
    upgrade = {}

    def setUp(self):
        self.smtp_port = free_port()
        self.inbox = None
        self.sms_port = free_port()
        self.sms_log = None
        sections = {"email": {"smtp_host": "127.0.0.1", "smtp_port": self.smtp_port}}
        for sec, kv in self.mgmt.items():
            sections.setdefault(sec, {}).update(kv)
        self.mg = Mgmt(**sections)
        self.inbox = os.path.join(self.mg.dir, "inbox")
        self.sms_log = os.path.join(self.mg.dir, "sms.jsonl")
        self.sinks = []
        self.mg.start()
        self.gw = Gateway(directory=self.mg.dir, mgmt_url=self.mg.url, **self.upgrade).start()
        self.assertEqual(self.gw.publish(APP, "1.5.0")[0], 201)

    def tearDown(self):
        for s in self.sinks:
            s.stop()
        self.assertEqual(self.gw.stop(), 0)
        self.assertEqual(self.mg.stop(), 0)
        self.gw.cleanup()
        self.mg.cleanup()

    def smtp(self, *mode):
        s = Sink("smtp_sink.py", self.smtp_port, self.inbox, *mode)
        self.sinks.append(s)
        return s

    def finish(self, client, ok=False, code="sha256_mismatch"):
        doc = self.gw.launch(client, APP, "1.4.2")
        self.assertEqual(doc["action"], "upgrade", doc)
        uid = doc["upgrade"]["upgrade_id"]
        body = {"error_code": code, "message": "expected ab12, got 9f00"} if not ok else {}
        st, _ = self.gw.report(uid, client, 1, "succeeded" if ok else "failed", **body)
        self.assertEqual(st, 200)
        return uid

    def mails(self):
        out = []
        for path in sorted(glob.glob(os.path.join(self.inbox, "*.eml"))):
            with open(path, "rb") as f:
                out.append(email.message_from_binary_file(f, policy=email.policy.default))
        return out


class TestFailureToInbox(EndToEnd):
    mgmt = {"sms": {"to": "+15550001, +15550002"}}

    def setUp(self):
        super().setUp()
        with open(os.path.join(self.mg.dir, "sms.auth"), "w") as f:
            f.write("smsuser:smspass\n")
        self.sinks.append(Sink("sms_sink.py", self.sms_port, self.sms_log))
        self.mg.sections["sms"]["url"] = "http://127.0.0.1:%d/send" % self.sms_port
        self.mg.sections["sms"]["auth_file"] = os.path.join(self.mg.dir, "sms.auth")
        self.mg.stop()
        self.mg.start()
        self.smtp()

    def test_failure_mail_and_sms_success_nothing(self):
        uid = self.finish("host-42")
        mails = wait_for(self.mails, what="the alert email")
        self.assertEqual(len(mails), 1)
        m = mails[0]
        text = m.get_content()
        for want in (APP, "1.4.2", "1.5.0", "host-42", "sha256_mismatch", uid,
                     "expected ab12, got 9f00"):
            self.assertIn(want, m["Subject"] + text)
        self.assertEqual(m["To"], "ops@example.com")
        env = json.load(open(glob.glob(os.path.join(self.inbox, "*.json"))[0]))
        self.assertEqual(env["to"], ["ops@example.com"])
        sms = wait_for(lambda: os.path.exists(self.sms_log) and
                       len(open(self.sms_log).readlines()) >= 2 and
                       [json.loads(x) for x in open(self.sms_log)], what="two SMS")
        self.assertEqual(sorted(s["form"]["To"] for s in sms), ["+15550001", "+15550002"])
        for s in sms:
            self.assertLess(len(s["form"]["Body"]), 160)
            self.assertIn("sha256_mismatch", s["form"]["Body"])
            self.assertEqual(s["auth"], "Basic " + base64.b64encode(b"smsuser:smspass").decode())
            self.assertTrue(s["ctype"].startswith("application/x-www-form-urlencoded"))
        states = wait_for(lambda: (lambda a: a if all(x["state"] == "sent" for x in a) else None)(
            self.mg.alerts()), what="every delivery sent")
        self.assertEqual(sorted(a["channel"] for a in states), ["email", "popup", "sms", "sms"])
        # Pages of one delivery, newest first, give the same list.
        seen, after = [], None
        while True:
            st, _, doc = self.mg.admin("GET", "/v1/alerts?limit=1" +
                                       ("&after=" + after if after else ""))
            self.assertEqual(st, 200)
            seen += doc["alerts"]
            if (after := doc["next"]) is None:
                break
        self.assertEqual([a["delivery_id"] for a in seen],
                         [a["delivery_id"] for a in self.mg.alerts()])
        self.assertEqual(len(seen), 4)
        # A success archives, and sends nothing.
        self.finish("host-43", ok=True)
        wait_for(lambda: len(self.mg.outcomes()["outcomes"]) == 2, what="the success archived")
        time.sleep(0.5)
        self.assertEqual(len(self.mails()), 1)
        self.assertEqual(len(self.mg.alerts()), 4)


class TestRelayWithTlsAndAuth(EndToEnd):
    """A relay as most are: STARTTLS required, then AUTH. Its certificate
    is for localhost, signed by a CA of its own that [email] ca_file
    names."""
    mgmt = {"email": {"smtp_host": "localhost", "starttls": "required",
                      "username": "alerts"}}

    def setUp(self):
        super().setUp()
        self.tls = os.path.join(self.mg.dir, "tls")
        os.makedirs(self.tls)
        self.ca = self.cert("ca", "/CN=upgate test CA", ["-x509"])
        self.cert("relay", "/CN=localhost", ["-CA", self.ca, "-CAkey", self.key("ca"),
                                             "-addext", "subjectAltName=DNS:localhost"])
        self.cert("other", "/CN=mail.example.com",
                  ["-CA", self.ca, "-CAkey", self.key("ca"),
                   "-addext", "subjectAltName=DNS:mail.example.com"])
        self.password = os.path.join(self.mg.dir, "smtp.pass")
        with open(self.password, "w") as f:
            f.write("s3cret pass\n")
        self.mg.sections["email"].update(password_file=self.password, ca_file=self.ca)
        self.assertEqual(self.mg.stop(), 0)
        self.mg.start()

    def key(self, name):
        return os.path.join(self.tls, name + ".key")

    def cert(self, name, subject, how):
        path = os.path.join(self.tls, name + ".pem")
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", self.key(name), "-out", path, "-subj", subject] + how,
                       check=True, capture_output=True)
        return path

    def relay(self, login="alerts:s3cret pass", name="relay"):
        return self.smtp("tls-auth", os.path.join(self.tls, name + ".pem"), self.key(name),
                         login)

    def refused(self, client, why):
        """A failure of client's is alerted; its email is tried, not sent,
        and the delivery's last_error says why."""
        self.finish(client)
        mail = wait_for(lambda: [a for a in self.mg.alerts()
                                 if a["channel"] == "email" and a["attempts"] >= 1],
                        what="an email attempt")[0]
        self.assertNotEqual(mail["state"], "sent")
        self.assertIn(why, mail["last_error"])
        self.assertEqual(self.mails(), [])

    def test_mail_goes_over_tls_with_the_login(self):
        self.relay()
        uid = self.finish("host-tls")
        mails = wait_for(self.mails, what="the alert email")
        self.assertIn(uid, mails[0].get_content())
        with open(glob.glob(os.path.join(self.inbox, "*.json"))[0]) as f:
            env = json.load(f)
        self.assertEqual((env["tls"], env["login"]), (True, "alerts"))
        sent = wait_for(lambda: [a for a in self.mg.alerts()
                                 if a["channel"] == "email" and a["state"] == "sent"],
                        what="the email delivery sent")
        self.assertEqual(sent[0]["attempts"], 1, sent[0]["last_error"])

    def test_relay_silent_after_auth_holds_no_other_channel(self):
        """STARTTLS and AUTH, then nothing: the SMS goes out at once, the
        email attempt ends at [email] timeout saying so, and is tried
        again."""
        self.sinks.append(Sink("sms_sink.py", self.sms_port, self.sms_log))
        self.mg.sections["sms"] = {"url": "http://127.0.0.1:%d/send" % self.sms_port,
                                   "to": "+15550001"}
        self.assertEqual(self.mg.stop(), 0)
        self.mg.start()
        self.smtp("tls-auth-silent", os.path.join(self.tls, "relay.pem"), self.key("relay"),
                  "alerts:s3cret pass")
        t0 = time.time()
        self.finish("host-stall")
        wait_for(lambda: os.path.exists(self.sms_log) and open(self.sms_log).read(),
                 timeout=5, what="the SMS within 5 s")
        self.assertLess(time.time() - t0, 5)
        mail = wait_for(lambda: [a for a in self.mg.alerts(channel="email")
                                 if a["attempts"] >= 1], what="the email attempt to end")[0]
        self.assertGreaterEqual(time.time() - t0, 4.5)
        self.assertEqual(mail["state"], "pending")
        self.assertIn("the relay stopped answering after AUTH (timeout 5 s)",
                      mail["last_error"])
        wait_for(lambda: [a for a in self.mg.alerts(channel="email") if a["attempts"] >= 2],
                 timeout=30, what="the email tried again")

    def test_wrong_password_is_not_sent(self):
        self.relay(login="alerts:another")
        self.refused("host-auth", "535 5.7.8")

    def test_untrusted_certificate_is_refused_and_said(self):
        self.mg.sections["email"]["ca_file"] = ""  # the system's CAs
        self.assertEqual(self.mg.stop(), 0)
        self.mg.start()
        self.relay()
        self.refused("host-cert", "certificate is not trusted")

    def test_certificate_for_another_name_is_refused_and_said(self):
        self.relay(name="other")
        self.refused("host-name", "another name (mail.example.com)")

    def test_relay_without_starttls_is_refused_and_said(self):
        self.smtp()  # plain: no STARTTLS offered
        self.refused("host-plain", "the relay does not offer it")

    def test_unusable_ca_file_is_a_config_error(self):
        bad = os.path.join(self.tls, "empty.pem")
        open(bad, "w").close()
        for path in (bad, os.path.join(self.tls, "missing.pem")):
            self.mg.sections["email"]["ca_file"] = path
            self.mg.write_conf()
            r = subprocess.run([os.path.join(BIN, "upgate-mgmtd"), "--check-config",
                                "-c", self.mg.conf], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("[email] ca_file: cannot use " + path, r.stderr)


class TestSilentRelay(EndToEnd):
    """A relay that answers no connection (its listen queue is full, so
    SYNs go unanswered, as behind a dropping firewall) must not hold the
    alert worker: the attempt fails after [email] timeout (5s here), and
    the SMS goes out meanwhile instead of minutes later."""
    mgmt = {"sms": {"to": "+15550001"}}

    def setUp(self):
        super().setUp()
        self.hole = socket.socket()
        self.hole.bind(("127.0.0.1", self.smtp_port))
        self.hole.listen(0)
        self.queued = socket.create_connection(("127.0.0.1", self.smtp_port))
        self.sinks.append(Sink("sms_sink.py", self.sms_port, self.sms_log))
        self.mg.sections["sms"]["url"] = "http://127.0.0.1:%d/send" % self.sms_port
        self.assertEqual(self.mg.stop(), 0)
        self.mg.start()

    def tearDown(self):
        super().tearDown()
        self.queued.close()
        self.hole.close()

    def test_other_channels_go_out_and_the_attempt_ends(self):
        self.finish("host-silent")
        mail = wait_for(lambda: [a for a in self.mg.alerts()
                                 if a["channel"] == "email" and a["attempts"] >= 1],
                        what="the email attempt to end")[0]
        self.assertIn("timed out", mail["last_error"])
        wait_for(lambda: os.path.exists(self.sms_log) and open(self.sms_log).read(),
                 what="the SMS")


class TestRelayWithoutGreeting(EndToEnd):
    """A relay that takes the connection and never says a word: the
    attempt ends at [email] timeout, saying so."""

    def setUp(self):
        super().setUp()
        self.mute = socket.socket()
        self.mute.bind(("127.0.0.1", self.smtp_port))
        self.mute.listen(16)  # the kernel accepts; nobody ever greets
        self.addCleanup(self.mute.close)

    def test_attempt_ends_with_no_greeting(self):
        self.finish("host-mute")
        mail = wait_for(lambda: [a for a in self.mg.alerts()
                                 if a["channel"] == "email" and a["attempts"] >= 1],
                        what="the email attempt to end")[0]
        self.assertEqual(mail["state"], "pending")
        self.assertIn("timed out: no greeting within 5 s", mail["last_error"])


class TestForwarding(EndToEnd):
    def test_mgmt_down_then_up_archives_each_once(self):
        self.smtp()
        self.assertEqual(self.mg.stop(), 0)
        # 4 failures in 20 stay under the default halt rate (0.25).
        uids = [self.finish("c-%d" % i, ok=i % 5 != 0) for i in range(20)]
        st, _, ready = self.gw.request("GET", "/readyz")
        self.assertEqual(ready["outbox"]["rows"], 20)
        text = self.gw.request("GET", "/metrics")[2].decode()
        self.assertIn("upgate_outbox_rows 20", text)
        self.assertRegex(text, r"upgate_forward_failures_total [1-9]")
        self.mg.start()
        wait_for(lambda: self.gw.sql("select count(*) from outbox")[0][0] == 0,
                 what="the outbox to drain")
        rows = self.mg.sql("select upgrade_id, count(*) from outcomes group by upgrade_id")
        self.assertEqual(sorted(r[0] for r in rows), sorted(uids))
        self.assertTrue(all(r[1] == 1 for r in rows))
        self.assertEqual(self.gw.request("GET", "/readyz")[2]["outbox"]["rows"], 0)

    def test_gateway_killed_after_ack(self):
        self.smtp()
        uids = []
        for i in range(10):
            uids.append(self.finish("k-%d" % i))
            if i % 3 == 0:
                self.gw.kill()
                self.gw.start()
        self.gw.kill()
        self.gw.start()
        # On PostgreSQL the outbox is shared: rows a killed gateway had
        # claimed wait for the claim to lapse ([forward] timeout + 5 s).
        wait_for(lambda: self.gw.sql("select count(*) from outbox")[0][0] == 0,
                 timeout=60, what="the outbox to drain")
        rows = self.mg.sql("select upgrade_id, count(*) from outcomes group by upgrade_id")
        self.assertEqual(sorted(r[0] for r in rows), sorted(uids))
        self.assertTrue(all(r[1] == 1 for r in rows))


class TestSmtpDown(EndToEnd):
    def test_pending_then_delivered(self):
        self.finish("host-1")

        def email_alert():
            a = [x for x in self.mg.alerts(channel="email")]
            return a and a[0]["attempts"] >= 2 and a[0]
        a = wait_for(email_alert, what="two failed attempts")
        self.assertEqual(a["state"], "pending")
        self.assertTrue(a["last_error"])
        self.assertIsNotNone(a["next_attempt_at"])
        self.assertEqual(len(self.mg.alerts(state="pending", channel="email")), 1)
        self.smtp()
        wait_for(lambda: self.mg.alerts(channel="email")[0]["state"] == "sent",
                 what="the email sent once the server is back")
        self.assertEqual(len(self.mails()), 1)
        self.assertIn("host-1", self.mails()[0]["Subject"])

    def test_rejected_is_failed_and_retried(self):
        self.smtp("reject")
        self.finish("host-2")
        a = wait_for(lambda: (lambda x: x and x[0]["attempts"] >= 2 and x[0])(
            self.mg.alerts(channel="email")), what="refused attempts")
        self.assertEqual(a["state"], "failed")
        self.assertIn("554", a["last_error"])
        self.assertEqual(self.mg.request("GET", "/healthz")[0], 200)


class TestWebhook(EndToEnd):
    """[webhook]: a JSON object per alert, signed, retried after a 5xx;
    a digest names the upgrade ids it tells of."""
    mgmt = {"alerts": {"group_window": "2s", "repeat_interval": "1h"}}

    def setUp(self):
        super().setUp()
        self.hook_port = free_port()
        self.hook_log = os.path.join(self.mg.dir, "hook.jsonl")
        secret = os.path.join(self.mg.dir, "hook.secret")
        with open(secret, "w") as f:
            f.write("hook-secret\n")
        self.sinks.append(Sink("hook_sink.py", self.hook_port, self.hook_log, 1))
        self.mg.sections["webhook"] = {"url": "http://127.0.0.1:%d/hooks/upgate" % self.hook_port,
                                       "secret_file": secret}
        self.assertEqual(self.mg.stop(), 0)
        self.mg.start()

    def posts(self):
        if not os.path.exists(self.hook_log):
            return []
        with open(self.hook_log) as f:
            return [json.loads(l) for l in f]

    def test_signed_object_per_alert_retried_and_digest(self):
        self.smtp()
        uids = [self.finish("w-%d" % i) for i in range(4)]
        posts = wait_for(lambda: len(self.posts()) >= 3 and self.posts(),
                         what="the refused post, its retry and the digest")
        self.assertEqual([p["answered"] for p in posts[:2]], [500, 200])
        self.assertEqual(posts[0]["body"], posts[1]["body"])
        first = json.loads(posts[1]["body"])
        self.assertEqual((first["kind"], first["app"], first["version"], first["channel"]),
                         ("failure", APP, "1.5.0", "stable"))
        self.assertEqual((first["upgrade_ids"], first["failures"]), ([uids[0]], 1))
        self.assertIn("w-0", first["summary"])
        self.assertIn(uids[0], first["text"])
        for p in posts:
            h = p["headers"]
            mac = hmac.new(b"hook-secret", h["X-Upgate-Timestamp"].encode() + b"." +
                           p["body"].encode(), hashlib.sha256).hexdigest()
            self.assertEqual(h["X-Upgate-Signature"], "sha256=" + mac)
            self.assertEqual(h["Content-Type"], "application/json")
            self.assertEqual(p["path"], "/hooks/upgate")
        digest = json.loads(posts[2]["body"])
        self.assertEqual(digest["kind"], "digest")
        self.assertEqual(digest["upgrade_ids"], uids[1:])
        self.assertEqual(digest["failures"], 3)
        hooks = {a["kind"]: a for a in self.mg.alerts(channel="webhook")}
        self.assertEqual(hooks["failure"]["state"], "sent")
        # each delivery says whom it is for; a URL's path (which may be a
        # key, as Slack's are) is not shown
        self.assertEqual(hooks["failure"]["recipient"], "http://127.0.0.1:%d/..." % self.hook_port)
        by = {a["channel"]: a["recipient"] for a in self.mg.alerts()}
        self.assertEqual((by["email"], by["popup"]), ("ops@example.com", "dashboard"))
        self.assertEqual(hooks["failure"]["attempts"], 2)
        self.assertIn("HTTP 500", hooks["failure"]["last_error"])
        self.assertEqual(hooks["digest"]["attempts"], 1)


class TestTestAlert(EndToEnd):
    """upgatectl alerts test: a test alert, marked as one, through each
    configured channel, each said accepted or not; nothing stored."""

    def ctl(self, *args):
        env = dict(os.environ, UPGATE_MGMT=self.mg.url, UPGATE_TOKEN=TOKEN)
        return subprocess.run([os.path.join(BIN, "upgatectl")] + list(args),
                              capture_output=True, text=True, env=env, timeout=60)

    def test_each_channel_says_whether_it_took_it(self):
        self.smtp()
        hook_port = free_port()
        hook_log = os.path.join(self.mg.dir, "hook.jsonl")
        self.sinks.append(Sink("hook_sink.py", hook_port, hook_log, 0))
        self.mg.sections["webhook"] = {"url": "http://127.0.0.1:%d/hooks/x" % hook_port}
        self.mg.sections["sms"] = {"url": "http://127.0.0.1:%d/send" % free_port(),
                                   "to": "+15550001"}  # nobody there
        self.assertEqual(self.mg.stop(), 0)
        self.mg.start()
        r = self.ctl("alerts", "test")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # the SMS was not taken
        lines = {l.split()[0]: l for l in r.stdout.splitlines()}
        self.assertIn("accepted", lines["email"])
        self.assertIn("ops@example.com", lines["email"])
        self.assertIn("accepted", lines["webhook"])
        self.assertIn("http://127.0.0.1:%d/..." % hook_port, lines["webhook"])
        self.assertIn("NOT accepted", lines["sms"])
        self.assertIn("+15550001", lines["sms"])
        self.assertIn("accepted", lines["popup"])
        mail = wait_for(self.mails, what="the test email")[0]
        self.assertEqual(mail["Subject"], "[upgate] TEST alert: nothing failed")
        post = wait_for(lambda: os.path.exists(hook_log) and open(hook_log).read(),
                        what="the webhook post")
        self.assertEqual(json.loads(json.loads(post.splitlines()[0])["body"])["kind"], "test")
        # one channel, as JSON
        r = self.ctl("--json", "alerts", "test", "--channel", "webhook")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["channel"] for x in json.loads(r.stdout)["results"]], ["webhook"])
        # nothing stored, grouped or counted
        self.assertEqual(self.mg.alerts(), [])
        self.assertEqual(self.mg.admin("GET", "/v1/stats")[2]["stats"], [])
        # a channel that is not configured: exit 2 naming those that are
        r = self.ctl("alerts", "test", "--channel", "alertmanager")
        self.assertEqual(r.returncode, 2)
        self.assertIn("configured: email, sms, webhook, popup", r.stderr)
        r = self.ctl("alerts", "tset")
        self.assertEqual(r.returncode, 2)


class TestGrouping(EndToEnd):
    mgmt = {"alerts": {"group_window": "2s", "repeat_interval": "1h"}}

    def test_first_now_rest_in_one_digest(self):
        self.smtp()
        for i in range(4):
            self.finish("g-%d" % i)
        first = wait_for(self.mails, what="the first failure's email")
        self.assertIn("g-0", first[0]["Subject"])
        self.assertEqual(len(self.mails()), 1)
        # the digest waits, and says when it goes out (the other failures
        # may still be on their way through the outbox: at least one)
        [d] = wait_for(lambda: self.mg.admin("GET", "/v1/alerts/digests")[2]["digests"],
                       timeout=1.5, what="the waiting digest")
        self.assertEqual((d["app"], d["version"]), (APP, "1.5.0"))
        self.assertIn(d["failures"], (1, 2, 3))
        self.assertRegex(d["due_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        digest = wait_for(lambda: len(self.mails()) == 2 and self.mails()[1],
                          what="the digest at the window's end")
        self.assertIn("3 more failures", digest["Subject"])
        body = digest.get_content()
        for c in ("g-1", "g-2", "g-3"):
            self.assertIn(c, body)
        time.sleep(0.5)
        self.assertEqual(len(self.mails()), 2)


class TestHaltInhibits(EndToEnd):
    mgmt = {"alerts": {"group_window": "1h", "repeat_interval": "1h"}}
    upgrade = {"halt_min_samples": 4, "halt_failure_rate": 0.5}

    def test_halt_replaces_waiting_failure_alerts(self):
        # The mail server is down: the first failure's email waits.
        for i in range(4):
            self.finish("h-%d" % i)
        halt = wait_for(lambda: [a for a in self.mg.alerts(channel="email")
                                 if a["kind"] == "halt"], what="the halt alert")
        kinds = {a["kind"]: a["state"] for a in self.mg.alerts(channel="email")}
        self.assertEqual(kinds, {"failure": "inhibited", "halt": halt[0]["state"]})
        self.smtp()
        wait_for(lambda: self.mails(), what="the halt email")
        time.sleep(1)
        mails = self.mails()
        self.assertEqual(len(mails), 1)
        self.assertIn("HALTED", mails[0]["Subject"])
        self.assertIn("replaces 1 failure alert delivery", mails[0].get_content())
        st, _, doc = self.mg.admin("GET", "/v1/outcomes?kind=release_halted")
        self.assertEqual(len(doc["outcomes"]), 1)
        self.assertEqual(len(self.mg.outcomes()["outcomes"]), 4)


class TestSpoolAndCommandLine(Case):
    def test_spool_without_smtp(self):
        mg = Mgmt().start()
        try:
            mg.ingest(outcome(1))
            files = wait_for(lambda: glob.glob(os.path.join(mg.spool, "*.eml")), what=".eml")
            with open(files[0], "rb") as f:
                raw = f.read()
            self.assertIn(b"\r\nSubject: [upgate] " + APP.encode(), raw)
            self.assertNotIn(b"\n", raw.replace(b"\r\n", b""))
            self.assertEqual(glob.glob(os.path.join(mg.spool, ".tmp*")), [])
        finally:
            self.assertEqual(mg.stop(), 0)
            mg.cleanup()

    def run_bin(self, *args):
        return subprocess.run([os.path.join(BIN, "upgate-mgmtd")] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_command_line_and_configs(self):
        self.assertEqual(self.run_bin("--version").returncode, 0)
        self.assertEqual(self.run_bin("--help").returncode, 0)
        self.assertEqual(self.run_bin("--bogus").returncode, 2)
        mg = Mgmt(alerts={"group_window": "soon"}, email={"starttls": "maybe"})
        try:
            r = self.run_bin("--check-config", "-c", mg.conf)
            self.assertEqual(r.returncode, 2)
            self.assertRegex(r.stderr, re.escape(mg.conf) + r":\d+: \[alerts\] group_window:")
            self.assertRegex(r.stderr, re.escape(mg.conf) + r":\d+: \[email\] starttls:")
            self.assertEqual(self.run_bin("-c", mg.conf).returncode, 2)
        finally:
            mg.cleanup()
        root = os.path.join(os.path.dirname(__file__), "../..")
        r = self.run_bin("--check-config", "-c", os.path.join(root, "etc/mgmt.conf"))
        # Only the secret files under /etc (absent here) may be reported.
        for line in r.stderr.splitlines():
            self.assertRegex(line, r"\[(admin\] token_file|ingest\] secret_file)")
        r = self.run_bin("--check-config", "-c", os.path.join(root, "etc/mgmt.dev.conf"))
        for line in r.stderr.splitlines():
            self.assertIn("var/", line)


if __name__ == "__main__":
    unittest.main()
