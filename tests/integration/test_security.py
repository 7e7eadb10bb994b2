# SPDX-License-Identifier: MIT
"""Who may do what, and hostile strings: every admin route refuses a
missing or wrong token, clients cannot touch each other's upgrades, SQL
metacharacters are stored verbatim, NUL bytes and path tricks refused.
(Ingest signatures and skew: test_mgmt; hostile tarballs and checksums:
test_launcher; tampered and replayed manifests: test_signing.)"""
import json
import re
import unittest

from gwlib import TOKEN, Gateway, Mgmt, artifact
from test_mgmt import outcome

APP = "com.example.sec"
NASTY = "x'); DROP TABLE releases; -- \" \\ %s %n <script>alert(1)</script> \u00e9\u2603"


def admin_routes(path):
    with open(path) as f:
        text = f.read()
    return re.findall(r'\{"(GET|POST|PATCH|DELETE)",\s*"([^"]+)",\s*\w+,\s*'
                      r'HTTP_AUTH_(?:VIEWER|PUBLISHER|ADMIN)', text)


def concrete(pattern):
    return re.sub(r"\{[^}]+\}", lambda m: {"{app}": APP, "{version}": "1.0.0"}.get(
        m.group(0), "0" * 32), pattern)


class TestSecurity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway().start()
        cls.mgmt = Mgmt().start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.mgmt.cleanup()

    def test_every_admin_route_needs_the_token(self):
        root = __file__.rsplit("/tests/", 1)[0]
        for daemon, src in ((self.gw, "src/gateway/routes.c"), (self.mgmt, "src/mgmt/routes.c")):
            routes = admin_routes(root + "/" + src)
            self.assertGreater(len(routes), 3, src)
            for method, pattern in routes:
                for token in (None, "wrong-token", TOKEN + "x", TOKEN[:-1]):
                    st, hdrs, doc = daemon.request(method, concrete(pattern),
                                                   body={} if method != "GET" else None,
                                                   token=token)
                    self.assertEqual(st, 401, (method, pattern, token, doc))
                    self.assertEqual(doc["error"]["code"], "unauthorized")
                    self.assertEqual(hdrs.get("WWW-Authenticate"), "Bearer")

    def test_clients_cannot_touch_each_others_upgrades(self):
        self.gw.publish(APP, "2.0.0")
        up = self.gw.launch("alice", APP, "1.0.0")["upgrade"]
        uid = up["upgrade_id"]
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=mallory" % uid)
        self.assertEqual((st, doc["error"]["code"]), (404, "upgrade_not_found"))
        self.assertNotIn("alice", json.dumps(doc))
        # The same answer as for an id that does not exist: nothing leaks.
        st, _, other = self.gw.request("GET", "/v1/upgrades/%s?client_id=mallory" % ("9" * 32))
        self.assertEqual((st, other["error"]["code"]), (404, doc["error"]["code"]))
        st, doc = self.gw.report(uid, "mallory", 1, "failed", error_code="x_y")
        self.assertEqual(st, 404, doc)
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=alice" % uid)
        self.assertEqual((st, doc["state"]), (200, "offered"))

    def test_sql_metacharacters_stored_verbatim(self):
        st, _, doc = self.gw.publish(APP, "3.0.0", notes=NASTY)
        self.assertEqual(st, 201, doc)
        st, _, doc = self.gw.admin("GET", "/v1/admin/releases?app=" + APP)
        self.assertIn(NASTY, [r["notes"] for r in doc["releases"]])
        client = "c'; DELETE FROM upgrades; --"
        up = self.gw.launch(client, APP, "1.0.0")["upgrade"]
        st, doc = self.gw.report(up["upgrade_id"], client, 1, "failed",
                                 error_code="sha256_mismatch", message=NASTY)
        self.assertEqual(st, 200, doc)
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=%s" % (
            up["upgrade_id"], "c%27%3B%20DELETE%20FROM%20upgrades%3B%20--"))
        self.assertEqual((doc["client_id"], doc["message"]), (client, NASTY))
        self.assertEqual(self.gw.sql("PRAGMA integrity_check")[0][0], "ok")
        o = outcome(77, client_id=client, message=NASTY)
        self.assertEqual(self.mgmt.ingest(o)[0], 200)
        got = self.mgmt.outcomes(client_id=client)["outcomes"]
        self.assertEqual([(g["client_id"], g["message"]) for g in got], [(client, NASTY)])
        st, _, csv = self.mgmt.admin("GET", "/v1/outcomes.csv?client_id=" +
                                     "c%27%3B%20DELETE%20FROM%20upgrades%3B%20--")
        self.assertEqual(st, 200)

    def test_nul_bytes_refused(self):
        raw = ('{"client_id": "a\\u0000b", "app": "%s", "version": "1.0.0",'
               ' "platform": "linux-x86_64"}' % APP).encode()
        st, _, doc = self.gw.request("POST", "/v1/launch", raw=raw)
        self.assertEqual((st, doc["error"]["code"]), (400, "malformed_json"))
        raw = json.dumps(outcome(78)).replace('"host-78"', '"host\\u000078"').encode()
        st, _, doc = self.mgmt.ingest(None, raw=raw)
        self.assertEqual((st, doc["error"]["code"]), (400, "malformed_json"))

    def test_null_fields_are_not_given(self):
        # Found by fuzz_publish: a null flag was read as an unset bool.
        self.gw.publish(APP, "5.0.0")
        st, _, doc = self.gw.admin("PATCH", "/v1/admin/releases/%s/5.0.0" % APP,
                                   {"halted": None, "paused": None})
        self.assertEqual((st, doc["error"]["code"]), (400, "missing_field"))
        st, _, doc = self.gw.admin("PATCH", "/v1/admin/releases/%s/5.0.0" % APP,
                                   {"halted": None, "paused": True})
        self.assertEqual((st, doc["paused"], doc["halted"]), (200, True, False))

    def test_path_tricks_in_names_refused(self):
        for app in ("../etc", "a/b", ".hidden", "a b", "x" * 129):
            st, _, doc = self.gw.publish(app, "1.0.0")
            self.assertEqual((st, doc["error"]["field"]), (422, "app"), app)
        st, _, doc = self.gw.admin("POST", "/v1/admin/releases", {
            "app": APP, "version": "4.0.0",
            "artifacts": {"../../x": artifact()["linux-x86_64"]}})
        self.assertEqual(st, 422, doc)
        st, _, doc = self.gw.publish(APP, "../1.0.0")
        self.assertEqual((st, doc["error"]["field"]), (422, "version"))
        st, _, _ = self.gw.request("GET", "/v1/apps/..%2Fetc/manifest?platform=linux-x86_64")
        self.assertIn(st, (404, 422))
        st, _, doc = self.gw.publish(APP, "4.0.0", artifacts={"linux-x86_64": {
            "url": "file:///etc/passwd", "size": 10, "sha256": "ab" * 32}})
        self.assertEqual((st, doc["error"]["field"]), (422, "url"))


if __name__ == "__main__":
    unittest.main()
