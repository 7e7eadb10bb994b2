# SPDX-License-Identifier: MIT
"""Signed releases and rollbacks: documents signed by the test with
libsodium (PyNaCl), tampering, expiry and replay refused by the launcher,
key rotation, and a rollback from a broken 2.0.0 to 1.9.0 end to end."""
import base64
import datetime
import json
import os
import subprocess
import unittest

import nacl.signing

from artifacts import sha256, tarball
from gwlib import BIN, TOKEN, FakeGateway, SharedMgmt, wait_for
from test_launcher import APP, LauncherCase

CTL = os.path.join(BIN, "upgatectl")


def b64(data):
    return base64.b64encode(data).decode()


def when(days):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Key:
    def __init__(self):
        self.sk = nacl.signing.SigningKey.generate()
        self.public = b64(bytes(self.sk.verify_key))

    def doc(self, version, artifacts, serial, rollback=False, expires=30, channel="stable"):
        d = {"app": APP, "channel": channel, "version": version, "artifacts": artifacts,
             "rollback": rollback, "serial": serial, "expires": when(expires)}
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return text, b64(self.sk.sign(text.encode()).signature)


class SignedCase(LauncherCase):
    def setUp(self):
        super().setUp()
        self.key = Key()

    def artifact(self, version, data=None):
        data = data if data is not None else tarball(version)
        url = self.srv.add("editor-%s.tar.gz" % version, data)
        return {"linux-x86_64": {"url": url, "size": len(data), "sha256": sha256(data)}}

    def publish_signed(self, version, serial, key=None, **kw):
        arts = self.artifact(version)
        text, sig = (key or self.key).doc(version, arts, serial, **kw)
        st, _, doc = self.gw.publish(APP, version, artifacts=arts, signed=text, signature=sig)
        self.assertEqual(st, 201, doc)
        return arts

    def launch_keys(self, *keys, gateway=None):
        extra = []
        for k in keys:
            extra += ["--public-key", k]
        return self.launch(*extra, gateway=gateway)


class TestSignedReleases(SignedCase):
    def test_signed_upgrade_and_key_rotation(self):
        old, new = Key(), self.key
        self.publish_signed("1.5.0", 1, key=old)
        r = self.launch_keys(old.public)
        self.assertRan(r, "1.5.0")
        self.assertIn("verified (serial 1)", r.stderr)
        # During a change-over both keys are trusted; 1.6.0 is signed by
        # the new one only.
        self.publish_signed("1.6.0", 2, key=new)
        self.assertRan(self.launch_keys(old.public, new.public), "1.6.0")
        with open(os.path.join(self.dir, ".upgate", "serials")) as f:
            self.assertEqual(json.load(f), {"stable": 2})
        # The gateway serves the document and signature with the release.
        st, _, doc = self.gw.request("GET", "/v1/apps/%s/manifest?platform=linux-x86_64" % APP)
        self.assertEqual((doc["serial"], json.loads(doc["signed"])["version"]), (2, "1.6.0"))

    def test_unsigned_or_foreign_signature_refused(self):
        st, _, doc = self.gw.publish(APP, "1.5.0", artifacts=self.artifact("1.5.0"))
        self.assertEqual(st, 201, doc)
        r = self.launch_keys(self.key.public)
        self.assertRan(r, "1.4.2")
        [up] = self.upgrades()
        self.assertEqual((up["state"], up["error_code"]), ("failed", "signature_invalid"))
        self.assertEqual(self.current(), "versions/1.4.2")

    def test_gateway_refuses_inconsistent_documents(self):
        arts = self.artifact("1.5.0")
        text, sig = self.key.doc("1.5.1", arts, 1)
        st, _, doc = self.gw.publish(APP, "1.5.0", artifacts=arts, signed=text, signature=sig)
        self.assertEqual((st, doc["error"]["code"]), (422, "signature_mismatch"))
        text, sig = self.key.doc("1.5.0", arts, 1, expires=-1)
        st, _, doc = self.gw.publish(APP, "1.5.0", artifacts=arts, signed=text, signature=sig)
        self.assertEqual((st, doc["error"]["code"]), (422, "manifest_expired"))
        self.publish_signed("1.6.0", 5)
        arts = self.artifact("1.7.0")
        text, sig = self.key.doc("1.7.0", arts, 5)
        st, _, doc = self.gw.publish(APP, "1.7.0", artifacts=arts, signed=text, signature=sig)
        self.assertEqual((st, doc["error"]["code"]), (409, "serial_not_increasing"))


