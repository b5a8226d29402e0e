#!/usr/bin/python3
"""Inference latency of the same TorchScript file through Lumen (`lumen-cli bench-infer`) and
through Python (`torch.jit.load`, Debian's python3-torch 1.13), same threads, same protocol:
random input (batch, C, H, W), `warmup` untimed forwards, then `iters` timed forwards under
no_grad; mean, p50/p95/p99 (numpy's linear percentiles). Runs alternate Lumen / Python per model
in one session. Prints a markdown table naming the CPU (docs/benchmarks.md).

    /usr/bin/python3 bench/run_infer_bench.py [--build build] [--threads 2] [--iters 20]

The models are torchvision's, scripted here with random weights (what a user brings):
resnet18 at 224², densenet121 at 224², r3d_18 at 16×112² (batch 1 and 4 only).
"""
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.models as tvm

from bench_common import cpu_name


def python_bench(path, shape, batches, threads, warmup, iters):
    torch.set_num_threads(threads)
    m = torch.jit.load(str(path)).eval()
    rows = {}
    for b in batches:
        x = torch.randn((b,) + shape)
        with torch.no_grad():
            for _ in range(warmup):
                m(x)
            ms = []
            for _ in range(iters):
                t0 = time.perf_counter()
                m(x)
                ms.append((time.perf_counter() - t0) * 1000)
        rows[b] = {"mean_ms": float(np.mean(ms)), "p50_ms": float(np.percentile(ms, 50)),
                   "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99))}
    return rows


def lumen_bench(cli, path, shape, batches, threads, warmup, iters, out):
    size = "x".join(str(s) for s in shape[1:])
    subprocess.run([cli, "bench-infer", "--model", str(path), "--size", size, "--channels", str(shape[0]),
                    "--batch", ",".join(map(str, batches)), "--threads", str(threads), "--warmup", str(warmup),
                    "--iters", str(iters), "--json", str(out)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return {r["batch"]: r for r in json.load(open(out))["batches"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    cli = str(Path(args.build) / "bin" / "lumen-cli")
    torch.manual_seed(0)
    models = [("resnet18", tvm.resnet18(num_classes=15), (3, 224, 224), [1, 4, 16]),
              ("densenet121", tvm.densenet121(num_classes=15), (3, 224, 224), [1, 4, 16]),
              ("r3d_18", tvm.video.r3d_18(num_classes=3), (3, 16, 112, 112), [1, 4])]
    print("CPU: %s, %d threads, warm-up %d, %d timed forwards per batch size\n" %
          (cpu_name(), args.threads, args.warmup, args.iters))
    print("| model | batch | Lumen p50 ms | Python p50 ms | Lumen p95 ms | Python p95 ms | Lumen samples/s |"
          " Python samples/s | Lumen / Python throughput |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, shape, batches in models:
            path = Path(tmp) / (name + ".pt")
            torch.jit.save(torch.jit.script(model.eval()), str(path))
            lumen = lumen_bench(cli, path, shape, batches, args.threads, args.warmup, args.iters,
                                Path(tmp) / "out.json")
            py = python_bench(path, shape, batches, args.threads, args.warmup, args.iters)
            for b in batches:
                l_tp = b / (lumen[b]["mean_ms"] / 1000)
                p_tp = b / (py[b]["mean_ms"] / 1000)
                print("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f× |" %
                      (name, b, lumen[b]["p50_ms"], py[b]["p50_ms"], lumen[b]["p95_ms"], py[b]["p95_ms"], l_tp,
                       p_tp, l_tp / p_tp))


if __name__ == "__main__":
    main()
