# SPDX-License-Identifier: MIT
"""The README's two tours, run from the README's own text against the
daemons `make run` starts (etc/dev-run.sh, on its fixed loopback ports),
in both orders and twice, as a new user on a machine where they ran
before would run them; so the README cannot drift from the product.
They run in a copy of what make run needs (etc/, bin/), which must hold
nothing but var/ afterwards: the tours write outside the repository."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from gwlib import BIN, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
PORTS = (8470, 8471, 8000)  # the dev daemons' and the tour's mirror


def blocks(section):
    """The ```sh code blocks of a README section, in order."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    start = text.index("## " + section)
    end = text.find("\n## ", start + 3)
    return re.findall(r"```sh\n(.*?)```", text[start:end if end > 0 else None], re.S)


def busy(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@unittest.skipIf(any(busy(p) for p in PORTS),
                 "ports 8470, 8471 or 8000 are in use (make run is going?)")
class TestReadmeTours(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="upgate-readme-")
        cls.tmp = tempfile.mkdtemp(prefix="upgate-readme-tmp-")  # the tours' mktemp -d
        shutil.copytree(os.path.join(ROOT, "etc"), os.path.join(cls.repo, "etc"))
        os.symlink(os.path.abspath(BIN), os.path.join(cls.repo, "bin"))
        cls.log = open(os.path.join(cls.repo, "..", os.path.basename(cls.repo) + ".log"), "w")
        cls.daemons = subprocess.Popen(["sh", "etc/dev-run.sh"], cwd=cls.repo, stdout=cls.log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        for port in (8470, 8471):
            while True:
                try:
                    urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or cls.daemons.poll() is not None:
                        raise RuntimeError("make run's daemons did not start: " +
                                           open(cls.log.name).read())
                    time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        os.killpg(cls.daemons.pid, signal.SIGTERM)
        cls.daemons.wait(timeout=30)
        cls.log.close()
        os.unlink(cls.log.name)
        shutil.rmtree(cls.repo, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tour(self, section):
        """Run the section's blocks, one shell for all (as a reader
        pasting them into one terminal would); its output."""
        script = "set -eu\n" + "\n".join(blocks(section))
        r = subprocess.run(["bash", "-c", script], cwd=self.repo, capture_output=True,
                           text=True, timeout=120, env=dict(os.environ, TMPDIR=self.tmp))
        self.assertEqual(r.returncode, 0, "%s failed:\n%s\n%s" % (section, r.stdout, r.stderr))
        return r.stdout + r.stderr

    def launcher_tour(self):
        out = self.tour("A tour with the launcher and upgatectl")
        self.assertRegex(out, r"editor 1\.5\.\d+: hello")
        self.assertIn("-> versions/1.5.", out)
        self.assertIn("(first install)", out)  # upgatectl upgrades
        self.assertIn("succeeded", out)

    def curl_tour(self):
        out = self.tour("A tour with curl")
        self.assertIn("HTTP/1.1 304", out)
        self.assertIn('"action":"upgrade"', out)
        self.assertIn('"previous_failure":{', out)
        self.assertIn('"retry_at":', out)
        self.assertIn("sha256_mismatch", out)
        self.assertIn('"channel":"email"', out)
        self.assertIn("Subject: [upgate]", out)

    def test_both_tours_in_either_order_again_and_again(self):
        self.launcher_tour()
        self.curl_tour()
        self.curl_tour()
        self.launcher_tour()
        # nothing written where the reader stands but var/ (make run's)
        self.assertEqual(sorted(os.listdir(self.repo)), ["bin", "etc", "var"])
        # and the mirrors were stopped by their PIDs
        wait_for(lambda: not busy(8000), timeout=10, what="the tour's mirror to stop")


if __name__ == "__main__":
    unittest.main()
