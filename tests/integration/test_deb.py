# SPDX-License-Identifier: MIT
"""make deb: a Debian package that lintian finds no error in, with the
binaries, man pages, units, the sysusers file and the example configs as
conffiles, and no secret inside: the postinst makes those, once."""
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


@unittest.skipIf(shutil.which("dpkg-buildpackage") is None or shutil.which("dh") is None
                 or shutil.which("lintian") is None, "dpkg-dev, debhelper or lintian missing")
class TestDebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Not the settings of a make this runs under (make check builds
        # sanitized binaries elsewhere): the package's own build.
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        r = subprocess.run(["make", "--no-print-directory", "deb"], cwd=ROOT,
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise AssertionError("make deb failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
        debs = glob.glob(os.path.join(ROOT, "build", "deb", "upgate_*.deb"))
        assert len(debs) == 1, debs
        cls.deb = debs[0]

    def dpkg_deb(self, *args):
        return subprocess.run(["dpkg-deb"] + list(args) + [self.deb], capture_output=True,
                              text=True, check=True).stdout

    def test_named_and_lintian_clean(self):
        arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                              text=True, check=True).stdout.strip()
        self.assertEqual(os.path.basename(self.deb), "upgate_0.1.0_%s.deb" % arch)
        r = subprocess.run(["lintian", "--fail-on", "error", self.deb],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotRegex(r.stdout, r"(?m)^E: ")

    def test_contents_and_conffiles(self):
        files = {line.split()[-1].lstrip(".") for line in
                 self.dpkg_deb("--contents").splitlines()}
        for path in ("/usr/sbin/upgate-gatewayd", "/usr/sbin/upgate-mgmtd",
                     "/usr/bin/upgatectl", "/usr/bin/upgate-launch",
                     "/usr/share/man/man8/upgate-gatewayd.8.gz",
                     "/usr/share/man/man1/upgatectl.1.gz",
                     "/lib/systemd/system/upgate-gatewayd.service",
                     "/lib/systemd/system/upgate-mgmtd.service",
                     "/usr/lib/sysusers.d/upgate.conf",
                     "/etc/upgate/gateway.conf", "/etc/upgate/mgmt.conf"):
            self.assertIn(path, files)
        self.assertFalse([f for f in files if f.endswith((".token", ".secret"))], files)
        tmp = tempfile.mkdtemp(prefix="upgate-deb-")
        self.addCleanup(shutil.rmtree, tmp, True)
        subprocess.run(["dpkg-deb", "--control", self.deb, tmp], check=True)
        with open(os.path.join(tmp, "conffiles")) as f:
            conffiles = f.read().split()
        for c in ("/etc/upgate/gateway.conf", "/etc/upgate/mgmt.conf",
                  "/etc/upgate/upgatectl.conf"):
            self.assertIn(c, conffiles)
        with open(os.path.join(tmp, "postinst")) as f:
            postinst = f.read()
        # Secrets made once, then the user, then the units.
        self.assertLess(postinst.index("admin.token forward.secret"),
                        postinst.index("systemd-sysusers"))
        self.assertIn("deb-systemd-helper", postinst)
        with open(os.path.join(tmp, "control")) as f:
            control = f.read()
        self.assertRegex(control, r"(?m)^Depends: .*libmicrohttpd")

    def test_postinst_makes_secrets_once(self):
        """The secret-making part of the postinst, run against a scratch
        /etc: both made (private), and kept as they are on a rerun."""
        tmp = tempfile.mkdtemp(prefix="upgate-deb-")
        self.addCleanup(shutil.rmtree, tmp, True)
        subprocess.run(["dpkg-deb", "--control", self.deb, tmp], check=True)
        etc = os.path.join(tmp, "etc-upgate")
        os.makedirs(etc)
        with open(os.path.join(tmp, "postinst")) as f:
            script = f.read().replace("/etc/upgate/", etc + "/")
        script = script.split("# Automatically added by dh")[0] + "\nexit 0\n"
        path = os.path.join(tmp, "secrets.sh")
        with open(path, "w") as f:
            f.write(script)
        subprocess.run(["sh", path, "configure"], check=True)
        made = {}
        for s in ("admin.token", "forward.secret"):
            p = os.path.join(etc, s)
            self.assertEqual(os.stat(p).st_mode & 0o777, 0o600)
            with open(p) as f:
                made[s] = f.read()
            self.assertRegex(made[s], r"^[0-9a-f]{64}$")
        subprocess.run(["sh", path, "configure"], check=True)
        for s, v in made.items():
            with open(os.path.join(etc, s)) as f:
                self.assertEqual(f.read(), v)


if __name__ == "__main__":
    unittest.main()
