# SPDX-License-Identifier: MIT
"""upgate-launch against a real gateway (and mgmtd), with real tarballs
served over loopback HTTP, into a real install directory."""
import configparser
import json
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from artifacts import ArtifactServer, sha256, tarball
from gwlib import BIN, FakeGateway, Gateway, SharedMgmt, free_port, wait_for

APP = "com.example.editor"
CLIENT = "host-42"
LAUNCH = os.path.join(BIN, "upgate-launch")


def install_version(install_dir, version, point=True):
    """Lay out versions/<version> as an earlier launcher would have."""
    vdir = os.path.join(install_dir, "versions", version)
    os.makedirs(os.path.join(vdir, "bin"))
    app = os.path.join(vdir, "bin", "app")
    with open(app, "w") as f:
        f.write('#!/bin/sh\necho "app %s ran: $*"\n' % version)
    os.chmod(app, 0o755)
    if point:
        os.symlink("versions/" + version, os.path.join(install_dir, "current"))


class LauncherCase(unittest.TestCase):
    mgmt = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="upgate-launch-")
        self.dir = os.path.join(self.tmp, "editor")
        os.makedirs(self.dir)
        install_version(self.dir, "1.4.2")
        self.srv = ArtifactServer()
        self.gw = Gateway(mgmt_url=self.mgmt.url if self.mgmt else "",
                          retry_backoff="1h").start()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DISPLAY", "WAYLAND_DISPLAY")}

    def tearDown(self):
        self.srv.stop()
        self.gw.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def publish(self, version, data, mode="ok", sha=None, size=None, name=None):
        url = self.srv.add(name or "editor-%s.tar.gz" % version, data, mode)
        art = {"linux-x86_64": {"url": url, "size": len(data) if size is None else size,
                                "sha256": sha or sha256(data)}}
        st, _, doc = self.gw.publish(APP, version, artifacts=art)
        self.assertEqual(st, 201, doc)

    def argv(self, *extra, gateway=None):
        return [LAUNCH, "--gateway", gateway or self.gw.url, "--app", APP,
                "--client-id", CLIENT, "--install-dir", self.dir,
                "--platform", "linux-x86_64", "-v"] + list(extra) + ["--", "bin/app", "hello"]

    def launch(self, *extra, gateway=None, timeout=60, env=None):
        return subprocess.run(self.argv(*extra, gateway=gateway), capture_output=True,
                              text=True, timeout=timeout, env=env or self.env)

    def current(self):
        return os.readlink(os.path.join(self.dir, "current"))

    def upgrades(self):
        st, _, doc = self.gw.admin("GET", "/v1/admin/upgrades?app=" + APP)
        self.assertEqual(st, 200, doc)
        return doc["upgrades"]

    def upgrade(self, uid):
        st, _, doc = self.gw.request("GET", "/v1/upgrades/%s?client_id=%s" % (uid, CLIENT))
        self.assertEqual(st, 200, doc)
        return doc

    def assertRan(self, r, version):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("app %s ran: hello" % version, r.stdout, r.stderr)

    def assertFailedWith(self, code):
        """One failed upgrade with code; the old version still current and
        ran; the failure shown on the next run only."""
        self.assertEqual(self.current(), "versions/1.4.2")
        ups = self.upgrades()
        self.assertEqual(len(ups), 1, ups)
        self.assertEqual(ups[0]["state"], "failed")
        self.assertEqual(ups[0]["error_code"], code)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "versions", "1.5.0")))
        self.assertEqual([n for n in os.listdir(os.path.join(self.dir, "versions"))
                          if n.startswith(".")], [])
        second = self.launch()
        self.assertRan(second, "1.4.2")
        self.assertIn("the upgrade to 1.5.0 failed", second.stderr)
        self.assertIn(code, second.stderr)
        third = self.launch()
        self.assertRan(third, "1.4.2")
        self.assertNotIn("failed", third.stderr)
        return ups[0]


