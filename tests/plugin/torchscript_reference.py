"""Reference for tests/plugin/test_torchscript_task.cpp (Debian's torch 1.13 + torchvision,
scikit-learn).

usage: torchscript_reference.py DIR
Writes what a user brings: torchvision models scripted with random weights (resnet18 with 4
outputs, the 3-D r3d_18 with 3), inputs as .npy arrays (the torchscript task feeds arrays to the
model as they are), a manifest with labels, and what Python computes on the same files with
torch.jit.load: sigmoid / softmax / mixed activations, and scikit-learn's AUROC per label.
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision.models as tvm
from sklearn.metrics import roc_auc_score

torch.manual_seed(7)
torch.set_num_threads(1)
d = sys.argv[1]
os.makedirs(os.path.join(d, "arrays"), exist_ok=True)
os.makedirs(os.path.join(d, "volumes"), exist_ok=True)

torch.jit.save(torch.jit.script(tvm.resnet18(num_classes=4).eval()), os.path.join(d, "resnet18.pt"))
torch.jit.save(torch.jit.script(tvm.video.r3d_18(num_classes=3).eval()), os.path.join(d, "r3d_18.pt"))

labels = ["A", "B", "C", "D"]
rows = []
x = torch.randn(10, 3, 32, 32)
for i in range(10):
    np.save(os.path.join(d, "arrays", "img%02d.npy" % i), x[i].numpy())
    positives = [l for k, l in enumerate(labels) if (i + k) % 3 == 0]
    rows.append(("img%02d" % i, "p%d" % (i // 2), "arrays/img%02d.npy" % i, "|".join(positives)))
with open(os.path.join(d, "manifest.csv"), "w") as f:
    f.write("id,patient_id,path,labels,split\n")
    for r in rows:
        f.write("%s,%s,%s,%s,test\n" % r)

m = torch.jit.load(os.path.join(d, "resnet18.pt"))
with torch.no_grad():
    logits = m(x).double()
sig = torch.sigmoid(logits)
mixed = logits.clone()  # identity, sigmoid, softmax over the last two
mixed[:, 1] = torch.sigmoid(logits[:, 1])
mixed[:, 2:] = torch.softmax(logits[:, 2:], dim=1)
np.savetxt(os.path.join(d, "ref_sigmoid.csv"), sig.numpy(), delimiter=",")
np.savetxt(os.path.join(d, "ref_mixed.csv"), mixed.numpy(), delimiter=",")
truth = np.array([[1.0 if l in r[3].split("|") else 0.0 for l in labels] for r in rows])
auroc = {l: roc_auc_score(truth[:, k], sig[:, k].numpy()) for k, l in enumerate(labels)}
json.dump({"auroc": auroc, "macro": float(np.mean(list(auroc.values())))}, open(os.path.join(d, "ref_auroc.json"), "w"))

v = torch.randn(3, 3, 4, 32, 32)
for i in range(3):
    np.save(os.path.join(d, "volumes", "vol%d.npy" % i), v[i].numpy())
m3 = torch.jit.load(os.path.join(d, "r3d_18.pt"))
with torch.no_grad():
    soft = torch.softmax(m3(v).double(), dim=1)
np.savetxt(os.path.join(d, "ref_volumes.csv"), soft.numpy(), delimiter=",")
print("ok")
