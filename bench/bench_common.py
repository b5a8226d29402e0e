"""Shared by the bench scripts that time Lumen against Python PyTorch: the CPU's name, runs
interleaved in rounds (so drift in the machine hits both), and the samples/s table."""
import json
import os
import subprocess

# glibc malloc kept from returning large blocks to the kernel: what Lumen's caching CPU allocator
# does for LibTorch (train/cpu_allocator.h), given to Python through the environment.
MALLOC_KEPT = {"MALLOC_MMAP_THRESHOLD_": str(32 << 30), "MALLOC_TRIM_THRESHOLD_": str(32 << 30),
               "MALLOC_TOP_PAD_": str(1 << 30)}


def cpu_name():
    """The CPU's model name and its widest vector extension: "AMD EPYC" names both a Zen 3
    (AVX2 only) and a Zen 4 (AVX-512 with bf16) machine, whose LibTorch speeds differ ~2.6x."""
    name, flags = "unknown CPU", set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and name == "unknown CPU":
            name = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    if "avx512f" in flags:
        vector = "AVX-512 with bf16" if "avx512_bf16" in flags else "AVX-512, no bf16"
    else:
        vector = "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    return f"{name} ({vector})"


def common_arguments(parser, steps):
    """--build, --threads, --steps, --warmup, --rounds and the worker switch every such script has."""
    parser.add_argument("--build", default="build")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--python-worker", action="store_true")


def interleaved(commands, rounds):
    """commands: {impl: argv or (argv, extra environment)}; each prints one JSON line last.
    Returns {impl: [result per round]}."""
    results = {impl: [] for impl in commands}
    for _ in range(rounds):
        for impl, cmd in commands.items():
            argv, extra = cmd if isinstance(cmd, tuple) else (cmd, {})
            out = subprocess.run(argv, check=True, capture_output=True, text=True, env={**os.environ, **extra}).stdout
            results[impl].append(json.loads(out.strip().splitlines()[-1]))
    return results


def speed_table(results, batch, names, digits=2):
    """Markdown rows of samples/s (wall and per CPU-second) of each impl's best round, relative to
    the first impl of `names` ({impl: display name})."""
    print("| implementation | samples/s (wall) | vs Python | samples per CPU-s | vs Python | every round (samples/s) |")
    print("|---|---:|---:|---:|---:|---|")
    best = {}
    for impl in names:
        r = max(results[impl], key=lambda x: x["samples_per_s"])
        best[impl] = (r["samples_per_s"], batch * len(r["cpu_s"]) / sum(r["cpu_s"]))
    base = best[next(iter(names))]
    for impl, name in names.items():
        w, c = best[impl]
        rounds = ", ".join(f"{r['samples_per_s']:.{digits}f}" for r in results[impl])
        print(f"| {name} | {w:.2f} | {w / base[0]:.2f}× | {c:.2f} | {c / base[1]:.2f}× | {rounds} |")