class TestUpgrade(SharedMgmt, LauncherCase):
    def test_upgrade_succeeds_and_is_archived(self):
        self.publish("1.5.0", tarball("1.5.0", [("share/data.txt", "file", b"x" * 5000),
                                                ("lib", "dir", b""),
                                                ("lib/link", "symlink", "../share/data.txt")]))
        r = self.launch()
        self.assertRan(r, "1.5.0")
        self.assertIn("env %s 1.5.0" % APP, r.stdout)
        # The app gets default handling of SIGPIPE and SIGXFSZ back.
        ignored = int(r.stdout.split("SigIgn:")[1].split()[0], 16)
        self.assertEqual(ignored & ((1 << (13 - 1)) | (1 << (25 - 1))), 0, hex(ignored))
        self.assertEqual(self.current(), "versions/1.5.0")
        self.assertTrue(os.path.isdir(os.path.join(self.dir, "versions", "1.4.2")),
                        "the previous version is kept")
        with open(os.path.join(self.dir, "current", "lib", "link")) as f:
            self.assertEqual(f.read(), "x" * 5000)
        [up] = self.upgrades()
        self.assertEqual(up["state"], "succeeded")
        doc = self.upgrade(up["upgrade_id"])
        states = [e["state"] for e in doc["events"]]
        self.assertEqual(states[-1], "succeeded")
        for s in ("downloading", "downloaded", "verifying", "installing"):
            self.assertIn(s, states)
        seqs = [e["seq"] for e in doc["events"][1:]]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertEqual(os.listdir(os.path.join(self.dir, ".upgate", "download")), [])
        self.assertEqual(os.listdir(os.path.join(self.dir, ".upgate", "pending")), [])
        # Archived in mgmtd through the forwarder.
        outs = wait_for(lambda: self.mgmt.outcomes(app=APP, client_id=CLIENT)["outcomes"],
                        what="the outcome in mgmtd")
        self.assertEqual(outs[0]["result"], "succeeded")
        self.assertEqual(outs[0]["upgrade_id"], up["upgrade_id"])
        # Next click: up to date, the new version runs, nothing offered.
        r = self.launch()
        self.assertRan(r, "1.5.0")
        self.assertEqual(len(self.upgrades()), 1)
        # A third release: the oldest version is pruned, the previous kept.
        self.publish("1.6.0", tarball("1.6.0"))
        self.assertRan(self.launch(), "1.6.0")
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "versions"))),
                         ["1.5.0", "1.6.0"])


