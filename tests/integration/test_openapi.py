# SPDX-License-Identifier: MIT
"""docs/*.openapi.yaml against the daemons, so the two cannot drift: each
file is valid OpenAPI (Redocly's validator, when make deps installed it),
documents every route of its daemon's route table (src/*/routes.c) with
the security that route has, and every answer the daemons give here, to
every route, successes and errors, is checked against the schema the file
documents for that status (Debian's python3-jsonschema)."""
import http.client
import json
import os
import re
import shutil
import subprocess
import unittest
import urllib.parse

import jsonschema
import yaml

from gwlib import TOKEN, Gateway, Mgmt, artifact, sign, wait_for
from test_mgmt import outcome

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
REDOCLY = os.path.join(ROOT, "tools/openapi/node_modules/.bin/redocly")
APP = "com.example.contract"
ROUTE_ROW = re.compile(r'\{"(GET|POST|PUT|PATCH|DELETE)",\s*"([^"]+)",\s*\w+,\s*(HTTP_AUTH_\w+)')
SECURITY = {"HTTP_AUTH_NONE": [], "HTTP_AUTH_VIEWER": ["admin"], "HTTP_AUTH_PUBLISHER": ["admin"],
            "HTTP_AUTH_ADMIN": ["admin"], "HTTP_AUTH_SIGNED": ["signed"]}


