#!/usr/bin/python3
"""Samples/s of one ConvNeXt ROI-consistency training step: Lumen (build/bench/roi_step_bench)
vs the same step in Python PyTorch (Debian's python3-torch 1.13 + torchvision 0.14), same
threads, runs interleaved in one session. Prints a markdown table (docs/benchmarks.md).

    /usr/bin/python3 bench/run_roi_step_bench.py [--build build] [--threads 2] [--steps 3]

The Python step is the original train_roi_consistency.py ("full" mode): mask net, top-k
mask, three classifier calls (full, crop, drop), the five losses, backward, AdamW - with
LayerNorm run in float32 under bf16 autocast (PyTorch 1.13's CPU kernel rejects bf16 input
with fp32 weights, exactly the trap Lumen's ConvNeXt handles).
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def png_batches(args):
    """The original recipe's input pipeline: PIL + torchvision transforms in a DataLoader with
    worker processes, endless, shuffled; the same PNGs and labels as Lumen's loader reads."""
    import csv
    import torch
    from PIL import Image
    from torchvision import transforms

    with open(args.png_manifest, newline="") as f:
        reader = csv.DictReader(f)
        label_names = [c for c in reader.fieldnames if c not in ("id", "patient_id", "path", "labels", "split")]
        rows = [(str(Path(args.png_manifest).parent / r["path"]), [float(r[l]) for l in label_names]) for r in reader]
    tf = transforms.Compose([transforms.Resize(args.size), transforms.CenterCrop(args.size), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])

    class PngSet(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            path, target = rows[i]
            return tf(Image.open(path).convert("RGB")), torch.tensor(target)

    loader = torch.utils.data.DataLoader(PngSet(), batch_size=args.batch, shuffle=True, num_workers=args.workers,
                                         drop_last=True, persistent_workers=args.workers > 0)
    while True:
        for batch in loader:
            yield batch


def make_png_manifest(build, folder, classes):
    """Writes the demo workspace's chest X-rays (256x256 PNGs) with `lumen-cli demo` and a
    manifest of them (id, patient_id, path, labels, split + one 0/1 column per label)."""
    import csv
    folder = Path(folder)
    if not (folder / "demo.json").exists():
        subprocess.run([str(Path(build) / "bin" / "lumen-cli"), "demo", "--out", str(folder)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    findings = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
                "Normal"][:classes]
    manifest = folder / "bench_manifest.csv"
    with open(folder / "chest_xray" / "Data_Entry_2017.csv", newline="") as f, open(manifest, "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["id", "patient_id", "path", "labels", "split"] + findings)
        for r in csv.reader(f):
            if r[0] == "Image Index":
                continue
            labels = ["Normal" if l == "No Finding" else l for l in r[1].split("|")]
            labels = [l for l in labels if l in findings]
            w.writerow([r[0], r[3], f"chest_xray/images_001/{r[0]}", "|".join(labels), "train"]
                       + [int(l in labels) for l in findings])
    return manifest


def python_worker(args):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    torch.set_num_threads(args.threads)
    original_layer_norm = F.layer_norm

    def layer_norm_fp32(x, shape, weight=None, bias=None, eps=1e-5):
        return original_layer_norm(x.float(), shape, weight, bias, eps)

    device = torch.device(args.device)
    if device.type == "cpu":  # the CPU kernel's trap only
        F.layer_norm = layer_norm_fp32  # torchvision's LayerNorm2d and nn.LayerNorm call F.layer_norm

    if args.variant == "atto":  # timm's widths in torchvision's layout, as Lumen's "atto"
        from torchvision.models.convnext import CNBlockConfig, ConvNeXt
        setting = [CNBlockConfig(40, 80, 2), CNBlockConfig(80, 160, 2), CNBlockConfig(160, 320, 6),
                   CNBlockConfig(320, None, 2)]
        model = ConvNeXt(setting, stochastic_depth_prob=0.0, num_classes=args.classes)
    else:
        ctor = getattr(torchvision.models, "convnext_" + args.variant)
        model = ctor(num_classes=args.classes, stochastic_depth_prob=0.0)
    mask_net = nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(32, 1, kernel_size=1))
    channels_last = args.layout.endswith("-cl")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        mask_net = mask_net.to(memory_format=torch.channels_last)
    model.to(device)
    mask_net.to(device)
    model.train()
    mask_net.train()
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(mask_net.parameters()), lr=1e-4)
    bce = nn.BCEWithLogitsLoss()
    torch.manual_seed(0)
    images0 = torch.randn(args.batch, 3, args.size, args.size).to(device)
    targets = torch.randint(0, 2, (args.batch, args.classes)).float().to(device)
    batches = png_batches(args) if args.png_manifest else None

    def topk_mask(mask, keep_ratio):
        b, _, h, w = mask.shape
        flat = mask.reshape(b, -1)
        k = max(1, int(keep_ratio * h * w))
        vals, _ = torch.topk(flat, k=k, dim=1)
        thresh = vals[:, -1].unsqueeze(1)
        return (flat >= thresh).float().view_as(mask)

    def total_variation(mask):
        dh = torch.abs(mask[:, :, 1:, :] - mask[:, :, :-1, :]).mean()
        dw = torch.abs(mask[:, :, :, 1:] - mask[:, :, :, :-1]).mean()
        return dh + dw

    times, cpu_times = [], []
    loss_value = 0.0
    for step in range(args.warmup + args.steps):
        profiler = None
        if args.profile and step == args.warmup + args.steps - 1:
            profiler = torch.autograd.profiler.profile()
            profiler.__enter__()
        t0 = time.perf_counter()
        c0 = time.process_time()
        if batches is not None:
            images0, targets = next(batches)
            images0 = images0.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
        images = images0.contiguous(memory_format=torch.channels_last) if channels_last else images0
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16 if args.precision == "fp16" else torch.bfloat16,
                            enabled=args.precision != "fp32"):
            mask = torch.sigmoid(mask_net(images))
            mask_bin = topk_mask(mask, 0.1)
            img_crop = images * mask_bin
            img_drop = images * (1.0 - mask_bin)
            logits_full = model(images)
            logits_crop = model(img_crop)
            logits_drop = model(img_drop)
            prob_full = torch.sigmoid(logits_full)
            prob_crop = torch.sigmoid(logits_crop)
            prob_drop = torch.sigmoid(logits_drop)
            loss = (bce(logits_full, targets) + 1.0 * F.l1_loss(prob_full, prob_crop)
                    + 0.5 * F.relu(prob_drop - prob_full.detach()).mean()
                    + 1e-3 * mask.mean() + 1e-4 * total_variation(mask))
        loss.backward()
        optimizer.step()
        loss_value = float(loss.item())  # waits for the device
        if profiler is not None:
            profiler.__exit__(None, None, None)
            profiler.export_chrome_trace(args.profile)
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
            cpu_times.append(time.process_time() - c0)
        print(f"python {args.precision} {args.layout} step {step}: {dt:.3f} s loss {loss_value:.5f}", file=sys.stderr)
    print(json.dumps({"impl": "python", "device": str(device), "variant": args.variant, "precision": args.precision, "layout": args.layout,
                      "batch": args.batch, "size": args.size, "threads": args.threads, "steps": args.steps,
                      "samples_per_s": args.batch * len(times) / sum(times), "step_s": times,
                      "cpu_s": cpu_times,
                      "last_loss": loss_value}))


