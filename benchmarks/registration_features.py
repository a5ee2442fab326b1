"""Is registration what a linear learner on voxels lacks? In the anatomical world, the same ridge
on the voxels and on the output of a registration front end that knows nothing of the generator.

The front end works on the images alone:
- a template, the mean of 1,000 training T1 volumes registered to their plain mean;
- every head registered to that template: an affine plus a smooth displacement field on a
  ``ctrl``^3 lattice, fitted by gradient descent on the mean squared difference of the
  z-scored T1 at 16^3;
- the features: the T1 and FLAIR resampled into the template's space, and the log-Jacobian
  determinant of the mapping (local volume relative to the template), each at 16^3.
This is tensor-based morphometry plus voxel-based intensities, as a neuroimaging pipeline would
compute them.

The learner is a ridge on all features, each z-scored on the training rows, with the penalty
chosen by generalised cross-validation on the training rows. Its baseline is the same ridge on
the z-scored T1 and FLAIR at 16^3. The difference's SE is a paired bootstrap over the scored
participants. Both are fitted on the engine's ``train`` split and scored on
``--split`` (``val`` while choosing, ``test`` once).

Usage::

    python benchmarks/registration_features.py --cache CACHE_DIR --split val --ctrl 8 --steps 60 --record NAME

appends a row to ``benchmarks/results/registration_features.csv``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from legibility.data.cache import Cache

RESULTS = Path(__file__).resolve().parent / "results"


def zscore_volumes(v: np.ndarray) -> np.ndarray:
    """Each volume centred and scaled by its own mean and SD."""
    m = v.reshape(len(v), -1)
    return ((m - m.mean(1, keepdims=True)) / (m.std(1, keepdims=True) + 1e-6)).reshape(v.shape)


def sampling_grid(affine: torch.Tensor, field: torch.Tensor, side: int) -> torch.Tensor:
    """Where each template voxel samples the head: affine plus the upsampled displacement field."""
    theta = torch.eye(3, 4)[None] + 0.1 * affine
    grid = F.affine_grid(theta, (len(affine), 1, side, side, side), align_corners=True)
    up = F.interpolate(field, size=(side,) * 3, mode="trilinear", align_corners=True).permute(0, 2, 3, 4, 1)
    return grid + 0.1 * up


def register(x: torch.Tensor, template: torch.Tensor, ctrl: int, steps: int, smooth: float = 0.05,
             lr: float = 0.05, batch: int = 500) -> torch.Tensor:
    """Sampling grids taking each head in ``x`` (N x 1 x S^3) onto ``template`` (1 x 1 x S^3)."""
    side, grids = x.shape[-1], []
    for s in range(0, len(x), batch):
        xb = x[s:s + batch]
        affine = torch.zeros(len(xb), 3, 4, requires_grad=True)
        field = torch.zeros(len(xb), 3, ctrl, ctrl, ctrl, requires_grad=True)
        opt = torch.optim.Adam([affine, field], lr=lr)
        for _ in range(steps):
            warped = F.grid_sample(xb, sampling_grid(affine, field, side), align_corners=True,
                                   padding_mode="border")
            rough = sum((field.diff(dim=k) ** 2).mean() for k in (2, 3, 4))
            loss = ((warped - template) ** 2).mean() + smooth * ((field ** 2).mean() + rough)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            grids.append(sampling_grid(affine, field, side))
    return torch.cat(grids)


def to_template(x: torch.Tensor, fit: np.ndarray, ctrl: int, steps: int) -> torch.Tensor:
    """Sampling grids taking every head in ``x`` (N x 1 x S^3) onto a template: the mean of the
    first 1,000 ``fit`` heads registered (40 steps) to their plain mean."""
    first = torch.tensor(fit[:1000])
    template = x[first].mean(0, keepdim=True)
    template = F.grid_sample(x[first], register(x[first], template, ctrl, 40), align_corners=True,
                             padding_mode="border").mean(0, keepdim=True)
    return register(x, template, ctrl, steps)


def log_jacobian(grid: torch.Tensor) -> torch.Tensor:
    """log det of the mapping's spatial derivatives (grid components x, y, z run along W, H, D)."""
    step = 2.0 / (grid.shape[1] - 1)
    d = [torch.gradient(grid, dim=k)[0] / step for k in (3, 2, 1)]
    return torch.log(torch.linalg.det(torch.stack(d, dim=-1)).clamp_min(1e-3))


