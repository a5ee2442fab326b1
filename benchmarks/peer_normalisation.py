"""How much of a linear learner's score the volume normalisation decides, in one cohort.

Three readings of the same cached T1 + FLAIR volumes (a side-32 cache, each volume as the
engine stores it: z-scored on the whole volume, then rescaled to [-1, 1] by its own minimum and
maximum, the paper's normalisation), each pooled to 16^3:

- ``cache``: the volumes as stored (what the engine's linear peer and networks read);
- ``volume z``: each volume z-scored again on all its voxels (undoes the min-max rescaling);
- ``brain z``: each volume z-scored within its brain only (the voxels above the background),
  as the cohort's linear asymptote and ``world_calibration.py`` read the generator's images.

Two ridges on each: one on the pooled voxels standardised across the training rows, its
penalty from ``legibility.linear.RIDGE_ALPHAS`` chosen on the validation split (the engine's
choice of penalty), and one on the pooled voxels as they are, its penalty chosen by generalised
cross-validation on the training rows alone. Beside them, the engine's own linear peer
(:func:`legibility.peers.linear_peers`: each voxel standardised across the training rows at
32^3, then pooled, then standardised again). All are scored on the validation split, so the
cohort's test set is not read. Age; every training row.

Usage::

    python benchmarks/peer_normalisation.py --cache CACHE_DIR --record NAME

writes its rows to ``benchmarks/results/peer_normalisation.csv`` (replacing an earlier record of
the same name).
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import r2_score

from legibility.data.cache import Cache
from legibility.linear import RIDGE_ALPHAS
from legibility.peers import linear_peers
from legibility.study import resolve_inputs

RESULTS = Path(__file__).resolve().parent / "results"


def pool16(v: np.ndarray) -> np.ndarray:
    """``n x 32^3`` volumes mean-pooled to ``n x 16^3``, flat."""
    n, s = len(v), v.shape[-1]
    return v.reshape(n, s // 2, 2, s // 2, 2, s // 2, 2).mean(axis=(2, 4, 6)).reshape(n, -1)


def readings(v: np.ndarray) -> dict[str, np.ndarray]:
    """The three normalisations of volumes ``v`` (as cached), each pooled to 16^3."""
    flat = v.reshape(len(v), -1).astype(np.float64)
    vol_z = (flat - flat.mean(1, keepdims=True)) / (flat.std(1, keepdims=True) + 1e-6)
    brain = flat > flat.min(1, keepdims=True) + 1e-3  # the background is each volume's minimum
    count = brain.sum(1, keepdims=True)
    mean = np.where(brain, flat, 0).sum(1, keepdims=True) / count
    sd = np.sqrt(np.where(brain, (flat - mean) ** 2, 0).sum(1, keepdims=True) / count)
    brain_z = np.where(brain, (flat - mean) / (sd + 1e-6), 0.0)
    return {name: pool16(x.reshape(v.shape).astype(np.float32))
            for name, x in (("cache", flat), ("volume z", vol_z), ("brain z", brain_z))}


def standardised_ridge(x_tr, y_tr, x_va, y_va) -> tuple[float, float]:
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    return max((r2_score(y_va, Ridge(alpha=a).fit((x_tr - mu) / sd, y_tr).predict((x_va - mu) / sd)), a)
               for a in RIDGE_ALPHAS)


def ridge_gcv(x_tr, y_tr, x_va, y_va) -> tuple[float, float]:
    model = RidgeCV(alphas=np.logspace(-1, 6, 29)).fit(x_tr, y_tr)
    return r2_score(y_va, model.predict(x_va)), float(model.alpha_)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="a side-32 cache folder (<data>/_cache/side32-...)")
    ap.add_argument("--target", default="age")
    ap.add_argument("--record", default="")
    args = ap.parse_args()
    cache = Cache.open(args.cache)
    split = cache.table["split"].to_numpy()
    rows = {s: np.flatnonzero(split == s) for s in ("train", "val")}
    y = cache.table[args.target].to_numpy(float)
    feats = {}
    for modality in ("t1", "flair"):
        v = np.asarray(cache.volume_array(modality), np.float32)
        for name, x in readings(v).items():
            feats.setdefault(name, []).append(x)
    base = {"record": args.record, "cohort": str(args.cache), "target": args.target,
            "n_train": len(rows["train"]), "n_val": len(rows["val"]), "date": datetime.date.today().isoformat()}
    t0 = time.perf_counter()
    peer = linear_peers(cache, [resolve_inputs(args.target, ("t1", "flair"))])
    peer = peer[peer.Mode == "Validation"].iloc[0]
    out = [{**base, "reading": "engine", "learner": "the engine's linear peer", "val_r2": peer.r2,
            "alpha": peer.penalty, "seconds": time.perf_counter() - t0}]
    for name, parts in feats.items():
        x = np.hstack(parts)
        for learner, fit in (("ridge, voxels standardised, penalty on validation", standardised_ridge),
                             ("ridge, penalty by GCV on training", ridge_gcv)):
            t0 = time.perf_counter()
            r2, alpha = fit(x[rows["train"]], y[rows["train"]], x[rows["val"]], y[rows["val"]])
            out.append({**base, "reading": name, "learner": learner, "val_r2": r2, "alpha": alpha,
                        "seconds": time.perf_counter() - t0})
            print(out[-1], flush=True)
    path = RESULTS / "peer_normalisation.csv"
    table = pd.DataFrame(out)
    if path.exists():
        table = pd.concat([pd.read_csv(path).query("record != @args.record"), table])
    table.to_csv(path, index=False)


if __name__ == "__main__":
    main()
