# SPDX-License-Identifier: MIT
"""Named tokens, roles and the audit log, on both daemons (SPEC "Tokens,
roles and the audit log"): every admin route of both route tables with
each role against the table kept here, a publisher held to its apps, a
revoked token refused at once and its event stream ended, every change
and every refused change in the audit log under the right name."""
import http.client
import os
import re
import time
import unittest
import urllib.parse

from gwlib import TOKEN, gateway_and_mgmt, wait_for
from test_mgmt import outcome

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
APP = "com.example.access"
ROLES = ("viewer", "publisher", "admin")
ROUTE_ROW = re.compile(r'\{"(GET|POST|PATCH|DELETE)",\s*"([^"]+)",\s*\w+,\s*'
                       r'HTTP_AUTH_(VIEWER|PUBLISHER|ADMIN)')

# The least role each admin route needs: the contract, kept by hand so
# that a change to a route table shows here.
NEEDS = {
    "gateway": {
        ("POST", "/v1/admin/releases"): "publisher",
        ("GET", "/v1/admin/releases"): "viewer",
        ("PATCH", "/v1/admin/releases/{app}/{version}"): "publisher",
        ("GET", "/v1/admin/upgrades"): "viewer",
        ("POST", "/v1/admin/rollbacks"): "publisher",
        ("GET", "/v1/admin/rollbacks/{app}"): "viewer",
        ("DELETE", "/v1/admin/rollbacks/{app}"): "publisher",
        ("POST", "/v1/admin/tokens"): "admin",
        ("GET", "/v1/admin/tokens"): "admin",
        ("DELETE", "/v1/admin/tokens/{name}"): "admin",
        ("GET", "/v1/admin/audit"): "admin",
        ("GET", "/v1/admin/whoami"): "viewer",
    },
    "mgmt": {
        ("GET", "/v1/outcomes"): "viewer",
        ("GET", "/v1/outcomes.csv"): "viewer",
        ("GET", "/v1/outcomes/{id}"): "viewer",
        ("GET", "/v1/stats"): "viewer",
        ("GET", "/v1/alerts"): "viewer",
        ("POST", "/v1/alerts/test"): "admin",
        ("GET", "/v1/alerts/digests"): "viewer",
        ("GET", "/v1/stats/timeline"): "viewer",
        ("GET", "/v1/events/stream"): "viewer",
        ("GET", "/v1/halted"): "viewer",
        ("GET", "/v1/releases"): "viewer",
        ("POST", "/v1/halted/{app}/{version}/resume"): "admin",
        ("POST", "/v1/admin/tokens"): "admin",
        ("GET", "/v1/admin/tokens"): "admin",
        ("DELETE", "/v1/admin/tokens/{name}"): "admin",
        ("GET", "/v1/admin/audit"): "admin",
        ("GET", "/v1/admin/whoami"): "viewer",
    },
}
# Routes whose success depends on state elsewhere (a halted release at
# the gateway): with the role they are answered, by anything but 401/403.
NOT_ALWAYS_2XX = {("POST", "/v1/halted/{app}/{version}/resume")}


def route_table(daemon):
    with open(os.path.join(ROOT, "src", "gateway" if daemon == "gateway" else "mgmt",
                           "routes.c")) as f:
        return {(m, p): role.lower() for m, p, role in ROUTE_ROW.findall(f.read())}


def release(app, version):
    return {"app": app, "version": version,
            "artifacts": {"linux-x86_64": {"url": "https://dl.example.com/a.tgz",
                                           "size": 1, "sha256": "ab" * 32}}}


