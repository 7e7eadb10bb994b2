# SPDX-License-Identifier: MIT
"""make bench: the release daemons on loopback with fresh databases, loaded
with wrk, beside a minimal libmicrohttpd+jansson server (the ceiling) and
a single-row-per-transaction synchronous=FULL server (the durable
baseline) and a bare group-commit prototype, all run in the same
session. Prints one table and writes bench/results/latest.json.

Scenarios: (a) launch answered up-to-date, (b) launch answered with an
upgrade (a new session each time), (c) event reports through whole
lifecycles, (d) outbox drain, (e) mgmtd ingest during an alert storm,
(f) manifest 304; memory idle and at 1,000 open connections; with
PEER=hazel, hazel-server's update check beside upgate's launch call.

The ceiling, (a) and the peer take turns, BENCH_ROUNDS times; so do the
baseline, the prototype, (b) and (c). Each keeps its median run: ratios
compare runs made under the same conditions.

Environment: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64),
BENCH_THREADS (wrk threads, 2), BENCH_SMOKE=1 (a second per scenario, one
round, small drain and ingest, exit 1 on any error: `make bench-smoke`),
PEER (hazel)."""
import concurrent.futures
import contextlib
import http.client
import itertools
import json
import os
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from gwlib import Gateway, Mgmt, Sink, free_port, sign  # noqa: E402
from test_mgmt import outcome  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SECONDS = int(os.environ.get("BENCH_SECONDS", "1" if SMOKE else "10"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
PEER = os.environ.get("PEER", "")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if SMOKE else "3"))
DRAIN = 5000 if SMOKE else 100000
INGEST = 2000 if SMOKE else 100000
INGEST_BATCH = 100
OPEN_CONNS = 1000
APP = "com.example.bench"
PLATFORM = "linux-x86_64"
TICK = os.sysconf("SC_CLK_TCK")
# The daemons as shipped (threads = 0: the gateway one per CPU less one
# for its writer, mgmtd one per CPU; the ceiling runs one per CPU),
# without the per-address rate limit or connection cap: wrk and the
# open-connection probe all come from 127.0.0.1.
SERVER = {"rate_limit": 0, "threads": 0, "max_connections_per_address": 0}
CEILING = os.path.join(HERE, "..", "build", "rel", "bench", "ceiling")
# (c) against the bare group-commit prototype measured in the same
# rounds: both are bound by the same fsync, and a report does a
# prototype insert's work and more (docs/performance.md).
TARGET_C = 0.5


