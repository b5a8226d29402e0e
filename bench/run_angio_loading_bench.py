#!/usr/bin/python3
"""Does decoding starve angio_multiview's training? Training samples/s with and without decoding
in the steps, on the 512²×96 8-bit XA cine of run_dicom_bench.py (native, and JPEG baseline
through DCMTK's dcmcjpeg), one copy per video:

- `data.cache: memory`: every video is decoded once before the first epoch (the loading line of
  the log says how fast), and the steps only copy clips;
- `data.cache: none`: each batch decodes its videos again, on num_workers threads.

`lumen-cli train` runs the demo recipe's small r3d_18 (frames 16, stride 2, 112², batch 4) for a
few epochs; the table gives the median of the trainer's samples_per_s metric (the wait for the
batch included) over the steps after the first epoch, and the decode share of a step
(1 - none / memory). Prints markdown (docs/benchmarks.md).

    /usr/bin/python3 bench/run_angio_loading_bench.py [--build build] [--dir /tmp/lumen-bench-angio]
        [--studies 16] [--views 2] [--epochs 3]
"""
import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

from bench_common import cpu_name
from run_dicom_bench import make_big_cine

CONFIG = """task: angio_multiview
seed: 1
data:
  manifest: manifest.csv
  train_split: train
  val_split: val
  frames: 16
  stride: 2
  resolution: 112
  max_views: {views}
  cache: {cache}
  mean: 128.0
  std: 64.0
model:
  encoder: r3d_18
  encoder_pool: max
  encoder_widths: [8, 16, 32, 48]
  encoder_depths: [1, 1, 1, 1]
  in_channels: 1
  aggregator: attention
  attention_hidden: 32
epochs: {epochs}
batch_size: 4
lr: 1.0e-3
num_workers: 2
threads: 2
"""


def workspace(root, cine, kind, studies, views):
    """A workspace of `studies` studies (two of them validation) of `views` copies of `cine`."""
    ws = os.path.join(root, f"{kind}_{studies}x{views}")
    if os.path.exists(os.path.join(ws, "manifest.csv")):
        return ws
    os.makedirs(os.path.join(ws, "cines"), exist_ok=True)
    rows = ["study_id,patient_id,path,split,prox_rca_stenosis"]
    for s in range(studies):
        split = "val" if s < 2 else "train"
        for v in range(views):
            name = f"cines/s{s:03d}_v{v}.dcm"
            shutil.copyfile(cine, os.path.join(ws, name))
            rows.append(f"S{s},P{s},{name},{split},{10 + 5 * (s % 15)}")
    with open(os.path.join(ws, "manifest.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return ws


def train(cli, ws, cache, views, epochs):
    """(median samples/s after the first epoch, the loading line, wall seconds) of one run."""
    config = os.path.join(ws, f"bench_{cache}.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(views=views, cache=cache, epochs=epochs))
    t0 = time.perf_counter()
    r = subprocess.run([cli, "train", "--config", config, "--workspace", ws], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"lumen-cli train failed ({cache}):\n{r.stderr[-2000:]}")
    run = int(re.search(r"run (\d+):", r.stdout).group(1))
    db = sqlite3.connect(os.path.join(ws, "lumen.db"))
    steps = [v for (v,) in db.execute("select value from metrics where run_id = ? and key = 'samples_per_s' "
                                      "order by step", (run,))]
    db.close()
    per_epoch = len(steps) // epochs
    loaded = re.search(r"loaded \d+ training studies \((\d+) videos\) in ([\d.]+) s", r.stderr)
    return statistics.median(steps[per_epoch:]), loaded, wall


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(os.path.dirname(here), "build"))
    p.add_argument("--dir", default="/tmp/lumen-bench-angio")
    p.add_argument("--studies", type=int, default=16)
    p.add_argument("--views", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    cli = os.path.join(a.build, "bin", "lumen-cli")
    os.makedirs(a.dir, exist_ok=True)
    demo = os.path.join(a.dir, "demo")
    if not os.path.exists(os.path.join(demo, "demo.json")):
        subprocess.run([cli, "demo", "--out", demo, "--chest-images", "0", "--ct-volumes", "0"], check=True,
                       capture_output=True)
    first = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(demo, "angio"))
                   for f in fs if f.endswith(".dcm"))[0]
    cines = make_big_cine(first, a.dir)
    print(f"{cpu_name()}, {os.cpu_count()} cores; {a.studies} studies × {a.views} views of a 512²×96 8-bit "
          f"XA cine; r3d_18 8-16-32-48, 16 frames, stride 2, 112², batch 4, 2 threads, num_workers 2; "
          f"median samples/s of the steps after the first of {a.epochs} epochs\n")
    print("| cine | loading before the first epoch (memory) | samples/s, memory | samples/s, none "
          "(decoded per batch) | decode share of a step | wall, memory / none |")
    print("|---|---|---:|---:|---:|---|")
    for kind, label in (("native", "native"), ("jpeg", "JPEG baseline")):
        ws = workspace(a.dir, cines[kind], kind, a.studies, a.views)
        kept, loaded, wall_kept = train(cli, ws, "memory", a.views, a.epochs)
        streamed, _, wall_streamed = train(cli, ws, "none", a.views, a.epochs)
        videos, seconds = int(loaded.group(1)), float(loaded.group(2))
        load = f"{videos} videos in {seconds:.2f} s ({videos * 96 / seconds:,.0f} frames/s)"
        print(f"| {label} | {load} | {kept:.2f} | {streamed:.2f} | {max(0.0, 1 - streamed / kept):.0%} | "
              f"{wall_kept:.0f} / {wall_streamed:.0f} s |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