def ridge_predict(blocks, y, fit, score) -> tuple[np.ndarray, float]:
    a = np.hstack([b[fit] for b in blocks])
    v = np.hstack([b[score] for b in blocks])
    mu, sd = a.mean(0), a.std(0) + 1e-6
    model = RidgeCV(alphas=np.logspace(0, 6, 25)).fit((a - mu) / sd, y[fit])
    return model.predict((v - mu) / sd), float(model.alpha_)


def paired_se(y, a, b, draws: int = 2000) -> float:
    """Bootstrap SE (over the scored participants) of R^2(b) - R^2(a)."""
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(draws):
        i = rng.integers(0, len(y), len(y))
        diffs.append(r2_score(y[i], b[i]) - r2_score(y[i], a[i]))
    return float(np.std(diffs))


def record_row(name: str, row: dict):
    """Print ``row`` (its machine and date added) and append it to ``results/<name>.csv``."""
    row = {**row, "machine": f"{platform.node()} {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    print(row, flush=True)
    out = RESULTS / f"{name}.csv"
    table = pd.concat([pd.read_csv(out), pd.DataFrame([row])]) if out.exists() else pd.DataFrame([row])
    table.to_csv(out, index=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="a side-32 cache folder (<data>/_cache/side32-...)")
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--target", default="age")
    ap.add_argument("--ctrl", type=int, default=8, help="displacement lattice per side")
    ap.add_argument("--steps", type=int, default=60, help="gradient steps per head")
    ap.add_argument("--record", default="", help="a name for the row")
    args = ap.parse_args()
    torch.manual_seed(0)
    cache = Cache.open(args.cache)
    split = cache.table["split"].to_numpy()
    rows = np.flatnonzero(np.isin(split, ["train", args.split]))
    fit, score = np.flatnonzero(split[rows] == "train"), np.flatnonzero(split[rows] == args.split)
    y = cache.table[args.target].to_numpy(float)[rows]
    t0 = time.perf_counter()
    t1 = zscore_volumes(np.asarray(cache.volume_array("t1")[rows], np.float32))
    flair = zscore_volumes(np.asarray(cache.volume_array("flair")[rows], np.float32))
    x = F.avg_pool3d(torch.tensor(t1)[:, None], 2)
    xf = F.avg_pool3d(torch.tensor(flair)[:, None], 2)
    grids = to_template(x, fit, args.ctrl, args.steps)
    register_s = time.perf_counter() - t0
    flat = lambda t: t.reshape(len(t), -1).numpy()  # noqa: E731
    warped = [flat(F.grid_sample(v, grids, align_corners=True, padding_mode="border")) for v in (x, xf)]
    logj = flat(log_jacobian(grids))
    voxels = [flat(x), flat(xf)]
    base_pred, base_alpha = ridge_predict(voxels, y, fit, score)
    front_pred, front_alpha = ridge_predict(warped + [logj], y, fit, score)
    base, front = r2_score(y[score], base_pred), r2_score(y[score], front_pred)
    row = {"record": args.record, "cohort": str(args.cache), "target": args.target, "split": args.split,
           "n_fit": len(fit), "n_scored": len(score), "ctrl": args.ctrl, "steps": args.steps,
           "ridge_voxels_r2": base, "ridge_registered_r2": front, "difference": front - base,
           "difference_se": paired_se(y[score], base_pred, front_pred),
           "alpha_voxels": base_alpha, "alpha_registered": front_alpha, "register_s": register_s}
    record_row("registration_features", row)


if __name__ == "__main__":
    main()