def proc_stats(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return cpu, rss


def wrk(url, script, env, pid, connections=CONNS):
    cpu0, _ = proc_stats(pid)
    t0 = time.time()
    out = subprocess.run(["wrk", "-t%d" % THREADS, "-c%d" % connections, "-d%ds" % SECONDS,
                          "-s", os.path.join(HERE, script), url],
                         capture_output=True, text=True,
                         env=dict(os.environ, THREADS=str(THREADS), BENCH_LUA=HERE, **env),
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


def ceiling(*args):
    p = subprocess.Popen([CEILING, str(os.cpu_count() or 2)] + list(args),
                         stdout=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)", p.stdout.readline()).group(1))
    return p, "http://127.0.0.1:%d" % port


def durable(db, *args):
    """A FULL-durable server beside (c), on the ceiling's program with a
    fresh database db, loaded as (b) is: the baseline (one row per
    transaction, for scale) or, with "group", the bare group-commit
    prototype (one writer, every queued body in one transaction, requests
    parked meanwhile: what group commit alone gives here). (c) does a
    report's whole work on top of it, and its target is half the
    prototype's rate (TARGET_C)."""
    for f in (db, db + "-wal", db + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f)
    p, url = ceiling(db, *args)
    try:
        return wrk(url + "/v1/launch", "launch.lua", {"FRESH": "1"}, p.pid)
    finally:
        p.terminate()
        p.wait()
        p.stdout.close()


def dump_upgrades(gw, path):
    """The sessions (b) opened, for (c) to report on."""
    query = ("SELECT upgrade_id, client_id FROM upgrades"
             " WHERE final = 0 AND state = 'offered' ORDER BY id")
    if gw.pg_db is not None:
        rows = gw.sql(query)
    else:
        con = sqlite3.connect("file:%s?mode=ro" % gw.db, uri=True, timeout=60)
        rows = con.execute(query).fetchall()
        con.close()
    with open(path, "w") as f:
        for uid, client in rows:
            f.write("%s %s\n" % (uid, client))
    return len(rows)


def launch_request(i):
    b = json.dumps({"client_id": "idle-%d" % i, "app": APP, "version": "1.1.0",
                    "platform": PLATFORM}).encode()
    return (b"POST /v1/launch HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))


def health_request(i):
    return b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


def open_connections(port, n, request):
    """n keep-alive connections, each having made one call (request(i):
    its bytes), left open. Returns the sockets and how many got a 200."""
    socks, ok = [], 0
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request(i))
        socks.append(s)
    for s in socks:
        s.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0]
        m = re.search(rb"Content-Length: (\d+)", head, re.I)
        rest = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
        while m and len(rest) < int(m.group(1)):
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        ok += head.startswith(b"HTTP/1.1 200")
    return socks, ok


def memory_at_connections(results, daemons):
    """RSS of each daemon with OPEN_CONNS connections open to it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    out = {}
    for name, d, request in daemons:
        socks, ok = open_connections(d.port, OPEN_CONNS, request)
        time.sleep(0.5)
        out[name] = {"connections": len(socks), "answered": ok,
                     "rss_kib": proc_stats(d.proc.pid)[1]}
        for s in socks:
            s.close()
    results["memory_1000_connections"] = out


def drain(results, gw, mgmt):
    """(d): mgmtd down while DRAIN outcomes queue up, then started."""
    mgmt.stop()
    con = sqlite3.connect(gw.db, timeout=60)
    with con:
        con.execute("DELETE FROM outbox")
        con.executemany(
            "INSERT INTO outbox (outcome_id, kind, body, created_at)"
            " VALUES (?, 'outcome', ?, 0)",
            (("%032x" % (0x50000000 + i), json.dumps(outcome(
                0x50000000 + i, client_id="drain-%d" % i, result="succeeded")))
             for i in range(DRAIN)))
    con.close()
    mgmt.start()
    t0 = time.time()
    while gw.sql("SELECT count(*) FROM outbox")[0][0] > 0:
        time.sleep(0.05)
    took = time.time() - t0
    results["d_outbox_drain"] = {"outcomes": DRAIN, "seconds": round(took, 3),
                                 "rps": DRAIN / took, "rss_kib": proc_stats(mgmt.proc.pid)[1]}


def storm_mgmt(smtp_port, **kw):
    """An mgmtd whose every failure is an alert mailed at once."""
    return Mgmt(server=SERVER, log={"level": "notice"},
                email={"smtp_host": "127.0.0.1", "smtp_port": smtp_port},
                alerts={"group_window": "0s", "repeat_interval": "0s"}, **kw)


def mailed_count(inbox):
    """Messages the SMTP sink has written so far."""
    if not os.path.isdir(inbox):
        return 0
    return len([f for f in os.listdir(inbox) if f.endswith(".eml")])


def storm(mgs, inbox, base=0x70000000, n=INGEST, mixed=False):
    """(e): n failed outcomes (with mixed, one in 25) in signed batches of
    INGEST_BATCH from 4 connections, spread over the mgmtd in mgs
    (started); every failure an alert mailed to a real SMTP server on
    loopback. Outcomes/s counted from the first post to the last
    answer."""
    bodies = []
    for b in range(n // INGEST_BATCH):
        batch = [outcome(base + b * INGEST_BATCH + i,
                         client_id="storm-%d-%d" % (b, i), app="com.example.storm%d" % (i % 50),
                         result="failed" if not mixed or i % 25 == 0 else "succeeded")
                 for i in range(INGEST_BATCH)]
        data = json.dumps({"outcomes": batch}).encode()
        bodies.append((data, sign(data)))
    errors = [0]
    cpu0 = [proc_stats(m.proc.pid)[0] for m in mgs]
    mailed0 = mailed_count(inbox)

    def post(k, chunk):
        m = mgs[k % len(mgs)]
        c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=60)
        for data, hdrs in chunk:
            c.request("POST", "/v1/outcomes", body=data,
                      headers=dict(hdrs, **{"Content-Type": "application/json"}))
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errors[0] += 1
        c.close()

    t0 = time.time()
    workers = 4
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        list(ex.map(post, range(workers), [bodies[i::workers] for i in range(workers)]))
    took = time.time() - t0
    stats = [proc_stats(m.proc.pid) for m in mgs]
    mailed = mailed_count(inbox)
    return {"outcomes": n, "seconds": round(took, 3), "rps": n / took,
            "errors": errors[0], "mails_during": mailed - mailed0,
            "rss_kib": sum(s[1] for s in stats),
            "cpu_percent": 100 * sum(s[0] - c for s, c in zip(stats, cpu0)) / took}


def ingest_storm(results, tmp):
    """(e) into a fresh mgmtd on SQLite."""
    smtp_port = free_port()
    inbox = os.path.join(tmp, "inbox")
    sink = Sink("smtp_sink.py", smtp_port, inbox)
    mg = storm_mgmt(smtp_port)
    mg.start()
    try:
        results["e_ingest_alert_storm"] = storm([mg], inbox)
    finally:
        mg.cleanup()
        sink.stop()


@contextlib.contextmanager
def hazel(tmp):
    """The peer: hazel-server answering its update check from memory, its
    release list fetched once from a loopback stand-in for GitHub. The
    client is on the latest version (204), as in (a). Yields a function
    that runs wrk against it."""
    peer = os.path.join(HERE, "peer")
    upstream = subprocess.Popen(["/usr/bin/python3", os.path.join(peer, "upstream.py")],
                                stdout=subprocess.PIPE, text=True)
    up_port = int(upstream.stdout.readline().split()[-1])
    port = free_port()
    env = dict(os.environ, PORT=str(port), ACCOUNT="example", REPOSITORY="bench",
               INTERVAL="15", UPGATE_UPSTREAM="http://127.0.0.1:%d" % up_port)
    log = os.path.join(tmp, "hazel.log")
    with open(log, "w") as out:
        node = subprocess.Popen(["node", os.path.join(peer, "hazel.js")], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while "ready" not in open(log).read():
            if node.poll() is not None or time.time() > deadline:
                raise RuntimeError("hazel did not start: " + open(log).read())
            time.sleep(0.1)
        yield lambda: wrk(
            "http://127.0.0.1:%d" % port, "manifest.lua",
            {"MANIFEST_PATH": os.environ.get("HAZEL_PATH", "/update/darwin/1.1.0"), "ETAG": ""},
            node.pid)
    finally:
        node.terminate()
        node.wait()
        upstream.terminate()
        upstream.wait()
        upstream.stdout.close()


def median_run(runs):
    """The run with the median req/s, with every run's req/s beside it."""
    mid = dict(sorted(runs, key=lambda r: r["rps"])[len(runs) // 2])
    mid["runs_rps"] = [round(r["rps"]) for r in runs]
    return mid


def rounds(results, contenders):
    """The contenders take turns, ROUNDS times: this VM's speed drifts by a
    third within minutes, and ratios are only fair between runs made
    under the same conditions. Each keeps its median run."""
    runs = {name: [] for name, _ in contenders}
    for _ in range(ROUNDS):
        for name, run in contenders:
            runs[name].append(run())
    for name, rs in runs.items():
        results[name] = median_run(rs)


def lifecycle_runs(gw, tmp, first=10 ** 8):
    """(b) and (c) on gw, as functions: each (b) opens sessions for
    clients no earlier one used (numbered from first), and the (c) after
    it walks them."""
    ups = os.path.join(tmp, "upgrades.txt")
    starts = itertools.count(first, 10 ** 8)

    def b_run():
        return wrk(gw.url, "launch.lua",
                   {"VERSION": "1.0.0", "FRESH": "1", "START": str(next(starts))},
                   gw.proc.pid)

    def c_run():
        dump_upgrades(gw, ups)
        return wrk(gw.url, "events.lua", {"UPGRADES": ups}, gw.proc.pid)
    return b_run, c_run


def durable_rounds(results, gw, tmp):
    """(b), (c), the baseline and the prototype take turns as the ceiling
    and (a) do: (c) is judged against the baseline, and the disk's flush
    time drifts as the VM's speed does. Each round's (b) opens the
    sessions its (c) walks, with clients no earlier round used."""
    b_run, c_run = lifecycle_runs(gw, tmp)
    rounds(results, [
        ("c_baseline_single_row_full", lambda: durable(os.path.join(tmp, "base.db"))),
        ("c_prototype_group_commit", lambda: durable(os.path.join(tmp, "proto.db"), "group")),
        ("b_launch_upgrade", b_run),
        ("c_events_lifecycle", c_run)])


def table(results):
    top = results["ceiling"]["rps"]
    print("%-28s %10s %7s %8s %8s %7s %8s %6s" % ("scenario", "req/s", "ratio", "p50 ms",
                                                 "p99 ms", "errors", "RSS MiB", "CPU %"))
    for name, r in results.items():
        if "rps" not in r:
            continue
        print("%-28s %10.0f %7s %8s %8s %7s %8.1f %6s" % (
            name, r["rps"], "%.2f" % (r["rps"] / top) if "p50_ms" in r else "-",
            "%.2f" % r["p50_ms"] if "p50_ms" in r else "-",
            "%.2f" % r["p99_ms"] if "p99_ms" in r else "-",
            r.get("errors", 0) + r.get("non2xx", 0) + r.get("exhausted", 0),
            r["rss_kib"] / 1024, "%.0f" % r["cpu_percent"] if "cpu_percent" in r else "-"))
    c, base = results["c_events_lifecycle"]["rps"], results["c_baseline_single_row_full"]["rps"]
    proto = results["c_prototype_group_commit"]["rps"]
    print("(c) durable reports: %.2f of the bare group-commit prototype (target %.1f: %s);"
          " %.1fx the single-row FULL baseline, the prototype %.1fx it" % (
              c / proto, TARGET_C, "met" if c / proto >= TARGET_C else "NOT met",
              c / base, proto / base))
    m = results["memory_idle_kib"]
    print("memory idle: gateway %.1f MiB, mgmtd %.1f MiB; after the load: gateway %.1f MiB"
          % (m["gateway"] / 1024, m["mgmtd"] / 1024, m["gateway_after_load"] / 1024))
    for name, r in results["memory_1000_connections"].items():
        print("memory at %d open connections (%d answered): %s %.1f MiB" % (
            r["connections"], r["answered"], name, r["rss_kib"] / 1024))
    if "peer_hazel_update_check" in results:
        h = results["peer_hazel_update_check"]
        a = results["a_launch_up_to_date"]
        print("hazel: upgate launch %.1fx its req/s with %.2f of its memory" % (
            a["rps"] / h["rps"], a["rss_kib"] / h["rss_kib"]))


def problems(results):
    bad = []
    for name, r in results.items():
        n = r.get("errors", 0) + r.get("non2xx", 0) + r.get("exhausted", 0)
        if n:
            bad.append("%s: %d errors" % (name, n))
    for name, r in results["memory_1000_connections"].items():
        if r["answered"] != r["connections"]:
            bad.append("%s: %d of %d connections answered" % (
                name, r["answered"], r["connections"]))
    return bad


def main():
    results = {}
    tmp = tempfile.mkdtemp(prefix="upgate-bench-")
    if PEER not in ("", "hazel"):
        raise SystemExit("unknown PEER %r (known: hazel)" % PEER)
    top, top_url = ceiling()
    mgmt = Mgmt(server=SERVER, log={"level": "notice"})
    mgmt.start()
    gw = Gateway(mgmt_url=mgmt.url, halt_min_samples=1000000000)
    gw.server = SERVER
    gw.extra = {"log": {"level": "notice"}}
    gw.start()
    try:
        results["memory_idle_kib"] = {"gateway": proc_stats(gw.proc.pid)[1],
                                      "mgmtd": proc_stats(mgmt.proc.pid)[1]}
        for v in ("1.0.0", "1.1.0"):
            gw.publish(APP, v)
        _, hdrs, _ = gw.request("GET", "/v1/apps/%s/manifest?platform=%s" % (APP, PLATFORM))
        contenders = [
            ("ceiling", lambda: wrk(top_url + "/v1/launch", "launch.lua", {}, top.pid)),
            ("a_launch_up_to_date",
             lambda: wrk(gw.url, "launch.lua", {"VERSION": "1.1.0"}, gw.proc.pid))]
        with contextlib.ExitStack() as stack:
            if PEER == "hazel":
                contenders.append(("peer_hazel_update_check", stack.enter_context(hazel(tmp))))
            rounds(results, contenders)
        top.terminate()
        top.wait()
        top.stdout.close()
        durable_rounds(results, gw, tmp)
        results["f_manifest_304"] = wrk(
            gw.url, "manifest.lua",
            {"MANIFEST_PATH": "/v1/apps/%s/manifest?platform=%s" % (APP, PLATFORM),
             "ETAG": hdrs["ETag"]}, gw.proc.pid)
        time.sleep(1)
        results["memory_idle_kib"]["gateway_after_load"] = proc_stats(gw.proc.pid)[1]
        memory_at_connections(results, [("gateway", gw, launch_request),
                                        ("mgmtd", mgmt, health_request)])
        drain(results, gw, mgmt)
    finally:
        if top.poll() is None:
            top.terminate()
            top.wait()
        gw.cleanup()
        mgmt.cleanup()
    try:
        ingest_storm(results, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    order = ["ceiling", "c_baseline_single_row_full", "c_prototype_group_commit",
             "a_launch_up_to_date"]
    results = dict(sorted(results.items(),
                          key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    table(results)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "latest.json"), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "seconds": SECONDS, "connections": CONNS, "rounds": ROUNDS,
                   "smoke": SMOKE, "results": results}, f, indent=2)
    bad = problems(results)
    for b in bad:
        print("bench: " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
