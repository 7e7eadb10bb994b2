# SPDX-License-Identifier: MIT
"""make soak: both daemons (release build) under a steady launch/report
load for SOAK_SECONDS (600 by default), the RSS of each sampled every 10 s.
Passes when memory is flat: the last minute's average RSS is within 10 %
(and 2 MiB) of the average of the second minute, after warm-up."""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from gwlib import Gateway, Mgmt  # noqa: E402

APP = "com.example.soak"
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def load(gw, stop, counts, seed):
    rnd = random.Random(seed)
    n = 0
    while not stop.is_set():
        client = "soak-%d-%d" % (seed, n % 500)
        n += 1
        doc = gw.launch(client, APP, "1.0.0")
        up = doc.get("upgrade")
        if doc["action"] != "upgrade" or up is None:
            counts["launch"] += 1
            continue
        seq = 0
        for state in ("downloading", "verifying",
                      "succeeded" if rnd.random() < 0.9 else "failed"):
            seq += 1
            kw = {"error_code": "download_failed"} if state == "failed" else {}
            gw.report(up["upgrade_id"], client, seq, state, **kw)
        counts["upgrade"] += 1


def main():
    mgmt = Mgmt()
    mgmt.start()
    gw = Gateway(mgmt_url=mgmt.url, retry_backoff="0s", max_attempts=1000,
                 halt_min_samples=1000000000)
    gw.start()
    for v in ("1.1.0", "1.2.0"):
        gw.publish(APP, v)
    stop = threading.Event()
    counts = {"launch": 0, "upgrade": 0}
    threads = [threading.Thread(target=load, args=(gw, stop, counts, i), daemon=True)
               for i in range(4)]
    for t in threads:
        t.start()
    samples = []  # (seconds, gateway KiB, mgmtd KiB)
    t0 = time.time()
    try:
        while time.time() - t0 < SECONDS:
            time.sleep(10)
            samples.append((int(time.time() - t0), rss_kib(gw.proc.pid),
                            rss_kib(mgmt.proc.pid)))
            print("%4d s  gateway %6d KiB  mgmtd %6d KiB  (%d upgrades, %d launches)" % (
                samples[-1] + (counts["upgrade"], counts["launch"])), flush=True)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        gw.cleanup()
        mgmt.cleanup()
    ok = True
    for i, name in ((1, "gateway"), (2, "mgmtd")):
        early = [s[i] for s in samples if 60 <= s[0] < 120] or [samples[0][i]]
        late = [s[i] for s in samples if s[0] >= samples[-1][0] - 60]
        a, b = sum(early) / len(early), sum(late) / len(late)
        flat = b <= a * 1.10 or b - a <= 2048
        ok = ok and flat
        print("%s: %.0f KiB after warm-up, %.0f KiB at the end (%+.1f %%): %s" % (
            name, a, b, 100 * (b - a) / a, "flat" if flat else "GROWING"))
    print("%d upgrades and %d plain launches in %d s" % (counts["upgrade"], counts["launch"],
                                                         SECONDS))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
