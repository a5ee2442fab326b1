"""The linear asymptote against the shape share: the dial of the anatomical world, measured.

For the linear world and the anatomical world at several shape shares, one image sample of the
same participants (:func:`legibility.cohort.asymptote.image_sample`, 32^3, 96 regions) and the
linear asymptote of age, weight and sex from T1 + FLAIR, from DWI and from both, beside the
ground-truth ceiling. Age's scores are also given as the mean absolute error they correspond to
for Gaussian residuals (``sd * sqrt(1 - R^2) * sqrt(2 / pi)``), the unit of the brain-age
literature, to calibrate the default shape share. Writes ``benchmarks/results/linear_asymptote.md``
and ``.csv``.

Usage::

    python benchmarks/linear_asymptote.py [--n 4000] [--worlds linear:0 anatomical:0.75 anatomical:1]
        [--samples DIR]   # keep the image samples there (pickles) and reuse them
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd

from legibility.cohort import anatomy, asymptote
from legibility.cohort.ground_truth import cached_ceilings
from legibility.study import parse_inputs_label, target

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = ("Age", "Weight", "Sex (Male)")
INPUTS = ("FLAIR + T1", "DWI", "DWI + FLAIR + T1")


def _mae(sd: float, r2: float) -> float:
    """Mean absolute error of Gaussian residuals for a target of SD ``sd`` predicted at ``r2``."""
    return float(sd * np.sqrt(1 - r2) * np.sqrt(2 / np.pi))


def measure(n: int, worlds: list[str], samples: Path | None) -> pd.DataFrame:
    gt = cached_ceilings()
    pairs = [(target(t), parse_inputs_label(i)) for t in TARGETS for i in INPUTS]
    ceil = gt.set_index(["Target", "Inputs"])
    rows = []
    for spec in worlds:
        kind, share = spec.split(":")
        world = anatomy.World(kind, float(share), **(anatomy.V1_ANATOMY if kind == "anatomical" else {}))
        pkl = samples / f"sample_{kind}_{share}_{n}.pkl" if samples else None
        t0 = time.perf_counter()
        if pkl is not None and pkl.exists():
            sample = pickle.loads(pkl.read_bytes())
        else:
            sample = asymptote.image_sample(n, 32, world, workers=2, progress=True)
            if pkl is not None:
                pkl.parent.mkdir(parents=True, exist_ok=True)
                pkl.write_bytes(pickle.dumps(sample))
        t1 = time.perf_counter()
        table = asymptote.linear_asymptotes(sample, pairs, gt)
        age_sd = float(sample["values"]["age"].std())
        for r in table.itertuples():
            tgt = target(r.Target)
            metric = "Balanced accuracy" if tgt.is_binary else "r2"
            c = float(ceil.loc[(r.Target, r.Inputs), metric])
            row = {"world": kind, "shape_share": float(share), "n": n, "Target": r.Target, "Inputs": r.Inputs,
                   "metric": metric, "ceiling": c, "linear_asymptote": r.linear_asymptote,
                   "linear_asymptote_se": r.linear_asymptote_se, "gap": c - r.linear_asymptote,
                   "minutes_sample": (t1 - t0) / 60, "minutes_fit": (time.perf_counter() - t1) / 60}
            if r.Target == "Age":
                row |= {"ceiling_mae_y": _mae(age_sd, c), "asymptote_mae_y": _mae(age_sd, r.linear_asymptote)}
            rows.append(row)
    return pd.DataFrame(rows)


def report(df: pd.DataFrame) -> str:
    lines = ["# The linear asymptote against the shape share", "",
             f"Image samples of {df.n.iloc[0]:,} participants at 32^3 (96 regions, the same participants "
             "in every world), `python benchmarks/linear_asymptote.py`. The linear asymptote is what a "
             "linear learner on the z-scored, 16^3-pooled voxels (200 principal components per imaging "
             "group) reaches with unlimited data (`legibility.cohort.asymptote`); the ceiling is what "
             "the images carry. R² for age and weight, balanced accuracy for sex; SE from the bootstrap "
             "of the held-out half. Age's MAE assumes Gaussian residuals.", "",
             "| world | shape share | target | inputs | ceiling | linear asymptote (SE) | gap "
             "| age MAE: ceiling / asymptote (y) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        mae = f"{r.ceiling_mae_y:.2f} / {r.asymptote_mae_y:.2f}" if r.Target == "Age" else ""
        lines.append(f"| {r.world} | {r.shape_share:g} | {r.Target} | {r.Inputs} | {r.ceiling:.3f} | "
                     f"{r.linear_asymptote:.3f} ({r.linear_asymptote_se:.3f}) | {r.gap:.3f} | {mae} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--worlds", nargs="+", default=["linear:0", "anatomical:0.75", "anatomical:1"])
    p.add_argument("--samples", type=Path, default=None)
    args = p.parse_args()
    df = measure(args.n, args.worlds, args.samples)
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "linear_asymptote.csv", index=False)
    (RESULTS / "linear_asymptote.md").write_text(report(df))
    print(report(df))


if __name__ == "__main__":
    main()
