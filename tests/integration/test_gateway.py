# SPDX-License-Identifier: MIT
"""The gateway against the SPEC, over real HTTP on loopback."""
import json
import os
import re
import signal
import subprocess
import threading
import time
import unittest

from gwlib import BIN, SHA, TOKEN, Gateway, artifact, wait_for

# Longer than DB_SNAPSHOT_MAX_MS: how late another process's writes may
# show in the gateway's reads.
SNAPSHOT_AGE = 0.25

APP = "com.example.editor"


class GatewayCase(unittest.TestCase):
    upgrade = {}

    def setUp(self):
        self.gw = Gateway(**self.upgrade).start()

    def tearDown(self):
        rc = self.gw.stop()
        log = self.gw.log_tail() if rc != 0 else ""
        self.gw.cleanup()
        self.assertEqual(rc, 0, "SIGTERM must end the daemon with 0; its log "
                         "ends:\n" + log)

    def assertError(self, resp, status, code=None, field=None):
        st, _, doc = resp
        self.assertEqual(st, status, doc)
        self.assertIsInstance(doc, dict, doc)
        err = doc["error"]
        self.assertTrue(err["message"])
        if code:
            self.assertEqual(err["code"], code)
        if field:
            self.assertEqual(err.get("field"), field)


class TestHttpBasics(GatewayCase):
    def test_health_ready_metrics(self):
        st, _, doc = self.gw.request("GET", "/healthz")
        self.assertEqual((st, doc["status"]), (200, "ok"))
        st, _, doc = self.gw.request("GET", "/readyz")
        self.assertEqual(st, 200)
        self.assertEqual(doc["outbox"]["rows"], 0)
        st, hdrs, text = self.gw.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain"))
        text = text.decode()
        self.assertIn('upgate_http_requests_total{route="GET /healthz",status="200"} 1', text)
        self.assertIn('upgate_upgrades{state="failed"} 0', text)
        self.assertIn("upgate_outbox_rows 0", text)
        self.assertIn("upgate_http_request_duration_seconds_bucket", text)

    def test_launch_decisions_counted(self):
        """/metrics counts the launch answers given, by action and
        reason; a refused call is not a decision."""
        self.gw.publish(APP, "1.1.0")
        self.assertEqual(self.gw.launch("c1", APP, "1.0.0")["action"], "upgrade")
        self.assertEqual(self.gw.launch("c1", APP, "1.0.0")["reason"], "upgrade_in_progress")
        self.assertEqual(self.gw.launch("c2", APP, "1.1.0")["reason"], "up_to_date")
        self.assertEqual(self.gw.launch("c3", APP, "1.1.0")["reason"], "up_to_date")
        self.assertEqual(self.gw.launch("c4", "com.example.other", "1.0.0")["reason"],
                         "no_release")
        self.assertEqual(self.gw.request("POST", "/v1/launch", {"client_id": "c5"})[0], 400)
        text = self.gw.request("GET", "/metrics")[2].decode()
        got = dict(re.findall(r'^upgate_launch_decisions_total\{action="(?:\w+)",'
                              r'reason="(\w*)"\} (\d+)$', text, re.M))
        self.assertEqual(got, {"": "1", "upgrade_in_progress": "1", "no_release": "1",
                               "up_to_date": "2", "not_in_rollout": "0",
                               "release_halted": "0", "attempts_exhausted": "0",
                               "retry_backoff": "0"})
        self.assertIn('upgate_launch_decisions_total{action="upgrade",reason=""} 1', text)

    def test_routing_errors(self):
        self.assertError(self.gw.request("GET", "/nope"), 404, "not_found")
        st, hdrs, doc = self.gw.request("DELETE", "/v1/launch")
        self.assertEqual(st, 405)
        self.assertIn("POST", hdrs["Allow"])
        self.assertEqual(doc["error"]["code"], "method_not_allowed")
        st, hdrs, _ = self.gw.request("DELETE", "/healthz")
        self.assertEqual((st, hdrs["Allow"]), (405, "GET, HEAD"))

    def test_head_is_get_without_the_body(self):
        """HEAD is served wherever GET is (load balancers' health checks,
        caches): the same status and headers, no body; a 304 too."""
        self.gw.publish(APP, "1.0.0")
        manifest = "/v1/apps/%s/manifest?platform=linux-x86_64" % APP
        for path, token in (("/healthz", None), (manifest, None),
                            ("/v1/admin/releases", TOKEN)):
            with self.subTest(path=path):
                gst, ghdrs, gbody = self.gw.request("GET", path, token=token)
                hst, hhdrs, hbody = self.gw.request("HEAD", path, token=token)
                self.assertEqual((hst, hbody), (gst, b""))
                for h in ("Content-Type", "Content-Length", "ETag"):
                    self.assertEqual(hhdrs.get(h), ghdrs.get(h), h)
        etag = self.gw.request("GET", manifest)[1]["ETag"]
        st, _, body = self.gw.request("HEAD", manifest, headers={"If-None-Match": etag})
        self.assertEqual((st, body), (304, b""))
        self.assertEqual(self.gw.request("HEAD", "/v1/admin/releases")[0], 401)
        st, hdrs, _ = self.gw.request("HEAD", "/v1/launch")
        self.assertEqual((st, hdrs["Allow"]), (405, "POST"))

    def test_admin_auth(self):
        body = {"app": APP, "version": "1.0.0", "artifacts": artifact()}
        r = self.gw.request("POST", "/v1/admin/releases", body)
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(r[1].get("WWW-Authenticate"), "Bearer")
        self.assertError(self.gw.request("POST", "/v1/admin/releases", body, token="wrong"),
                         401)
        self.assertError(self.gw.request("GET", "/v1/admin/upgrades", token=TOKEN + "x"), 401)

    def test_body_errors(self):
        self.assertError(self.gw.request("POST", "/v1/launch", raw=b"{nope"), 400,
                         "malformed_json")
        self.assertError(self.gw.request("POST", "/v1/launch", raw=b"[1]"), 400)
        self.assertError(self.gw.request("POST", "/v1/launch", raw=b'{"a":1,"a":2}'), 400)
        self.assertError(self.gw.request("POST", "/v1/launch", raw=b"x=1",
                                         ctype="application/x-www-form-urlencoded"),
                         415, "unsupported_media_type")
        big = json.dumps({"client_id": "x" * (70 * 1024)}).encode()
        self.assertError(self.gw.request("POST", "/v1/launch", raw=big), 413, "body_too_large")
        self.assertError(self.gw.request("POST", "/v1/launch", raw=b""), 400)
        self.assertError(self.gw.request("POST", "/v1/launch", {"app": APP}), 400,
                         "missing_field", "client_id")
        self.assertError(self.gw.request("POST", "/v1/launch",
                                         {"client_id": "h", "app": APP, "version": 5,
                                          "platform": "p"}), 400, "invalid_type", "version")
        self.assertError(self.gw.request("POST", "/v1/launch",
                                         {"client_id": "h", "app": APP, "version": "1.0",
                                          "platform": "p"}), 422, "invalid_value", "version")
        self.assertError(self.gw.request("POST", "/v1/launch",
                                         {"client_id": "", "app": APP, "version": "1.0.0",
                                          "platform": "p"}), 422, None, "client_id")
        self.assertError(self.gw.request("POST", "/v1/launch",
                                         {"client_id": "h", "app": "../etc", "version": "1.0.0",
                                          "platform": "p"}), 422, None, "app")
        # The daemon keeps serving after all of that.
        self.assertEqual(self.gw.request("GET", "/healthz")[0], 200)