class Access(unittest.TestCase):
    def setUp(self):
        self.gw, self.mg = gateway_and_mgmt(self)
        self.d = {"gateway": self.gw, "mgmt": self.mg}
        self.serial = 0

    def make(self, daemon, name, role, apps="*"):
        st, _, doc = daemon.admin("POST", "/v1/admin/tokens",
                                  {"name": name, "role": role, "apps": apps})
        self.assertEqual(st, 201, doc)
        self.assertEqual((doc["name"], doc["role"], doc["apps"]), (name, role, apps))
        return doc["token"]

    def make_with(self, daemon, token, name, role):
        st, _, doc = daemon.request("POST", "/v1/admin/tokens", {"name": name, "role": role},
                                    token=token)
        self.assertEqual(st, 201, doc)

    def audit(self, daemon, **query):
        st, _, doc = daemon.admin("GET", "/v1/admin/audit?" + urllib.parse.urlencode(query))
        self.assertEqual(st, 200, doc)
        return doc["audit"]

    def stream_status(self, daemon, token):
        c = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
        c.request("GET", "/v1/events/stream", headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        c.close()
        return r.status

    def call(self, name, method, pattern, token):
        """One request of route pattern that succeeds for a role allowed
        it (what it needs set up first, as the file token)."""
        daemon = self.d[name]
        self.serial += 1
        n = self.serial
        path, body = pattern, None
        if "{app}" in pattern:
            path = path.replace("{app}", APP).replace("{version}", "1.0.0")
        if pattern == "/v1/admin/releases" and method == "POST":
            body = release(APP, "2.0.%d" % n)
        elif pattern.startswith("/v1/admin/releases/"):
            body = {"rollout_percent": 50 + n % 50}
        elif pattern == "/v1/admin/rollbacks":
            body = {"app": APP, "to_version": "1.0.0"}
        elif pattern == "/v1/admin/rollbacks/{app}":
            st, _, doc = daemon.admin("POST", "/v1/admin/rollbacks",
                                      {"app": APP, "to_version": "1.0.0"})
            self.assertEqual(st, 201, doc)
        elif pattern == "/v1/admin/tokens" and method == "POST":
            body = {"name": "made-%d" % n, "role": "viewer"}
        elif pattern == "/v1/admin/tokens/{name}":
            self.make(daemon, "doomed-%d" % n, "viewer")
            path = "/v1/admin/tokens/doomed-%d" % n
        elif pattern == "/v1/outcomes/{id}":
            path = "/v1/outcomes/" + outcome(1)["outcome_id"]
        elif pattern == "/v1/alerts/test":
            body = {"channel": "email"}
        elif pattern == "/v1/halted/{app}/{version}/resume":
            body = {}
        if pattern == "/v1/events/stream":
            return self.stream_status(daemon, token), None
        st, _, doc = daemon.request(method, path, body, token=token)
        return st, doc

    def test_every_admin_route_with_each_role(self):
        for name in ("gateway", "mgmt"):
            self.assertEqual(route_table(name), NEEDS[name],
                             "%s's route table and this test's table differ" % name)
        self.gw.publish(APP, "1.0.0")
        self.assertEqual(self.mg.ingest(outcome(1))[0], 200)
        tokens = {name: {role: self.make(d, role + "-1", role) for role in ROLES}
                  for name, d in self.d.items()}
        for name, table in NEEDS.items():
            for (method, pattern), need in sorted(table.items()):
                for role in ROLES:
                    st, doc = self.call(name, method, pattern, tokens[name][role])
                    what = (name, role, method, pattern, st, doc)
                    if ROLES.index(role) < ROLES.index(need):
                        self.assertEqual(st, 403, what)
                        self.assertEqual(doc["error"]["code"], "forbidden")
                        self.assertIn("needs the %s role" % need, doc["error"]["message"])
                    elif (method, pattern) in NOT_ALWAYS_2XX:
                        self.assertNotIn(st, (401, 403), what)
                    else:
                        self.assertTrue(200 <= st < 300, what)

    def test_publisher_is_held_to_its_apps(self):
        ci = self.make(self.gw, "ci", "publisher", "com.example.*")
        st, _, doc = self.gw.request("POST", "/v1/admin/releases",
                                     release("com.example.editor", "1.0.0"), token=ci)
        self.assertEqual(st, 201, doc)
        self.gw.publish("org.other.app", "1.0.0")
        for method, path, body in (
                ("POST", "/v1/admin/releases", release("org.other.app", "2.0.0")),
                ("PATCH", "/v1/admin/releases/org.other.app/1.0.0", {"paused": True}),
                ("POST", "/v1/admin/rollbacks", {"app": "org.other.app", "to_version": "1.0.0"}),
                ("DELETE", "/v1/admin/rollbacks/org.other.app", None)):
            st, _, doc = self.gw.request(method, path, body, token=ci)
            self.assertEqual(st, 403, (method, path, doc))
            self.assertIn("com.example.*", doc["error"]["message"])
        # Nothing of org.other.app changed.
        rel = [r for r in self.gw.admin("GET", "/v1/admin/releases?app=org.other.app")[2]["releases"]]
        self.assertEqual([(r["version"], r["paused"]) for r in rel], [("1.0.0", False)])
        # Reading is every role's: the other app's releases are listed.
        st, _, doc = self.gw.request("GET", "/v1/admin/releases?app=org.other.app", token=ci)
        self.assertEqual(st, 200)
        # A halted release of its own app is an admin's to resume.
        self.gw.execute("UPDATE releases SET halted = 1 WHERE app = 'com.example.editor'")
        st, _, doc = self.gw.request("PATCH", "/v1/admin/releases/com.example.editor/1.0.0",
                                     {"halted": False}, token=ci)
        self.assertEqual((st, doc["error"]["code"]), (403, "forbidden"), doc)
        st, _, doc = self.gw.admin("PATCH", "/v1/admin/releases/com.example.editor/1.0.0",
                                   {"halted": False})
        self.assertEqual(st, 200, doc)

    def test_revoked_token_refused_at_once_and_its_stream_ends(self):
        view = self.make(self.mg, "wall", "viewer")
        c = http.client.HTTPConnection("127.0.0.1", self.mg.port, timeout=20)
        c.request("GET", "/v1/events/stream", headers={"Authorization": "Bearer " + view})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.readline())  # the stream is open
        st, _, doc = self.mg.admin("DELETE", "/v1/admin/tokens/wall")
        self.assertEqual((st, doc), (200, {"name": "wall", "revoked": True}))
        t0 = time.monotonic()
        rest = r.read()  # ends: the server closed the stream
        self.assertLess(time.monotonic() - t0, 10, rest)
        c.close()
        st, _, doc = self.mg.request("GET", "/v1/stats", token=view)
        self.assertEqual((st, doc["error"]["code"]), (401, "unauthorized"))
        names = [t["name"] for t in self.mg.admin("GET", "/v1/admin/tokens")[2]["tokens"]]
        self.assertEqual(names, ["admin"])
        metrics = self.mg.request("GET", "/metrics")[2].decode()
        self.assertRegex(metrics, r"upgate_http_auth_failures_total [1-9]")

    def test_changes_and_refusals_are_audited(self):
        ci = self.make(self.gw, "ci", "publisher", "com.example.*")
        self.gw.request("POST", "/v1/admin/releases", release("com.example.a", "1.0.0"), token=ci)
        # A failed change: the same version with other content (409).
        st, _, _ = self.gw.request("POST", "/v1/admin/releases",
                                   dict(release("com.example.a", "1.0.0"), notes="x"), token=ci)
        self.assertEqual(st, 409)
        # Invalid (422) and refused (403): logged, nothing changed.
        st, _, _ = self.gw.request("POST", "/v1/admin/releases",
                                   release("com.example.b", "not-a-version"), token=ci)
        self.assertEqual(st, 422)
        self.gw.request("POST", "/v1/admin/tokens", {"name": "x", "role": "admin"}, token=ci)
        self.gw.request("GET", "/v1/admin/releases", token=ci)  # reads are not logged
        self.gw.request("POST", "/v1/admin/releases", release("com.example.c", "1.0.0"),
                        token="upg_" + "A" * 43)  # unknown: counted, not logged
        lines = self.audit(self.gw, token="ci")
        self.assertEqual([(a["method"], a["path"], a["status"]) for a in lines], [
            ("POST", "/v1/admin/tokens", 403),
            ("POST", "/v1/admin/releases", 422),
            ("POST", "/v1/admin/releases", 409),
            ("POST", "/v1/admin/releases", 201)])
        for a in lines:
            self.assertEqual((a["token"], a["role"], a["client"]), ("ci", "publisher", "127.0.0.1"))
        self.assertEqual(lines[-1]["change"]["app"], "com.example.a")
        versions = [(r["app"], r["version"]) for r in
                    self.gw.admin("GET", "/v1/admin/releases")[2]["releases"]]
        self.assertEqual(versions, [("com.example.a", "1.0.0")])
        made = self.audit(self.gw, token="admin")
        self.assertEqual((made[-1]["path"], made[-1]["status"], made[-1]["change"]),
                         ("/v1/admin/tokens", 201,
                          {"name": "ci", "role": "publisher", "apps": "com.example.*"}))
        self.assertNotIn("upg_", str(made))  # the token itself is never logged
        # Pages and filters.
        page = self.gw.admin("GET", "/v1/admin/audit?limit=2")[2]
        self.assertEqual(len(page["audit"]), 2)
        rest = self.gw.admin("GET", "/v1/admin/audit?limit=100&after=" + page["next"])[2]
        self.assertEqual(len(page["audit"]) + len(rest["audit"]), 5)
        self.assertEqual(self.audit(self.gw, since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z"), [])
        # mgmtd logs its own: a test alert and a resume through it.
        self.mg.admin("POST", "/v1/alerts/test", {"channel": "email"})
        self.assertEqual([(a["path"], a["token"]) for a in self.audit(self.mg)],
                         [("/v1/alerts/test", "admin")])

    def test_bad_input(self):
        for body, field in (({"name": "", "role": "viewer"}, "name"),
                            ({"name": "a b", "role": "viewer"}, "name"),
                            ({"name": "x", "role": "root"}, "role"),
                            ({"name": "x", "role": "publisher", "apps": "com/ex"}, "apps"),
                            ({"name": "admin", "role": "viewer"}, "name")):
            for d in self.d.values():
                st, _, doc = d.admin("POST", "/v1/admin/tokens", body)
                self.assertEqual((st, doc["error"].get("field")), (422, field), body)
        self.make(self.gw, "dup", "viewer")
        st, _, doc = self.gw.admin("POST", "/v1/admin/tokens", {"name": "dup", "role": "admin"})
        self.assertEqual((st, doc["error"]["field"]), (422, "name"))
        st, _, doc = self.gw.admin("DELETE", "/v1/admin/tokens/nobody")
        self.assertEqual(st, 404)
        # The token_file token cannot be revoked here; with it gone from
        # its file, the last admin token cannot be revoked at all.
        self.assertEqual(self.gw.admin("DELETE", "/v1/admin/tokens/admin")[0], 409)
        boss = self.make(self.mg, "boss", "admin")
        self.mg.stop()
        self.mg.sections["admin"] = {"token_file": ""}
        self.mg.write_conf()
        self.mg.start()
        st, _, doc = self.mg.request("DELETE", "/v1/admin/tokens/boss", token=boss)
        self.assertEqual((st, doc["error"]["code"]), (409, "last_admin"), doc)
        self.assertEqual(self.mg.request("GET", "/v1/admin/whoami", token=boss)[2]["name"], "boss")
        self.make_with(self.mg, boss, "boss2", "admin")
        st, _, doc = self.mg.request("DELETE", "/v1/admin/tokens/boss", token=boss)
        self.assertEqual(st, 200, doc)

if __name__ == "__main__":
    unittest.main()
