# SPDX-License-Identifier: MIT
"""The Alertmanager channel against a real prometheus-alertmanager on
loopback, whose webhook receiver is a loopback sink: a failure and a
halt arrive with the SPEC's labels, the halt stays active while the
release is halted and is resolved when it is resumed."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from gwlib import Gateway, Mgmt, Sink, free_port, wait_for

APP = "com.example.editor"
AM = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


class Alertmanager:
    """prometheus-alertmanager with a config and storage of its own, its
    notifications posted to hook_sink.py; stopped by PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="upgate-am-")
        self.port, hook = free_port(), free_port()
        self.hook_log = os.path.join(self.dir, "hook.jsonl")
        self.sink = Sink("hook_sink.py", hook, self.hook_log)
        conf = os.path.join(self.dir, "alertmanager.yml")
        with open(conf, "w") as f:
            f.write("""route:
  receiver: sink
  group_by: [alertname, app, version]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs:
      - url: http://127.0.0.1:%d/am
        send_resolved: true
""" % hook)
        self.log = open(os.path.join(self.dir, "am.log"), "w")
        self.proc = subprocess.Popen(
            [AM, "--config.file=" + conf, "--storage.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--cluster.listen-address="],
            stdout=self.log, stderr=self.log)
        self.url = "http://127.0.0.1:%d" % self.port
        wait_for(self.ready, what="Alertmanager ready")

    def ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("alertmanager exited: " +
                               open(os.path.join(self.dir, "am.log")).read())
        try:
            return urllib.request.urlopen(self.url + "/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def alerts(self):
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as r:
            return json.load(r)

    def notifications(self):
        if not os.path.exists(self.hook_log):
            return []
        with open(self.hook_log) as f:
            return [json.loads(json.loads(l)["body"]) for l in f]

    def stop(self):
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None
        self.log.close()
        self.sink.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipIf(not os.path.exists(AM), "prometheus-alertmanager is not installed")
class TestAlertmanager(unittest.TestCase):
    def test_failure_and_halt_then_resolved_on_resume(self):
        am = Alertmanager()
        self.addCleanup(am.stop)
        mg = Mgmt()
        gw = Gateway(mgmt_url=mg.url, halt_min_samples=2, halt_failure_rate=0.5)
        gw.start(port=free_port())
        self.addCleanup(gw.cleanup)
        mg.sections.update(alertmanager={"url": am.url + "/", "resend_interval": "2s"},
                           gateway={"url": gw.url},
                           alerts={"group_window": "1h", "repeat_interval": "1h"})
        mg.start()
        self.addCleanup(mg.cleanup)
        self.assertEqual(gw.publish(APP, "1.5.0")[0], 201)
        uids = []
        for c in ("am-1", "am-2"):
            uid = gw.launch(c, APP, "1.4.2")["upgrade"]["upgrade_id"]
            gw.report(uid, c, 1, "failed", error_code="disk_full", message="no space")
            uids.append(uid)

        def active(name):
            return [a for a in am.alerts() if a["labels"]["alertname"] == name]
        halt = wait_for(lambda: active("ReleaseHalted"), what="ReleaseHalted in Alertmanager")[0]
        self.assertEqual({k: halt["labels"][k] for k in ("app", "version", "channel", "severity")},
                         {"app": APP, "version": "1.5.0", "channel": "stable",
                          "severity": "critical"})
        self.assertIn("HALTED", halt["annotations"]["summary"])
        failed = wait_for(lambda: active("UpgradeFailed"), what="UpgradeFailed")[0]
        self.assertEqual(failed["labels"]["severity"], "warning")
        self.assertIn(uids[0], failed["annotations"]["description"])
        self.assertGreater(failed["endsAt"], failed["startsAt"])
        firing = wait_for(lambda: [n for n in am.notifications() if n["status"] == "firing"
                                   and n["commonLabels"].get("alertname") == "ReleaseHalted"],
                          what="Alertmanager's notification of the halt")
        self.assertEqual(firing[0]["commonLabels"]["app"], APP)
        # Kept active past three resend intervals while halted.
        first_end = halt["endsAt"]
        time.sleep(7)
        halt = active("ReleaseHalted")
        self.assertTrue(halt, "the halt alert lapsed while the release is halted")
        self.assertGreater(halt[0]["endsAt"], first_end)
        # Resumed through mgmtd: the halt is resolved at once.
        st, _, doc = mg.admin("POST", "/v1/halted/%s/1.5.0/resume" % APP)
        self.assertEqual(st, 200, doc)
        wait_for(lambda: [n for n in am.notifications() if n["status"] == "resolved"
                          and n["commonLabels"].get("alertname") == "ReleaseHalted"],
                 what="the halt resolved in Alertmanager")
        sent = {(d["kind"], d["state"]) for d in mg.alerts(channel="alertmanager")}
        self.assertIn(("halt", "sent"), sent)
        self.assertIn(("failure", "sent"), sent)

    def test_refusing_or_absent_alertmanager_is_retried(self):
        port = free_port()  # nothing listens there
        mg = Mgmt(alertmanager={"url": "http://127.0.0.1:%d" % port})
        mg.start()
        self.addCleanup(mg.cleanup)
        from test_mgmt import outcome
        self.assertEqual(mg.ingest(outcome(1))[0], 200)
        d = wait_for(lambda: [d for d in mg.alerts(channel="alertmanager")
                              if d["attempts"] >= 2], what="two attempts")[0]
        self.assertEqual(d["state"], "pending")
        self.assertIn("Alertmanager http://127.0.0.1:%d" % port, d["last_error"])
        # The other channels did not wait on it.
        self.assertTrue([d for d in mg.alerts(channel="email") if d["state"] == "sent"])


class TestHangingReceiver(unittest.TestCase):
    def test_hanging_webhook_holds_nothing_and_is_retried(self):
        """A webhook that takes the connection and never answers: the
        email goes out at once; the webhook attempt ends after its 10 s
        with the reason, and stays pending for a retry."""
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        self.addCleanup(hole.close)
        mg = Mgmt(webhook={"url": "http://127.0.0.1:%d/hook" % hole.getsockname()[1]})
        mg.start()
        self.addCleanup(mg.cleanup)
        from test_mgmt import outcome
        t0 = time.time()
        self.assertEqual(mg.ingest(outcome(1))[0], 200)
        wait_for(lambda: [d for d in mg.alerts(channel="email") if d["state"] == "sent"],
                 timeout=5, what="the email while the webhook hangs")
        self.assertLess(time.time() - t0, 5)
        hook = wait_for(lambda: [d for d in mg.alerts(channel="webhook") if d["attempts"] >= 1],
                        timeout=30, what="the webhook attempt to end")[0]
        self.assertGreaterEqual(time.time() - t0, 9)
        self.assertEqual(hook["state"], "pending")
        self.assertIn("webhook http://127.0.0.1:", hook["last_error"])
        self.assertRegex(hook["last_error"], r"(?i)time")


if __name__ == "__main__":
    unittest.main()
