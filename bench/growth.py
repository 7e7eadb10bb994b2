# SPDX-License-Identifier: MIT
"""make bench-growth: what a launch, a report, an ingest and the
dashboard's reads cost once the databases hold a year of a large fleet.

For each size in GROWTH_SIZES (0, 1M and 10M by default) a gateway and
an mgmtd get databases filled directly with SQL (growth_fill.py): that
many upgrades and archived outcomes of 100,000 clients over a year, five
apps of eleven releases each, 3 % failed and 1 % timed out, launch
records over the launch retention and upgrade events over the event
retention (as the daemons' own pruning leaves them). An empty pair runs
beside each filled one, and the two take turns under the same wrk load,
BENCH_ROUNDS times, each keeping its median: (a) launch up to date for
clients with a history, (b) then (c) reports through whole lifecycles,
(f) manifest 304, and mgmtd ingest (signed batches of 100 outcomes, 4
posting threads, 1 in 25 failed). Every figure is printed as a ratio
of the empty pair's in the same rounds. Then the reads a dashboard and
an operator make, sequentially, GROWTH_READS times each: p50 and p99 on
each pair, the CSV export of one release (first byte, whole, and how
far mgmtd's RSS rose meanwhile), and the database size per upgrade and
per outcome.

Targets at 10M: (a), (c) and ingest at least 0.8 of the empty pair;
every read's p99 under 50 ms; the CSV's first byte under 100 ms and its
memory flat. Exit 1 when one is missed or any request failed.

The sizes must fit the disk the databases go to (GROWTH_DIR, or the
PostgreSQL cluster's directory): the run refuses to start, writing
nothing, when the largest would not.

Environment: GROWTH_SIZES (0,1000000,10000000), GROWTH_READS (200),
GROWTH_DIR (a temporary directory), UPGATE_BACKEND=postgres (both
daemons on a throwaway PostgreSQL cluster; `make bench-growth
BACKEND=postgres`), and bench.py's BENCH_SECONDS, BENCH_ROUNDS,
BENCH_CONNECTIONS, BENCH_THREADS."""
import http.client
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import growth_fill  # noqa: E402
import pglib  # noqa: E402
from bench import (APP, PLATFORM, ROUNDS, SECONDS, SERVER, lifecycle_runs,  # noqa: E402
                   proc_stats, rounds, storm, wrk)
from gwlib import TOKEN, Gateway, Mgmt, free_port  # noqa: E402

SIZES = [int(s) for s in os.environ.get("GROWTH_SIZES", "0,1000000,10000000").split(",")]
READS = int(os.environ.get("GROWTH_READS", "200"))
INGEST = 20000
# Not UPGATE_BACKEND: gwlib's daemons would make their databases on a
# cluster of their own; here they use the one this run starts.
POSTGRES = os.environ.get("GROWTH_BACKEND", "sqlite") == "postgres"
TARGET_RATIO = 0.8
TARGET_P99_MS = 50
TARGET_CSV_FIRST_MS = 100
# How far mgmtd's RSS may rise during the export and still be flat: its
# buffers and page caches, nothing that grows with the rows (one
# release at 10M is about 180,000 rows, 40 MB of CSV).
CSV_FLAT_KIB = 16 * 1024


def daemons(directory, pg):
    """A gateway forwarding to an mgmtd, both started (a new database
    each), the releases published. Returns (gw, mgmt)."""
    os.makedirs(directory)
    gw = Gateway(directory, halt_min_samples=1000000000)
    gw.listen_port = free_port()
    mgmt = Mgmt(directory, server=SERVER, log={"level": "notice"}, email={"to": ""},
                gateway={"url": "http://127.0.0.1:%d" % gw.listen_port,
                         "token_file": gw.token_file})
    mgmt.listen_port = free_port()
    gw.server = SERVER
    gw.extra = {"log": {"level": "notice"}}
    if pg is not None:
        for d in (mgmt, gw):
            d.use_postgres(server=pg)
    start(gw, mgmt)
    for app in growth_fill.APPS:
        for v in growth_fill.VERSIONS:
            st, _, doc = gw.publish(app, v)
            if st != 201:
                raise RuntimeError("publish %s %s: %s %s" % (app, v, st, doc))
    return gw, mgmt


