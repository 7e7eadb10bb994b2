# SPDX-License-Identifier: MIT
"""upgatectl against real daemons: each command's output and exit code."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from gwlib import BIN, TOKEN, Gateway, Mgmt, free_port, wait_for

CTL = os.path.join(BIN, "upgatectl")
APP = "com.example.ctl"


class TestCtl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mgmt = Mgmt().start()
        cls.gw = Gateway(mgmt_url=cls.mgmt.url, halt_min_samples=100).start()
        cls.tmp = tempfile.mkdtemp(prefix="upgatectl-")
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("UPGATE_")}
        cls.env.update(UPGATE_GATEWAY=cls.gw.url, UPGATE_MGMT=cls.mgmt.url,
                       UPGATE_TOKEN_FILE=cls.gw.token_file, HOME=cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.mgmt.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ctl(self, *args, env=None, code=0):
        r = subprocess.run([CTL] + list(args), capture_output=True, text=True, timeout=60,
                           env=env or self.env)
        self.assertEqual(r.returncode, code, (args, r.stdout, r.stderr))
        return r

    def json(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def artifact(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def publish(self, version, app=APP, *extra):
        f = self.artifact("a-%s-%s.tar.gz" % (app, version), b"payload " + version.encode())
        return self.ctl("publish", "--app", app, "--version", version, "--file", f,
                        "--url", "https://dl.example.com/%s.tar.gz" % version,
                        "--platform", "linux-x86_64", *extra)

    def test_publish_from_options(self):
        data = os.urandom(10000)
        f = self.artifact("editor.tar.gz", data)
        r = self.ctl("publish", "--app", APP, "--version", "2.0.0", "--notes", "Faster",
                     "--rollout", "40", "--mandatory", "--file", f, "--url",
                     "https://dl.example.com/e-2.0.0.tar.gz", "--platform", "linux-x86_64",
                     "--file", f, "--url", "https://dl.example.com/e-2.0.0-arm.tar.gz",
                     "--platform", "linux-aarch64")
        self.assertEqual(r.stdout.strip(), "published %s 2.0.0 on stable" % APP)
        rels = self.json("releases", "--app", APP)["releases"]
        rel = [x for x in rels if x["version"] == "2.0.0"][0]
        art = rel["artifacts"]["linux-x86_64"]
        self.assertEqual(art["size"], 10000)
        self.assertEqual(art["sha256"], hashlib.sha256(data).hexdigest())
        self.assertIn("linux-aarch64", rel["artifacts"])
        self.assertEqual(rel["rollout_percent"], 40)
        self.assertTrue(rel["mandatory"])
        self.assertEqual(rel["notes"], "Faster")
        # The same again is no change; different content is a conflict.
        r = self.ctl("publish", "--app", APP, "--version", "2.0.0", "--notes", "Faster",
                     "--rollout", "40", "--mandatory", "--file", f, "--url",
                     "https://dl.example.com/e-2.0.0.tar.gz", "--platform", "linux-x86_64",
                     "--file", f, "--url", "https://dl.example.com/e-2.0.0-arm.tar.gz",
                     "--platform", "linux-aarch64")
        self.assertIn("unchanged", r.stdout)
        r = subprocess.run([CTL, "publish", "--app", APP, "--version", "2.0.0", "--file", f,
                            "--url", "https://dl.example.com/other.tar.gz"],
                           capture_output=True, text=True, env=self.env)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("409", r.stderr)

    def test_publish_from_json_file(self):
        body = {"app": "com.example.json", "version": "1.0.0", "channel": "beta",
                "artifacts": {"linux-x86_64": {"url": "https://dl.example.com/j.tar.gz",
                                               "size": 10, "sha256": "ab" * 32}}}
        path = self.artifact("release.json", json.dumps(body).encode())
        out = self.json("publish", path)
        self.assertEqual(out["channel"], "beta")
        bad = self.artifact("bad.json", b'{"app": "x",\n "version": }')
        r = self.ctl("publish", bad, code=2)
        self.assertIn("bad.json:2:", r.stderr)
        body["version"] = "not-a-version"
        path = self.artifact("invalid.json", json.dumps(body).encode())
        r = self.ctl("publish", path, code=2)
        self.assertIn("422", r.stderr)
        self.assertIn("version", r.stderr)
        r = self.ctl("publish", os.path.join(self.tmp, "missing.json"), code=2)
        self.assertIn("cannot read", r.stderr)
        r = self.ctl("publish", "--app", "x", code=2)
        self.assertIn("--file", r.stderr)

    def test_release_lifecycle(self):
        app = "com.example.life"
        self.publish("1.0.0", app)
        out = self.ctl("releases", "--app", app).stdout.splitlines()
        self.assertEqual(out[0].split()[:5], ["APP", "VERSION", "CHANNEL", "STATE", "ROLLOUT"])
        self.assertEqual(out[1].split()[:5], [app, "1.0.0", "stable", "active", "100%"])
        r = self.ctl("pause", app, "1.0.0")
        self.assertIn("paused", r.stdout)
        st, _, _ = self.gw.request("GET", "/v1/apps/%s/manifest?platform=linux-x86_64" % app)
        self.assertEqual(st, 404)
        self.assertIn("active", self.ctl("resume", app, "1.0.0").stdout)
        rel = json.loads(self.ctl("rollout", app, "1.0.0", "25", "--json").stdout)
        self.assertEqual(rel["rollout_percent"], 25)
        self.ctl("rollout", app, "1.0.0", "150", code=2)
        self.assertIn("yanked", self.ctl("yank", app, "1.0.0").stdout)
        r = self.ctl("pause", app, "9.9.9", code=3)
        self.assertIn("404", r.stderr)
        self.ctl("pause", app, code=2)
        # Two channels: the channel must be said.
        f = self.artifact("b.tar.gz", b"b")
        self.ctl("publish", "--app", app, "--version", "1.0.0", "--channel", "beta",
                 "--file", f, "--url", "https://dl.example.com/b.tar.gz")
        self.ctl("pause", app, "1.0.0", code=4)
        self.assertIn("paused", self.ctl("pause", app, "1.0.0", "--channel", "beta").stdout)

    def test_resume_clears_a_halt(self):
        app = "com.example.halt"
        self.publish("1.0.0", app)
        st, _, doc = self.gw.admin("PATCH", "/v1/admin/releases/%s/1.0.0" % app,
                                   {"halted": True})
        self.assertEqual(st, 200, doc)
        self.assertIn("halted", self.ctl("releases", "--app", app).stdout)
        self.ctl("resume", app, "1.0.0")
        self.assertIn("active", self.ctl("releases", "--app", app).stdout)

    def test_upgrades_outcomes_stats_alerts(self):
        app = "com.example.watch"
        self.publish("1.1.0", app)
        ids = []
        for i in range(3):
            doc = self.gw.launch("watch-%d" % i, app, "1.0.0")
            ids.append(doc["upgrade"]["upgrade_id"])
        self.gw.report(ids[0], "watch-0", 1, "failed", error_code="sha256_mismatch",
                       message="expected ab, got cd")
        self.gw.report(ids[1], "watch-1", 1, "succeeded")
        out = self.ctl("upgrades", "--app", app).stdout
        self.assertEqual(len(out.splitlines()), 4)
        self.assertIn("sha256_mismatch", out)
        out = self.ctl("upgrades", "--app", app, "--state", "offered").stdout
        self.assertIn("watch-2", out)
        self.assertNotIn("watch-0", out)
        # a first install reads as one, not as an upgrade from 0.0.0
        self.gw.launch("watch-new", app, "0.0.0")
        out = self.ctl("upgrades", "--app", app, "--client", "watch-new").stdout
        self.assertIn("(first install)", out)
        self.assertNotIn("0.0.0", out)
        doc = self.json("upgrades", "--app", app, "--client", "watch-new")
        self.assertEqual(doc["upgrades"][0]["from_version"], "0.0.0")  # the API's field
        r = self.ctl("upgrades", "--app", app, "--limit", "2")
        self.assertEqual(len(r.stdout.splitlines()), 3)
        self.assertIn("--after", r.stderr)
        doc = self.json("upgrades", "--app", app, "--limit", "1", "--all")
        self.assertEqual(len(doc["upgrades"]), 4)
        self.assertIsNone(doc["next"])
        # Outcomes reach mgmtd through the forwarder.
        wait_for(lambda: len(self.json("outcomes", "--app", app)["outcomes"]) == 2,
                 what="two outcomes in mgmtd")
        out = self.ctl("outcomes", "--app", app, "--result", "failed").stdout
        self.assertIn("watch-0", out)
        self.assertNotIn("watch-1", out)
        self.assertEqual(len(self.json("outcomes", "--app", app, "--version", "1.1.0",
                                       "--client", "watch-1")["outcomes"]), 1)
        out = self.ctl("stats", "--app", app).stdout.splitlines()
        self.assertEqual(out[1].split(), [app, "1.1.0", "2", "1", "1", "0", "50.0%"])
        alerts = wait_for(lambda: self.json("alerts", "--app", app)["alerts"],
                          what="an alert delivery")
        self.assertTrue(any(a["channel"] == "email" for a in alerts))
        out = self.ctl("alerts", "--app", app, "--channel", "email").stdout
        self.assertIn("email", out)
        self.ctl("outcomes", "--result", "bogus", code=2)
        self.ctl("outcomes", "--since", "yesterday", code=2)

    def test_credentials_and_urls(self):
        env = dict(self.env)
        del env["UPGATE_TOKEN_FILE"]
        env["UPGATE_TOKEN"] = TOKEN
        self.ctl("releases", env=env)
        env["UPGATE_TOKEN"] = "wrong"
        r = self.ctl("releases", env=env, code=5)
        self.assertIn("401", r.stderr)
        r = self.ctl("releases", "--token-file", os.path.join(self.tmp, "nope"), code=2)
        self.assertIn("admin token", r.stderr)
        dead = "http://127.0.0.1:%d" % free_port()
        r = self.ctl("releases", "--gateway", dead, code=1)
        self.assertIn("gateway", r.stderr)
        self.ctl("stats", "--mgmt", dead, code=1)
        # A config file names both daemons and the token.
        conf = os.path.join(self.tmp, "ctl.conf")
        with open(conf, "w") as f:
            f.write("[upgatectl]\ngateway_url = %s\nmgmt_url = %s\ntoken_file = %s\n"
                    % (self.gw.url, self.mgmt.url, self.gw.token_file))
        bare = {k: v for k, v in self.env.items() if not k.startswith("UPGATE_")}
        self.ctl("-c", conf, "releases", env=bare)
        self.ctl("stats", env=dict(bare, UPGATE_CONFIG=conf))
        with open(conf, "a") as f:
            f.write("colour = blue\n")
        r = self.ctl("-c", conf, "releases", env=bare, code=2)
        self.assertIn("ctl.conf:5: [upgatectl] colour: unknown key", r.stderr)

    def test_example_config(self):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
        env = {k: v for k, v in self.env.items() if not k.startswith("UPGATE_")}
        env["UPGATE_TOKEN"] = TOKEN
        self.ctl("-c", os.path.join(root, "etc/upgatectl.conf"), "--gateway", self.gw.url,
                 "releases", env=env)

    def test_man_pages_render_cleanly(self):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
        if shutil.which("groff") is None:
            self.skipTest("groff is not installed")
        for page in ("docs/upgatectl.1", "docs/upgate-launch.1", "docs/upgate-gatewayd.8",
                     "docs/upgate-mgmtd.8"):
            r = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(root, page)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)

    def test_usage(self):
        r = self.ctl("--help")
        for cmd in ("publish", "releases", "pause", "resume", "yank", "rollout",
                    "upgrades", "outcomes", "stats", "alerts"):
            self.assertIn(cmd, r.stdout)
            h = self.ctl(cmd, "--help")
            self.assertIn("usage: upgatectl " + cmd, h.stdout)
        self.assertIn("upgatectl", self.ctl("--version").stdout)
        self.ctl(code=2)
        self.ctl("frobnicate", code=2)
        r = self.ctl("stats", "--state", "failed", code=2)
        self.assertIn("--state does not apply", r.stderr)
        self.ctl("releases", "extra", code=2)
        self.ctl("upgrades", "--limit", "zero", code=2)


if __name__ == "__main__":
    unittest.main()