class TestFailures(LauncherCase):
    def test_wrong_checksum(self):
        self.publish("1.5.0", tarball("1.5.0"), sha="0" * 64)
        self.assertRan(self.launch(), "1.4.2")
        up = self.assertFailedWith("sha256_mismatch")
        self.assertIn("expected " + "0" * 64, up["message"])

    def test_truncated_download(self):
        # The connection closes half way through the announced length.
        self.publish("1.5.0", tarball("1.5.0", [("big", "file", os.urandom(200000))]),
                     mode="cut")
        self.assertRan(self.launch(), "1.4.2")
        self.assertFailedWith("download_failed")

    def test_short_artifact(self):
        # The mirror has a shorter file than the release announced.
        self.publish("1.5.0", tarball("1.5.0", [("big", "file", os.urandom(200000))]),
                     mode="short")
        self.assertRan(self.launch(), "1.4.2")
        up = self.assertFailedWith("size_mismatch")
        self.assertIn("bytes", up["message"])

    def test_more_than_announced_is_cut_off(self):
        self.publish("1.5.0", tarball("1.5.0"), mode="extra")
        self.assertRan(self.launch(), "1.4.2")
        up = self.assertFailedWith("size_mismatch")
        self.assertIn("more than the announced", up["message"])

    def test_path_escape_refused(self):
        outside = os.path.join(self.tmp, "evil")
        self.publish("1.5.0", tarball("1.5.0", [("../evil", "file", b"pwned")]))
        self.assertRan(self.launch(), "1.4.2")
        self.assertFalse(os.path.exists(outside))
        up = self.assertFailedWith("unpack_failed")
        self.assertIn("../evil", up["message"])

    def test_absolute_path_refused(self):
        target = os.path.join(self.tmp, "abs-evil")
        self.publish("1.5.0", tarball("1.5.0", [(target, "file", b"pwned")]))
        self.assertRan(self.launch(), "1.4.2")
        self.assertFalse(os.path.exists(target))
        self.assertFailedWith("unpack_failed")

    def test_symlink_out_refused(self):
        self.publish("1.5.0", tarball("1.5.0", [("lib/escape", "symlink", "../../../..")]))
        self.assertRan(self.launch(), "1.4.2")
        self.assertFailedWith("unpack_failed")

    def test_hardlink_out_refused(self):
        self.publish("1.5.0", tarball("1.5.0", [("lib/hl", "hardlink", "../../../../etc/passwd")]))
        self.assertRan(self.launch(), "1.4.2")
        self.assertFailedWith("unpack_failed")

    def test_not_a_tarball(self):
        self.publish("1.5.0", b"this is not gzip" * 100)
        self.assertRan(self.launch(), "1.4.2")
        self.assertFailedWith("unpack_failed")

    def test_disk_full(self):
        # A file-size limit stands in for a full disk: writes fail with
        # EFBIG after 100 kB, as they would with ENOSPC.
        self.publish("1.5.0", tarball("1.5.0", [("big", "file", os.urandom(300000))]))

        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))
        r = subprocess.run(self.argv(), capture_output=True, text=True, timeout=60,
                           env=self.env, preexec_fn=limit)
        self.assertRan(r, "1.4.2")
        self.assertFailedWith("disk_full")

    def test_desktop_notification(self):
        self.publish("1.5.0", tarball("1.5.0"), sha="1" * 64)
        self.assertRan(self.launch(), "1.4.2")
        # A notify-send that records its arguments, in a graphical session.
        bindir = os.path.join(self.tmp, "fakebin")
        os.makedirs(bindir)
        record = os.path.join(self.tmp, "notified.json")
        with open(os.path.join(bindir, "notify-send"), "w") as f:
            f.write("#!/usr/bin/python3\nimport json, sys\n"
                    "json.dump(sys.argv[1:], open(%r, 'w'))\n" % record)
        os.chmod(os.path.join(bindir, "notify-send"), 0o755)
        env = dict(self.env, DISPLAY=":99", PATH=bindir + ":" + self.env["PATH"])
        self.assertRan(self.launch(env=env), "1.4.2")
        def recorded():
            try:
                with open(record) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        args = wait_for(recorded, what="notify-send")
        self.assertIn("%s: the upgrade to 1.5.0 failed" % APP, args)
        self.assertTrue(any("sha256_mismatch" in a for a in args), args)
        os.unlink(record)
        self.assertRan(self.launch(env=env), "1.4.2")
        time.sleep(0.5)
        self.assertFalse(os.path.exists(record), "shown once only")