class TestReleases(GatewayCase):
    def test_publish_idempotent_and_conflict(self):
        st, _, doc = self.gw.publish(APP, "1.5.0", notes="Faster startup")
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["channel"], "stable")
        self.assertEqual(doc["rollout_percent"], 100)
        self.assertEqual(doc["artifacts"]["linux-x86_64"]["sha256"], SHA)
        st, _, again = self.gw.publish(APP, "1.5.0", notes="Faster startup")
        self.assertEqual(st, 200)
        self.assertEqual(again["created_at"], doc["created_at"])
        self.assertError(self.gw.publish(APP, "1.5.0", notes="Other"), 409, "release_conflict")
        # Same version on another channel is a different release.
        self.assertEqual(self.gw.publish(APP, "1.5.0", channel="beta")[0], 201)
        self.assertEqual(self.gw.sql("select count(*) from releases")[0][0], 2)

    def test_publish_validation(self):
        cases = [
            ({"version": "1.0.0", "artifacts": artifact()}, 400, "app"),
            ({"app": APP, "version": "1.0", "artifacts": artifact()}, 422, "version"),
            ({"app": APP, "version": "1.0.0"}, 400, "artifacts"),
            ({"app": APP, "version": "1.0.0", "artifacts": {}}, 422, "artifacts"),
            ({"app": APP, "version": "1.0.0", "rollout_percent": 101,
              "artifacts": artifact()}, 422, "rollout_percent"),
            ({"app": APP, "version": "1.0.0",
              "artifacts": {"linux": {"url": "ftp://x", "size": 1, "sha256": SHA}}}, 422, "url"),
            ({"app": APP, "version": "1.0.0",
              "artifacts": {"linux": {"url": "https://x", "size": 0, "sha256": SHA}}}, 422, "size"),
            ({"app": APP, "version": "1.0.0",
              "artifacts": {"linux": {"url": "https://x", "size": 1, "sha256": "zz"}}}, 422,
             "sha256"),
            ({"app": APP, "version": "1.0.0", "mandatory": "yes",
              "artifacts": artifact()}, 400, "mandatory"),
        ]
        for body, status, field in cases:
            with self.subTest(field=field):
                self.assertError(self.gw.admin("POST", "/v1/admin/releases", body), status,
                                 None, field)
        self.assertEqual(self.gw.sql("select count(*) from releases")[0][0], 0)
        self.assertEqual(self.gw.sql("select count(*) from artifacts")[0][0], 0)

    def test_manifest_etag_and_filters(self):
        self.assertError(self.gw.request("GET", "/v1/apps/%s/manifest" % APP), 404, "no_release")
        for v in ("1.9.0", "1.10.0", "1.2.0"):
            self.gw.publish(APP, v)
        self.gw.publish(APP, "2.0.0", artifacts=artifact("windows-x86_64"))
        path = "/v1/apps/%s/manifest?channel=stable&platform=linux-x86_64" % APP
        st, hdrs, doc = self.gw.request("GET", path)
        self.assertEqual(st, 200)
        self.assertEqual(doc["version"], "1.10.0")  # semver, not string order
        self.assertEqual(list(doc["artifacts"]), ["linux-x86_64"])
        self.assertIn("max-age", hdrs["Cache-Control"])
        etag = hdrs["ETag"]
        st, hdrs2, body = self.gw.request("GET", path, headers={"If-None-Match": etag})
        self.assertEqual(st, 304)
        self.assertEqual(hdrs2["ETag"], etag)
        self.assertEqual(self.gw.request("GET", path, headers={"If-None-Match": '"x", ' + etag})[0],
                         304)
        self.assertEqual(self.gw.request("GET", path, headers={"If-None-Match": '"x"'})[0], 200)
        # Paused and yanked releases leave the manifest; the ETag changes.
        st, _, doc = self.gw.admin("PATCH", "/v1/admin/releases/%s/1.10.0" % APP, {"paused": True})
        self.assertEqual((st, doc["paused"]), (200, True))
        st, hdrs3, doc = self.gw.request("GET", path, headers={"If-None-Match": etag})
        self.assertEqual((st, doc["version"]), (200, "1.9.0"))
        self.assertNotEqual(hdrs3["ETag"], etag)
        self.gw.admin("PATCH", "/v1/admin/releases/%s/1.9.0" % APP, {"yanked": True})
        self.assertEqual(self.gw.request("GET", path)[2]["version"], "1.2.0")
        st, _, doc = self.gw.request("GET", "/v1/apps/%s/manifest?platform=windows-x86_64" % APP)
        self.assertEqual(doc["version"], "2.0.0")
        self.assertError(self.gw.request("GET", "/v1/apps/%s/manifest?channel=beta" % APP), 404)

    def test_manifest_kept_per_platform_and_catalog(self):
        """The rendered manifest and its ETag are kept with the cached
        catalog, one per platform: each platform keeps its own document,
        and a change to the rows, even behind the gateway's back, is
        served as soon as the catalog is read again."""
        arts = dict(artifact("linux-x86_64", url="https://dl.example.com/l1.tgz"),
                    **artifact("windows-x86_64", url="https://dl.example.com/w1.zip"))
        self.gw.publish(APP, "1.1.0", artifacts=arts)
        base = "/v1/apps/%s/manifest" % APP

        def get(platform=None):
            st, hdrs, doc = self.gw.request(
                "GET", base + ("?platform=" + platform if platform else ""))
            self.assertEqual(st, 200)
            return hdrs["ETag"], doc

        first = {p: get(p) for p in ("linux-x86_64", "windows-x86_64", None)}
        self.assertEqual(self.gw.request("GET", base + "?platform=mac-arm64")[0], 404)
        for _ in range(3):  # interleaved: no platform is served another's
            for p in ("windows-x86_64", None, "linux-x86_64"):
                self.assertEqual(get(p), first[p])
        self.assertEqual(list(first["linux-x86_64"][1]["artifacts"]), ["linux-x86_64"])
        self.assertEqual(list(first["windows-x86_64"][1]["artifacts"]), ["windows-x86_64"])
        self.assertEqual(sorted(first[None][1]["artifacts"]), ["linux-x86_64", "windows-x86_64"])
        self.assertEqual(len({first[p][0] for p in first}), 3)
        self.gw.execute("UPDATE artifacts SET url = 'https://dl.example.com/l2.tgz'"
                        " WHERE platform = 'linux-x86_64'")
        time.sleep(SNAPSHOT_AGE)
        etag, doc = get("linux-x86_64")
        self.assertEqual(doc["artifacts"]["linux-x86_64"]["url"], "https://dl.example.com/l2.tgz")
        self.assertNotEqual(etag, first["linux-x86_64"][0])
        # The ETag is the document's: windows' did not change.
        self.assertEqual(get("windows-x86_64"), first["windows-x86_64"])
        self.assertNotEqual(get()[0], first[None][0])

    def test_patch_and_list(self):
        self.gw.publish(APP, "1.1.0")
        self.assertError(self.gw.admin("PATCH", "/v1/admin/releases/%s/9.9.9" % APP,
                                       {"paused": True}), 404, "release_not_found")
        self.assertError(self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP, {}), 400)
        self.assertError(self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP,
                                       {"rollout_percent": -1}), 422, None, "rollout_percent")
        st, _, doc = self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP,
                                   {"rollout_percent": 10})
        self.assertEqual((st, doc["rollout_percent"]), (200, 10))
        self.gw.publish(APP, "1.1.0", channel="beta")
        self.assertError(self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP,
                                       {"paused": True}), 409, "ambiguous_release")
        st, _, doc = self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0?channel=beta" % APP,
                                   {"paused": True})
        self.assertEqual((st, doc["channel"], doc["paused"]), (200, "beta", True))
        st, _, doc = self.gw.admin("GET", "/v1/admin/releases?app=" + APP)
        self.assertEqual(st, 200)
        self.assertEqual(len(doc["releases"]), 2)
        rel = doc["releases"][0]
        self.assertEqual(rel["counts"]["failed"], 0)
        self.assertEqual(rel["failure_rate"], 0)


