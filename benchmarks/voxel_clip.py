"""Clip each voxel to its training range before standardising it, or not? Chosen on validation.

Age from T1 + FLAIR with the ``cpu`` preset on the declared anatomical-world cohort of
``benchmarks/anatomical_bounds.py`` (4,000 training and 500 validation participants at 32^3),
trained twice with the same seed: with the engine's voxel standardiser as it is (each voxel
clipped to the range it had in the training set, then centred and scaled), and with the clip
taken out. Each arm's validation R², its linear peer's (which reads the same standardised
voxels), and the model's largest validation errors are recorded; the test rows the engine
writes are not read here.

Usage::

    python benchmarks/voxel_clip.py --inpath DATA [--work DIR]

writes ``benchmarks/results/voxel_clip.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from legibility.config import TrainConfig
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.predict import predict
from legibility.train import train_model
from legibility.transforms import VoxelStandardiser

RESULTS = Path(__file__).resolve().parent / "results"
_fit = VoxelStandardiser.fit


def _fit_without_clip(self, arrays, index, chunk: int = 64):
    _fit(self, arrays, index, chunk)
    self.lo = self.hi = None
    return self


def arm(cache, clip: bool, work: Path) -> dict:
    cfg = TrainConfig(target="age", inputs=("t1", "flair"), preset="cpu", side=32, seed=0, epochs=12, patience=6)
    folder = work / ("clip" if clip else "no_clip")
    t = time.perf_counter()
    with mock.patch.object(VoxelStandardiser, "fit", _fit if clip else _fit_without_clip):
        train_model(cache, cfg, folder, restore=True)
    minutes = (time.perf_counter() - t) / 60
    model_dir = next(p.parent for p in folder.glob("*/metrics.csv"))
    val = pd.read_csv(model_dir / "metrics.csv").set_index("Mode").loc["Validation"]
    table = predict(model_dir, cache)
    table = table[table["model_split"] == "val"]
    err = np.sort(np.abs(table["age_predicted"] - table["age_true"]).to_numpy())[::-1]
    return {"arm": "clip to the training range" if clip else "no clip", "val_r2": float(val["r2"]),
            "val_r2_check": r2_score(table["age_true"], table["age_predicted"]),
            "val_linear_peer": float(val["linear_r2"]), "val_mae": float(val["MAE"]), "n_val": len(table),
            "largest_errors": " ".join(f"{e:.1f}" for e in err[:3]),
            "predicted_range": f"{table['age_predicted'].min():.1f} to {table['age_predicted'].max():.1f}",
            "minutes": minutes}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inpath", required=True, type=Path)
    ap.add_argument("--work", default=Path("/tmp/voxel_clip"), type=Path)
    args = ap.parse_args()
    cache = build_cache(load_dataset(args.inpath), 32)
    table = pd.DataFrame([arm(cache, clip, args.work) for clip in (True, False)])
    table.to_csv(RESULTS / "voxel_clip.csv", index=False)
    lines = ["# Clipping each voxel to its training range: validation", "",
             "Age from T1 + FLAIR, `cpu` preset, seed 0, on the declared anatomical-world cohort of "
             "`benchmarks/anatomical_bounds.py` (4,000 training, 500 validation participants, 32^3). "
             "`python benchmarks/voxel_clip.py`, 2 CPU cores. Validation scores only.", "",
             "| arm | val R² | val linear peer R² | val MAE (y) | largest 3 errors (y) | predicted range (y) | min |",
             "|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['arm']} | {r['val_r2']:.3f} | {r['val_linear_peer']:.3f} | {r['val_mae']:.2f} | "
                     f"{r['largest_errors']} | {r['predicted_range']} | {r['minutes']:.0f} |")
    (RESULTS / "voxel_clip.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
