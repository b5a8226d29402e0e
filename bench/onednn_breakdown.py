#!/usr/bin/env python3
"""Where a training epoch's convolution time goes: runs `lumen-cli train` for one epoch of a
config with oneDNN's verbose log on and prints the time per primitive, implementation and
shape (batch size folded), with the CPU's name.

    python3 bench/onednn_breakdown.py --config resources/configs/ct_multilabel_demo.yaml \
        --workspace DIR [--epochs 1] [--top 15]

DIR is a demo workspace with the data the config wants (`lumen-cli demo --ct-volumes 640` for
the CT recipe, `--angio-studies 300` for the angio one); the epoch is recorded there as a run,
so use a scratch copy. Why it exists: docs/building.md, "Why the AVX2 machine is slower".
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

from bench_common import cpu_name


def one_epoch_config(path, epochs):
    """The config with `epochs:` replaced, written beside nothing the user owns."""
    text = open(path).read()
    text, n = re.subn(r"(?m)^epochs:\s*\d+", f"epochs: {epochs}", text)
    if n != 1:
        sys.exit(f"{path}: no top-level 'epochs:' line to replace")
    out = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    out.write(text)
    out.close()
    return out.name


def breakdown(lines):
    """{(primitive, implementation, pass, shape without the batch): [calls, ms]} and the total ms."""
    table = collections.defaultdict(lambda: [0, 0.0])
    total = 0.0
    for line in lines:
        parts = line.rstrip().split(",")
        if len(parts) < 6 or parts[0] not in ("onednn_verbose", "dnnl_verbose") or parts[1] != "exec":
            continue
        ms = float(parts[-1])
        shape = re.sub(r"^mb\d+_", "", parts[-2])
        entry = table[(parts[3], parts[4], parts[5], shape)]
        entry[0] += 1
        entry[1] += ms
        total += ms
    return table, total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--build", default="build")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    config = one_epoch_config(args.config, args.epochs)
    env = dict(os.environ, ONEDNN_VERBOSE="1", DNNL_VERBOSE="1")
    cli = os.path.join(args.build, "bin", "lumen-cli")
    t0 = time.perf_counter()
    try:
        run = subprocess.run([cli, "train", "--config", config, "--workspace", args.workspace], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    finally:
        os.unlink(config)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        sys.exit(f"lumen-cli train exited {run.returncode}:\n" + run.stdout[-2000:])
    table, total = breakdown(run.stdout.splitlines())
    isa = next((l.split(",")[-1] for l in run.stdout.splitlines() if ",isa:" in l), "?")

    print(f"{os.path.basename(args.config)}, {args.epochs} epoch(s): {wall:.1f} s wall (with loading), "
          f"oneDNN {total / 1000:.1f} s; {cpu_name()}, oneDNN {isa}\n")
    print("| ms | share | calls | primitive | implementation | pass | shape (batch folded) |")
    print("|---:|---:|---:|---|---|---|---|")
    rows = sorted(table.items(), key=lambda kv: -kv[1][1])
    for (prim, impl, prop, shape), (calls, ms) in rows[:args.top]:
        print(f"| {ms:,.0f} | {100 * ms / total:.1f} % | {calls} | {prim} | {impl} | {prop} | {shape} |")
    by_impl = collections.defaultdict(float)
    for (prim, impl, prop, _), (_, ms) in table.items():
        by_impl[f"{prim} {impl} {prop}"] += ms
    print("\nby implementation and pass:")
    for key, ms in sorted(by_impl.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {ms / 1000:7.2f} s  {100 * ms / total:5.1f} %  {key}")


if __name__ == "__main__":
    main()
