# SPDX-License-Identifier: MIT
"""Delta upgrades (SPEC "Delta upgrades"): releases that carry tar_sha256
and deltas from earlier versions, stored by either engine, shown in
manifests, offered to the clients whose installed version has one, and
covered by signed release documents."""
import base64
import datetime
import json
import unittest

import nacl.signing

from gwlib import SHA, Gateway

APP = "com.example.delta"
TAR = "cd" * 32
D1 = {"url": "https://dl.example.com/a-2.0.0.tar.gz.from-1.0.0.zst", "size": 3072, "sha256": "ef" * 32}
D2 = {"url": "https://dl.example.com/a-2.0.0.tar.gz.from-1.5.0.zst", "size": 2048, "sha256": "01" * 32}


def artifacts(**extra):
    a = {"url": "https://dl.example.com/a-2.0.0.tar.gz", "size": 5 * 1024 * 1024, "sha256": SHA}
    a.update(extra)
    return {"linux-x86_64": a}


class TestReleasesWithDeltas(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway().start()
        self.addCleanup(self.gw.cleanup)

    def publish(self, version, arts):
        return self.gw.admin("POST", "/v1/admin/releases",
                             {"app": APP, "version": version, "artifacts": arts})

    def test_stored_shown_and_offered_by_installed_version(self):
        arts = artifacts(tar_sha256=TAR.upper(), deltas={"1.0.0": D1, "1.5.0": D2})
        st, _, doc = self.publish("2.0.0", arts)
        self.assertEqual(st, 201, doc)
        got = doc["artifacts"]["linux-x86_64"]
        self.assertEqual(got["tar_sha256"], TAR)  # lowercased
        self.assertEqual(got["deltas"], {"1.0.0": D1, "1.5.0": D2})
        # the same again is the same release; other deltas are other content
        self.assertEqual(self.publish("2.0.0", arts)[0], 200)
        self.assertEqual(self.publish("2.0.0", artifacts(tar_sha256=TAR))[0], 409)
        st, _, man = self.gw.request("GET", "/v1/apps/%s/manifest" % APP)
        self.assertEqual(man["artifacts"]["linux-x86_64"]["deltas"]["1.5.0"], D2)
        # each client gets the delta from its own version, or none
        for client, version, delta in (("c1", "1.0.0", D1), ("c2", "1.5.0", D2),
                                       ("c3", "1.2.0", None)):
            offer = self.gw.launch(client, APP, version)["upgrade"]
            if delta is None:
                self.assertNotIn("delta", offer)
            else:
                self.assertEqual(offer["delta"], dict(delta, from_version=version,
                                                      tar_sha256=TAR))
            self.assertEqual(offer["url"], arts["linux-x86_64"]["url"])
        # an upgrade in progress is offered again with its delta
        again = self.gw.launch("c1", APP, "1.0.0")
        self.assertEqual(again["reason"], "upgrade_in_progress")
        self.assertEqual(again["upgrade"]["delta"]["url"], D1["url"])
        # the admin list shows them too, and a release without any stays as it was
        self.assertEqual(self.gw.publish("com.example.plain", "1.0.0")[0], 201)
        st, _, doc = self.gw.admin("GET", "/v1/admin/releases?app=com.example.plain")
        self.assertNotIn("deltas", doc["releases"][0]["artifacts"]["linux-x86_64"])
        self.assertNotIn("tar_sha256", doc["releases"][0]["artifacts"]["linux-x86_64"])

    def test_bad_deltas_are_refused_with_the_field(self):
        cases = [
            (artifacts(deltas={"1.0.0": D1}), "artifacts.linux-x86_64.deltas", "tar_sha256"),
            (artifacts(tar_sha256="xyz"), "tar_sha256", "64 hex"),
            (artifacts(tar_sha256=TAR, deltas={"2.0.0": D1}),
             "artifacts.linux-x86_64.deltas.2.0.0", "earlier version"),
            (artifacts(tar_sha256=TAR, deltas={"3.0.0": D1}),
             "artifacts.linux-x86_64.deltas.3.0.0", "earlier version"),
            (artifacts(tar_sha256=TAR, deltas={"one": D1}),
             "artifacts.linux-x86_64.deltas.one", "semantic version"),
            (artifacts(tar_sha256=TAR, deltas={"1.0.0": dict(D1, sha256="00")}),
             "artifacts.linux-x86_64.deltas.1.0.0", "64 hex"),
            (artifacts(tar_sha256=TAR, deltas={"1.0.0": dict(D1, url="ftp://x")}),
             "artifacts.linux-x86_64.deltas.1.0.0", "http"),
            (artifacts(tar_sha256=TAR, deltas={"1.0.0": dict(D1, size=0)}), "size", None),
            (artifacts(tar_sha256=TAR, deltas=[D1]), "artifacts.linux-x86_64.deltas", "object"),
            (artifacts(tar_sha256=TAR, deltas={"1.0.%d" % i: D1 for i in range(33)}),
             "artifacts.linux-x86_64.deltas", "more than 32"),
        ]
        for arts, field, words in cases:
            with self.subTest(field=field, words=words):
                st, _, doc = self.publish("2.0.0", arts)
                self.assertIn(st, (400, 422), doc)
                self.assertEqual(doc["error"]["field"], field, doc)
                if words:
                    self.assertIn(words, doc["error"]["message"])
        st, _, doc = self.gw.admin("GET", "/v1/admin/releases?app=" + APP)
        self.assertEqual(doc["releases"], [])  # nothing half-written

    def test_signed_documents_cover_deltas(self):
        sk = nacl.signing.SigningKey.generate()

        def doc(arts, serial):
            expires = (datetime.datetime.now(datetime.timezone.utc)
                       + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            text = json.dumps({"app": APP, "channel": "stable", "version": "2.0.0",
                               "artifacts": arts, "rollback": False, "serial": serial,
                               "expires": expires}, sort_keys=True, separators=(",", ":"))
            return text, base64.b64encode(sk.sign(text.encode()).signature).decode()

        arts = artifacts(tar_sha256=TAR, deltas={"1.0.0": D1})
        for signed in (artifacts(tar_sha256=TAR, deltas={"1.0.0": dict(D1, sha256="aa" * 32)}),
                       artifacts(tar_sha256=TAR), artifacts(tar_sha256="aa" * 32,
                                                            deltas={"1.0.0": D1})):
            text, sig = doc(signed, 1)
            st, _, got = self.gw.admin("POST", "/v1/admin/releases", {
                "app": APP, "version": "2.0.0", "artifacts": arts, "signed": text,
                "signature": sig})
            self.assertEqual((st, got["error"]["code"]), (422, "signature_mismatch"), got)
        text, sig = doc(arts, 1)
        st, _, got = self.gw.admin("POST", "/v1/admin/releases", {
            "app": APP, "version": "2.0.0", "artifacts": arts, "signed": text,
            "signature": sig})
        self.assertEqual(st, 201, got)
        offer = self.gw.launch("c1", APP, "1.0.0")["upgrade"]
        self.assertEqual(json.loads(offer["signed"])["artifacts"]["linux-x86_64"]["deltas"],
                         {"1.0.0": D1})
        self.assertEqual(offer["delta"]["sha256"], D1["sha256"])


if __name__ == "__main__":
    unittest.main()
