#!/usr/bin/python3
"""DICOM decode throughput: Lumen (lumen::io::readDicom, serial and with frames decoded on all
cores) vs pydicom 2.3 (dcmread + pixel_array + modality LUT) on the same files, same run.

Files: the demo workspace's XA cines and CT series (`lumen-cli demo`), a 512x512x96 8-bit XA
cine made from a demo cine (native, and re-encoded with DCMTK's dcmcjpeg / dcmcrle / dcmcjpls),
and every pixel-bearing pydicom test file both sides decode, grouped by transfer syntax.
Throughput = frames / best time of one full read of each file, summed per group.

Usage: bench/run_dicom_bench.py [--build build] [--dir /tmp/lumen-bench-dicom] [--min-seconds 0.5]
"""
import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut

PYDICOM_FILES = "/usr/lib/python3/dist-packages/pydicom/data/test_files"
TS_GROUPS = {
    "1.2.840.10008.1.2": "native", "1.2.840.10008.1.2.1": "native", "1.2.840.10008.1.2.2": "native",
    "1.2.840.10008.1.2.1.99": "native (deflate)", "1.2.840.10008.1.2.5": "RLE",
    "1.2.840.10008.1.2.4.50": "JPEG baseline", "1.2.840.10008.1.2.4.51": "JPEG extended",
    "1.2.840.10008.1.2.4.57": "JPEG lossless", "1.2.840.10008.1.2.4.70": "JPEG lossless",
    "1.2.840.10008.1.2.4.80": "JPEG-LS", "1.2.840.10008.1.2.4.81": "JPEG-LS",
    "1.2.840.10008.1.2.4.90": "JPEG 2000", "1.2.840.10008.1.2.4.91": "JPEG 2000",
}


def pydicom_time(path, min_seconds):
    """(frames, best wall seconds, best CPU seconds) of dcmread + pixel_array (+ modality LUT for grey)."""
    best, total, reps, frames, best_cpu = 1e30, 0.0, 0, 0, 1e30
    while total < min_seconds or reps < 3:
        t0 = time.perf_counter()
        c0 = time.process_time()
        ds = pydicom.dcmread(path)
        arr = ds.pixel_array
        if ds.get("SamplesPerPixel", 1) == 1:
            arr = apply_modality_lut(arr, ds)
        s = time.perf_counter() - t0
        best_cpu = min(best_cpu, time.process_time() - c0)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        best, total, reps = min(best, s), total + s, reps + 1
    return frames, best, best_cpu


