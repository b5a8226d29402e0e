#!/usr/bin/env python3
"""Independent reference for core/explain/localisation (test_localisation).

  make DIR SEED            writes a CAM cache (DIR/cache: index.csv, meta.json, .npy CAMs), the
                           images it explains (DIR/images/*.png, several sizes, non-square) and
                           DIR/boxes.csv in NIH's BBox_List_2017.csv layout
  eval CACHE BOXES IMAGES THRESHOLD SEED OUT.json
                           pointing game, IoU, AP@0.5/0.75 and the control, computed here from
                           the files alone (numpy float64, torch interpolate, scipy.ndimage.label)

Rules (docs/explain.md "Explanations against boxes"): the CAM is upsampled to the model input
(bilinear, align_corners=False), min-max normalised; the input is the image with its shorter
side resized to S (longer: round half up of L*S/shorter) and centre-cropped (offset floor((R-S)/2))
for a square input, a plain resize otherwise. Hottest pixel (first in raster order) -> its centre
in image pixels, inside a box [x, x+w] x [y, y+h]? The CAM box is the bounding box of the largest
8-connected component >= threshold (first in raster order among equals). AP: VOC all-point.
Control: Sattolo's derangement driven by splitmix64(seed) per label.
"""
import csv
import json
import math
import os
import sys

import numpy as np
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from PIL import Image

M64 = (1 << 64) - 1


def up_norm(cam, h, w):
    t = torch.from_numpy(cam.astype(np.float64))[None, None]
    u = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    lo, hi = u.min(), u.max()
    if not hi > lo:
        return np.zeros_like(u)
    return (u - lo) / (hi - lo)


