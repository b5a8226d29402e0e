"""The audit's statistics done the pandas way, for the benchmark: read_csv x2 + merge +
per-column and pooled n, MAE, Pearson r, max |diff| and means. Prints a JSON summary."""
import json
import sys

import numpy as np
import pandas as pd


def main(baseline, new):
    b = pd.read_csv(baseline, dtype={"study_id": str})
    n = pd.read_csv(new, dtype={"study_id": str})
    m = b.merge(n, on="study_id", suffixes=("_b", "_n"))
    shared = [c for c in b.columns if c in n.columns and c != "study_id"]
    out = {"shared_ids": len(m), "columns": {}}
    xs, ys = [], []
    for c in shared:
        x = m[c + "_b"].to_numpy()
        y = m[c + "_n"].to_numpy()
        ok = ~np.isnan(x) & ~np.isnan(y)
        x, y = x[ok], y[ok]
        d = np.abs(y - x)
        out["columns"][c] = {"n": int(ok.sum()), "mae": float(d.mean()),
                             "corr": float(np.corrcoef(x, y)[0, 1]), "max_diff": float(d.max())}
        xs.append(x)
        ys.append(y)
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    d = np.abs(y - x)
    out["overall"] = {"n": int(x.size), "mae": float(d.mean()), "corr": float(np.corrcoef(x, y)[0, 1]),
                      "max_diff": float(d.max()), "mean_b": float(x.mean()), "mean_n": float(y.mean())}
    print(json.dumps(out["overall"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