def lumen_times(bench, files, threads, min_seconds, values="as-pydicom"):
    out = subprocess.run([bench, "--threads", str(threads), "--min-seconds", str(min_seconds), "--values", values] + files,
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {r["file"]: r for r in rows}


def make_big_cine(src, dst_dir):
    """512x512x96 8-bit cine from a 128x128x16 demo cine (4x upscale, frames repeated with noise)."""
    paths = {k: os.path.join(dst_dir, f"xa512_{k}.dcm") for k in ("native", "jpeg", "rle", "jpegls")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    ds = pydicom.dcmread(src)
    frames = ds.pixel_array
    rng = np.random.default_rng(7)
    big = np.kron(frames, np.ones((1, 4, 4), dtype=np.uint8))
    big = np.concatenate([big] * 6, axis=0)
    big = np.clip(big.astype(np.int16) + rng.integers(-3, 4, big.shape), 0, 255).astype(np.uint8)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 512, 512, big.shape[0]
    ds.PixelData = big.tobytes()
    ds.save_as(paths["native"])
    subprocess.run(["dcmcjpeg", "+eb", paths["native"], paths["jpeg"]], check=True)
    subprocess.run(["dcmcrle", paths["native"], paths["rle"]], check=True)
    subprocess.run(["dcmcjpls", paths["native"], paths["jpegls"]], check=True)
    return paths


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(root, "build"))
    p.add_argument("--dir", default="/tmp/lumen-bench-dicom")
    p.add_argument("--min-seconds", type=float, default=0.5)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    bench = os.path.join(a.build, "bench", "dicom_decode_bench")
    os.makedirs(a.dir, exist_ok=True)
    demo = os.path.join(a.dir, "demo")
    if not os.path.exists(os.path.join(demo, "demo.json")):
        subprocess.run([os.path.join(a.build, "bin", "lumen-cli"), "demo", "--out", demo], check=True, capture_output=True)

    groups = []  # (name, [files])
    cines = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(demo, "angio")) for f in fs if f.endswith(".dcm"))
    ct = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(demo, "ct", "dicom")) for f in fs if f.endswith(".dcm"))
    groups.append((f"demo XA cines ({len(cines)} x 128²x16, 8-bit native)", cines))
    groups.append((f"demo CT series ({len(ct)} slices 64², 16-bit native)", ct))
    big = make_big_cine(cines[0], a.dir)
    for key, label in (("native", "native"), ("jpeg", "JPEG baseline"), ("rle", "RLE"), ("jpegls", "JPEG-LS")):
        groups.append((f"XA cine 512²x96 8-bit, {label}", [big[key]]))
    by_ts = {}
    for f in sorted(os.listdir(PYDICOM_FILES)):
        path = os.path.join(PYDICOM_FILES, f)
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            ts = str(ds.file_meta.TransferSyntaxUID)
        except Exception:
            continue
        if "PixelData" not in pydicom.dcmread(path) or ts not in TS_GROUPS:
            continue
        by_ts.setdefault(TS_GROUPS[ts], []).append(path)
    for name in sorted(by_ts):
        groups.append((f"pydicom test files, {name}", by_ts[name]))

    every = [f for _, fs in groups for f in fs]
    serial = lumen_times(bench, every, 1, a.min_seconds)
    floats = lumen_times(bench, every, 1, a.min_seconds, "float")
    threads = os.cpu_count() or 1
    parallel = lumen_times(bench, every, 0, a.min_seconds)

    load = os.getloadavg()[0]
    print(f"DICOM decode throughput, frames/s: best of repeated full reads per file, frames / summed time per group.")
    print(f"{threads} cores, load average {load:.1f} at the start; pydicom {pydicom.__version__} (numpy, pillow, RLE handlers).")
    print("CPU = process CPU time (what an idle machine shows as wall time for serial work); wall = elapsed.")
    print("Lumen reads stored-first and makes float values where a rescale changes them, as pydicom hands back;")
    print("'floats always' is the full read (stored + float32 values) the viewers use.")
    print()
    print(f"| files | n | frames | Lumen 1 thread, CPU | pydicom, CPU | Lumen/pydicom | Lumen floats always, 1 thread, CPU | Lumen 1 thread, wall | Lumen {threads} threads, wall |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, files in groups:
        both = []
        for f in files:
            s, q, fl = serial.get(f, {}), parallel.get(f, {}), floats.get(f, {})
            if "error" in s or "error" in q or "error" in fl or not s:
                continue
            try:
                py = pydicom_time(f, a.min_seconds)
            except Exception:
                py = None
            both.append((s["frames"], s["seconds"], q["seconds"], py, s["cpu_seconds"], fl["cpu_seconds"]))
        if not both:
            continue
        frames = sum(b[0] for b in both)
        fs = frames / sum(b[1] for b in both)
        fp = frames / sum(b[2] for b in both)
        fc = frames / sum(b[4] for b in both)
        ff = frames / sum(b[5] for b in both)
        decodable = [b for b in both if b[3] is not None]
        if decodable:
            pf = sum(b[3][0] for b in decodable) / sum(b[3][2] for b in decodable)
            ours_same = sum(b[0] for b in decodable) / sum(b[4] for b in decodable)
            note = "" if len(decodable) == len(both) else f" ({len(decodable)} files)"
            py_cell, ratio = f"{pf:,.0f}{note}", f"{ours_same / pf:.2f}x"
        else:
            py_cell, ratio = "cannot decode", "-"
        print(f"| {name} | {len(both)} | {frames} | {fc:,.0f} | {py_cell} | {ratio} | {ff:,.0f} | {fs:,.0f} | {fp:,.0f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