def geometry(ih, iw, sh, sw):
    """(scale_x, scale_y, off_x, off_y): input u = X * scale - off."""
    if sh != sw:
        return sw / iw, sh / ih, 0.0, 0.0
    s = sh
    short = min(ih, iw)
    rw, rh = iw, ih
    if short != s:
        f = s / short
        rw = s if iw <= ih else max(1, int(math.floor(iw * f + 0.5)))
        rh = s if ih <= iw else max(1, int(math.floor(ih * f + 0.5)))
    return rw / iw, rh / ih, float((rw - s) // 2), float((rh - s) // 2)


def region(n, thr):
    """(hot (row, col), box (r0, r1, c0, c1) inclusive) or None for a constant map."""
    if not n.max() > n.min():
        return None
    hot = np.unravel_index(int(np.argmax(n)), n.shape)  # first maximum in raster order
    lab, count = ndi.label(n >= thr, structure=np.ones((3, 3)))
    sizes = ndi.sum(np.ones_like(n), lab, index=np.arange(1, count + 1))
    best = int(np.argmax(sizes)) + 1  # labels follow raster order of their first pixel
    rows, cols = np.nonzero(lab == best)
    return hot, (rows.min(), rows.max(), cols.min(), cols.max())


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def average_precision(truth, dets, thr):
    """truth: {image: [box]}, dets: [(image, score, box)] in pair order. VOC all-point."""
    positives = sum(len(v) for v in truth.values())
    matched = {k: [False] * len(v) for k, v in truth.items()}
    order = sorted(range(len(dets)), key=lambda i: -dets[i][1])  # stable
    tp = fp = 0
    prec, rec = [], []
    for i in order:
        image, _, box = dets[i]
        best, best_j = 0.0, None
        for j, g in enumerate(truth.get(image, [])):
            if matched[image][j]:
                continue
            v = iou(box, g)
            if v > best:
                best, best_j = v, j
        if best_j is not None and best >= thr:
            matched[image][best_j] = True
            tp += 1
        else:
            fp += 1
        prec.append(tp / (tp + fp))
        rec.append(tp / positives)
    for i in range(len(prec) - 1, 0, -1):
        prec[i - 1] = max(prec[i - 1], prec[i])
    ap, prev = 0.0, 0.0
    for p, r in zip(prec, rec):
        ap += (r - prev) * p
        prev = r
    return ap


def sattolo(n, seed):
    p = list(range(n))
    state = seed & M64

    def nxt():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    for i in range(n - 1, 0, -1):
        j = nxt() % i
        p[i], p[j] = p[j], p[i]
    return p


def read_boxes(path):
    out = {}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    for r in rows[1:]:
        if not r:
            continue
        x, y, w, h = (float(v) for v in r[2:6])
        out.setdefault((r[0].strip(), r[1].strip()), []).append((x, y, x + w, y + h))
    return out


def scores(pairs, hits, ious, truths, thr_list=(0.5, 0.75)):
    truth = {p["id"]: t for p, t in zip(pairs, truths)}
    dets = [(p["id"], p["score"], p["cam_box"]) for p in pairs if not p["empty"]]
    n = len(pairs)
    out = {"cams": n, "boxes": sum(len(t) for t in truths), "pointing_hits": int(sum(hits)),
           "pointing_game": sum(hits) / n, "mean_iou": sum(ious) / n}
    out["ap50"], out["ap75"] = (average_precision(truth, dets, t) for t in thr_list)
    return out


def evaluate(cache, boxes_file, images, thr, seed):
    boxes = read_boxes(boxes_file)
    where = {f: os.path.join(d, f) for d, _, files in os.walk(images) for f in files}
    pairs = []
    with open(os.path.join(cache, "index.csv"), newline="") as f:
        for e in csv.DictReader(f):
            image = e["id"] if (e["id"], e["label"]) in boxes else os.path.basename(e["id"])
            if (image, e["label"]) not in boxes:
                continue
            sh, sw = int(e["input_h"]), int(e["input_w"])
            n = up_norm(np.load(os.path.join(cache, e["file"])), sh, sw)
            with Image.open(where[image]) as im:
                iw, ih = im.size
            sx, sy, ox, oy = geometry(ih, iw, sh, sw)
            reg = region(n, thr)
            p = {"id": e["id"], "image": image, "label": e["label"],
                 "score": float(e["prob"]) if e["prob"] else float(e["score"]), "empty": reg is None,
                 "hot": [0.0, 0.0], "cam_box": [0.0, 0.0, 0.0, 0.0]}
            if reg is not None:
                (hr, hc), (r0, r1, c0, c1) = reg
                p["hot"] = [(hc + 0.5 + ox) / sx, (hr + 0.5 + oy) / sy]
                p["cam_box"] = [(c0 + ox) / sx, (r0 + oy) / sy, (c1 + 1 + ox) / sx, (r1 + 1 + oy) / sy]
            pairs.append(p)
    pairs.sort(key=lambda p: (p["label"], p["image"], p["id"]))

    def judge(p, bs):
        if p["empty"]:
            return False, 0.0
        hx, hy = p["hot"]
        hit = any(b[0] <= hx <= b[2] and b[1] <= hy <= b[3] for b in bs)
        return hit, max(iou(p["cam_box"], b) for b in bs)

    labels = []
    for label in sorted({p["label"] for p in pairs}):
        lp = [p for p in pairs if p["label"] == label]
        own = [boxes[(p["image"], label)] for p in lp]
        res = [judge(p, b) for p, b in zip(lp, own)]
        for p, (h, v) in zip(lp, res):
            p["hit"], p["iou"] = h, v
        entry = dict(scores(lp, [h for h, _ in res], [v for _, v in res], own), label=label, control=None)
        if len(lp) >= 2:
            perm = sattolo(len(lp), seed)
            other = [boxes[(lp[perm[i]]["image"], label)] for i in range(len(lp))]
            cres = [judge(p, b) for p, b in zip(lp, other)]
            for i, p in enumerate(lp):
                p["control_image"] = lp[perm[i]]["image"]
                p["control_hit"], p["control_iou"] = cres[i]
            entry["control"] = scores(lp, [h for h, _ in cres], [v for _, v in cres], other)
        labels.append(entry)
    return {"labels": labels, "pairs": pairs}


def make(root, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "cache"), exist_ok=True)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    sizes = [(120, 90), (90, 120), (100, 100), (77, 131), (64, 64), (150, 101), (96, 128), (81, 80)]
    labels = ["Mass", "Effusion", "Nodule"]
    index = ["id,label,target,file,score,raw_min,raw_max,input_h,input_w,input_d,prob,prob_drop,cam_drop"]
    box_rows = ["Image Index,Finding Label,Bbox [x,y,w,h],,,"]
    for k, (h, w) in enumerate(sizes):
        name = "img%02d.png" % k
        Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).save(os.path.join(root, "images", name))
        for t, label in enumerate(labels):
            if (k + t) % 4 == 3:
                continue  # not every image has every label
            sh, sw = (48, 64) if (k == 6 and t == 0) else (64, 64)
            fh, fw = (5, 7) if sh != sw else (7, 7)
            while True:  # no pixel near the threshold, a unique maximum: float32 == float64 decisions
                cam = np.maximum(rng.normal(size=(fh, fw)), 0).astype(np.float32)
                if k == 2 and t == 0:
                    cam[:] = 0  # a constant CAM: nothing to point at
                    break
                n = up_norm(cam, sh, sw)
                top = np.sort(n.ravel())[-2:]
                if np.abs(n - 0.5).min() > 1e-4 and top[1] - top[0] > 1e-5 and np.abs(n - 0.3).min() > 1e-4:
                    break
            fname = "%s__%s.npy" % (name, label)
            np.save(os.path.join(root, "cache", fname), cam)
            prob = "" if k % 3 == 0 else repr(float(rng.uniform()))
            index.append("images/%s,%s,%d,%s,%r,%r,%r,%d,%d,1,%s,," % (
                name, label, t, fname, float(rng.normal()), float(cam.min()), float(cam.max()), sh, sw, prob))
            reg = region(up_norm(cam, sh, sw), 0.5)
            for b in range(1 + int(rng.integers(0, 2))):
                bw, bh = rng.uniform(8, w / 2), rng.uniform(8, h / 2)
                bx, by = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
                if b == 0 and reg is not None and rng.uniform() < 0.7:  # near the CAM's box: IoUs 0.3..1
                    sx, sy, ox, oy = geometry(h, w, sh, sw)
                    (_, (r0, r1, c0, c1)) = reg
                    x1, y1 = (c0 + ox) / sx, (r0 + oy) / sy
                    x2, y2 = (c1 + 1 + ox) / sx, (r1 + 1 + oy) / sy
                    j = rng.uniform(0, 0.25)
                    x1, x2 = x1 + rng.normal(0, j) * (x2 - x1), x2 + rng.normal(0, j) * (x2 - x1)
                    y1, y2 = y1 + rng.normal(0, j) * (y2 - y1), y2 + rng.normal(0, j) * (y2 - y1)
                    if x2 - x1 > 1 and y2 - y1 > 1:
                        bx, by, bw, bh = x1, y1, x2 - x1, y2 - y1
                box_rows.append("%s,%s,%r,%r,%r,%r,,," % (name, label, bx, by, bw, bh))
    # a CAM without boxes and boxes without a CAM
    box_rows.append("img99.png,Mass,1,2,3,4,,,")
    with open(os.path.join(root, "cache", "index.csv"), "w") as f:
        f.write("\n".join(index) + "\n")
    with open(os.path.join(root, "cache", "meta.json"), "w") as f:
        json.dump({"model": "synthetic", "layer": "default", "method": "gradcam", "format": 1}, f)
    with open(os.path.join(root, "boxes.csv"), "w") as f:
        f.write("\n".join(box_rows) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        cache, boxes_file, images, thr, seed, out = sys.argv[2:8]
        with open(out, "w") as f:
            json.dump(evaluate(cache, boxes_file, images, float(thr), int(seed)), f)