class TestGatewayTrouble(LauncherCase):
    def test_gateway_down(self):
        dead = "http://127.0.0.1:%d" % free_port()
        t0 = time.monotonic()
        r = self.launch(gateway=dead)
        self.assertRan(r, "1.4.2")
        self.assertLess(time.monotonic() - t0, 30)

    def test_gateway_silent(self):
        # Accepts connections and never answers: the timeout starts the app.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        try:
            r = self.launch("--timeout", "1s",
                            gateway="http://127.0.0.1:%d" % s.getsockname()[1])
            self.assertRan(r, "1.4.2")
            self.assertIn("no answer from the gateway", r.stderr)
        finally:
            s.close()

    def test_unusable_answers(self):
        """A gateway (here a stand-in) that answers nonsense or offers an
        artifact the launcher cannot fetch: the app starts, and a usable
        upgrade_id gets a failed report instead of waiting to time out."""
        fake = FakeGateway()
        self.addCleanup(fake.stop)
        fake.answers = [b"not json", json.dumps({"action": "upgrade", "upgrade": {
            "upgrade_id": "a" * 32, "to_version": "2.0.0", "url": "ftp://127.0.0.1/x",
            "size": 1, "sha256": "ab" * 32}}).encode()]
        self.assertRan(self.launch(gateway=fake.url), "1.4.2")
        self.assertEqual(fake.events, [])
        self.assertRan(self.launch(gateway=fake.url), "1.4.2")
        [(path, ev)] = fake.events
        self.assertEqual(path, "/v1/upgrades/%s/events" % ("a" * 32))
        self.assertEqual((ev["state"], ev["error_code"], ev["seq"]),
                         ("failed", "invalid_offer", 1))
        self.assertIn("ftp://", ev["message"])

    def test_final_report_kept_and_sent_next_run(self):
        data = tarball("1.5.0", [("big", "file", os.urandom(300000))])
        self.srv.stall_at = 10000
        self.publish("1.5.0", data, mode="stall")
        p = subprocess.Popen(self.argv(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=self.env)
        wait_for(lambda: self.srv.sent.get("/editor-1.5.0.tar.gz", 0) >= 10000,
                 what="the download to start")
        port = self.gw.port
        self.gw.stop()
        self.srv.release()
        out, err = p.communicate(timeout=60)
        self.assertIn("app 1.5.0 ran", out, err)
        pending = os.listdir(os.path.join(self.dir, ".upgate", "pending"))
        self.assertEqual(len(pending), 1, err)
        self.gw.start(port=port)
        r = self.launch()
        self.assertRan(r, "1.5.0")
        self.assertEqual(os.listdir(os.path.join(self.dir, ".upgate", "pending")), [])
        [up] = self.upgrades()
        self.assertEqual(up["state"], "succeeded")

    def test_interrupted_download_resumes(self):
        data = tarball("1.5.0", [("big", "file", os.urandom(300000))])
        self.srv.stall_at = 150000
        self.publish("1.5.0", data, mode="stall")
        conf = os.path.join(self.tmp, "launch.conf")
        with open(conf, "w") as f:
            f.write("[launcher]\nprogress_interval = 100ms\n")
        p = subprocess.Popen(self.argv("-c", conf), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        wait_for(lambda: self.srv.sent.get("/editor-1.5.0.tar.gz", 0) >= 150000,
                 what="half the download")
        time.sleep(0.3)
        # A second click meanwhile starts the installed version at once.
        r = self.launch(timeout=30)
        self.assertRan(r, "1.4.2")
        p.send_signal(signal.SIGKILL)
        p.communicate()
        [up] = self.upgrades()
        self.assertEqual(up["state"], "downloading")
        before = self.upgrade(up["upgrade_id"])["last_seq"]
        self.srv.release()
        self.srv.mode["/editor-1.5.0.tar.gz"] = "ok"
        r = self.launch("-c", conf)
        self.assertRan(r, "1.5.0")
        self.assertIn("resuming upgrade " + up["upgrade_id"], r.stderr)
        ranges = [rng for path, rng in self.srv.requests if path == "/editor-1.5.0.tar.gz"]
        self.assertEqual(ranges[0], None)
        self.assertRegex(ranges[-1] or "", r"^bytes=\d+-$")
        self.assertGreaterEqual(int(ranges[-1][6:-1]), 100000)
        [again] = self.upgrades()
        self.assertEqual(again["upgrade_id"], up["upgrade_id"])
        self.assertEqual(again["state"], "succeeded")
        doc = self.upgrade(up["upgrade_id"])
        seqs = [e["seq"] for e in doc["events"][1:]]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertGreater(min(s for s in seqs if s > before), before)
        progress = [e["progress"] for e in doc["events"] if e["state"] == "downloading"]
        self.assertGreaterEqual(len(progress), 2, progress)


class TestSetup(LauncherCase):
    def test_fresh_install(self):
        os.unlink(os.path.join(self.dir, "current"))
        shutil.rmtree(os.path.join(self.dir, "versions"))
        self.publish("1.5.0", tarball("1.5.0"))
        r = self.launch()
        self.assertRan(r, "1.5.0")
        [up] = self.upgrades()
        self.assertEqual(up["from_version"], "0.0.0")

    def test_nothing_installed_and_no_gateway(self):
        os.unlink(os.path.join(self.dir, "current"))
        r = self.launch(gateway="http://127.0.0.1:%d" % free_port())
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing of %s is installed" % APP, r.stderr)
        self.assertIn("The gateway did not answer; the next launch asks again.", r.stderr)
        # a gateway with nothing for it: said so, and that it asks again
        r = self.launch()
        self.assertEqual(r.returncode, 1)
        self.assertIn("no release is published for this platform; each launch asks again",
                      r.stderr)

    def test_failed_first_install_says_when_it_is_tried_again(self):
        """A first install that fails: the user is told it was a first
        install, that nothing can start, and when it is tried again;
        on every click until then, not once."""
        os.unlink(os.path.join(self.dir, "current"))
        shutil.rmtree(os.path.join(self.dir, "versions"))
        self.publish("1.5.0", tarball("1.5.0"), sha="0" * 64)
        first = self.launch()
        self.assertEqual(first.returncode, 1)
        self.assertIn("sha256_mismatch", first.stderr)
        self.assertIn("The next launch says when it is tried again.", first.stderr)
        second = self.launch()
        self.assertEqual(second.returncode, 1)
        self.assertIn("the first install of 1.5.0 failed: sha256_mismatch", second.stderr)
        self.assertRegex(second.stderr, r"It will be tried again after \d{4}-\d\d-\d\d \d\d:\d\d;"
                         r" until then nothing can start, as nothing is installed yet")
        self.assertNotIn("Version", second.stderr)
        third = self.launch()  # told of the failure once; the time each click
        self.assertEqual(third.returncode, 1)
        self.assertNotIn("failed:", third.stderr)
        self.assertRegex(third.stderr, r"nothing of %s is installed .* It will be tried again "
                         r"after \d{4}-" % APP)

    def test_config_file_and_errors(self):
        self.publish("1.5.0", tarball("1.5.0"))
        conf = os.path.join(self.tmp, "launch.conf")
        with open(conf, "w") as f:
            f.write("[launcher]\ngateway = %s\napp = %s\nclient_id = %s\n"
                    "install_dir = %s\n" % (self.gw.url, APP, CLIENT, self.dir))
        r = subprocess.run([LAUNCH, "-c", conf, "--", "bin/app", "hello"],
                           capture_output=True, text=True, timeout=60, env=self.env)
        self.assertRan(r, "1.5.0")
        with open(conf, "a") as f:
            f.write("timeout = soon\n")
        r = subprocess.run([LAUNCH, "-c", conf, "--", "bin/app"], capture_output=True,
                           text=True, timeout=60, env=self.env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("%s:6: [launcher] timeout" % conf, r.stderr)
        r = subprocess.run([LAUNCH, "--app", APP], capture_output=True, text=True,
                           timeout=60, env=self.env)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([LAUNCH, "--help"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--install-dir", r.stdout)

    def test_examples(self):
        """etc/launch.conf loads (its values overridden where they point
        at a real machine's paths) and the desktop entry runs the launcher
        the documented way."""
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
        self.publish("1.5.0", tarball("1.5.0"))
        r = subprocess.run([LAUNCH, "-c", os.path.join(root, "etc/launch.conf"),
                            "--gateway", self.gw.url, "--app", APP, "--client-id", CLIENT,
                            "--install-dir", self.dir, "--", "bin/app", "hello"],
                           capture_output=True, text=True, timeout=60, env=self.env)
        self.assertRan(r, "1.5.0")
        desk = configparser.ConfigParser(interpolation=None)
        desk.optionxform = str
        desk.read(os.path.join(root, "etc/upgate-launch.desktop"))
        entry = desk["Desktop Entry"]
        self.assertEqual(entry["Type"], "Application")
        argv = entry["Exec"].split()
        self.assertEqual(argv[0], "upgate-launch")
        self.assertIn("--", argv)
        self.assertIn("--config", argv[:argv.index("--")])


if __name__ == "__main__":
    unittest.main()
