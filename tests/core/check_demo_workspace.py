#!/usr/bin/python3
"""Independent cross-check of a Lumen demo workspace with pandas, nibabel and pydicom.

Usage: /usr/bin/python3 check_demo_workspace.py WORKSPACE_DIR

Prints one JSON object saying what was checked; exits 0 when everything matched, 1 on any
mismatch, 2 when a required module is missing (Debian: python3-pandas, python3-nibabel,
python3-pydicom, python3-numpy; use /usr/bin/python3, not another python3 on PATH).
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    import pandas as pd
    import nibabel as nib
    import pydicom
except ImportError as e:  # never pass silently: the caller must see why
    print(json.dumps({"ok": False, "errors": [f"missing Python module {e.name!r} in {sys.executable}"]}))
    sys.exit(2)

NIH_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
              "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],")
NIH_FINDINGS = {"Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"}
CT_LABELS = ["Medical material", "Arterial wall calcification", "Cardiomegaly", "Pericardial effusion",
             "Coronary artery wall calcification", "Hiatal hernia", "Lymphadenopathy", "Emphysema", "Atelectasis",
             "Lung nodule", "Lung opacity", "Pulmonary fibrotic sequela", "Pleural effusion",
             "Mosaic attenuation pattern", "Peribronchial thickening", "Consolidation", "Bronchiectasis",
             "Interlobular septal thickening"]
SEGMENTS = ["left_main", "prox_lad", "mid_lad", "dist_lad", "D1", "D2", "lcx", "dist_lcx", "om1", "om2",
            "prox_rca", "mid_rca", "dist_rca", "pda", "posterolateral", "bx", "lvp", "lima_or_svg"]
HEADS = ["_stenosis", "_stenosis_binary", "_calcif_binary", "_cto", "_thrombus"]
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
XA_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.12.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"

errors = []


def expect(cond, message):
    if not cond:
        errors.append(message)
    return bool(cond)


def check_manifest(root):
    with open(os.path.join(root, "demo.json")) as f:
        m = json.load(f)
    expect(m.get("format") == "lumen-demo", "demo.json: format is not lumen-demo")
    wrong = [e["path"] for e in m["files"] if os.path.getsize(os.path.join(root, e["path"])) != e["size"]]
    expect(not wrong, f"demo.json: sizes differ for {wrong[:5]}")
    return {"files": len(m["files"]), "sizes_match": not wrong}


def png_header(path):
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    w, h, depth, colour = struct.unpack(">IIBB", head[16:26])
    return w, h, depth, colour


def check_chest(root):
    base = os.path.join(root, "chest_xray")
    with open(os.path.join(base, "Data_Entry_2017.csv")) as f:
        header = f.readline().rstrip("\n")
    expect(header == NIH_HEADER, f"Data_Entry_2017.csv: header is {header!r}")
    df = pd.read_csv(os.path.join(base, "Data_Entry_2017.csv"))
    expect(df.shape[1] == 12, f"Data_Entry_2017.csv: {df.shape[1]} columns, want 12 (11 + trailing empty)")
    labels = set()
    for s in df["Finding Labels"]:
        labels.update(s.split("|"))
    expect(labels <= NIH_FINDINGS | {"No Finding"}, f"unknown findings {labels - NIH_FINDINGS - {'No Finding'}}")
    pngs = {}
    for dirpath, _, names in os.walk(base):
        for n in names:
            if n.endswith(".png"):
                pngs[n] = os.path.join(dirpath, n)
    expect(set(pngs) == set(df["Image Index"]), "PNG files and Data_Entry rows differ")
    bad = [n for n, p in pngs.items() if png_header(p) is None or png_header(p)[2:] != (8, 0)]
    expect(not bad, f"not 8-bit greyscale PNGs: {bad[:5]}")
    sizes = {png_header(p)[:2] for p in pngs.values() if png_header(p)}
    train = open(os.path.join(base, "train_val_list.txt")).read().split()
    test = open(os.path.join(base, "test_list.txt")).read().split()
    patient = lambda name: name.split("_")[0]
    overlap = {patient(n) for n in train} & {patient(n) for n in test}
    expect(not overlap, f"patients in both splits: {sorted(overlap)[:5]}")
    expect(sorted(train + test) == sorted(df["Image Index"]), "splits do not cover the images exactly once")
    boxes = pd.read_csv(os.path.join(base, "boxes.csv"))
    expect(list(boxes.columns) == ["image", "finding", "x", "y", "w", "h"], "boxes.csv: wrong header")
    return {"images": len(pngs), "columns": int(df.shape[1]), "sizes": sorted(list(s) for s in sizes),
            "no_finding": int((df["Finding Labels"] == "No Finding").sum()), "findings": len(labels - {"No Finding"}),
            "train_val": len(train), "test": len(test), "boxes": len(boxes)}


def check_predictions(root):
    base = pd.read_csv(os.path.join(root, "predictions", "baseline.csv"), dtype={"study_id": str})
    new = pd.read_csv(os.path.join(root, "predictions", "new.csv"), dtype={"study_id": str})
    columns = ["study_id"] + [s + h for h in HEADS for s in SEGMENTS]
    expect(list(base.columns) == columns, "baseline.csv: columns differ from the documented order")
    expect(list(new.columns) == columns, "new.csv: columns differ from the documented order")
    ids_ok = all(len(i) == 7 and i.isdigit() for i in list(base.study_id) + list(new.study_id))
    expect(ids_ok, "study ids are not 7-digit strings")
    leading_zero = sum(i.startswith("0") for i in base.study_id)
    expect(leading_zero > 0, "no study id kept its leading zero")
    only_base = sorted(set(base.study_id) - set(new.study_id))
    only_new = sorted(set(new.study_id) - set(base.study_id))
    expect(len(only_base) == 2 and len(only_new) == 1, f"ids only in baseline {only_base}, only in new {only_new}")
    missing = (int(base.isna().sum().sum()), int(new.isna().sum().sum()))
    expect(missing[0] > 0 and missing[1] > 0, f"missing cells {missing}")
    common = base.study_id[base.study_id.isin(new.study_id)]
    expect(list(new.study_id[new.study_id.isin(base.study_id)]) != list(common), "new.csv is not shuffled")
    joined = base.merge(new, on="study_id", suffixes=("_b", "_n"))
    min_r, max_mae, failing = 1.0, 0.0, []
    for c in columns[1:]:
        pair = joined[[c + "_b", c + "_n"]].dropna()
        r = float(np.corrcoef(pair.iloc[:, 0], pair.iloc[:, 1])[0, 1])
        mae = float((pair.iloc[:, 0] - pair.iloc[:, 1]).abs().mean())
        min_r, max_mae = min(min_r, r), max(max_mae, mae)
        if not (r >= 0.999 and mae < 0.1):
            failing.append(c)
    expect(not failing, f"audit would fail for {failing[:5]}")
    stenosis = base[[s + "_stenosis" for s in SEGMENTS]].stack()
    probs = base[[s + h for h in HEADS[1:] for s in SEGMENTS]].stack()
    expect(stenosis.between(0, 100).all() and probs.between(0, 1).all(), "values out of range")
    return {"columns": int(base.shape[1]), "baseline_rows": len(base), "new_rows": len(new),
            "only_baseline": len(only_base), "only_new": len(only_new), "missing_cells": list(missing),
            "leading_zero_ids": int(leading_zero), "min_r": min_r, "max_mae": max_mae, "audit_pass": not failing,
            "ids": set(base.study_id) & set(new.study_id)}


def lesion_contrast(volume, i, j, k, radius, spacing):
    # Mean of a shell 2..4 voxels outside the lesion, in-plane voxel units (k scaled by spacing).
    ii, jj, kk = np.meshgrid(np.arange(volume.shape[0]), np.arange(volume.shape[1]), np.arange(volume.shape[2]),
                             indexing="ij")
    d = np.sqrt((ii - i) ** 2 + (jj - j) ** 2 + ((kk - k) * spacing[2] / spacing[0]) ** 2)
    shell = volume[(d >= radius + 2) & (d <= radius + 4)]
    return float(volume[i, j, k]), float(shell.mean())


def check_ct(root):
    base = os.path.join(root, "ct")
    labels = pd.read_csv(os.path.join(base, "labels.csv"))
    expect(list(labels.columns) == ["VolumeName"] + CT_LABELS, "labels.csv: columns differ from CT-RATE's 18")
    volumes = sorted(os.listdir(os.path.join(base, "volumes")))
    expect(list(labels.VolumeName) == volumes, "labels.csv rows and volume files differ")
    lesions = pd.read_csv(os.path.join(base, "lesions.csv"))
    positive = {(r.VolumeName, lab) for _, r in labels.iterrows() for lab in CT_LABELS if r[lab] == 1}
    planted = {(r.VolumeName, r.label) for _, r in lesions.iterrows()}
    expect(planted <= positive, f"lesions without a positive label: {sorted(planted - positive)[:3]}")
    expect(positive <= planted, f"positive labels without a lesion: {sorted(positive - planted)[:3]}")

    img = nib.load(os.path.join(base, "volumes", volumes[0]))
    data = np.asarray(img.dataobj).astype(np.float64) * (img.dataobj.slope or 1) + (img.dataobj.inter or 0)
    zooms = [float(z) for z in img.header.get_zooms()]
    expect(img.shape == (64, 64, 48), f"NIfTI shape {img.shape}")
    expect(np.allclose(zooms, [1.5, 1.5, 2.5]), f"NIfTI zooms {zooms}")
    expect(img.get_data_dtype() == np.int16, f"NIfTI dtype {img.get_data_dtype()}")
    axcodes = "".join(nib.aff2axcodes(img.affine))
    qcode, scode = int(img.header["qform_code"]), int(img.header["sform_code"])
    expect(axcodes == "RAS" and qcode > 0 and scode > 0, f"NIfTI orientation {axcodes}, qform {qcode}, sform {scode}")
    expect(np.allclose(img.get_qform(), img.get_sform()), "NIfTI qform and sform differ")
    hu = (float(data.min()), float(data.max()))
    expect(hu[0] >= -1024 and hu[1] <= 3071, f"HU range {hu}")
    air, lung, bone = float(data[0, 0, 0]), float((data < -700).mean()), float((data > 500).mean())
    expect(air < -900 and lung > 0.03 and bone > 0.001, f"implausible tissues: corner {air}, lung {lung}, bone {bone}")

    nodule = lesions[lesions.label == "Lung nodule"].iloc[0]
    vol = nib.load(os.path.join(base, "volumes", nodule.VolumeName))
    centre, around = lesion_contrast(np.asarray(vol.dataobj).astype(np.float64), int(nodule.i), int(nodule.j),
                                     int(nodule.k), float(nodule.radius_vox), zooms)
    expect(centre > around + 300, f"nodule in {nodule.VolumeName} not brighter: {centre} vs {around}")
    return {"volumes": len(volumes), "shape": list(img.shape), "zooms": zooms, "axcodes": axcodes,
            "hu_range": list(hu), "lesions": len(lesions), "labels_with_lesions": int(lesions.label.nunique()),
            "nodule": {"volume": nodule.VolumeName, "centre_hu": centre, "surrounding_hu": around}}, img, data


def check_ct_dicom(root, nifti, nifti_hu):
    folder = os.path.join(root, "ct", "dicom", "ct_0001")
    slices = [pydicom.dcmread(os.path.join(folder, n)) for n in sorted(os.listdir(folder))]
    slices.sort(key=lambda d: int(d.InstanceNumber))
    expect(len(slices) == nifti.shape[2], f"{len(slices)} DICOM slices for {nifti.shape[2]} NIfTI slices")
    expect(all(d.SOPClassUID == CT_IMAGE_STORAGE for d in slices), "not CT Image Storage")
    expect(all(d.file_meta.TransferSyntaxUID == EXPLICIT_LE for d in slices), "not explicit VR little endian")
    expect(len({d.StudyInstanceUID for d in slices}) == 1 and len({d.SeriesInstanceUID for d in slices}) == 1,
           "series split over several Study/Series UIDs")
    expect(len({d.SOPInstanceUID for d in slices}) == len(slices), "duplicate SOPInstanceUIDs")
    z = [float(d.ImagePositionPatient[2]) for d in slices]
    increasing = all(b > a for a, b in zip(z, z[1:]))
    expect(increasing, "ImagePositionPatient z not increasing with InstanceNumber")
    inverse = np.linalg.inv(nifti.affine)
    mismatched, off_grid = 0, 0
    for d in slices:
        hu = d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept)
        row_dir = np.array([float(v) for v in d.ImageOrientationPatient[:3]])
        col_dir = np.array([float(v) for v in d.ImageOrientationPatient[3:]])
        row_spacing, col_spacing = (float(v) for v in d.PixelSpacing)
        r, c = np.meshgrid(np.arange(d.Rows), np.arange(d.Columns), indexing="ij")
        lps = (np.array([float(v) for v in d.ImagePositionPatient])[None, None, :] +
               c[..., None] * col_spacing * row_dir + r[..., None] * row_spacing * col_dir)
        ras = lps * np.array([-1.0, -1.0, 1.0])
        ijk = np.einsum("ab,rcb->rca", inverse[:3, :3], ras) + inverse[:3, 3]
        idx = np.rint(ijk).astype(int)
        off_grid += int((np.abs(ijk - idx) > 1e-3).any())
        mismatched += int((nifti_hu[idx[..., 0], idx[..., 1], idx[..., 2]] != hu).sum())
    expect(off_grid == 0, f"{off_grid} slices do not fall on the NIfTI grid")
    expect(mismatched == 0, f"{mismatched} DICOM voxels differ from the NIfTI in HU")
    first = slices[0]
    return {"slices": len(slices), "z_increasing": increasing, "mismatched_voxels": mismatched,
            "rescale": [float(first.RescaleSlope), float(first.RescaleIntercept)],
            "window": [float(first.WindowCenter), float(first.WindowWidth)], "pixel_spacing": [float(v) for v in first.PixelSpacing]}


def check_angio(root, prediction_ids):
    studies = pd.read_csv(os.path.join(root, "angio", "studies.csv"), dtype={"study_id": str})
    expect(list(studies.columns) == ["study_id", "view", "path", "frames"], "studies.csv: wrong header")
    counts = studies.groupby("study_id").size()
    expect(counts.between(2, 4).all(), "not 2-4 views per study")
    expect(set(studies.study_id) <= prediction_ids, "angio studies missing from the predictions tables")
    shapes, moving = set(), 0
    for _, row in studies.iterrows():
        d = pydicom.dcmread(os.path.join(root, row.path))
        pa = d.pixel_array
        shapes.add(pa.shape)
        ok = (d.SOPClassUID == XA_IMAGE_STORAGE and int(d.NumberOfFrames) == 16 and d.Rows == 128 and d.Columns == 128
              and pa.shape == (16, 128, 128) and abs(float(d.FrameTime) - 66.7) < 1e-6 and int(row.frames) == 16
              and d.PhotometricInterpretation == "MONOCHROME2" and d.BitsAllocated == 8)
        expect(ok, f"{row.path}: not a 16-frame 128x128 8-bit XA cine")
        moving += int(np.abs(pa[0].astype(int) - pa[8].astype(int)).mean() > 1.0)
        expect(pa.min() < np.median(pa) - 60, f"{row.path}: no dark vessels")
        # Odd views show the left coronary tree, even ones the right, as the description says.
        side = "Left" if int(row["view"]) % 2 else "Right"
        expect(str(d.SeriesDescription).startswith(side), f"{row.path}: series description {d.SeriesDescription}")
    expect(moving == len(studies), "some cines do not move")
    labels = check_angio_labels(root, studies)
    return {"cines": len(studies), "studies": int(counts.size), "shapes": [list(s) for s in shapes],
            "number_of_frames": 16 if shapes == {(16, 128, 128)} else None, **labels}


def check_angio_labels(root, studies):
    """manifest.csv (the angio_multiview task's input) against findings.csv (what was planted)."""
    m = pd.read_csv(os.path.join(root, "angio", "manifest.csv"), dtype={"study_id": str, "patient_id": str})
    f = pd.read_csv(os.path.join(root, "angio", "findings.csv"), dtype={"study_id": str})
    heads = ["stenosis", "stenosis_binary", "calcif_binary", "cto", "thrombus"]
    expect(len(m) == len(studies), "manifest.csv: not one row per cine")
    expect(list(m.columns[:5]) == ["study_id", "patient_id", "path", "view", "split"], "manifest.csv: wrong header")
    expect(len(m.columns) == 5 + 90, "manifest.csv: not 90 label columns")
    expect(set(m.split) <= {"train", "val", "test"}, "manifest.csv: unknown split")
    expect(m["lima_or_svg_stenosis"].isna().all(), "the graft is labelled although no study has one")
    per_study = m.groupby("study_id").first()
    planted = {}
    for _, r in f.iterrows():
        planted[(r.study_id, r.segment)] = r
    mismatches = 0
    for sid, row in per_study.iterrows():
        for col in m.columns[5:]:
            seg, head = next((col[: -len(h) - 1], h) for h in sorted(heads, key=len, reverse=True) if col.endswith("_" + h))
            if seg == "lima_or_svg":
                continue
            p = planted.get((sid, seg))
            sten = 0.0 if p is None else float(p.stenosis)
            want = {"stenosis": sten, "stenosis_binary": float(sten >= 70),
                    "calcif_binary": 0.0 if p is None else float(p.calcified),
                    "cto": 0.0 if p is None else float(p.cto), "thrombus": 0.0 if p is None else float(p.thrombus)}[head]
            mismatches += int(row[col] != want)
    expect(mismatches == 0, f"{mismatches} manifest labels disagree with findings.csv")
    binary = per_study[[c for c in m.columns if c.endswith("_stenosis_binary")]]
    return {"labelled_studies": int(len(per_study)), "severe_narrowings": int(np.nansum(binary.values)),
            "label_mismatches": mismatches}


def main():
    if len(sys.argv) != 2:
        print(json.dumps({"ok": False, "errors": ["usage: check_demo_workspace.py WORKSPACE_DIR"]}))
        return 1
    root = sys.argv[1]
    report = {}
    sections = [("manifest", lambda: check_manifest(root)), ("chest", lambda: check_chest(root))]
    for name, fn in sections:
        try:
            report[name] = fn()
        except Exception as e:  # a crash in one section is a mismatch, not a traceback
            errors.append(f"{name}: {type(e).__name__}: {e}")
    ids = set()
    try:
        report["predictions"] = check_predictions(root)
        ids = report["predictions"].pop("ids")
    except Exception as e:
        errors.append(f"predictions: {type(e).__name__}: {e}")
    try:
        report["ct"], nifti, hu = check_ct(root)
        report["ct_dicom"] = check_ct_dicom(root, nifti, hu)
    except Exception as e:
        errors.append(f"ct: {type(e).__name__}: {e}")
    try:
        report["angio"] = check_angio(root, ids)
    except Exception as e:
        errors.append(f"angio: {type(e).__name__}: {e}")
    report["ok"] = not errors
    report["errors"] = errors
    print(json.dumps(report, indent=1))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
