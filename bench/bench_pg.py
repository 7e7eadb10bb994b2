# SPDX-License-Identifier: MIT
"""make bench BACKEND=postgres: both daemons on PostgreSQL beside the same
server's own limit, measured in the same run: pgbench -S (select-only)
and -N (simple update) with the connection count wrk uses. Then (a),
(b) and (c) against one gateway, and (a) against two gateways sharing
the database (each wrk half the connections, their req/s summed); (e)
ingest during an alert storm into one mgmtd, and into two sharing a
database (the same posts spread over both).

Targets: (a) at least 0.6 of pgbench -S TPS, (c) at least 0.5 of
pgbench -N TPS, two gateways together at least 0.9 of one; (e) at least
0.3 of pgbench -N TPS in outcomes/s, two mgmtd together at least 0.9 of
one. Prints one table and writes
bench/results/latest-postgres.json. Environment as bench.py's
(BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_THREADS,
BENCH_SMOKE)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import pglib  # noqa: E402
from bench import (APP, CONNS, ROUNDS, SECONDS, SERVER, SMOKE, THREADS,  # noqa: E402
                   lifecycle_runs, median_run, rounds, storm, storm_mgmt, wrk)
from gwlib import Gateway, Sink, free_port  # noqa: E402


def pgbench(pg, db, mode):
    """pgbench -S or -N on db: the server's TPS with nothing between."""
    out = subprocess.run(
        [os.path.join(pg.bin, "pgbench"), "-n", mode, "-c", str(CONNS), "-j", str(THREADS),
         "-T", str(SECONDS), pg.url(db)],
        capture_output=True, text=True, check=True,
        env=dict(os.environ, PGPASSWORD=pg.password or "")).stdout
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    return {"rps": tps, "connections": CONNS}


def gateway(pg, db, gid):
    gw = Gateway(halt_min_samples=1000000000, forward={"gateway_id": gid})
    gw.use_postgres(db, pg)
    gw.server = SERVER
    gw.extra = {"log": {"level": "notice"}}
    gw.start()
    return gw


def two_gateways(a, b):
    """(a) on both at once, each with half the connections."""
    out = [None, None]

    def run(i, g):
        out[i] = wrk(g.url, "launch.lua", {"VERSION": "1.1.0"}, g.proc.pid,
                     connections=max(CONNS // 2, 1))
    threads = [threading.Thread(target=run, args=(i, g)) for i, g in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = {"rps": out[0]["rps"] + out[1]["rps"],
         "errors": sum(o.get("errors", 0) + o.get("non2xx", 0) for o in out),
         "each_rps": [round(o["rps"]) for o in out],
         "rss_kib": out[0]["rss_kib"] + out[1]["rss_kib"]}
    return r


def mgmt_storms(pg, results, tmp):
    """(e) into one mgmtd, then into two sharing a new database."""
    smtp_port = free_port()
    inbox = os.path.join(tmp, "inbox")
    sink = Sink("smtp_sink.py", smtp_port, inbox)
    mgs = []
    try:
        for n, name in ((1, "e_ingest_alert_storm"), (2, "e_two_mgmtd")):
            db = pg.new_db("mgmt%d" % n)
            mgs = [storm_mgmt(smtp_port) for _ in range(n)]
            for m in mgs:
                m.use_postgres(db, pg)
                m.start()
            results[name] = storm(mgs, inbox, base=0x70000000 + n * 0x1000000)
            for m in mgs:
                m.cleanup()
            mgs = []
    finally:
        for m in mgs:
            m.cleanup()
        sink.stop()


def main():
    results = {}
    tmp = tempfile.mkdtemp(prefix="upgate-bench-pg-")
    pg = pglib.Postgres(fsync=True).start()
    try:
        bench_db = pg.new_db("pgbench")
        subprocess.run([os.path.join(pg.bin, "pgbench"), "-i", "-q", "-s", "10",
                        pg.url(bench_db)], check=True, capture_output=True)
        db = pg.new_db("bench")
        a = gateway(pg, db, "gw-1")
        b = None
        try:
            for v in ("1.0.0", "1.1.0"):
                a.publish(APP, v)
            b_run, c_run = lifecycle_runs(a, tmp)
            rounds(results, [
                ("pgbench_select_only", lambda: pgbench(pg, bench_db, "-S")),
                ("a_launch_up_to_date",
                 lambda: wrk(a.url, "launch.lua", {"VERSION": "1.1.0"}, a.proc.pid)),
                ("pgbench_simple_update", lambda: pgbench(pg, bench_db, "-N")),
                ("b_launch_upgrade", b_run),
                ("c_events_lifecycle", c_run)])
            b = gateway(pg, db, "gw-2")
            runs = [two_gateways(a, b) for _ in range(ROUNDS)]
            results["a_two_gateways"] = median_run(runs)
        finally:
            a.cleanup()
            if b is not None:
                b.cleanup()
        mgmt_storms(pg, results, tmp)
    finally:
        pg.cleanup()
    sel, upd = results["pgbench_select_only"]["rps"], results["pgbench_simple_update"]["rps"]
    one, two = results["a_launch_up_to_date"]["rps"], results["a_two_gateways"]["rps"]
    c = results["c_events_lifecycle"]["rps"]
    e1, e2 = results["e_ingest_alert_storm"]["rps"], results["e_two_mgmtd"]["rps"]
    ratios = {"a_vs_pgbench_select_only": one / sel, "c_vs_pgbench_simple_update": c / upd,
              "two_gateways_vs_one": two / one, "e_vs_pgbench_simple_update": e1 / upd,
              "two_mgmtd_vs_one": e2 / e1}
    print("%-26s %10s %8s %8s" % ("scenario", "req/s", "p50 ms", "p99 ms"))
    for name, r in results.items():
        print("%-26s %10.0f %8s %8s" % (name, r["rps"], "%.2f" % r["p50_ms"] if "p50_ms" in r
                                       else "-", "%.2f" % r["p99_ms"] if "p99_ms" in r else "-"))
    print("(a) %.2f of pgbench -S (target 0.6); (c) %.2f of pgbench -N (target 0.5);"
          " two gateways %.2f of one (target 0.9)" % (
              ratios["a_vs_pgbench_select_only"], ratios["c_vs_pgbench_simple_update"],
              ratios["two_gateways_vs_one"]))
    print("(e) %.2f of pgbench -N (target 0.3); two mgmtd %.2f of one (target 0.9)" % (
        ratios["e_vs_pgbench_simple_update"], ratios["two_mgmtd_vs_one"]))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "latest-postgres.json"), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "seconds": SECONDS, "connections": CONNS, "rounds": ROUNDS,
                   "smoke": SMOKE, "results": results, "ratios": ratios}, f, indent=2)
    bad = ["%s: %d errors" % (n, r.get("errors", 0) + r.get("non2xx", 0))
           for n, r in results.items() if r.get("errors", 0) + r.get("non2xx", 0)]
    for x in bad:
        print("bench: " + x, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
