# SPDX-License-Identifier: MIT
"""make bench-delta: delta upgrades on real release pairs from the npm
registry (npm pack), measured with the code upgatectl and the launcher run
(bench/delta_bench.c) beside the zstd command line on the same pair in
the same run. For each pair: the full artifact's size, the delta's, their
ratio; the time to make it; the time to apply and verify it against the
time to unpack the full artifact; the launcher's peak memory while
applying against the old tar's size. Targets (issue 30): the delta at most
2 % of the artifact, apply + verify at most 1.5 x the unpack, peak RSS at
most 2 x the old tar + 64 MiB. Results go to bench/results/delta.json."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.environ.get("DELTA_BENCH", os.path.join(HERE, "..", "build", "rel", "bench",
                                                   "delta_bench"))
CACHE = os.path.join(HERE, "..", "build", "bench-delta")
LEVEL = int(os.environ.get("DELTA_LEVEL", "19"))
PAIRS = [  # (package, old, new): npm tarballs (.tgz) are release artifacts
    ("typescript", "5.4.4", "5.4.5"),
    ("typescript", "5.3.3", "5.4.5"),
    ("@esbuild/linux-x64", "0.20.1", "0.20.2"),  # one big binary
]


def fetch(pkg, version):
    """The package's .tgz from the npm registry, cached under build/."""
    os.makedirs(CACHE, exist_ok=True)
    name = "%s-%s.tgz" % (pkg.lstrip("@").replace("/", "-"), version)
    path = os.path.join(CACHE, name)
    if not os.path.exists(path):
        subprocess.run(["npm", "pack", "%s@%s" % (pkg, version), "--silent",
                        "--pack-destination", CACHE], check=True, capture_output=True,
                       timeout=300)
    return path


def tool(*args):
    r = subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit("delta_bench %s: %s" % (args[0], r.stderr.strip()))
    return json.loads(r.stdout)


def timed(cmd):
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return time.monotonic() - t0


def best(fn, rounds=3):
    """The fastest of a few runs (the machine's own noise out)."""
    return min((fn() for _ in range(rounds)), key=lambda r: r["seconds"])


def bench_pair(work, pkg, old_v, new_v):
    old, new = fetch(pkg, old_v), fetch(pkg, new_v)
    patch = os.path.join(work, "patch.zst")
    made = tool("make", old, new, str(LEVEL), patch)
    delta = os.path.getsize(patch)
    full = os.path.getsize(new)

    old_tar, new_tar = os.path.join(work, "old.tar"), os.path.join(work, "new.tar")
    for src, dst in ((old, old_tar), (new, new_tar)):
        with open(dst, "wb") as f:
            subprocess.run(["gzip", "-dc", src], stdout=f, check=True)

    def apply(kept=old):
        out = os.path.join(work, "applied.tar")
        r = tool("apply", kept, patch, made["tar_sha256"], out)
        os.unlink(out)
        return r

    def unpack():
        d = os.path.join(work, "unpacked")
        shutil.rmtree(d, ignore_errors=True)
        r = tool("unpack", new, d)
        shutil.rmtree(d, ignore_errors=True)
        return r
    # From the kept .tgz (the first delta after a full download), and
    # from a kept tar (every later one: the launcher keeps the tar a
    # delta made).
    applied, from_tar, unpacked = best(apply), best(lambda: apply(old_tar)), best(unpack)
    # The zstd command line on the same tars: its patch and its times.
    tar_size = os.path.getsize(old_tar)
    window = max(tar_size, os.path.getsize(new_tar)).bit_length()
    cli_patch = os.path.join(work, "cli.zst")
    cli_make = timed(["zstd", "-q", "-f", "-%d" % LEVEL, "--long=%d" % window,
                      "--patch-from=" + old_tar, new_tar, "-o", cli_patch])
    cli_apply = min(timed(["zstd", "-q", "-f", "-d", "--long=%d" % window,
                           "--patch-from=" + old_tar, cli_patch, "-o",
                           os.path.join(work, "cli.tar")]) for _ in range(3))
    res = {
        "pair": "%s %s -> %s" % (pkg, old_v, new_v),
        "artifact_bytes": full, "old_tar_bytes": tar_size,
        "delta_bytes": delta, "ratio": delta / full,
        "make_seconds": made["seconds"],
        "apply_seconds": applied["seconds"], "unpack_seconds": unpacked["seconds"],
        "apply_from_tar_seconds": from_tar["seconds"],
        "apply_over_unpack": applied["seconds"] / unpacked["seconds"],
        "apply_from_tar_over_unpack": from_tar["seconds"] / unpacked["seconds"],
        "apply_peak_kib": applied["peak_kib"],
        "rss_limit_kib": (2 * tar_size + (64 << 20)) // 1024,
        "zstd_cli_delta_bytes": os.path.getsize(cli_patch),
        "zstd_cli_make_seconds": cli_make, "zstd_cli_apply_seconds": cli_apply,
    }
    res["targets"] = {
        "bytes <= 2% of the artifact": res["ratio"] <= 0.02,
        # The launcher takes the old tar out of a kept .tgz while the
        # delta downloads (src/launcher/patch.c); both figures are shown.
        "apply + verify <= 1.5 x unpack, from a kept tar":
            res["apply_from_tar_over_unpack"] <= 1.5,
        "apply + verify <= 1.5 x unpack, from the kept .tgz":
            res["apply_over_unpack"] <= 1.5,
        "peak RSS <= 2 x old tar + 64 MiB": res["apply_peak_kib"] <= res["rss_limit_kib"],
    }
    return res


def main():
    if not os.path.exists(TOOL):
        sys.exit("build it first: make bench-delta")
    results = []
    with tempfile.TemporaryDirectory(prefix="upgate-bench-delta-") as work:
        for pair in PAIRS:
            results.append(bench_pair(work, *pair))
    print("level %d; apply s: from the kept .tgz / from a kept tar; x: each over unpack s"
          % LEVEL)
    print("%-38s %9s %9s %7s %13s %8s %11s %9s %9s %9s" % (
        "pair", "artifact", "delta", "ratio", "apply s", "unpack s", "x", "peak MiB",
        "zstd cli", "cli app s"))
    for r in results:
        print("%-38s %9d %9d %6.2f%% %6.3f/%6.3f %8.3f %5.2f/%5.2f %9.1f %9d %9.3f" % (
            r["pair"], r["artifact_bytes"], r["delta_bytes"], 100 * r["ratio"],
            r["apply_seconds"], r["apply_from_tar_seconds"], r["unpack_seconds"],
            r["apply_over_unpack"], r["apply_from_tar_over_unpack"],
            r["apply_peak_kib"] / 1024, r["zstd_cli_delta_bytes"],
            r["zstd_cli_apply_seconds"]))
        for what, ok in r["targets"].items():
            print("    %-52s %s" % (what, "met" if ok else "NOT MET"))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "delta.json"), "w") as f:
        json.dump({"level": LEVEL, "pairs": results}, f, indent=1)


if __name__ == "__main__":
    main()