def start(gw, mg):
    """Each on its port of before: they name each other's."""
    mg.start()
    gw.mgmt_url = mg.url
    gw.start()


# Outcome ids and (b)'s clients never met before by any mgmtd or
# gateway of the run, the empty pair's included.
BATCHES = itertools.count(1)


def ingest_run(mg):
    """mgmtd ingest: INGEST outcomes, 1 in 25 failed, from 4 threads."""
    return lambda: storm([mg], "/nonexistent", base=next(BATCHES) * 10 ** 7, n=INGEST,
                         mixed=True)


def manifest_run(gw):
    _, hdrs, _ = gw.request("GET", "/v1/apps/%s/manifest?platform=%s" % (APP, PLATFORM))
    return lambda: wrk(gw.url, "manifest.lua",
                       {"MANIFEST_PATH": "/v1/apps/%s/manifest?platform=%s" % (APP, PLATFORM),
                        "ETAG": hdrs["ETag"]}, gw.proc.pid)


def load(results, empty, full, n, tmp):
    """The wrk scenarios, the empty pair and the filled one taking turns."""
    contenders = []
    for tag, (gw, mg) in (("empty", empty), (str(n), full)):
        os.makedirs(os.path.join(tmp, tag), exist_ok=True)
        b_run, c_run = lifecycle_runs(gw, os.path.join(tmp, tag),
                                      first=next(BATCHES) * 10 ** 10)
        launch = (lambda g: lambda: wrk(
            g.url, "launch.lua", {"VERSION": growth_fill.VERSIONS[-1],
                                  "CLIENTS": str(growth_fill.CLIENTS)}, g.proc.pid))(gw)
        contenders += [("a_launch_up_to_date/" + tag, launch),
                       ("b_launch_upgrade/" + tag, b_run),
                       ("c_events_lifecycle/" + tag, c_run),
                       ("f_manifest_304/" + tag, manifest_run(gw)),
                       ("ingest/" + tag, ingest_run(mg))]
    # Each pair's (b) before its (c), the pairs in turn for each scenario.
    order = [0, 5, 1, 2, 6, 7, 3, 8, 4, 9]
    rounds(results, [contenders[i] for i in order])


def timed_get(d, path, first_byte=False):
    """ms to the whole answer (or to its first body byte), and status."""
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
    t0 = time.perf_counter()
    c.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
    r = c.getresponse()
    if first_byte:
        r.read(1)
        first = (time.perf_counter() - t0) * 1000
    size = len(r.read())
    took = (time.perf_counter() - t0) * 1000
    c.close()
    return (first if first_byte else took), took, r.status, size


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def read_paths(now_ms):
    """The reads: (name, daemon "gw"/"mg", function of a random
    generator returning the path)."""
    day = 86400
    old = now_ms // 1000 - 200 * day
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old + day))
    wide = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old - 60 * day))
    apps = growth_fill.APPS

    def client(rnd):
        return "bench-%d" % rnd.randrange(growth_fill.CLIENTS)
    return [
        ("outcomes, first page", "mg", lambda r: "/v1/outcomes?limit=25"),
        ("outcomes of one app", "mg", lambda r: "/v1/outcomes?limit=25&app=" + r.choice(apps)),
        ("failures, all apps", "mg", lambda r: "/v1/outcomes?limit=25&result=failed"),
        ("failures of one app", "mg",
         lambda r: "/v1/outcomes?limit=25&result=failed&app=" + r.choice(apps)),
        ("outcomes of one client", "mg",
         lambda r: "/v1/outcomes?limit=25&client_id=" + client(r)),
        ("outcomes of a day, 200 d ago", "mg",
         lambda r: "/v1/outcomes?limit=25&since=%s&until=%s" % (since, until)),
        ("failures of 2 months, 260 d ago", "mg",
         lambda r: "/v1/outcomes?limit=25&result=timed_out&since=%s&until=%s" % (wide, until)),
        ("stats", "mg", lambda r: "/v1/stats"),
        ("timeline 24h", "mg", lambda r: "/v1/stats/timeline?range=24h"),
        ("timeline 7d, one app", "mg",
         lambda r: "/v1/stats/timeline?range=7d&app=" + r.choice(apps)),
        ("releases", "mg", lambda r: "/v1/releases"),
        ("alerts", "mg", lambda r: "/v1/alerts?limit=25"),
        ("gateway: upgrades, first page", "gw", lambda r: "/v1/admin/upgrades?limit=25"),
        ("gateway: upgrades of one client", "gw",
         lambda r: "/v1/admin/upgrades?limit=25&client_id=" + client(r)),
        ("gateway: failed upgrades", "gw", lambda r: "/v1/admin/upgrades?limit=25&state=failed"),
        ("gateway: failed upgrades of one app", "gw",
         lambda r: "/v1/admin/upgrades?limit=25&state=failed&app=" + r.choice(apps)),
        ("gateway: releases", "gw", lambda r: "/v1/admin/releases"),
    ]


