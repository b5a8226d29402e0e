#!/usr/bin/env python3
"""Seconds per volume of ct_multilabel inference (docs/ct-multilabel.md), through lumen-cli.

For each model below: a demo workspace (64 x 64 x 48 synthetic CTs), one short training run
to get a checkpoint of that shape, then `lumen-cli infer` over N volumes without and with
Grad-CAM. The time per volume is what inference itself reports in preds.json
(read + preprocess + forward [+ CAM and writing it]), so process start-up is excluded.

usage: run_ct_infer_bench.py [BUILD_DIR] [--volumes N] [--threads T]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)

FULL_GRID = {"spacing: \\[3.0, 3.0, 5.0\\]": "spacing: [1.5, 1.5, 2.5]", "size: \\[32, 32, 24\\]": "size: [64, 64, 48]",
             "stem_stride: \\[1, 1, 1\\]": "stem_stride: [2, 2, 2]"}
RESNET = {"  widths: .*\n": "", "  depths: .*\n": "", "  strides: .*\n": ""}
MODELS = [
    # name, config edits (regex -> replacement on the demo config), input grid
    ("small 8-16-16 (demo)", {}, "32x32x24 @3/3/5 mm"),
    ("small 8-16-16, stem stride 2", FULL_GRID, "64x64x48 @1.5/1.5/2.5 mm"),
    ("r10 (64-512)", {**FULL_GRID, **RESNET, "variant: small": "variant: r10"}, "64x64x48"),
    ("r18 (64-512)", {**FULL_GRID, **RESNET, "variant: small": "variant: r18"}, "64x64x48"),
]


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--volumes", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cli = os.path.join(args.build, "bin", "lumen-cli")
    base = open(os.path.join(SOURCE, "resources", "configs", "ct_multilabel_demo.yaml")).read()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        run([cli, "demo", "--out", ws, "--ct-volumes", str(max(args.volumes, 16))])
        for i, (name, edits, grid) in enumerate(MODELS):
            text = base
            for pattern, repl in edits.items():
                text = re.sub(pattern, repl, text)
            text = re.sub(r"epochs: \d+", "epochs: 1", text)
            text = re.sub(r"threads: \d+", f"threads: {args.threads}", text)
            text = text.replace("data:\n  labels_csv", f"data:\n  max_volumes: {args.volumes}\n  labels_csv", 1)
            cfg = os.path.join(tmp, f"m{i}.yaml")
            open(cfg, "w").write(text)
            out = run([cli, "train", "--config", cfg, "--workspace", ws]).stdout
            run_id = re.search(r"run (\d+):", out).group(1)
            ckpt = os.path.join(ws, "runs", f"{run_id}_ct_multilabel", "checkpoints", "last.pt")
            result = {}
            for cams in (0, args.volumes):
                cfg2 = os.path.join(tmp, f"m{i}_{cams}.yaml")
                open(cfg2, "w").write(re.sub(r"cam_volumes: \d+", f"cam_volumes: {cams}", text)
                                      .replace("infer:\n", "infer:\n  cam_labels: [Lung nodule]\n", 1))
                dest = os.path.join(tmp, f"out{i}_{cams}")
                run([cli, "infer", "--config", cfg2, "--workspace", ws, "--checkpoint", ckpt, "--out", dest])
                result[cams] = json.load(open(os.path.join(dest, "preds.json")))["seconds_per_volume"]
            rows.append((name, grid, result[0], result[args.volumes]))
    print(f"ct_multilabel inference, {args.volumes} volumes, {args.threads} threads, fp32")
    print(f"| model | input grid | s/volume | s/volume with Grad-CAM (1 label) |")
    print(f"|---|---|---|---|")
    for name, grid, plain, cam in rows:
        print(f"| {name} | {grid} | {plain:.3f} | {cam:.3f} |")


if __name__ == "__main__":
    main()