class TestHostileGateway(SignedCase):
    """Offers from a stand-in gateway: what a compromised gateway or a man
    in the middle could send."""

    def setUp(self):
        super().setUp()
        self.fake = FakeGateway()
        self.addCleanup(self.fake.stop)
        self.arts = self.artifact("2.0.0")
        self.good = self.arts["linux-x86_64"]

    def offer(self, text, sig, to="2.0.0", rollback=False, **override):
        o = {"upgrade_id": "b" * 32, "from_version": "1.4.2", "to_version": to,
             "url": self.good["url"], "size": self.good["size"], "sha256": self.good["sha256"],
             "notes": "", "mandatory": False, "rollback": rollback,
             "signed": text, "signature": sig}
        o.update(override)
        return o

    def refused(self, offer, code):
        self.fake.events.clear()
        self.fake.offer = offer
        r = self.launch_keys(self.key.public, gateway=self.fake.url)
        self.assertRan(r, "1.4.2")
        final = [e for e in self.fake.reports() if e["state"] == "failed"]
        self.assertEqual([e["error_code"] for e in final], [code], r.stderr)
        self.assertEqual(self.current(), "versions/1.4.2")

    def test_tampered_documents_refused(self):
        text, sig = self.key.doc("2.0.0", self.arts, 3)
        for field, value in (("url", "http://127.0.0.1:9/evil.tar.gz"), ("size", 1),
                             ("sha256", "0" * 64)):
            d = json.loads(text)
            d["artifacts"]["linux-x86_64"][field] = value
            tampered = json.dumps(d, sort_keys=True, separators=(",", ":"))
            self.refused(self.offer(tampered, sig), "signature_invalid")
        d = json.loads(text)
        d["version"] = "2.0.1"
        self.refused(self.offer(json.dumps(d, sort_keys=True, separators=(",", ":")), sig,
                                to="2.0.1"), "signature_invalid")
        # A valid document for 2.0.0 offered as another version.
        self.refused(self.offer(text, sig, to="2.0.1"), "signature_invalid")
        self.refused(self.offer(text, "A" * 88), "signature_invalid")

    def test_signed_values_win_over_the_offer(self):
        text, sig = self.key.doc("2.0.0", self.arts, 3)
        self.fake.offer = self.offer(text, sig, url="http://127.0.0.1:9/evil.tar.gz",
                                     sha256="1" * 64)
        r = self.launch_keys(self.key.public, gateway=self.fake.url)
        self.assertRan(r, "2.0.0")
        self.assertEqual(self.fake.reports()[-1]["state"], "succeeded")

    def test_unsigned_delta_not_used(self):
        """A delta in the offer that the signed document does not carry
        (or a tampered one: a changed delta breaks the signature) is not
        used: the signed artifact is downloaded."""
        text, sig = self.key.doc("2.0.0", self.arts, 3)
        os.makedirs(os.path.join(self.dir, ".upgate", "kept"), exist_ok=True)
        with open(os.path.join(self.dir, ".upgate", "kept", "1.4.2"), "wb") as f:
            f.write(tarball("1.4.2"))
        evil = self.srv.add("evil.zst", b"\x28\xb5\x2f\xfd" + bytes(60))
        d = json.loads(text)
        d["artifacts"]["linux-x86_64"].update(tar_sha256="3" * 64, deltas={
            "1.4.2": {"url": evil, "size": 64, "sha256": "2" * 64}})
        tampered = json.dumps(d, sort_keys=True, separators=(",", ":"))
        self.refused(self.offer(tampered, sig), "signature_invalid")
        self.fake.offer = self.offer(text, sig, delta={
            "from_version": "1.4.2", "url": evil, "size": 64, "sha256": "2" * 64,
            "tar_sha256": "3" * 64})
        r = self.launch_keys(self.key.public, gateway=self.fake.url)
        self.assertRan(r, "2.0.0")
        self.assertNotIn("/evil.zst", [p for p, _ in self.srv.requests])

    def test_expired_refused(self):
        text, sig = self.key.doc("2.0.0", self.arts, 3, expires=-1)
        self.refused(self.offer(text, sig), "manifest_expired")

    def test_replayed_older_serial_refused(self):
        text, sig = self.key.doc("2.0.0", self.arts, 7)
        self.fake.offer = self.offer(text, sig)
        self.assertRan(self.launch_keys(self.key.public, gateway=self.fake.url), "2.0.0")
        # An old but genuine document, replayed to force 1.5.0 back.
        arts = self.artifact("1.5.0")
        text, sig = self.key.doc("1.5.0", arts, 4)
        self.fake.events.clear()
        self.fake.offer = {"upgrade_id": "c" * 32, "from_version": "2.0.0",
                           "to_version": "1.5.0", "url": arts["linux-x86_64"]["url"],
                           "size": 1, "sha256": "0" * 64, "rollback": False,
                           "signed": text, "signature": sig}
        r = self.launch_keys(self.key.public, gateway=self.fake.url)
        self.assertRan(r, "2.0.0")
        self.assertEqual([e.get("error_code") for e in self.fake.reports()
                          if e["state"] == "failed"], ["rollback_refused"])


