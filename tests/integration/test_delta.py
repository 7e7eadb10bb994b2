# SPDX-License-Identifier: MIT
"""Delta upgrades (SPEC "Delta upgrades"): releases that carry tar_sha256
and deltas from earlier versions, stored by either engine, shown in
manifests, offered to the clients whose installed version has one, and
covered by signed release documents."""
import base64
import datetime
import gzip
import json
import os
import random
import subprocess
import unittest

import nacl.signing

from artifacts import sha256, tarball
from gwlib import BIN, SHA, TOKEN, Gateway, SharedMgmt, wait_for
from test_launcher import APP as LAPP
from test_launcher import LauncherCase

CTL = os.path.join(BIN, "upgatectl")

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
        for v in ("1.0.0", "1.5.0"):  # deltas are from published releases
            self.assertEqual(self.gw.publish(APP, v)[0], 201)
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
            (artifacts(tar_sha256=TAR, deltas={"1.0.0": dict(D1, size=5 << 20)}),
             "artifacts.linux-x86_64.deltas.1.0.0", "pointless"),
            (artifacts(tar_sha256=TAR, deltas={"1.1.0": D1}),
             "artifacts.linux-x86_64.deltas.1.1.0", "published release"),
        ]
        self.assertEqual(self.gw.publish(APP, "1.0.0")[0], 201)
        for arts, field, words in cases:
            with self.subTest(field=field, words=words):
                st, _, doc = self.publish("2.0.0", arts)
                self.assertIn(st, (400, 422), doc)
                self.assertEqual(doc["error"]["field"], field, doc)
                if words:
                    self.assertIn(words, doc["error"]["message"])
        st, _, doc = self.gw.admin("GET", "/v1/admin/releases?app=" + APP)
        self.assertEqual([r["version"] for r in doc["releases"]], ["1.0.0"])  # nothing else

    def test_signed_documents_cover_deltas(self):
        sk = nacl.signing.SigningKey.generate()

        def doc(arts, serial):
            expires = (datetime.datetime.now(datetime.timezone.utc)
                       + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            text = json.dumps({"app": APP, "channel": "stable", "version": "2.0.0",
                               "artifacts": arts, "rollback": False, "serial": serial,
                               "expires": expires}, sort_keys=True, separators=(",", ":"))
            return text, base64.b64encode(sk.sign(text.encode()).signature).decode()

        self.assertEqual(self.gw.publish(APP, "1.0.0")[0], 201)
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


# 2 MiB that does not compress, the same in every version: what a delta
# saves; plus a file that changes.
BIG = random.Random(7).randbytes(2 << 20)


def release_tarball(version):
    return tarball(version, entries=[("lib/big.bin", "file", BIG),
                                     ("lib/changes.txt", "file", b"v%s\n" % version.encode())])


class DeltaCase(LauncherCase):
    """Releases made by upgatectl with deltas, served by the artifact
    server: 1.4.2 (laid out by hand, nothing kept) -> 1.5.0 by the whole
    artifact, which the launcher keeps -> 1.6.0 by the delta from 1.5.0."""

    def setUp(self):
        super().setUp()
        self.files = {}

    def ctl(self, *args, ok=True):
        env = dict(os.environ, UPGATE_GATEWAY=self.gw.url, UPGATE_TOKEN=TOKEN)
        r = subprocess.run([CTL] + list(args), capture_output=True, text=True, env=env,
                           timeout=120)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    key = None  # upgatectl's key prefix: releases signed with it

    def release(self, version, *delta_from, data=None, ext="tar.gz"):
        """Publish version with upgatectl (deltas from the files of
        delta_from's versions), serving the artifact and each delta."""
        name = "editor-%s.%s" % (version, ext)
        path = os.path.join(self.tmp, name)
        data = data or release_tarball(version)
        with open(path, "wb") as f:
            f.write(data)
        self.files[version] = path
        url = self.srv.add(name, data)
        args = ["publish", "--app", LAPP, "--version", version, "--file", path, "--url", url,
                "--platform", "linux-x86_64"]
        for old in delta_from:
            args += ["--delta-from", self.files[old]]
        if self.key:
            args += ["--sign-key", self.key + ".key"]
        r = self.ctl(*args)
        for old in delta_from:
            delta = path + ".from-%s.zst" % old
            with open(delta, "rb") as f:
                self.srv.add(os.path.basename(delta), f.read())
        return r

    def first_upgrade(self, *extra):
        self.release("1.5.0")
        self.assertRan(self.launch(*extra), "1.5.0")
        self.assertEqual(self.current(), "versions/1.5.0")
        self.srv.requests.clear()

    def final(self):
        """The last upgrade's succeeded event, as the gateway has it."""
        ups = self.upgrades()
        return self.upgrade(ups[0]["upgrade_id"])



class TestLauncherDeltas(DeltaCase):
    def test_upgrade_through_a_delta(self):
        self.first_upgrade()
        r = self.release("1.6.0", "1.5.0")
        self.assertIn("delta from 1.5.0", r.stderr)
        st, _, man = self.gw.request("GET", "/v1/apps/%s/manifest" % LAPP)
        art = man["artifacts"]["linux-x86_64"]
        delta = art["deltas"]["1.5.0"]
        self.assertTrue(delta["url"].endswith("/editor-1.6.0.tar.gz.from-1.5.0.zst"))
        self.assertLess(delta["size"], art["size"] * 0.02)  # the 2 % target
        run = self.launch()
        self.assertRan(run, "1.6.0")
        self.assertIn("made from the delta from 1.5.0", run.stderr)
        # the file server saw the delta asked for, never the artifact
        paths = [p for p, _ in self.srv.requests]
        self.assertEqual(paths, ["/editor-1.6.0.tar.gz.from-1.5.0.zst"])
        with open(os.path.join(self.dir, "versions", "1.6.0", "lib", "changes.txt")) as f:
            self.assertEqual(f.read(), "v1.6.0\n")
        with open(os.path.join(self.dir, "versions", "1.6.0", "lib", "big.bin"), "rb") as f:
            self.assertEqual(f.read(), BIG)
        # and 1.7.0 from 1.6.0: the tar it kept serves as the old one
        self.srv.requests.clear()
        self.release("1.7.0", "1.6.0", "1.5.0")
        self.assertRan(self.launch(), "1.7.0")
        self.assertEqual([p for p, _ in self.srv.requests],
                         ["/editor-1.7.0.tar.gz.from-1.6.0.zst"])

    def test_corrupt_delta_falls_back_to_the_artifact(self):
        self.first_upgrade()
        self.release("1.6.0", "1.5.0")
        name = "/editor-1.6.0.tar.gz.from-1.5.0.zst"
        good = self.srv.files[name]
        self.srv.files[name] = good[:len(good) // 2] + bytes([good[len(good) // 2] ^ 0xff]) \
            + good[len(good) // 2 + 1:]
        run = self.launch()
        self.assertRan(run, "1.6.0")
        self.assertIn("the delta from 1.5.0 was not used", run.stderr)
        self.assertIn("sha256_mismatch", run.stderr)
        paths = [p for p, _ in self.srv.requests]
        self.assertEqual(paths, [name, "/editor-1.6.0.tar.gz"])
        ev = self.final()["events"][-1]
        self.assertEqual(ev["state"], "succeeded")
        self.assertIn("the delta was not used", ev["message"])

    def test_delta_made_from_another_tar_falls_back(self):
        """A patch whose checksum is right but that was made from other
        bytes than the kept artifact: applying it fails, the whole
        artifact comes instead."""
        self.first_upgrade()
        other = os.path.join(self.tmp, "other-1.5.0.tar.gz")
        with open(other, "wb") as f:
            # 1.5.0 but for a line that is already 1.6.0's: the patch
            # copies it from here, where the kept 1.5.0 has another
            f.write(tarball("1.5.0", entries=[("lib/big.bin", "file", BIG),
                                             ("lib/changes.txt", "file", b"v1.6.0\n")]))
        data = release_tarball("1.6.0")
        path = os.path.join(self.tmp, "editor-1.6.0.tar.gz")
        with open(path, "wb") as f:
            f.write(data)
        url = self.srv.add("editor-1.6.0.tar.gz", data)
        # a delta from "1.5.0" made from the wrong old file, published by hand
        old_tar, new_tar, patch = (os.path.join(self.tmp, n) for n in ("o.tar", "n.tar", "p.zst"))
        subprocess.run(["sh", "-c", "gzip -dc %s > %s && gzip -dc %s > %s" % (
            other, old_tar, path, new_tar)], check=True)
        subprocess.run(["zstd", "-q", "-f", "--long=27", "--patch-from=" + old_tar, new_tar,
                        "-o", patch], check=True)
        with open(patch, "rb") as f:
            pdata = f.read()
        with open(new_tar, "rb") as f:
            tar_sha = sha256(f.read())
        durl = self.srv.add("bad.zst", pdata)
        arts = {"linux-x86_64": {"url": url, "size": len(data), "sha256": sha256(data),
                                 "tar_sha256": tar_sha,
                                 "deltas": {"1.5.0": {"url": durl, "size": len(pdata),
                                                      "sha256": sha256(pdata)}}}}
        st, _, doc = self.gw.publish(LAPP, "1.6.0", artifacts=arts)
        self.assertEqual(st, 201, doc)
        run = self.launch()
        self.assertRan(run, "1.6.0")
        self.assertIn("the delta from 1.5.0 was not used", run.stderr)
        self.assertEqual([p for p, _ in self.srv.requests], ["/bad.zst", "/editor-1.6.0.tar.gz"])

    def test_signed_delta_tampered_on_the_way(self):
        """Signed releases: the delta is the signed document's. One
        changed on the server fails its signed checksum and the whole
        artifact comes instead; one the gateway makes up is not used."""
        self.key = os.path.join(self.tmp, "release")
        self.ctl("keygen", "--out", self.key)
        with open(self.key + ".pub") as f:
            keys = ("--public-key", f.read().strip())
        self.first_upgrade(*keys)
        self.release("1.6.0", "1.5.0")
        name = "/editor-1.6.0.tar.gz.from-1.5.0.zst"
        signed = json.loads(self.gw.launch("probe", LAPP, "1.5.0")["upgrade"]["signed"])
        self.assertIn("1.5.0", signed["artifacts"]["linux-x86_64"]["deltas"])
        self.srv.files[name] = self.srv.files[name][:-1] + b"\0"
        run = self.launch(*keys)
        self.assertRan(run, "1.6.0")
        self.assertIn("the delta from 1.5.0 was not used", run.stderr)
        self.assertEqual([p for p, _ in self.srv.requests], [name, "/editor-1.6.0.tar.gz"])

    def test_tar_zst_artifacts(self):
        """A .tar.zst artifact (smaller than .tar.gz) installs, and a
        delta between two of them works as between .tar.gz ones."""
        def zst(version):
            tar = gzip.decompress(release_tarball(version))
            return subprocess.run(["zstd", "-q", "-19", "-c"], input=tar, check=True,
                                  capture_output=True).stdout
        self.release("1.5.0", data=zst("1.5.0"), ext="tar.zst")
        self.assertRan(self.launch(), "1.5.0")
        self.srv.requests.clear()
        self.release("1.6.0", "1.5.0", data=zst("1.6.0"), ext="tar.zst")
        run = self.launch()
        self.assertRan(run, "1.6.0")
        self.assertEqual([p for p, _ in self.srv.requests],
                         ["/editor-1.6.0.tar.zst.from-1.5.0.zst"])

    def test_version_without_a_delta_gets_the_artifact(self):
        # 1.4.2 has no delta (and nothing kept): the whole artifact
        self.release("1.5.0")
        self.files["1.3.0"] = self.files["1.5.0"]  # not a published artifact
        r = self.ctl("publish", "--app", LAPP, "--version", "1.6.0", "--file",
                     self.files["1.5.0"], "--url", "http://127.0.0.1:1/x.tar.gz",
                     "--delta-from", os.path.join(self.tmp, "missing.tar.gz"), ok=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("missing.tar.gz", r.stderr)
        run = self.launch()
        self.assertRan(run, "1.5.0")
        self.assertEqual([p for p, _ in self.srv.requests], ["/editor-1.5.0.tar.gz"])
        self.assertNotIn("delta", run.stderr)

    def test_delta_from_an_unpublished_artifact_is_refused(self):
        other = os.path.join(self.tmp, "unpublished.tar.gz")
        with open(other, "wb") as f:
            f.write(release_tarball("0.9.0"))
        self.release("1.5.0")
        path = os.path.join(self.tmp, "editor-1.6.0.tar.gz")
        with open(path, "wb") as f:
            f.write(release_tarball("1.6.0"))
        r = self.ctl("publish", "--app", LAPP, "--version", "1.6.0", "--file", path,
                     "--url", "http://127.0.0.1:1/editor-1.6.0.tar.gz",
                     "--delta-from", other, ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no published release of %s on stable has its SHA-256" % LAPP, r.stderr)
        st, _, doc = self.gw.admin("GET", "/v1/admin/releases?app=" + LAPP)
        self.assertEqual([x["version"] for x in doc["releases"]], ["1.5.0"])


class TestDeltaOutcomes(SharedMgmt, DeltaCase):
    """What the launcher reports reaches the archive: each outcome says
    whether a delta was used and how many bytes came, and the release's
    statistics add up what deltas saved."""

    def test_outcomes_and_stats_count_bytes(self):
        self.first_upgrade()
        self.release("1.6.0", "1.5.0")
        self.assertRan(self.launch(), "1.6.0")
        st, _, man = self.gw.request("GET", "/v1/apps/%s/manifest" % LAPP)
        art = man["artifacts"]["linux-x86_64"]
        dsize = art["deltas"]["1.5.0"]["size"]

        def outcomes():
            got = self.mgmt.outcomes(app=LAPP)["outcomes"]
            return got if len(got) == 2 else None
        got = wait_for(outcomes, what="both outcomes archived")
        by = {o["to_version"]: o for o in got}
        self.assertEqual((by["1.6.0"]["delta_used"], by["1.6.0"]["bytes_downloaded"],
                          by["1.6.0"]["artifact_size"]), (True, dsize, art["size"]))
        self.assertEqual(by["1.5.0"]["delta_used"], False)
        self.assertEqual(by["1.5.0"]["bytes_downloaded"], by["1.5.0"]["artifact_size"])
        st, _, doc = self.mgmt.admin("GET", "/v1/stats?app=" + LAPP)
        stats = {s["version"]: s for s in doc["stats"]}
        self.assertEqual((stats["1.6.0"]["deltas"], stats["1.6.0"]["bytes_downloaded"],
                          stats["1.6.0"]["bytes_saved"]), (1, dsize, art["size"] - dsize))
        self.assertEqual((stats["1.5.0"]["deltas"], stats["1.5.0"]["bytes_saved"]), (0, 0))


if __name__ == "__main__":
    unittest.main()
