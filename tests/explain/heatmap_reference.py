"""Reference for tests/explain/test_heatmap.cpp (Debian's numpy + torch 1.13).

usage: heatmap_reference.py DIR
Reads DIR/up_in_*.npy (written by Lumen's npyBytes) with numpy, resamples each with
torch.nn.functional.interpolate(align_corners=False) to the shape named in the file name
(up_in_<name>__<d>x<h>x<w>.npy), and writes DIR/up_out_<name>.npy. Also writes numpy's own
files of several dtypes (np_<dtype>.npy, holding arange(24) reshaped to 2x3x4) and a
version-2 header file, for the reader test.
"""
import glob
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

d = sys.argv[1]
for path in sorted(glob.glob(os.path.join(d, "up_in_*.npy"))):
    base = os.path.basename(path)[len("up_in_"):-len(".npy")]
    name, target = base.split("__")
    size = tuple(int(s) for s in target.split("x"))
    a = np.load(path)
    assert a.dtype == np.float32, a.dtype
    t = torch.from_numpy(a)[None, None]
    mode = "bilinear" if a.ndim == 2 else "trilinear"
    out = F.interpolate(t.double(), size=size, mode=mode, align_corners=False)[0, 0].numpy()
    np.save(os.path.join(d, "up_out_" + name + ".npy"), out.astype(np.float64))
    # float32 as torch computes it on float tensors, for the record
    out32 = F.interpolate(t, size=size, mode=mode, align_corners=False)[0, 0].numpy()
    np.save(os.path.join(d, "up_out32_" + name + ".npy"), out32)

ref = np.arange(24).reshape(2, 3, 4)
for dt in ["<f4", "<f8", "<f2", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<i8", "<u8"]:
    np.save(os.path.join(d, "np_" + dt[1:] + ".npy"), (ref - (12 if dt[1] == "i" else 0)).astype(dt))
np.save(os.path.join(d, "np_b1.npy"), (ref % 3 == 0))
np.save(os.path.join(d, "np_scalar.npy"), np.float32(2.5))
np.save(os.path.join(d, "np_fortran.npy"), np.asfortranarray(ref.astype(np.float32)))
np.save(os.path.join(d, "np_big.npy"), ref.astype(">f4"))
with open(os.path.join(d, "np_v2.npy"), "wb") as f:
    np.lib.format.write_array(f, ref.astype(np.float32), version=(2, 0))
# Round trip the other way: numpy reads Lumen's npyBytes file written by the test.
lumen = np.load(os.path.join(d, "lumen_written.npy"))
assert lumen.dtype == np.float32 and lumen.shape == (3, 5, 7), (lumen.dtype, lumen.shape)
assert np.array_equal(lumen.ravel(), np.arange(105, dtype=np.float32) * 0.25 - 3), lumen
print("ok")