def reads(pair, now_ms):
    """p50 and p99 in ms of each read, and its errors."""
    gw, mg = pair
    out = {}
    for name, which, path in read_paths(now_ms):
        d = gw if which == "gw" else mg
        rnd = random.Random(7)
        times, errors = [], 0
        for _ in range(READS):
            ms, _, status, _ = timed_get(d, path(rnd))
            times.append(ms)
            errors += status != 200
        out[name] = {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99),
                     "errors": errors}
    return out


def csv_export(mg):
    """The CSV of the release with the most outcomes: first byte, whole,
    rows, and the rise of mgmtd's RSS while it streamed."""
    rss0 = proc_stats(mg.proc.pid)[1]
    peak = [rss0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc_stats(mg.proc.pid)[1])
            time.sleep(0.005)
    t = threading.Thread(target=sample)
    t.start()
    try:
        app, version = growth_fill.APPS[1], growth_fill.VERSIONS[-1]
        first, whole, status, size = timed_get(
            mg, "/v1/outcomes.csv?app=%s&version=%s" % (app, version), first_byte=True)
    finally:
        done.set()
        t.join()
    return {"first_byte_ms": first, "whole_ms": whole, "bytes": size, "status": status,
            "rss_rise_kib": peak[0] - rss0}


def measure_size(results, n, empty, pg, base, now_ms):
    d = os.path.join(base, "n%d" % n)
    full = daemons(d, pg)
    gw, mg = full
    try:
        for x in full:
            x.stop()
        t0 = time.time()
        info = growth_fill.fill(gw, mg, n, now_ms)
        info["fill_seconds"] = round(time.time() - t0, 1)
        start(gw, mg)
        print("growth: %d upgrades and outcomes in %.0f s; gateway %.0f B per upgrade, "
              "mgmtd %.0f B per outcome" % (
                  n, info["fill_seconds"], info["gateway_bytes"] / max(n, 1),
                  info["mgmt_bytes"] / max(n, 1)), flush=True)
        # The reads first, on the data as a year left it: the load adds
        # hundreds of thousands of outcomes finished in the last minutes,
        # which a day's timeline would read too.
        r = {"fill": info}
        r["reads"] = {"empty": reads(empty, now_ms), str(n): reads(full, now_ms)}
        r["csv"] = {"empty": csv_export(empty[1]), str(n): csv_export(mg)}
        load(r, empty, full, n, os.path.join(base, "load%d" % n))
        results[str(n)] = r
    finally:
        gw.cleanup()
        mg.cleanup()
        if pg is not None:
            for x in full:
                pg.psql("postgres", "DROP DATABASE IF EXISTS %s" % x.pg_db)
        shutil.rmtree(d, ignore_errors=True)


def ratio(r, name, n):
    return r["%s/%d" % (name, n)]["rps"] / r[name + "/empty"]["rps"]


