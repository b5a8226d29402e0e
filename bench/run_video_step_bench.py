#!/usr/bin/python3
"""Samples/s of one video-encoder forward + backward (angio_multiview's encoder): Lumen
(build/bench/video_step_bench) vs torchvision's same model in Python PyTorch (Debian's
python3-torch 1.13 + torchvision 0.14), same threads and sizes, runs interleaved in one
session. Prints a markdown table (docs/benchmarks.md).

    /usr/bin/python3 bench/run_video_step_bench.py [--build build] [--arch r3d_18] [--batch 4]
        [--frames 16] [--size 112] [--threads 2] [--steps 3] [--rounds 2]
"""
import argparse
import json
import sys
from pathlib import Path

from bench_common import MALLOC_KEPT, common_arguments, cpu_name, interleaved, speed_table


def python_worker(args):
    import time
    import torch
    from torchvision.models import video

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.arch.startswith("mvit"):  # its builder fixes 16 x 224²: asked for the bench's clip (same blocks)
        from torchvision.models.video import mvit
        build = mvit._mvit
        mvit._mvit = lambda **kw: build(**{**kw, "spatial_size": (args.size, args.size), "temporal_size": args.frames})
    model = getattr(video, args.arch)(num_classes=10).train()
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    times, cpu = [], []
    for step in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        model.zero_grad()
        model(x).square().mean().backward()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"python step {step}: {dt:.3f} s", file=sys.stderr)
        if step >= args.warmup:
            times.append(dt)
            cpu.append(dc)
    print(json.dumps({"impl": "python", "samples_per_s": args.batch * len(times) / sum(times), "step_s": times,
                      "cpu_s": cpu}))


def main():
    p = argparse.ArgumentParser()
    common_arguments(p, steps=3)
    p.add_argument("--arch", default="r3d_18")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=112)
    args = p.parse_args()
    if args.python_worker:
        python_worker(args)
        return
    common = ["--arch", args.arch, "--batch", str(args.batch), "--frames", str(args.frames), "--size",
              str(args.size), "--threads", str(args.threads), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    lumen_cmd = [str(Path(args.build) / "bench" / "video_step_bench")] + common
    python_cmd = [sys.executable, __file__, "--python-worker"] + common
    results = interleaved({"python": python_cmd, "python_kept": (python_cmd, MALLOC_KEPT), "lumen": lumen_cmd},
                          args.rounds)
    print(f"{args.arch} forward + backward, {cpu_name()}, {args.threads} threads, batch {args.batch} x 3 x "
          f"{args.frames} x {args.size}², {args.steps} steps x {args.rounds} rounds (best round)\n")
    speed_table(results, args.batch, {"python": "Python PyTorch 1.13 (torchvision)",
                                      "python_kept": "the same, glibc malloc keeping freed memory (MALLOC_*_=32 GiB)",
                                      "lumen": "Lumen (LibTorch 1.13, caching CPU allocator)"})


if __name__ == "__main__":
    main()
