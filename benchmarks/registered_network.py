"""The `cpu` preset's network behind the registration front end of ``registration_features.py``.

The front end, fitted on the images alone (template from 1,000 training T1 volumes; every head
registered to it by an affine plus an 8^3 displacement field, 60 steps at 16^3), writes a copy
of a side-32 cache:
- the T1 and FLAIR resampled into template space at 32^3;
- the log-Jacobian map of the mapping in the third channel, where DWI would be.

Then the engine trains age from those three channels with the `cpu` preset, the main job's
epochs and patience. Its own linear peer is then a ridge on the registered inputs. The
comparison that matters is with the engine's peer on the raw T1 + FLAIR, read from a
``--raw_metrics`` table (a metrics.csv of a model trained on the raw cohort) or, without one,
fitted here (:func:`legibility.peers.linear_peers`, the same scores).

With ``--n_train N``, everything learns from ``N`` training participants only: the nested
subset of ``legibility scaling`` (seed ``--subset_seed``), so the run is a point on that study's
curves. The registration network is trained on those heads alone, the network gets the scaling
study's budget at that size (``epochs_for``, its patience), and both peers fit on the same rows.

Usage::

    python benchmarks/registered_network.py --cache CACHE_DIR --work DIR --mode Validation|Test \
        [--raw_metrics RAW/metrics.csv] --record NAME

appends a row to ``benchmarks/results/registered_network.csv``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from legibility.config import TrainConfig
from legibility.data.cache import Cache
from legibility.scaling import ScalingConfig, epochs_for, nested_subsets, subset_cache
from legibility.train import train_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learned_registration as lr  # noqa: E402
import registration_features as rf  # noqa: E402


def registered_cache(src: Path, dst: Path, front: str = "optimised", ctrl: int = 8, steps: int = 60,
                     epochs: int = 15, fit: np.ndarray | None = None) -> Cache:
    """A copy of the cache at ``src`` with registered T1/FLAIR and the log-Jacobian as DWI.
    ``front``: ``optimised`` (each head registered by gradient descent, ``registration_features``)
    or ``learned`` (a network trained to register the training heads, ``learned_registration``;
    the epoch kept by the validation heads' registration loss, no labels). ``fit``: the training
    rows the front end learns from (default: all)."""
    if (dst / "complete.json").exists():
        return Cache.open(dst)
    torch.manual_seed(0)
    cache = Cache.open(src)
    split = cache.table["split"].to_numpy()
    fit = np.flatnonzero(split == "train") if fit is None else fit
    t1 = rf.zscore_volumes(np.asarray(cache.volume_array("t1"), np.float32))
    flair = rf.zscore_volumes(np.asarray(cache.volume_array("flair"), np.float32))
    x = F.avg_pool3d(torch.tensor(t1)[:, None], 2)
    if front == "learned":
        net, template, _ = lr.train_registration(x, fit, np.flatnonzero(split == "val"), epochs)
        grids = lr.grids_of(net, x, template)
    else:
        grids = rf.to_template(x, fit, ctrl, steps)
    side = t1.shape[-1]
    fine = F.interpolate(grids.permute(0, 4, 1, 2, 3), size=(side,) * 3, mode="trilinear",
                         align_corners=True).permute(0, 2, 3, 4, 1)
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(src / "participants.csv", tmp / "participants.csv")
    (tmp / "connectivity.npy").symlink_to((src / "connectivity.npy").resolve())
    for name, vol in (("t1", t1), ("flair", flair)):
        out = np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=np.float16, shape=vol.shape)
        for s in range(0, len(vol), 500):
            out[s:s + 500] = F.grid_sample(torch.tensor(vol[s:s + 500])[:, None], fine[s:s + 500],
                                           align_corners=True, padding_mode="border")[:, 0].numpy()
        out.flush()
    logj = F.interpolate(rf.log_jacobian(grids)[:, None], size=(side,) * 3, mode="trilinear", align_corners=True)
    np.save(tmp / "dwi.npy", logj[:, 0].numpy().astype(np.float16))
    shutil.copy(src / "complete.json", tmp / "complete.json")  # last: the copy is whole
    tmp.rename(dst)
    return Cache.open(dst)


def raw_peer(cache: Cache, metrics: Path | None, mode: str) -> pd.Series:
    """The engine's linear peer of age from the raw T1 + FLAIR on split ``mode``: ``linear_r2`` of
    a trained model's ``metrics`` table, or fitted on ``cache`` when there is none."""
    if metrics is not None:
        raw = pd.read_csv(metrics)
        return raw[raw.Mode == mode].iloc[0]
    from legibility.peers import linear_peers
    from legibility.study import resolve_inputs

    peer = linear_peers(cache, [resolve_inputs("age", ("t1", "flair"))])
    return peer[peer.Mode == mode].iloc[0].rename({"r2": "linear_r2"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="the raw cohort's side-32 cache folder")
    ap.add_argument("--work", type=Path, required=True, help="for the registered cache and the model")
    ap.add_argument("--mode", choices=("Validation", "Test"), default="Validation")
    ap.add_argument("--raw_metrics", type=Path, default=None,
                    help="metrics.csv of a model of age <- T1 + FLAIR trained on the raw cohort: its linear_r2 is the "
                         "engine's linear peer on the raw images (default: that peer fitted here)")
    ap.add_argument("--front", choices=("optimised", "learned"), default="optimised",
                    help="the registration: per head by gradient descent, or by a network trained to register")
    ap.add_argument("--epochs", type=int, default=15, help="--front learned: the registration network's epochs")
    ap.add_argument("--n_train", type=int, default=None,
                    help="learn from this many training participants only (legibility scaling's nested subset)")
    ap.add_argument("--subset_seed", type=int, default=0, help="--n_train: the scaling study's seed of the subset")
    ap.add_argument("--record", default="")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.perf_counter()
    raw_cache = Cache.open(args.cache)
    cfg = TrainConfig(target="age", inputs=("t1", "flair", "dwi"), preset="cpu", side=32, seed=0, progress=False)
    rows = None
    if args.n_train is not None:
        train_rows = np.flatnonzero(raw_cache.table["split"].to_numpy() == "train")
        rows = nested_subsets(train_rows, [args.n_train], args.subset_seed)[args.n_train]
        budget = ScalingConfig()
        cfg = replace(cfg, epochs=epochs_for(args.n_train, budget), patience=budget.patience)
        raw_cache = subset_cache(raw_cache, rows)
    cache = registered_cache(args.cache, args.work / "registered_cache", args.front, epochs=args.epochs, fit=rows)
    if rows is not None:
        cache = subset_cache(cache, rows)
    front_s = time.perf_counter() - t0
    train_model(cache, cfg, args.work / "models", restore=True)
    metrics = pd.read_csv(next((args.work / "models").rglob("metrics.csv")))
    mine = metrics[metrics.Mode == args.mode].iloc[0]
    raw = raw_peer(raw_cache, args.raw_metrics, args.mode)
    row = {"record": args.record, "cohort": str(args.cache), "front": args.front, "mode": args.mode,
           "n_train": int((cache.table["split"] == "train").sum()), "n": int(mine.n),
           "network_registered_r2": mine.r2, "ci_low": mine.ci_low, "ci_high": mine.ci_high,
           "peer_registered_r2": mine.linear_r2, "peer_raw_r2": raw.linear_r2,
           "network_minus_raw_peer": mine.r2 - raw.linear_r2, "front_end_s": front_s,
           "total_min": (time.perf_counter() - t0) / 60}
    rf.record_row("registered_network", row)


if __name__ == "__main__":
    main()
