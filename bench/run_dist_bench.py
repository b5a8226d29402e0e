#!/usr/bin/python3
"""Data-parallel training throughput: the roi_consistency demo model trained by one process
and by N ranks on this machine (lumen-cli train --nproc N) at equal total threads and equal
global batch, plus the share of a step the ranks spend in collectives (the trainer's
`dist.comm_share` metric). Prints a markdown table naming the CPU (docs/benchmarks.md).

    /usr/bin/python3 bench/run_dist_bench.py [--build build] [--threads 2] [--ranks 2]
        [--size 64] [--batch 8] [--steps 12]

Run it on an idle machine: nothing else may build or test meanwhile.
"""
import argparse
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import cpu_name

ROOT = Path(__file__).resolve().parents[1]


def config(base, size, batch, threads, images):
    text = base
    text = re.sub(r"image_size: \d+", f"image_size: {size}", text)
    text = re.sub(r"batch_size: \d+", f"batch_size: {batch}", text)
    text = re.sub(r"threads: \d+", f"threads: {threads}", text)
    text = re.sub(r"epochs: \d+", "epochs: 1", text)
    text = re.sub(r"  val_fraction: [0-9.]+", f"  val_fraction: 0.2\n  max_images: {images}\n  max_val_images: 8", text)
    return text


def train(cli, ws, cfg, ranks):
    cmd = [str(cli), "train", "--config", str(cfg), "--workspace", str(ws)]
    if ranks > 1:
        cmd[2:2] = ["--nproc", str(ranks)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return int(re.search(r"run (\d+):", out).group(1))


def metric(ws, run, key):
    with sqlite3.connect(ws / "lumen.db") as db:
        return [v for (v,) in db.execute("SELECT value FROM metrics WHERE run_id=? AND key=? ORDER BY step", (run, key))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8, help="global batch (split over the ranks)")
    ap.add_argument("--steps", type=int, default=12)
    a = ap.parse_args()
    cli = Path(a.build) / "bin" / "lumen-cli"
    base = (ROOT / "resources/configs/roi_consistency_demo.yaml").read_text()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run([str(cli), "demo", "--out", str(ws)], check=True, capture_output=True)
        for ranks in (1, a.ranks):
            cfg = Path(tmp) / f"r{ranks}.yaml"
            cfg.write_text(config(base, a.size, a.batch // ranks, a.threads, a.batch * a.steps))
            run = train(cli, ws, cfg, ranks)
            sps = metric(ws, run, "samples_per_s")[2:]  # the first steps warm the allocator up
            share = metric(ws, run, "dist.comm_share")[2:]
            rows.append((ranks, a.threads, a.batch, statistics.median(sps),
                         statistics.median(share) * 100 if share else 0.0))
    print(f"Data-parallel ROI step, ConvNeXt-atto {a.size} px, global batch {a.batch}, "
          f"{a.threads} threads in all, on {cpu_name()}\n")
    print("| ranks | threads/rank | batch/rank | samples/s (median) | all-reduce share of a step |")
    print("|---|---|---|---|---|")
    for ranks, threads, batch, sps, share in rows:
        print(f"| {ranks} | {max(1, threads // ranks)} | {batch // ranks} | {sps:.1f} | {share:.1f} % |")
    print(f"\nspeed-up of {a.ranks} ranks: {rows[1][3] / rows[0][3]:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