def self_times(trace_path):
    """Self time (us) per op name from a chrome trace: an event's duration minus that of the
    events nested directly inside it on the same thread."""
    with open(trace_path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    by_tid = {}
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_tid.setdefault(e.get("tid"), []).append((float(e["ts"]), float(e["dur"]), e["name"]))
    totals, counts = {}, {}
    for evs in by_tid.values():
        evs.sort(key=lambda t: (t[0], -t[1]))
        stack = []  # [end, name, child_time]
        def close(item):
            end, name, child, dur = item
            totals[name] = totals.get(name, 0.0) + dur - child
            counts[name] = counts.get(name, 0) + 1
        for ts, dur, name in evs:
            while stack and stack[-1][0] <= ts:
                close(stack.pop())
            if stack:
                stack[-1][2] += dur
            stack.append([ts + dur, name, 0.0, dur])
        while stack:
            close(stack.pop())
    return totals, counts


def print_profile(folder, names):
    tables = {n: self_times(Path(folder) / (n + ".json")) for n in names}
    ops = set()
    for totals, _ in tables.values():
        ops.update(totals)
    rows = sorted(ops, key=lambda o: -max(t[0].get(o, 0.0) for t in tables.values()))
    print("\nSelf CPU time of the profiled step, ms (top 40 ops)\n")
    print("| op | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for o in rows[:40]:
        cells = []
        for n in names:
            totals, counts = tables[n]
            cells.append(f"{totals.get(o, 0.0) / 1000:.1f} ({counts.get(o, 0)})" if o in totals else "")
        print(f"| {o} | " + " | ".join(cells) + " |")
    print("| **sum** | " + " | ".join(f"{sum(tables[n][0].values()) / 1000:.1f}" for n in names) + " |")


def run(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--variant", default="tiny")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both sides on the same device)")
    ap.add_argument("--lumen-layouts", default="separate,fused-cl")
    ap.add_argument("--python-layouts", default="separate,separate-cl")
    ap.add_argument("--lumen-allocators", default="caching,default",
                    help="caching: the Trainer's CPU caching allocator (train/cpu_allocator.h); default: LibTorch's")
    ap.add_argument("--profile", default="", help="folder: chrome traces of the last step of each run "
                    "and a per-op table of self CPU time, Python vs Lumen")
    ap.add_argument("--png", default="", help="folder for the demo chest X-rays: batches are read from "
                    "PNG files (Lumen: its BatchLoader; Python: PIL + DataLoader), loading time included")
    ap.add_argument("--workers", type=int, default=2, help="loader workers (threads in Lumen, processes in Python)")
    ap.add_argument("--png-manifest", default="", help=argparse.SUPPRESS)
    ap.add_argument("--python-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--layout", default="separate", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.python_worker:
        python_worker(args)
        return

    exe = Path(args.build) / "bench" / "roi_step_bench"
    common = ["--variant", args.variant, "--batch", str(args.batch), "--size", str(args.size),
              "--classes", str(args.classes), "--threads", str(args.threads), "--warmup", str(args.warmup),
              "--steps", str(args.steps), "--workers", str(args.workers)]
    if args.png:
        common += ["--png-manifest", str(make_png_manifest(args.build, args.png, args.classes))]
    results = {}
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    for precision in args.precisions.split(","):
        for _ in range(args.rounds):
            # Interleaved so that machine load hits both alike.
            for layout in args.python_layouts.split(","):
                extra = ["--profile", str(Path(args.profile) / f"python_{precision}_{layout}.json")] if args.profile else []
                r = run([sys.executable, __file__, "--python-worker", "--device", args.device, "--precision", precision,
                         "--layout", layout]
                        + common + extra)
                results.setdefault(("python", precision, layout), []).append(r)
            for layout in args.lumen_layouts.split(","):
                for allocator in args.lumen_allocators.split(","):
                    name = f"{layout}, {allocator} allocator"
                    extra = (["--profile", str(Path(args.profile) / f"lumen_{precision}_{layout}_{allocator}.json")]
                             if args.profile else [])
                    r = run([str(exe), "--device", args.device, "--precision", precision, "--layout", layout,
                             "--allocator", allocator]
                            + common + extra)
                    results.setdefault(("lumen", precision, name), []).append(r)

    data = (f"batches read from the demo's PNGs ({args.workers} loader workers, loading included)" if args.png
            else "synthetic batches")
    print(f"\nConvNeXt-{args.variant} ROI-consistency training step, batch {args.batch}, {args.size}², "
          f"{args.threads} threads, {data}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"{args.rounds} round(s)\n")
    # Wall-clock samples/s is what a user sees; samples per CPU-second (CPU time of the whole
    # process, all threads) is steadier when other work shares the machine.
    def wall(runs):
        return statistics.median(r["samples_per_s"] for r in runs)

    def per_cpu(runs):
        return statistics.median(args.batch * len(r["cpu_s"]) / sum(r["cpu_s"]) for r in runs)

    print("| precision | implementation | layout | samples/s (wall) | vs best Python | samples per CPU-s | vs best Python |")
    print("|---|---|---|---:|---:|---:|---:|")
    for precision in args.precisions.split(","):
        py = [v for (impl, p, _), v in results.items() if impl == "python" and p == precision]
        best_wall = max(wall(v) for v in py)
        best_cpu = max(per_cpu(v) for v in py)
        for (impl, p, layout), v in results.items():
            if p != precision:
                continue
            name = "Python PyTorch 1.13" if impl == "python" else "Lumen (LibTorch 1.13)"
            print(f"| {precision} | {name} | {layout} | {wall(v):.3f} | {wall(v) / best_wall:.2f}× "
                  f"| {per_cpu(v):.3f} | {per_cpu(v) / best_cpu:.2f}× |")
    if args.profile:
        names = [f"{impl}_{p}_{layout.replace(', ', '_').replace(' allocator', '')}" for (impl, p, layout) in results]
        print_profile(args.profile, names)


if __name__ == "__main__":
    main()