def json_schema(node):
    """An OpenAPI 3.0 schema as JSON Schema: nullable becomes a null
    type (or an anyOf with null), recursively."""
    if isinstance(node, list):
        return [json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Contract:
    """One OpenAPI file, its daemon's route table, and what was checked."""

    def __init__(self, doc, routes_c):
        with open(os.path.join(ROOT, doc)) as f:
            self.spec = yaml.safe_load(f)
        self.doc = doc
        self.root = json_schema(self.spec)
        self.resolver = jsonschema.RefResolver.from_schema(self.root)
        with open(os.path.join(ROOT, routes_c)) as f:
            self.routes = {(m, re.sub(r"\{[a-z_]+\}", "{}", p)): auth
                           for m, p, auth in ROUTE_ROW.findall(f.read())}
        self.seen = set()  # (method, path, "ok" | "error")

    def operation(self, method, template):
        norm = re.sub(r"\{[a-z_]+\}", "{}", template)
        for path, item in self.spec["paths"].items():
            if re.sub(r"\{[a-z_]+\}", "{}", path) == norm and method.lower() in item:
                return path, item[method.lower()]
        raise AssertionError("%s %s is not in %s" % (method, template, self.doc))

    def check(self, method, template, status, ctype, body):
        path, op = self.operation(method, template)
        resp = op["responses"].get(str(status))
        assert resp is not None, "%s %s: status %d is not documented in %s (body %r)" % (
            method, path, status, self.doc, body)
        if "$ref" in resp:
            resp = self.resolve(resp["$ref"])
        content = resp.get("content", {})
        ctype = (ctype or "").split(";")[0].strip()
        if status != 304 or content:
            assert ctype in content, "%s %s %d: %s is not documented (%s)" % (
                method, path, status, ctype, sorted(content))
        if ctype == "application/json":
            schema = self.root["paths"][path][method.lower()]["responses"][str(status)]
            if "$ref" in schema:
                schema = self.resolve_json(schema["$ref"])
            schema = schema["content"]["application/json"]["schema"]
            try:
                jsonschema.Draft4Validator(schema, resolver=self.resolver).validate(body)
            except jsonschema.ValidationError as e:
                raise AssertionError("%s %s %d does not match %s: %s at %s\n%s" % (
                    method, path, status, self.doc, e.message, list(e.absolute_path),
                    json.dumps(body)[:600]))
        key = (method, re.sub(r"\{[a-z_]+\}", "{}", path))
        self.seen.add(key + ("ok" if status < 400 else "error",))

    def resolve(self, ref):
        node = self.spec
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def resolve_json(self, ref):
        node = self.root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node


def call(test, contract, d, method, template, args=(), query=None, body=None, token=None,
         raw=None, headers=None, ctype="application/json"):
    """One request to daemon d, checked against contract; (status, doc)."""
    path = template
    for a in args:
        path = re.sub(r"\{[a-z_]+\}", urllib.parse.quote(a, safe=""), path, count=1)
    if query:
        path += "?" + urllib.parse.urlencode(query)
    st, hdrs, doc = d.request(method, path, body, token=token, raw=raw, headers=headers,
                              ctype=ctype)
    contract.check(method, template, st, hdrs.get("Content-Type"), doc)
    return st, doc


def access_calls(test, contract, d):
    """The token and audit routes both daemons serve: each answered with
    a success and an error."""
    def go(method, template, *args, **kw):
        st, doc = call(test, contract, d, method, template, args, **kw)
        return st, doc

    st, doc = go("POST", "/v1/admin/tokens", body={"name": "oa-viewer", "role": "viewer"},
                 token=TOKEN)
    test.assertEqual(st, 201, doc)
    viewer = doc["token"]
    test.assertEqual(go("POST", "/v1/admin/tokens", body={"name": "x", "role": "root"},
                        token=TOKEN)[0], 422)
    test.assertEqual(go("POST", "/v1/admin/tokens", body={"name": "y", "role": "viewer"},
                        token=viewer)[0], 403)
    test.assertEqual(go("GET", "/v1/admin/tokens", token=TOKEN)[0], 200)
    test.assertEqual(go("GET", "/v1/admin/tokens", token=viewer)[0], 403)
    test.assertEqual(go("GET", "/v1/admin/whoami", token=viewer)[0], 200)
    test.assertEqual(go("GET", "/v1/admin/whoami")[0], 401)
    test.assertEqual(go("GET", "/v1/admin/audit", token=TOKEN)[0], 200)
    test.assertEqual(go("GET", "/v1/admin/audit", query={"limit": 0}, token=TOKEN)[0], 422)
    test.assertEqual(go("DELETE", "/v1/admin/tokens/{name}", "oa-viewer", token=TOKEN)[0], 200)
    test.assertEqual(go("DELETE", "/v1/admin/tokens/{name}", "oa-viewer", token=TOKEN)[0], 404)


class ContractCase(unittest.TestCase):
    contract = None  # set by each class
    # Routes whose errors these tests cannot cause (and why).
    no_error = {}

    def covered(self):
        """Every route of the table: documented with its security, and
        answered here with a success and, unless listed, an error."""
        c = self.contract
        for (method, path), auth in c.routes.items():
            with self.subTest(route="%s %s" % (method, path)):
                spath, op = c.operation(method, path.replace("{}", "{x}"))
                sec = op.get("security", c.spec.get("security"))
                self.assertIsNotNone(sec, "no security on " + spath)
                self.assertEqual(sorted(k for s in sec for k in s), SECURITY[auth], spath)
                self.assertIn((method, path, "ok"), c.seen, "no success checked")
                if (method, path) not in self.no_error:
                    self.assertIn((method, path, "error"), c.seen, "no error checked")
        # and nothing documented that the daemon does not serve
        for path, item in c.spec["paths"].items():
            for method in item:
                if method in ("get", "post", "put", "patch", "delete"):
                    key = (method.upper(), re.sub(r"\{[a-z_]+\}", "{}", path))
                    self.assertIn(key, c.routes, "%s documents %s %s" % (c.doc, *key))


class TestRedoclyLint(unittest.TestCase):
    def test_files_are_valid_openapi(self):
        if not os.path.exists(REDOCLY):
            if os.geteuid() == 0 and shutil.which("npm"):
                self.fail("make deps installs tools/openapi (npm ci); run it")
            self.skipTest("no npm to install Redocly's validator (make deps as root does)")
        for doc in ("docs/gateway.openapi.yaml", "docs/mgmt.openapi.yaml"):
            # No telemetry or update check: tests talk to loopback only.
            env = dict(os.environ, REDOCLY_TELEMETRY="off",
                       REDOCLY_SUPPRESS_UPDATE_NOTICE="true")
            r = subprocess.run([REDOCLY, "lint", "--format=stylish", "--config",
                                "tools/openapi/redocly.yaml", doc], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("warning", r.stdout)


class TestGatewayContract(ContractCase):
    no_error = {("GET", "/healthz"): "always 200", ("GET", "/metrics"): "always 200",
                ("GET", "/readyz"): "503 needs the database away (test_ops)"}

    @classmethod
    def setUpClass(cls):
        cls.contract = Contract("docs/gateway.openapi.yaml", "src/gateway/routes.c")

    def test_every_route(self):
        gw = Gateway().start()
        self.addCleanup(gw.cleanup)
        c = self.contract

        def go(method, template, *args, **kw):
            return call(self, c, gw, method, template, args, **kw)

        def admin(method, template, *args, **kw):
            return go(method, template, *args, token=TOKEN, **kw)

        go("GET", "/healthz")
        go("GET", "/readyz")
        go("GET", "/metrics")
        rel = {"app": APP, "version": "1.0.0", "artifacts": artifact(), "notes": "first"}
        self.assertEqual(admin("POST", "/v1/admin/releases", body=rel)[0], 201)
        self.assertEqual(admin("POST", "/v1/admin/releases", body=rel)[0], 200)
        self.assertEqual(admin("POST", "/v1/admin/releases",
                               body=dict(rel, notes="other"))[0], 409)
        self.assertEqual(admin("POST", "/v1/admin/releases", body={"app": APP})[0], 400)
        self.assertEqual(admin("POST", "/v1/admin/releases", body=dict(rel, version="x"))[0], 422)
        self.assertEqual(go("POST", "/v1/admin/releases", body=rel)[0], 401)
        self.assertEqual(admin("POST", "/v1/admin/releases", raw=b"{", ctype="application/json")[0], 400)
        self.assertEqual(admin("POST", "/v1/admin/releases", raw=b"x", ctype="text/plain")[0], 415)
        self.assertEqual(admin("POST", "/v1/admin/releases",
                               body=dict(rel, version="2.0.0", rollout_percent=50))[0], 201)
        self.assertEqual(admin("GET", "/v1/admin/releases", query={"app": APP})[0], 200)
        self.assertEqual(go("GET", "/v1/admin/releases")[0], 401)
        self.assertEqual(admin("GET", "/v1/admin/releases", query={"app": "bad app"})[0], 422)
        self.assertEqual(admin("PATCH", "/v1/admin/releases/{app}/{version}", APP, "2.0.0",
                               body={"rollout_percent": 100})[0], 200)
        self.assertEqual(admin("PATCH", "/v1/admin/releases/{app}/{version}", APP, "9.0.0",
                               body={"paused": True})[0], 404)
        self.assertEqual(admin("PATCH", "/v1/admin/releases/{app}/{version}", APP, "2.0.0",
                               body={"rollout_percent": 101})[0], 422)
        st, _ = go("GET", "/v1/apps/{app}/manifest", APP, query={"platform": "linux-x86_64"})
        self.assertEqual(st, 200)
        st, hdrs, _ = gw.request("GET", "/v1/apps/%s/manifest" % APP)
        st, _ = go("GET", "/v1/apps/{app}/manifest", APP,
                   headers={"If-None-Match": hdrs["ETag"]})
        self.assertEqual(st, 304)
        self.assertEqual(go("GET", "/v1/apps/{app}/manifest", "com.none")[0], 404)
        self.assertEqual(go("GET", "/v1/apps/{app}/manifest", "bad app")[0], 422)
        launch = {"client_id": "c1", "app": APP, "version": "1.0.0", "platform": "linux-x86_64"}
        st, doc = go("POST", "/v1/launch", body=launch)
        self.assertEqual((st, doc["action"]), (200, "upgrade"))
        uid = doc["upgrade"]["upgrade_id"]
        self.assertEqual(go("POST", "/v1/launch", body=dict(launch, version="x"))[0], 422)
        self.assertEqual(go("POST", "/v1/launch", body={})[0], 400)
        events = "/v1/upgrades/{upgrade_id}/events"
        self.assertEqual(go("POST", events, uid, body={"client_id": "c1", "seq": 1,
                                                        "state": "downloading"})[0], 200)
        self.assertEqual(go("POST", events, uid, body={"client_id": "c1", "seq": 1,
                                                        "state": "downloading"})[0], 200)
        self.assertEqual(go("POST", events, "f" * 32, body={"client_id": "c1", "seq": 1,
                                                             "state": "downloading"})[0], 404)
        self.assertEqual(go("POST", events, uid, body={"client_id": "c1", "seq": 2,
                                                        "state": "bogus"})[0], 422)
        self.assertEqual(go("POST", events, uid, body={"client_id": "c1", "seq": 2,
                                                        "state": "failed",
                                                        "error_code": "sha256_mismatch",
                                                        "message": "bad"})[0], 200)
        self.assertEqual(go("POST", events, uid, body={"client_id": "c1", "seq": 3,
                                                        "state": "installing"})[0], 409)
        st, doc = go("POST", "/v1/launch", body=launch)  # told of the failure once
        self.assertIsNotNone(doc["previous_failure"])
        self.assertEqual(go("GET", "/v1/upgrades/{upgrade_id}", uid,
                            query={"client_id": "c1"})[0], 200)
        self.assertEqual(go("GET", "/v1/upgrades/{upgrade_id}", uid,
                            query={"client_id": "c2"})[0], 404)
        self.assertEqual(go("GET", "/v1/upgrades/{upgrade_id}", uid)[0], 400)
        self.assertEqual(admin("GET", "/v1/admin/upgrades", query={"app": APP})[0], 200)
        self.assertEqual(admin("GET", "/v1/admin/upgrades", query={"limit": 0})[0], 422)
        # halted by hand, listed, resumed
        self.assertEqual(admin("PATCH", "/v1/admin/releases/{app}/{version}", APP, "2.0.0",
                               body={"halted": True})[0], 200)
        self.assertEqual(admin("GET", "/v1/admin/releases", query={"app": APP})[0], 200)
        self.assertEqual(admin("PATCH", "/v1/admin/releases/{app}/{version}", APP, "2.0.0",
                               body={"halted": False})[0], 200)
        # rollbacks
        rb = {"app": APP, "to_version": "1.0.0"}
        self.assertEqual(admin("POST", "/v1/admin/rollbacks", body=rb)[0], 201)
        self.assertEqual(admin("POST", "/v1/admin/rollbacks", body=dict(rb, to_version="7.0.0"))[0], 404)
        self.assertEqual(admin("POST", "/v1/admin/rollbacks", body={"app": APP})[0], 400)
        self.assertEqual(admin("GET", "/v1/admin/rollbacks/{app}", APP)[0], 200)
        st, doc = go("POST", "/v1/launch", body=dict(launch, client_id="c9", version="2.0.0"))
        self.assertEqual((st, doc["upgrade"]["rollback"]), (200, True))
        self.assertEqual(admin("DELETE", "/v1/admin/rollbacks/{app}", APP)[0], 200)
        self.assertEqual(admin("GET", "/v1/admin/rollbacks/{app}", APP)[0], 404)
        self.assertEqual(admin("DELETE", "/v1/admin/rollbacks/{app}", APP)[0], 404)
        # the edge: refused before any route runs, in the same shape
        self.assertEqual(go("GET", "/v1/apps/{app}/manifest", APP,
                            headers={"Transfer-Encoding": "gzip"})[0], 501)
        access_calls(self, c, gw)
        self.covered()


class TestMgmtContract(ContractCase):
    no_error = {("GET", "/healthz"): "always 200", ("GET", "/metrics"): "always 200",
                ("GET", "/readyz"): "503 needs the database away (test_mgmt_cluster)",
                ("GET", "/"): "always 200", ("GET", "/app.js"): "always 200",
                ("GET", "/app.css"): "always 200", ("GET", "/favicon.svg"): "always 200",
                ("GET", "/favicon.ico"): "always 200"}

    @classmethod
    def setUpClass(cls):
        cls.contract = Contract("docs/mgmt.openapi.yaml", "src/mgmt/routes.c")

    def stream(self, mg, token):
        conn = http.client.HTTPConnection("127.0.0.1", mg.port, timeout=10)
        conn.request("GET", "/v1/events/stream",
                     headers={"Authorization": "Bearer " + token} if token else {})
        r = conn.getresponse()
        doc = json.loads(r.read()) if r.status != 200 else None
        self.contract.check("GET", "/v1/events/stream", r.status, r.getheader("Content-Type"), doc)
        conn.close()
        return r.status

    def test_every_route(self):
        gw = Gateway().start()
        self.addCleanup(gw.cleanup)
        mg = Mgmt(gateway={"url": gw.url}).start()
        self.addCleanup(mg.cleanup)
        c = self.contract

        def go(method, template, *args, **kw):
            return call(self, c, mg, method, template, args, **kw)

        def admin(method, template, *args, **kw):
            return go(method, template, *args, token=TOKEN, **kw)

        for path in ("/healthz", "/readyz", "/metrics", "/", "/app.js", "/app.css",
                     "/favicon.svg", "/favicon.ico"):
            self.assertEqual(go("GET", path)[0], 200)

        def ingest(doc, headers=None, raw=None):
            data = raw if raw is not None else json.dumps(doc).encode()
            return go("POST", "/v1/outcomes", raw=data,
                      headers=headers if headers is not None else sign(data))

        one = outcome(1, app=APP)
        self.assertEqual(ingest(one)[0], 200)
        self.assertEqual(ingest(one)[0], 200)  # a duplicate
        self.assertEqual(ingest({"outcomes": [outcome(2, "succeeded", app=APP),
                                              outcome(3, "timed_out", app=APP,
                                                      error_code="timed_out")]})[0], 200)
        halt = {"outcome_id": "%032x" % 0x4a17, "gateway_id": "gw-1", "kind": "release_halted",
                "app": APP, "channel": "stable", "version": "1.5.0", "to_version": "1.5.0",
                "halted_at": "2026-11-24T10:00:00Z", "finished": 20, "failed": 9,
                "failure_rate": 0.45, "halt_failure_rate": 0.25, "halt_min_samples": 20}
        self.assertEqual(ingest(halt)[0], 200)
        self.assertEqual(ingest(one, headers={})[0], 401)
        self.assertEqual(ingest(None, raw=b"{")[0], 400)
        self.assertEqual(ingest({"outcomes": []})[0], 422)
        self.assertEqual(admin("GET", "/v1/outcomes", query={"app": APP})[0], 200)
        self.assertEqual(admin("GET", "/v1/outcomes", query={"kind": "all"})[0], 200)
        self.assertEqual(admin("GET", "/v1/outcomes", query={"limit": 0})[0], 422)
        self.assertEqual(go("GET", "/v1/outcomes")[0], 401)
        self.assertEqual(admin("GET", "/v1/outcomes.csv")[0], 200)
        self.assertEqual(go("GET", "/v1/outcomes.csv")[0], 401)
        self.assertEqual(admin("GET", "/v1/outcomes.csv", query={"result": "x"})[0], 422)
        self.assertEqual(admin("GET", "/v1/outcomes/{id}", one["outcome_id"])[0], 200)
        self.assertEqual(admin("GET", "/v1/outcomes/{id}", halt["outcome_id"])[0], 200)
        self.assertEqual(admin("GET", "/v1/outcomes/{id}", "0" * 32)[0], 404)
        self.assertEqual(admin("GET", "/v1/stats", query={"app": APP})[0], 200)
        self.assertEqual(go("GET", "/v1/stats")[0], 401)
        self.assertEqual(admin("GET", "/v1/stats/timeline", query={"range": "7d"})[0], 200)
        self.assertEqual(admin("GET", "/v1/stats/timeline", query={"range": "1y"})[0], 422)
        wait_for(lambda: mg.alerts(), what="deliveries")
        self.assertEqual(admin("GET", "/v1/alerts")[0], 200)
        self.assertEqual(admin("GET", "/v1/alerts", query={"state": "bogus"})[0], 422)
        self.assertEqual(admin("GET", "/v1/alerts/digests")[0], 200)
        self.assertEqual(go("GET", "/v1/alerts/digests")[0], 401)
        st, doc = admin("POST", "/v1/alerts/test")
        self.assertEqual(st, 200)
        self.assertEqual({r["channel"] for r in doc["results"]}, {"email", "popup"})
        self.assertEqual(admin("POST", "/v1/alerts/test", body={"channel": "sms"})[0], 422)
        self.assertEqual(self.stream(mg, TOKEN), 200)
        self.assertEqual(self.stream(mg, None), 401)
        # halted releases live on the gateway
        self.assertEqual(gw.publish(APP, "1.5.0")[0], 201)
        self.assertEqual(gw.admin("PATCH", "/v1/admin/releases/%s/1.5.0" % APP,
                                  {"halted": True})[0], 200)
        self.assertEqual(admin("GET", "/v1/halted")[0], 200)
        self.assertEqual(go("GET", "/v1/halted")[0], 401)
        st, doc = admin("GET", "/v1/releases")
        self.assertEqual(st, 200)
        self.assertEqual({r["state"] for r in doc["releases"]}, {"halted"})
        self.assertEqual(go("GET", "/v1/releases")[0], 401)
        resume = "/v1/halted/{app}/{version}/resume"
        self.assertEqual(admin("POST", resume, APP, "1.5.0")[0], 200)
        self.assertEqual(admin("POST", resume, APP, "9.9.9")[0], 404)
        gw.stop()
        self.assertEqual(admin("GET", "/v1/halted")[0], 503)
        self.assertEqual(admin("POST", resume, APP, "1.5.0")[0], 503)
        self.assertEqual(admin("GET", "/v1/releases")[0], 503)
        access_calls(self, c, mg)
        self.covered()


if __name__ == "__main__":
    unittest.main()
