# SPDX-License-Identifier: MIT
"""make bench: the release daemons on loopback with fresh databases, loaded
with wrk, beside a minimal libmicrohttpd+jansson server (the ceiling) run
in the same session. Prints one table and writes bench/results/latest.json.

Scenarios done so far: (a) launch answered up-to-date, (b) launch answered
with an upgrade (a new session each time), (d) outbox drain, (f) manifest
304. Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (64),
BENCH_THREADS (wrk threads, 2)."""
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from gwlib import Gateway, Mgmt  # noqa: E402
from test_mgmt import outcome  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
APP = "com.example.bench"
TICK = os.sysconf("SC_CLK_TCK")


def proc_stats(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return cpu, rss


def wrk(url, script, env, pid):
    cpu0, _ = proc_stats(pid)
    t0 = time.time()
    out = subprocess.run(["wrk", "-t%d" % THREADS, "-c%d" % CONNS, "-d%ds" % SECONDS,
                          "-s", os.path.join(HERE, script), url],
                         capture_output=True, text=True, env=dict(os.environ, **env),
                         timeout=SECONDS + 60)
    wall = time.time() - t0
    cpu1, rss = proc_stats(pid)
    m = re.search(r"^RESULT (.*)$", out.stdout, re.M)
    if m is None:
        raise RuntimeError("wrk: " + out.stdout + out.stderr)
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / r["seconds"]
    r["rss_kib"] = rss
    r["cpu_percent"] = 100 * (cpu1 - cpu0) / wall
    return r


def ceiling():
    exe = os.path.join(HERE, "..", "build", "rel", "bench", "ceiling")
    p = subprocess.Popen([exe, str(os.cpu_count() or 2)], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)", p.stdout.readline()).group(1))
    return p, "http://127.0.0.1:%d" % port


def main():
    results = {}
    cp, curl = ceiling()
    try:
        results["ceiling"] = wrk(curl + "/v1/launch", "launch.lua", {}, cp.pid)
    finally:
        cp.terminate()
        cp.wait()
    mgmt = Mgmt()
    mgmt.sections = {"server": {"rate_limit": 0}, "log": {"level": "notice"}}
    mgmt.start()
    gw = Gateway(mgmt_url=mgmt.url, halt_min_samples=1000000000)
    gw.server = {"rate_limit": 0, "threads": 0}
    gw.extra = {"log": {"level": "notice"}}
    gw.start()
    try:
        for v in ("1.0.0", "1.1.0"):
            gw.publish(APP, v)
        _, hdrs, _ = gw.request("GET", "/v1/apps/%s/manifest?platform=linux-x86_64" % APP)
        results["a_launch_up_to_date"] = wrk(gw.url, "launch.lua", {"VERSION": "1.1.0"},
                                             gw.proc.pid)
        results["b_launch_upgrade"] = wrk(gw.url, "launch.lua",
                                          {"VERSION": "1.0.0", "FRESH": "1"}, gw.proc.pid)
        results["f_manifest_304"] = wrk(
            gw.url, "manifest.lua",
            {"MANIFEST_PATH": "/v1/apps/%s/manifest?platform=linux-x86_64" % APP,
             "ETAG": hdrs["ETag"]}, gw.proc.pid)
        # (d) the outbox drain: mgmtd down while 100,000 outcomes queue up.
        mgmt.stop()
        con = sqlite3.connect(gw.db, timeout=60)
        with con:
            con.execute("DELETE FROM outbox")
            con.executemany(
                "INSERT INTO outbox (outcome_id, kind, body, created_at)"
                " VALUES (?, 'outcome', ?, 0)",
                (("%032x" % (0x50000000 + i), json.dumps(outcome(
                    0x50000000 + i, client_id="drain-%d" % i, result="succeeded")))
                 for i in range(100000)))
        con.close()
        mgmt.start()
        t0 = time.time()
        while gw.sql("SELECT count(*) FROM outbox")[0][0] > 0:
            time.sleep(0.05)
        took = time.time() - t0
        results["d_outbox_drain"] = {"outcomes": 100000, "seconds": round(took, 3),
                                     "rps": 100000 / took,
                                     "rss_kib": proc_stats(mgmt.proc.pid)[1]}
        results["idle_rss_kib"] = {"gateway": proc_stats(gw.proc.pid)[1],
                                   "mgmtd": proc_stats(mgmt.proc.pid)[1]}
    finally:
        gw.cleanup()
        mgmt.cleanup()
    top = results["ceiling"]["rps"]
    print("%-22s %10s %8s %8s %8s %7s %8s %6s" % ("scenario", "req/s", "ratio", "p50 ms",
                                                 "p99 ms", "errors", "RSS MiB", "CPU %"))
    for name, r in results.items():
        if name == "idle_rss_kib":
            continue
        print("%-22s %10.0f %8s %8s %8s %7s %8.1f %6s" % (
            name, r["rps"], "%.2f" % (r["rps"] / top) if "p50_ms" in r else "-",
            "%.2f" % r["p50_ms"] if "p50_ms" in r else "-",
            "%.2f" % r["p99_ms"] if "p99_ms" in r else "-",
            r.get("errors", 0) + r.get("non2xx", 0) if "errors" in r else "-",
            r["rss_kib"] / 1024, "%.0f" % r["cpu_percent"] if "cpu_percent" in r else "-"))
    print("memory after the run: gateway %.1f MiB, mgmtd %.1f MiB" % (
        results["idle_rss_kib"]["gateway"] / 1024, results["idle_rss_kib"]["mgmtd"] / 1024))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "latest.json"), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "seconds": SECONDS, "connections": CONNS, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
