#!/usr/bin/python3
"""Audit benchmark: lumen-cli audit vs pandas (read_csv x2 + merge + the same statistics) on a
generated 1,000,000-row x 20-column pair, in the same run. Prints wall time and peak RSS of
each (best of --repeat runs, each a fresh process) and the ratios.

Usage: bench/run_audit_bench.py [--build build] [--rows 1000000] [--cols 20] [--repeat 3] [--dir DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def measure(cmd):
    """Runs cmd; returns (wall seconds, peak RSS MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({code}): {err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0, out.decode()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(root, "build"))
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--cols", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", default="/tmp/lumen-bench-audit")
    a = p.parse_args()

    os.makedirs(a.dir, exist_ok=True)
    base = os.path.join(a.dir, f"baseline_{a.rows}x{a.cols}.csv")
    new = os.path.join(a.dir, f"new_{a.rows}x{a.cols}.csv")
    if not (os.path.exists(base) and os.path.exists(new)):
        print(f"generating {a.rows} x {a.cols} tables in {a.dir} ...", flush=True)
        subprocess.run([os.path.join(a.build, "bench", "make_audit_tables"), base, new,
                        str(a.rows), str(a.cols)], check=True)
    size = (os.path.getsize(base) + os.path.getsize(new)) / 2**20

    cli = [os.path.join(a.build, "bin", "lumen-cli"), "audit", "--baseline", base, "--new", new,
           "--quiet", "--json", os.path.join(a.dir, "report.json")]
    pandas = ["/usr/bin/python3", os.path.join(here, "audit_pandas.py"), base, new]
    results = {}
    for name, cmd in (("lumen-cli audit", cli), ("pandas", pandas)):
        runs = [measure(cmd) for _ in range(a.repeat)]
        results[name] = (min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2])

    ours = json.load(open(os.path.join(a.dir, "report.json")))["overall"]
    ref = json.loads(results["pandas"][2])
    assert ours["n"] == ref["n"], (ours["n"], ref["n"])
    assert abs(ours["mae"] - ref["mae"]) < 1e-12 and abs(ours["corr"] - ref["corr"]) < 1e-9

    print(f"\nAudit benchmark: {a.rows:,} rows x {a.cols} columns, {size:.0f} MiB of CSV, "
          f"best of {a.repeat}, {os.cpu_count()} cores")
    print(f"| tool | wall (s) | peak RSS (MiB) |")
    print(f"|------|---------:|---------------:|")
    for name, (wall, rss, _) in results.items():
        print(f"| {name} | {wall:.2f} | {rss:.0f} |")
    lw, lr, _ = results["lumen-cli audit"]
    pw, pr, _ = results["pandas"]
    print(f"| ratio pandas/lumen | {pw / lw:.1f}x faster | {pr / lr:.2f}x less memory |")
    print(f"(same overall n = {ours['n']:,}, MAE and r agree with pandas)")


if __name__ == "__main__":
    main()