class TestRollback(SharedMgmt, SignedCase):
    def ctl(self, *args):
        env = dict(os.environ, UPGATE_GATEWAY=self.gw.url, UPGATE_MGMT=self.mgmt.url,
                   UPGATE_TOKEN=TOKEN)
        r = subprocess.run([CTL] + list(args), capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def keygen(self):
        """A key pair made by upgatectl: its path prefix, the public key."""
        prefix = os.path.join(self.tmp, "release")
        self.ctl("keygen", "--out", prefix)
        with open(prefix + ".pub") as f:
            return prefix, f.read().strip()

    def publish_signed(self, version, prefix):
        """Publish a tarball of version with upgatectl, signed with the
        key at prefix, served by the artifact server."""
        path = os.path.join(self.tmp, "editor-%s.tar.gz" % version)
        with open(path, "wb") as f:
            f.write(tarball(version))
        url = self.srv.add("editor-%s.tar.gz" % version, tarball(version))
        self.ctl("publish", "--app", APP, "--version", version, "--file", path, "--url", url,
                 "--platform", "linux-x86_64", "--sign-key", prefix + ".key")

    def test_rollback_from_broken_2_0_0_to_1_9_0(self):
        # Keys made by upgatectl; releases published and signed by it.
        prefix, public = self.keygen()
        for v in ("1.9.0", "2.0.0"):
            self.publish_signed(v, prefix)
            self.assertRan(self.launch_keys(public), v)
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "versions"))),
                         ["1.9.0", "2.0.0"])
        # 2.0.0 is broken: the admin sends the channel back to 1.9.0.
        self.ctl("rollback", APP, "--to", "1.9.0", "--sign-key", prefix + ".key")
        fetched = len(self.srv.requests)
        r = self.launch_keys(public)
        self.assertRan(r, "1.9.0")
        self.assertIn("rolling back to the kept 1.9.0", r.stderr)
        self.assertEqual(len(self.srv.requests), fetched, "no download for a kept version")
        self.assertEqual(self.current(), "versions/1.9.0")
        up = self.upgrades()[0]
        self.assertEqual((up["from_version"], up["to_version"], up["state"]),
                         ("2.0.0", "1.9.0", "succeeded"))
        # Archived as a rollback in mgmtd.
        outs = wait_for(lambda: self.mgmt.outcomes(kind="rollback")["outcomes"],
                        what="the rollback outcome")
        self.assertEqual((outs[0]["kind"], outs[0]["to_version"], outs[0]["upgrade_id"]),
                         ("rollback", "1.9.0", up["upgrade_id"]))
        # Nothing newer is offered while the rollback lasts.
        r = self.launch_keys(public)
        self.assertRan(r, "1.9.0")
        self.assertEqual(len(self.upgrades()), 3)
        # Ended, 2.0.0 is offered again but its document is older than the
        # rollback record the client has seen: refused as a replay. The
        # way forward is a fixed release, signed with a new serial.
        self.ctl("rollback", APP, "--cancel")
        self.assertRan(self.launch_keys(public), "1.9.0")
        self.assertEqual(self.upgrades()[0]["error_code"], "rollback_refused")
        self.publish_signed("2.0.1", prefix)
        self.assertRan(self.launch_keys(public), "2.0.1")

    def test_signed_yank_sends_signed_clients_back(self):
        prefix, public = self.keygen()
        for v in ("1.9.0", "2.0.0"):
            self.publish_signed(v, prefix)
            self.assertRan(self.launch_keys(public), v)
        r = self.ctl("yank", APP, "2.0.0", "--sign-key", prefix + ".key")
        self.assertIn("goes back to 1.9.0", r.stdout)
        st, _, doc = self.gw.admin("GET", "/v1/admin/rollbacks/%s" % APP)
        self.assertEqual((st, doc["to_version"], doc["serial"]), (200, "1.9.0", 3))
        self.assertRan(self.launch_keys(public), "1.9.0")
        self.assertEqual(self.upgrades()[0]["state"], "succeeded")

    def test_yank_sends_clients_back(self):
        for v in ("1.9.0", "2.0.0"):
            st, _, doc = self.gw.publish(APP, v, artifacts=self.artifact(v))
            self.assertEqual(st, 201, doc)
            self.assertRan(self.launch(), v)
        self.ctl("yank", APP, "2.0.0")
        r = self.launch()
        self.assertRan(r, "1.9.0")
        self.assertTrue(self.upgrades()[0]["to_version"] == "1.9.0")


if __name__ == "__main__":
    unittest.main()