def table(results):
    """Prints the figures; returns the targets missed."""
    bad = []
    sizes = [k for k in results if k != "0"]
    print("\n%-30s %12s" % ("scenario", "empty req/s") +
          "".join("%14s" % ("x at %s" % s) for s in sizes))
    for name in ("a_launch_up_to_date", "b_launch_upgrade", "c_events_lifecycle",
                 "f_manifest_304", "ingest"):
        first = results[sizes[0]][name + "/empty"]["rps"] if sizes else 0
        row = "%-30s %12.0f" % (name, first)
        for s in sizes:
            x = ratio(results[s], name, int(s))
            row += "%14.2f" % x
            if int(s) >= 10 ** 7 and name != "b_launch_upgrade" \
                    and name != "f_manifest_304" and x < TARGET_RATIO:
                bad.append("%s at %s: %.2f of the empty database (target %.1f)"
                           % (name, s, x, TARGET_RATIO))
        print(row)
    for s in sizes:
        r = results[s]
        print("\nreads at %s (ms): %-24s %9s %9s %9s %9s" % (
            s, "", "p50 empty", "p99 empty", "p50", "p99"))
        for name, e in r["reads"]["empty"].items():
            f = r["reads"][s][name]
            print("  %-44s %9.2f %9.2f %9.2f %9.2f" % (
                name, e["p50_ms"], e["p99_ms"], f["p50_ms"], f["p99_ms"]))
            if f["p99_ms"] >= TARGET_P99_MS:
                bad.append("%s at %s: p99 %.1f ms" % (name, s, f["p99_ms"]))
            if f["errors"] or e["errors"]:
                bad.append("%s at %s: %d errors" % (name, s, f["errors"] + e["errors"]))
        for tag in ("empty", s):
            c = r["csv"][tag]
            print("  CSV of one release (%s): first byte %.1f ms, whole %.0f ms, %d bytes,"
                  " RSS +%.1f MiB" % (tag, c["first_byte_ms"], c["whole_ms"], c["bytes"],
                                      c["rss_rise_kib"] / 1024))
            if c["status"] != 200:
                bad.append("CSV at %s: status %d" % (tag, c["status"]))
        c = r["csv"][s]
        if c["first_byte_ms"] >= TARGET_CSV_FIRST_MS:
            bad.append("CSV at %s: first byte after %.0f ms" % (s, c["first_byte_ms"]))
        if c["rss_rise_kib"] > CSV_FLAT_KIB:
            bad.append("CSV at %s: RSS rose %.1f MiB" % (s, c["rss_rise_kib"] / 1024))
        f = r["fill"]
        print("  database: gateway %.0f B per upgrade (%.2f GB), mgmtd %.0f B per outcome"
              " (%.2f GB); filled in %.0f s" % (
                  f["gateway_bytes"] / int(s), f["gateway_bytes"] / 1e9,
                  f["mgmt_bytes"] / int(s), f["mgmt_bytes"] / 1e9, f["fill_seconds"]))
    for s in sizes:
        for name, r in results[s].items():
            if isinstance(r, dict) and "rps" in r:
                n = r.get("errors", 0) + r.get("non2xx", 0) + r.get("exhausted", 0)
                if n:
                    bad.append("%s at %s: %d errors" % (name, s, n))
    return bad


def main():
    sizes = sorted(set(SIZES) | {0})
    pg = pglib.Postgres(fsync=True).start() if POSTGRES else None
    base = tempfile.mkdtemp(prefix="upgate-growth-", dir=os.environ.get("GROWTH_DIR"))
    try:
        where = pg.dir if pg is not None else base
        problem = growth_fill.disk_problem(max(sizes), where, POSTGRES)
        if problem:
            print("bench-growth: " + problem, file=sys.stderr)
            return 2
        now_ms = int(time.time() * 1000)
        results = {"0": {}}
        empty = daemons(os.path.join(base, "empty"), pg)
        try:
            for n in sizes:
                if n > 0:
                    measure_size(results, n, empty, pg, base, now_ms)
        finally:
            for x in empty:
                x.cleanup()
        del results["0"]
        bad = table(results)
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        name = "growth-postgres.json" if POSTGRES else "growth.json"
        with open(os.path.join(HERE, "results", name), "w") as f:
            json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "seconds": SECONDS, "rounds": ROUNDS, "reads": READS,
                       "backend": "postgres" if POSTGRES else "sqlite",
                       "results": results}, f, indent=2)
        for b in bad:
            print("bench-growth: " + b, file=sys.stderr)
        return 1 if bad else 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if pg is not None:
            pg.cleanup()


if __name__ == "__main__":
    sys.exit(main())
