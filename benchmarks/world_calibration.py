"""Calibrating the anatomical world: how far a ridge on the voxels gets with the paper's 19,048.

For each size of the individual anatomy (``World.anatomy_mm``; shape share 1), an image sample
of 9,000 participants from the generator at 32^3 (no files; the same participants and
observations in every world), each volume z-scored in its brain and pooled to 16^3 as the
engine's linear peer sees it. A ridge on all T1 + FLAIR voxels (penalty by generalised
cross-validation) learns age from nested subsets of the first 8,000 (500 to 8,000) and is
scored on the last 1,000. A power law ``R^2(n) = a - b n^-c`` is fitted to the points, free and
with ``a`` at or below the age ceiling, and read at 19,048; R^2 becomes MAE through the age SD,
assuming Gaussian residuals. The ceiling is the same in every world (the images carry the
same information); the target is the literature's linear brain-age error on UK Biobank
(3.0-3.5 y) with the ceiling at the best deep models' (~2.1 y).

Usage::

    python benchmarks/world_calibration.py [--worlds 3:plain 6 8] [--n 9000]

writes ``benchmarks/results/world_calibration.csv`` (the points) and ``world_calibration_fits.csv``
(the extrapolations); ``world_calibration.md`` reads them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from legibility.cohort import anatomy
from legibility.cohort.asymptote import image_sample

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (500, 1000, 2000, 4000, 8000)
SCORED = 1000
PAPER_TRAIN = 19_048
AGE_CEILING = 0.861  # ground_truth.csv, age from T1 + FLAIR without metadata (every world)


def power_law(n, a, b, c):
    return a - b * n ** (-c)


def parse_world(text: str) -> anatomy.World:
    mm, _, kind = text.partition(":")
    return anatomy.World("anatomical", 1.0, float(mm), kind != "plain")


def curve(world: anatomy.World, n: int, cache: Path) -> pd.DataFrame:
    path = cache / f"world_calibration_{world.anatomy_mm:g}_{int(world.diffeomorphic)}_{n}.npz"
    if not path.exists():
        t0 = time.perf_counter()
        s = image_sample(n=n, side=32, world=world, seed=1908, progress=True)
        np.savez(path, t1=s["t1"], flair=s["flair"], age=s["values"]["age"].to_numpy(float),
                 seconds=time.perf_counter() - t0)
    d = np.load(path)
    x, y = np.hstack([d["t1"], d["flair"]]), d["age"]
    xs, ys = x[-SCORED:], y[-SCORED:]
    rows = []
    for size in (s for s in SIZES if s <= n - SCORED):
        t0 = time.perf_counter()
        model = RidgeCV(alphas=np.logspace(0, 6, 25)).fit(x[:size], y[:size])
        pred = model.predict(xs)
        rows.append({"anatomy_mm": world.anatomy_mm, "diffeomorphic": world.diffeomorphic, "n_train": size,
                     "r2": r2_score(ys, pred), "mae": float(np.abs(ys - pred).mean()), "alpha": model.alpha_,
                     "fit_s": time.perf_counter() - t0, "age_sd": float(y.std())})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def extrapolate(points: pd.DataFrame) -> dict:
    n, r2 = points.n_train.to_numpy(float), points.r2.to_numpy()
    sd = float(points.age_sd.iloc[0])
    mae = lambda r: sd * np.sqrt(max(1 - r, 0)) * np.sqrt(2 / np.pi)  # noqa: E731
    out = {}
    for name, upper in (("free", 1.0), ("bounded", AGE_CEILING)):
        p, _ = curve_fit(power_law, n, r2, p0=(min(r2[-1] + 0.05, upper - 1e-3), 5.0, 0.5),
                         bounds=([0, 0, 0.05], [upper, 1e4, 3]), maxfev=20000)
        out[f"{name}_limit"] = p[0]
        out[f"{name}_r2_at_{PAPER_TRAIN}"] = power_law(PAPER_TRAIN, *p)
        out[f"{name}_mae_at_{PAPER_TRAIN}"] = mae(power_law(PAPER_TRAIN, *p))
    out["ceiling_mae"] = mae(AGE_CEILING)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", nargs="+", default=["3:plain", "6", "8"],
                    help="anatomy sizes in mm; ':plain' for a plain displacement (suite v1's world)")
    ap.add_argument("--n", type=int, default=9000)
    ap.add_argument("--cache", type=Path, default=Path("/tmp"))
    args = ap.parse_args()
    points = pd.concat([curve(parse_world(w), args.n, args.cache) for w in args.worlds])
    points.to_csv(RESULTS / "world_calibration.csv", index=False)
    fits = [{"anatomy_mm": mm, "diffeomorphic": dif, **extrapolate(g)}
            for (mm, dif), g in points.groupby(["anatomy_mm", "diffeomorphic"], sort=False)]
    pd.DataFrame(fits).to_csv(RESULTS / "world_calibration_fits.csv", index=False)
    print(pd.DataFrame(fits).round(3).to_string())


if __name__ == "__main__":
    main()