class TestLaunch(GatewayCase):
    upgrade = {"retry_backoff": "0s", "max_attempts": 2}

    def test_reasons(self):
        self.assertEqual(self.gw.launch("h1", APP, "1.0.0")["reason"], "no_release")
        self.gw.publish(APP, "1.0.0")
        # A plain answer is the whole of it (they are rendered once and
        # kept: the second call gets the kept copy).
        for _ in range(2):
            status, hdrs, d = self.gw.request(
                "POST", "/v1/launch", {"client_id": "h1", "app": APP, "version": "1.0.0",
                                       "platform": "linux-x86_64"})
            self.assertEqual((status, hdrs["Content-Type"]), (200, "application/json"))
            self.assertEqual(d, {"action": "launch", "reason": "up_to_date",
                                 "previous_failure": None})
        self.gw.publish(APP, "1.1.0", rollout_percent=0)
        self.assertEqual(self.gw.launch("h1", APP, "1.0.0")["reason"], "not_in_rollout")
        self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP, {"rollout_percent": 100})
        self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP, {"halted": True})
        self.assertEqual(self.gw.launch("h1", APP, "1.0.0")["reason"], "release_halted")
        self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP, {"halted": False})
        self.assertEqual(self.gw.launch("h1", APP, "1.0.0", platform="plan9-mips")["reason"],
                         "no_release")
        self.assertEqual(self.gw.launch("h1", APP, "1.0.0", channel="beta")["reason"],
                         "no_release")
        d = self.gw.launch("h1", APP, "1.0.0")
        self.assertEqual(d["action"], "upgrade")
        up = d["upgrade"]
        self.assertRegex(up["upgrade_id"], "^[0-9a-f]{32}$")
        self.assertEqual((up["from_version"], up["to_version"], up["size"], up["sha256"]),
                         ("1.0.0", "1.1.0", 1024, SHA))
        self.assertIn("mandatory", up)
        # Rule 6: every call is recorded (plain launches within a second,
        # in a batch; all of them at shutdown).
        wait_for(lambda: self.gw.sql("select count(*) from launches")[0][0] == 8,
                 what="eight launch records")
        # 300: past the 256 waiting records that start a flush at once.
        for i in range(300):
            self.gw.launch("burst-%d" % i, APP, "1.1.0")
        self.assertEqual(self.gw.stop(), 0)
        self.assertEqual(self.gw.sql("select count(*) from launches")[0][0], 308)
        # Each record whole and in order (a flush writes 16 rows per
        # statement, then one at a time: these take both).
        rows = self.gw.sql("select client_id, app, version, platform, channel, action,"
                           " reason, upgrade_id, CAST(at > 0 AS INTEGER) from launches"
                           " where client_id like 'burst-%' order by id")
        self.assertEqual([tuple(r) for r in rows],
                         [("burst-%d" % i, APP, "1.1.0", "linux-x86_64", "stable", "launch",
                           "up_to_date", None, 1) for i in range(300)])
        self.gw.start()

    def catalog_counts(self):
        text = self.gw.request("GET", "/metrics")[2].decode()
        return tuple(int(re.search(r"^upgate_catalog_cache_%s_total (\d+)$" % k, text,
                                   re.M).group(1)) for k in ("hits", "misses"))

    def test_catalog_cache_follows_every_change(self):
        """Launches decide on cached releases, but never on stale ones:
        the cached copy carries the catalog version it was read at, and
        triggers raise the version with any change, whoever makes it."""
        self.gw.publish(APP, "1.1.0")
        for i in range(5):
            self.assertEqual(self.gw.launch("h%d" % i, APP, "1.1.0")["reason"], "up_to_date")
        hits, misses = self.catalog_counts()
        self.assertGreaterEqual(hits, 4)
        # Outcome counters are not part of the catalog: a finished upgrade
        # does not throw the cached copy away.
        self.gw.publish(APP, "1.2.0")
        uid = self.gw.launch("u1", APP, "1.1.0")["upgrade"]["upgrade_id"]
        self.gw.report(uid, "u1", 1, "succeeded")
        _, misses = self.catalog_counts()
        self.gw.launch("h0", APP, "1.2.0")
        self.assertEqual(self.catalog_counts()[1], misses)
        # A change made behind the gateway's back (another process on the
        # file) is seen once the readers' snapshots have aged out
        # (DB_SNAPSHOT_MAX_MS, 100 ms).
        self.gw.execute("UPDATE releases SET paused = 1 WHERE version = '1.2.0'")
        time.sleep(SNAPSHOT_AGE)
        self.assertEqual(self.gw.launch("h9", APP, "1.1.0")["reason"], "up_to_date")
        self.gw.execute("UPDATE artifacts SET url = 'https://example.com/b.tgz'",
                        "UPDATE releases SET paused = 0")
        time.sleep(SNAPSHOT_AGE)
        d = self.gw.launch("h9", APP, "1.1.0")
        self.assertEqual((d["action"], d["upgrade"]["url"]),
                         ("upgrade", "https://example.com/b.tgz"))
        # An admin's rollback, through the API, likewise.
        st, _, _ = self.gw.admin("POST", "/v1/admin/rollbacks",
                                 {"app": APP, "to_version": "1.1.0"})
        self.assertEqual(st, 201)
        self.assertEqual(self.gw.launch("h0", APP, "1.2.0")["upgrade"]["to_version"], "1.1.0")

    def test_rollout_is_stable_and_partial(self):
        self.gw.publish(APP, "2.0.0", rollout_percent=30)
        got = [self.gw.launch("c%d" % i, APP, "1.0.0")["action"] for i in range(200)]
        n = got.count("upgrade")
        self.assertTrue(30 <= n <= 90, n)
        # The same client gets the same answer.
        again = [self.gw.launch("c%d" % i, APP, "1.0.0") for i in range(200)]
        for i, d in enumerate(again):
            if got[i] == "upgrade":
                self.assertEqual(d["reason"], "upgrade_in_progress")
            else:
                self.assertEqual(d["reason"], "not_in_rollout")

    def test_in_progress_echoes_same_upgrade(self):
        self.gw.publish(APP, "1.1.0")
        first = self.gw.launch("h1", APP, "1.0.0")["upgrade"]
        d = self.gw.launch("h1", APP, "1.0.0")
        self.assertEqual(d["reason"], "upgrade_in_progress")
        self.assertEqual(d["upgrade"]["upgrade_id"], first["upgrade_id"])
        # Another client is independent.
        self.assertEqual(self.gw.launch("h2", APP, "1.0.0")["action"], "upgrade")

    def test_concurrent_launches_start_one_upgrade(self):
        self.gw.publish(APP, "1.1.0")
        results = []

        def click():
            results.append(self.gw.launch("racer", APP, "1.0.0"))
        threads = [threading.Thread(target=click) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = {(d.get("upgrade") or {}).get("upgrade_id") for d in results}
        self.assertEqual(len(ids), 1, results)
        self.assertEqual([d["action"] for d in results].count("upgrade"), 1)
        self.assertEqual(self.gw.sql("select count(*) from upgrades")[0][0], 1)

    def test_concurrent_lifecycles_through_group_commit(self):
        """40 clients upgrade at once: every launch that opens a session
        and every report is one job of the writer's batches, each answered
        only once on disk, none lost or mixed up with another's."""
        self.gw.publish(APP, "1.1.0")
        states = ["downloading", "downloaded", "verifying", "installing", "succeeded"]
        answers, problems = {}, []

        def client(i):
            name = "crowd-%d" % i
            uid = self.gw.launch(name, APP, "1.0.0")["upgrade"]["upgrade_id"]
            for seq, state in enumerate(states, 1):
                st, doc = self.gw.report(uid, name, seq, state)
                if st != 200 or doc["state"] != state or doc["last_seq"] != seq \
                        or doc["client_id"] != name or doc["duplicate"]:
                    problems.append((name, seq, st, doc))
            answers[name] = uid
        threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(problems, [])
        self.assertEqual(len(answers), 40)
        rows = self.gw.sql("select client_id, upgrade_id, state from upgrades")
        self.assertEqual({(c, u, s) for c, u, s in rows},
                         {(c, u, "succeeded") for c, u in answers.items()})
        self.assertEqual(self.gw.sql("select count(*) from events")[0][0], 200)
        text = self.gw.request("GET", "/metrics")[2].decode()
        jobs = int(re.search(r"^upgate_group_commit_jobs_total (\d+)$", text, re.M).group(1))
        batches = int(re.search(r"^upgate_group_commit_batches_total (\d+)$", text,
                                re.M).group(1))
        self.assertEqual(jobs, 240)  # 40 sessions opened + 200 reports
        self.assertTrue(1 <= batches <= jobs)
        self.assertIn("upgate_group_commit_failed_batches_total 0", text)

    def test_previous_failure_once_and_attempts(self):
        self.gw.publish(APP, "1.1.0")
        uid = self.gw.launch("h1", APP, "1.0.0")["upgrade"]["upgrade_id"]
        st, doc = self.gw.report(uid, "h1", 1, "failed", error_code="sha256_mismatch",
                                 message="expected ab12, got 9f00")
        self.assertEqual((st, doc["state"]), (200, "failed"))
        d = self.gw.launch("h1", APP, "1.0.0")
        pf = d["previous_failure"]
        self.assertEqual((pf["upgrade_id"], pf["to_version"], pf["error_code"], pf["message"]),
                         (uid, "1.1.0", "sha256_mismatch", "expected ab12, got 9f00"))
        self.assertRegex(pf["failed_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # retry_backoff is 0 here: offered again at once, but told only once.
        self.assertEqual(d["action"], "upgrade")
        uid2 = d["upgrade"]["upgrade_id"]
        self.gw.report(uid2, "h1", 1, "failed", error_code="disk_full")
        d = self.gw.launch("h1", APP, "1.0.0")
        self.assertEqual(d["previous_failure"]["error_code"], "disk_full")
        self.assertEqual((d["action"], d["reason"]), ("launch", "attempts_exhausted"))
        d = self.gw.launch("h1", APP, "1.0.0")
        self.assertIsNone(d["previous_failure"])
        self.assertEqual(d["reason"], "attempts_exhausted")
        # A newer release is offered at once.
        self.gw.publish(APP, "1.2.0")
        d = self.gw.launch("h1", APP, "1.0.0")
        self.assertEqual((d["action"], d["upgrade"]["to_version"]), ("upgrade", "1.2.0"))


class TestBackoff(GatewayCase):
    upgrade = {"retry_backoff": "24h"}

    def test_failed_release_not_offered_before_backoff(self):
        self.gw.publish(APP, "1.1.0")
        uid = self.gw.launch("h1", APP, "1.0.0")["upgrade"]["upgrade_id"]
        self.gw.report(uid, "h1", 1, "failed", error_code="install_failed")
        d = self.gw.launch("h1", APP, "1.0.0")
        self.assertEqual((d["reason"], d["previous_failure"]["error_code"]),
                         ("retry_backoff", "install_failed"))
        d = self.gw.launch("h1", APP, "1.0.0")
        self.assertEqual((d["reason"], d["previous_failure"]), ("retry_backoff", None))
        self.assertEqual(self.gw.launch("h2", APP, "1.0.0")["action"], "upgrade")


class TestEvents(GatewayCase):
    def offer(self, client="h1"):
        self.gw.publish(APP, "1.1.0")
        return self.gw.launch(client, APP, "1.0.0")["upgrade"]["upgrade_id"]

    def test_state_machine_and_seq(self):
        uid = self.offer()
        st, doc = self.gw.report(uid, "h1", 1, "downloading", progress=10, download_ms=5)
        self.assertEqual((st, doc["state"], doc["progress"], doc["duplicate"]),
                         (200, "downloading", 10, False))
        # Same seq, same body: 200, nothing new.
        st, doc = self.gw.report(uid, "h1", 1, "downloading", progress=10, download_ms=5)
        self.assertEqual((st, doc["duplicate"]), (200, True))
        # Same seq, other body: 409.
        st, doc = self.gw.report(uid, "h1", 1, "downloading", progress=20)
        self.assertEqual((st, doc["error"]["code"]), (409, "seq_conflict"))
        # Repeated state with a growing seq is progress.
        self.assertEqual(self.gw.report(uid, "h1", 2, "downloading", progress=60)[0], 200)
        # Skipping states is fine; going back is not.
        self.assertEqual(self.gw.report(uid, "h1", 3, "verifying")[0], 200)
        st, doc = self.gw.report(uid, "h1", 4, "downloaded")
        self.assertEqual((st, doc["error"]["code"]), (409, "state_regression"))
        st, doc = self.gw.report(uid, "h1", 3, "installing")
        self.assertEqual(st, 409)
        st, doc = self.gw.report(uid, "h1", 2, "verifying")
        self.assertEqual(st, 409)
        self.assertEqual(self.gw.report(uid, "h1", 5, "succeeded", install_ms=40)[0], 200)
        st, doc = self.gw.report(uid, "h1", 6, "failed", error_code="late")
        self.assertEqual((st, doc["error"]["code"]), (409, "upgrade_finished"))
        # Replaying the final report is still idempotent.
        self.assertEqual(self.gw.report(uid, "h1", 5, "succeeded", install_ms=40)[0], 200)
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=h1" % uid)
        self.assertEqual(st, 200)
        self.assertEqual(doc["state"], "succeeded")
        self.assertEqual([e["seq"] for e in doc["events"]], [1, 2, 3, 5])
        self.assertEqual(doc["events"][-1]["install_ms"], 40)
        self.assertEqual(self.gw.sql("select count(*) from events")[0][0], 4)

    def test_event_errors(self):
        uid = self.offer()
        st, doc = self.gw.report(uid, "someone-else", 1, "downloading")
        self.assertEqual((st, doc["error"]["code"]), (404, "upgrade_not_found"))
        self.assertNotIn("h1", doc["error"]["message"])
        st, doc = self.gw.report("0" * 32, "h1", 1, "downloading")
        self.assertEqual(st, 404)
        st, doc = self.gw.report("not-an-id", "h1", 1, "downloading")
        self.assertEqual(st, 404)
        for state in ("offered", "timed_out", "exploded"):
            st, doc = self.gw.report(uid, "h1", 1, state)
            self.assertEqual((st, doc["error"]["field"]), (422, "state"))
        st, doc = self.gw.report(uid, "h1", 1, "failed")
        self.assertEqual((st, doc["error"]["field"]), (400, "error_code"))
        st, doc = self.gw.report(uid, "h1", 0, "downloading")
        self.assertEqual((st, doc["error"]["field"]), (422, "seq"))
        st, doc = self.gw.report(uid, "h1", 1, "downloading", progress=101)
        self.assertEqual((st, doc["error"]["field"]), (422, "progress"))
        st, doc = self.gw.report(uid, "h1", 1, "failed", error_code="Bad Code")
        self.assertEqual((st, doc["error"]["field"]), (422, "error_code"))
        self.assertEqual(self.gw.sql("select count(*) from events")[0][0], 0)
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=nobody" % uid)
        self.assertEqual(st, 404)
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s" % uid)
        self.assertEqual((st, doc["error"]["field"]), (400, "client_id"))

    def test_final_state_writes_outbox_in_same_transaction(self):
        uid = self.offer()
        self.gw.report(uid, "h1", 1, "downloading")
        self.assertEqual(self.gw.sql("select count(*) from outbox")[0][0], 0)
        self.gw.report(uid, "h1", 2, "failed", error_code="unpack_failed", message="bad tar")
        rows = self.gw.sql("select kind, body from outbox")
        self.assertEqual(len(rows), 1)
        body = json.loads(rows[0][1])
        self.assertEqual(rows[0][0], "outcome")
        self.assertRegex(body["outcome_id"], "^[0-9a-f]{32}$")
        for k, v in {"gateway_id": "gw-1", "upgrade_id": uid, "client_id": "h1", "app": APP,
                     "platform": "linux-x86_64", "from_version": "1.0.0",
                     "to_version": "1.1.0", "result": "failed", "error_code": "unpack_failed",
                     "message": "bad tar"}.items():
            self.assertEqual(body[k], v, k)
        self.assertEqual([e["state"] for e in body["events"]], ["downloading", "failed"])
        st, _, doc = self.gw.request("GET", "/readyz")
        self.assertEqual(doc["outbox"]["rows"], 1)

    def test_admin_list_pagination(self):
        self.gw.publish(APP, "1.1.0")
        ids = {self.gw.launch("c%d" % i, APP, "1.0.0")["upgrade"]["upgrade_id"]
               for i in range(5)}
        seen, after = [], ""
        for _ in range(5):
            st, _, doc = self.gw.admin("GET", "/v1/admin/upgrades?app=%s&limit=2&after=%s"
                                       % (APP, after))
            self.assertEqual(st, 200)
            seen += [u["upgrade_id"] for u in doc["upgrades"]]
            if doc["next"] is None:
                break
            after = doc["next"]
        self.assertEqual(len(seen), 5)
        self.assertEqual(set(seen), ids)
        st, _, doc = self.gw.admin("GET", "/v1/admin/upgrades?client_id=c3&state=offered")
        self.assertEqual([u["client_id"] for u in doc["upgrades"]], ["c3"])
        # One client's list (its own index) pages newest first too.
        for app in ("app.b", "app.c", "app.d"):
            self.gw.publish(app, "1.0.0")
            self.gw.launch("c3", app, "0.9.0")
        seen, after = [], ""
        while True:
            doc = self.gw.admin("GET", "/v1/admin/upgrades?client_id=c3&limit=3&after=%s"
                                % after)[2]
            seen += [u["app"] for u in doc["upgrades"]]
            if (after := doc["next"]) is None:
                break
        self.assertEqual(seen, ["app.d", "app.c", "app.b", APP])
        doc = self.gw.admin("GET", "/v1/admin/upgrades?client_id=c3&app=app.c")[2]
        self.assertEqual([u["app"] for u in doc["upgrades"]], ["app.c"])
        # One app's list (its own index) is every list's rows of that app.
        every = self.gw.admin("GET", "/v1/admin/upgrades?limit=100")[2]["upgrades"]
        self.assertEqual(len(every), 8)
        seen, after = [], ""
        while True:
            doc = self.gw.admin("GET", "/v1/admin/upgrades?app=%s&limit=2&after=%s"
                                % (APP, after))[2]
            seen += [u["upgrade_id"] for u in doc["upgrades"]]
            if (after := doc["next"]) is None:
                break
        self.assertEqual(seen, [u["upgrade_id"] for u in every if u["app"] == APP])
        doc = self.gw.admin("GET", "/v1/admin/upgrades?app=app.c&state=offered")[2]
        self.assertEqual([(u["app"], u["client_id"]) for u in doc["upgrades"]],
                         [("app.c", "c3")])
        # Failures (their own indexes), of every app and of one, page as
        # the plain list's failed rows do.
        for i, c in enumerate(("c0", "c1", "c2", "c4")):
            uid = next(u["upgrade_id"] for u in every if u["client_id"] == c)
            self.assertEqual(self.gw.report(uid, c, 1, "failed" if i % 3 else "downloading",
                                            error_code="disk_full")[0], 200)
        uid = next(u["upgrade_id"] for u in every
                   if u["client_id"] == "c3" and u["app"] == "app.b")
        self.assertEqual(self.gw.report(uid, "c3", 1, "failed", error_code="x")[0], 200)
        every = self.gw.admin("GET", "/v1/admin/upgrades?limit=100")[2]["upgrades"]
        for q, want in (("", lambda u: True), ("&app=" + APP, lambda u: u["app"] == APP),
                        ("&app=app.b", lambda u: u["app"] == "app.b")):
            seen, after = [], ""
            while True:
                doc = self.gw.admin("GET", "/v1/admin/upgrades?state=failed&limit=1&after=%s%s"
                                    % (after, q))[2]
                seen += [u["upgrade_id"] for u in doc["upgrades"]]
                if (after := doc["next"]) is None:
                    break
            self.assertEqual(seen, [u["upgrade_id"] for u in every
                                    if u["state"] == "failed" and want(u)], q)
            self.assertTrue(seen)
        self.assertError(self.gw.admin("GET", "/v1/admin/upgrades?state=bogus"), 422, None,
                         "state")
        self.assertError(self.gw.admin("GET", "/v1/admin/upgrades?limit=0"), 422, None, "limit")


class TestLaunchRetention(GatewayCase):
    def test_old_launch_records_are_deleted(self):
        """[storage] launch_retention: launch records older than it are
        deleted, oldest first, by the statistics worker; 0 keeps them.
        SIGHUP changes it."""
        self.gw.stop()
        self.gw.extra = {"storage": {"launch_retention": "0"}}
        self.gw.start()
        for i in range(5):
            self.gw.launch("host-%d" % i, APP, "1.0.0")
        wait_for(lambda: self.gw.sql("select count(*) from launches")[0][0] == 5,
                 what="five launch records")
        self.gw.extra = {"storage": {"launch_retention": "1s"}}
        self.gw.write_conf()
        self.gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.gw.sql("select count(*) from launches")[0][0] == 0,
                 what="the records past one second deleted")
        with open(self.gw.log) as f:  # in one pass or more
            deleted = re.findall(r"launch statistics: (\d+) record\(s\) older than 1s deleted",
                                 f.read())
        self.assertEqual(sum(map(int, deleted)), 5)
        self.assertEqual(self.gw.integrity(), "ok")
        # Bad values are refused at start, naming the key.
        self.gw.stop()
        self.gw.extra = {"storage": {"launch_retention": "soon"}}
        self.gw.write_conf()
        r = subprocess.run([os.path.join(BIN, "upgate-gatewayd"), "-c", self.gw.conf,
                            "--check-config"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("launch_retention", r.stdout + r.stderr)
        self.gw.extra = {}
        self.gw.write_conf()
        self.gw.start()


class TestEventRetention(GatewayCase):
    def test_events_of_old_finished_upgrades_are_deleted(self):
        """[storage] event_retention: the events of upgrades that finished
        longer ago are deleted by the statistics worker; the upgrade
        keeps its state and error, an unfinished one keeps its events,
        and a late duplicate report is still answered as one. 0 keeps
        them; SIGHUP changes it."""
        self.gw.stop()
        self.gw.extra = {"storage": {"event_retention": "0"}}
        self.gw.start()
        self.gw.publish(APP, "1.1.0")
        done, failed, running = (
            self.gw.launch(c, APP, "1.0.0")["upgrade"]["upgrade_id"] for c in ("h1", "h2", "h3"))
        for seq, state in enumerate(("downloading", "downloaded", "verifying", "installing",
                                     "succeeded"), 1):
            self.assertEqual(self.gw.report(done, "h1", seq, state)[0], 200)
        self.assertEqual(self.gw.report(failed, "h2", 1, "downloading")[0], 200)
        self.assertEqual(self.gw.report(failed, "h2", 2, "failed", error_code="disk_full",
                                        message="no space left")[0], 200)
        self.assertEqual(self.gw.report(running, "h3", 1, "downloading")[0], 200)
        time.sleep(1.5)
        self.assertEqual(self.gw.sql("select count(*) from events")[0][0], 8)
        self.gw.extra = {"storage": {"event_retention": "1s"}}
        self.gw.write_conf()
        self.gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.gw.sql("select count(*) from events")[0][0] == 1,
                 what="the finished upgrades' events deleted")
        with open(self.gw.log) as f:
            deleted = re.findall(r"upgrade events: (\d+) event\(s\) of upgrades finished"
                                 r" more than 1s ago deleted", f.read())
        self.assertEqual(sum(map(int, deleted)), 7)
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=h2" % failed)
        self.assertEqual((st, doc["state"], doc["error_code"], doc["events"]),
                         (200, "failed", "disk_full", []))
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=h3" % running)
        self.assertEqual([e["state"] for e in doc["events"]], ["downloading"])
        st, doc = self.gw.report(done, "h1", 5, "succeeded")
        self.assertEqual((st, doc["state"], doc["duplicate"]), (200, "succeeded", True))
        self.assertEqual(self.gw.integrity(), "ok")
        self.gw.stop()
        self.gw.extra = {"storage": {"event_retention": "a while"}}
        self.gw.write_conf()
        r = subprocess.run([os.path.join(BIN, "upgate-gatewayd"), "-c", self.gw.conf,
                            "--check-config"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("event_retention", r.stdout + r.stderr)
        self.gw.extra = {}
        self.gw.write_conf()
        self.gw.start()


class TestTimeout(GatewayCase):
    upgrade = {"session_timeout": "1s", "retry_backoff": "0s"}

    def test_reaper_times_out_and_client_is_told(self):
        self.gw.publish(APP, "1.1.0")
        uid = self.gw.launch("h1", APP, "1.0.0")["upgrade"]["upgrade_id"]
        self.gw.report(uid, "h1", 1, "downloading")
        deadline = time.time() + 20
        state = None
        while time.time() < deadline:
            state = self.gw.request("GET", "/v1/upgrades/%s?client_id=h1" % uid)[2]["state"]
            if state == "timed_out":
                break
            time.sleep(0.2)
        self.assertEqual(state, "timed_out")
        st, doc = self.gw.report(uid, "h1", 2, "succeeded")
        self.assertEqual((st, doc["error"]["code"]), (409, "upgrade_finished"))
        d = self.gw.launch("h1", APP, "1.0.0")
        self.assertEqual(d["previous_failure"]["error_code"], "timed_out")
        self.assertEqual(d["previous_failure"]["upgrade_id"], uid)
        self.assertEqual(json.loads(self.gw.sql("select body from outbox")[0][0])["result"],
                         "timed_out")

    def test_launch_after_timeout_starts_fresh(self):
        self.gw.publish(APP, "1.1.0")
        first = self.gw.launch("h2", APP, "1.0.0")["upgrade"]["upgrade_id"]
        time.sleep(1.1)
        d = self.gw.launch("h2", APP, "1.0.0")
        # Timed out (by the reaper or by this launch): told once, new offer.
        self.assertEqual(d["previous_failure"]["upgrade_id"], first)
        self.assertEqual(d["action"], "upgrade")
        self.assertNotEqual(d["upgrade"]["upgrade_id"], first)


class TestHalt(GatewayCase):
    upgrade = {"halt_min_samples": 4, "halt_failure_rate": "0.25"}

    def test_release_halts_and_resumes(self):
        self.gw.publish(APP, "1.1.0")
        for i in range(4):
            uid = self.gw.launch("c%d" % i, APP, "1.0.0")["upgrade"]["upgrade_id"]
            if i == 0:
                self.gw.report(uid, "c%d" % i, 1, "succeeded")
            else:
                self.gw.report(uid, "c%d" % i, 1, "failed", error_code="install_failed")
        d = self.gw.launch("new", APP, "1.0.0")
        self.assertEqual(d["reason"], "release_halted")
        st, _, doc = self.gw.admin("GET", "/v1/admin/releases?app=" + APP)
        rel = doc["releases"][0]
        self.assertTrue(rel["halted"])
        self.assertEqual(rel["counts"]["failed"], 3)
        self.assertEqual(rel["failure_rate"], 0.75)
        notices = self.gw.sql("select body from outbox where kind = 'halt'")
        self.assertEqual(len(notices), 1)
        notice = json.loads(notices[0][0])
        self.assertEqual((notice["app"], notice["version"], notice["kind"]),
                         (APP, "1.1.0", "release_halted"))
        self.assertEqual(self.gw.request("GET", "/v1/apps/%s/manifest" % APP)[0], 404)
        st, _, doc = self.gw.admin("PATCH", "/v1/admin/releases/%s/1.1.0" % APP,
                                   {"halted": False})
        self.assertEqual((st, doc["halted"]), (200, False))
        self.assertEqual(self.gw.launch("new", APP, "1.0.0")["action"], "upgrade")


class TestLifecycle(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway()

    def tearDown(self):
        self.gw.cleanup()

    def test_restart_loses_nothing(self):
        self.gw.start()
        self.gw.publish(APP, "1.1.0")
        acked = []
        for i in range(10):
            uid = self.gw.launch("c%d" % i, APP, "1.0.0")["upgrade"]["upgrade_id"]
            self.assertEqual(self.gw.report(uid, "c%d" % i, 1, "downloading")[0], 200)
            st, _ = self.gw.report(uid, "c%d" % i, 2, "failed" if i % 2 else "succeeded",
                                   error_code="disk_full")
            self.assertEqual(st, 200)
            acked.append(uid)
        self.gw.kill()
        self.assertEqual(self.gw.integrity(), "ok")
        self.gw.start()
        for i, uid in enumerate(acked):
            st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=c%d" % (uid, i))
            self.assertEqual((st, len(doc["events"])), (200, 2))
        self.assertEqual(self.gw.sql("select count(*) from outbox")[0][0], 10)
        self.assertEqual(self.gw.stop(), 0)

    def test_sighup_reloads_token(self):
        self.gw.start()
        self.assertEqual(self.gw.admin("GET", "/v1/admin/releases")[0], 200)
        with open(self.gw.token_file, "w") as f:
            f.write("a-new-token\n")
        self.gw.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and self.gw.admin("GET", "/v1/admin/releases")[0] != 401:
            time.sleep(0.05)
        self.assertEqual(self.gw.admin("GET", "/v1/admin/releases")[0], 401)
        self.assertEqual(self.gw.request("GET", "/v1/admin/releases", token="a-new-token")[0],
                         200)
        self.assertEqual(self.gw.stop(signal.SIGINT), 0)

    def run_bin(self, *args):
        return subprocess.run([os.path.join(BIN, "upgate-gatewayd")] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_command_line(self):
        self.assertEqual(self.run_bin("--check-config", "-c", self.gw.conf).returncode, 0)
        r = self.run_bin("--version")
        self.assertEqual(r.returncode, 0)
        self.assertIn("upgate-gatewayd", r.stdout)
        self.assertEqual(self.run_bin("--help").returncode, 0)
        self.assertEqual(self.run_bin("--bogus").returncode, 2)
        with open(self.gw.conf) as f:
            n = len(f.read().splitlines())
        with open(self.gw.conf, "a") as f:
            f.write("max_attempts = lots\nnot_a_key = 1\n")
        r = self.run_bin("--check-config", "-c", self.gw.conf)
        self.assertEqual(r.returncode, 2)
        self.assertIn("%s:%d: [upgrade] max_attempts:" % (self.gw.conf, n + 1), r.stderr)
        self.assertIn("%s:%d: [upgrade] not_a_key: unknown key" % (self.gw.conf, n + 2),
                      r.stderr)
        # A bad config stops the daemon before it listens, with 2.
        self.assertEqual(self.run_bin("-c", self.gw.conf).returncode, 2)
        self.assertEqual(self.run_bin("-c", "/nonexistent/gw.conf").returncode, 2)

    def test_named_token_file_must_exist(self):
        os.unlink(self.gw.token_file)
        r = self.run_bin("--check-config", "-c", self.gw.conf)
        self.assertEqual(r.returncode, 2)
        self.assertIn("[admin] token_file", r.stderr)

    def test_example_configs_are_valid(self):
        root = os.path.join(os.path.dirname(__file__), "../..")
        for name in ("etc/gateway.conf",):
            r = self.run_bin("--check-config", "-c", os.path.join(root, name))
            # The example names /etc paths that need not exist here: only
            # token_file may be reported.
            problems = [l for l in r.stderr.splitlines() if "token_file" not in l
                        and "warning" not in l]
            self.assertEqual(problems, [], r.stderr)


if __name__ == "__main__":
    unittest.main()
