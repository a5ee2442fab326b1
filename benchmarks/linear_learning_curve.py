"""How far would a linear learner on all the pooled voxels go with the paper's 19,048?

The learning curve of a ridge on the z-scored T1 and FLAIR at 16^3 (all 8,192 voxels, the
engine's linear peer's inputs), penalty by generalised cross-validation, age, on nested random
subsets of the engine's ``train`` split (250 to 4,000; three draws below 4,000), scored on the
``val`` split. A power law ``R^2(n) = a - b n^-c`` is fitted to the five points twice: free,
and with ``a`` held at or below the cohort's ceiling. Each fit is extrapolated to 19,048, and
the MAE is converted assuming Gaussian residuals.

Usage::

    python benchmarks/linear_learning_curve.py --cache CACHE_DIR --ceiling 0.861

writes ``benchmarks/results/linear_learning_curve.csv`` and ``.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.optimize import curve_fit
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from legibility.data.cache import Cache

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SIZES = (250, 500, 1000, 2000, 4000)
PAPER_TRAIN = 19_048


def power_law(n, a, b, c):
    return a - b * n ** (-c)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--ceiling", type=float, required=True, help="the cohort's age ceiling (ground_truth.csv)")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("registration_features", HERE / "registration_features.py")
    rf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rf)
    cache = Cache.open(args.cache)
    split = cache.table["split"].to_numpy()
    rows = np.flatnonzero(np.isin(split, ["train", "val"]))
    y = cache.table["age"].to_numpy(float)[rows]
    x = np.hstack([F.avg_pool3d(torch.tensor(rf.zscore_volumes(np.asarray(cache.volume_array(m)[rows], np.float32)))
                                [:, None], 2).reshape(len(rows), -1).numpy() for m in ("t1", "flair")])
    fit, score = np.flatnonzero(split[rows] == "train"), np.flatnonzero(split[rows] == "val")
    rng = np.random.default_rng(0)
    points = []
    for n in SIZES:
        for draw in range(3 if n < len(fit) else 1):
            sub = rng.choice(fit, min(n, len(fit)), replace=False)
            mu, sd = x[sub].mean(0), x[sub].std(0) + 1e-6
            model = RidgeCV(alphas=np.logspace(0, 6, 25)).fit((x[sub] - mu) / sd, y[sub])
            points.append({"n_train": n, "draw": draw,
                           "val_r2": r2_score(y[score], model.predict((x[score] - mu) / sd))})
            print(points[-1], flush=True)
    curve = pd.DataFrame(points)
    mean = curve.groupby("n_train").val_r2.mean()
    sd_age = y[fit].std()
    mae = lambda r2: float(np.sqrt(max(1 - r2, 0)) * sd_age * np.sqrt(2 / np.pi))  # noqa: E731
    fits = []
    for name, upper in (("free", np.inf), ("a <= ceiling", args.ceiling)):
        p, _ = curve_fit(power_law, mean.index.to_numpy(float), mean.to_numpy(), p0=(min(0.85, upper - 1e-3), 1, 0.5),
                         bounds=([0, 0, 0], [upper, np.inf, 5]), maxfev=20000)
        at = power_law(PAPER_TRAIN, *p)
        fits.append({"fit": name, "a": p[0], "b": p[1], "c": p[2], "r2_at_19048": at, "mae_at_19048": mae(at),
                     "mae_at_a": mae(p[0])})
    fits = pd.DataFrame(fits)
    RESULTS.mkdir(exist_ok=True)
    curve.to_csv(RESULTS / "linear_learning_curve.csv", index=False)
    lines = ["# A full-voxel linear learner's learning curve (anatomical world, age from T1 + FLAIR)", "",
             f"`python benchmarks/linear_learning_curve.py --cache {args.cache.name} --ceiling {args.ceiling}` "
             f"(validation split, {len(score)} participants; ceiling {args.ceiling:.3f}, MAE "
             f"{mae(args.ceiling):.2f} y). Points: `linear_learning_curve.csv`.", "",
             "| training participants | validation R² (mean of draws) | MAE (y) |", "|---|---|---|"]
    lines += [f"| {n:,} | {r:.3f} | {mae(r):.2f} |" for n, r in mean.items()]
    lines += ["", "| power-law fit | a (limit) | R² at 19,048 | MAE at 19,048 (y) | MAE at the limit (y) |",
              "|---|---|---|---|---|"]
    lines += [f"| {r.fit} | {r.a:.3f} | {r.r2_at_19048:.3f} | {r.mae_at_19048:.2f} | {r.mae_at_a:.2f} |"
              for r in fits.itertuples()]
    lines += ["", "## Reading", "", "(written after the run)", ""]
    out = RESULTS / "linear_learning_curve.md"
    if out.exists() and "## Reading" in out.read_text():  # keep what was written after an earlier run
        lines = lines[:-3] + ["## Reading", "", out.read_text().split("## Reading", 1)[1].strip(), ""]
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
