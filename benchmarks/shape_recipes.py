"""Can a deep model read shape? Recipes for age from T1 + FLAIR in the anatomical world, on
validation scores only; the test set read once, for the recipe chosen.

On the declared cohort of ``benchmarks/anatomical_bounds.py`` (5,000 participants at 32^3, the
anatomical world at shape share 1; 4,000 training, 500 validation, 500 test participants), each
recipe trains the engine's model with its ``cpu`` training rules and a network change, and the
table keeps its validation R², its linear peer's validation R² (ridge on the 16^3-pooled
voxels, penalty chosen on validation) and its minutes. ``--final NAME`` trains nothing new: it
reads the test row of the chosen recipe's finished run.

Usage::

    python benchmarks/shape_recipes.py --inpath DATA [--only NAME ...] [--work DIR]
    python benchmarks/shape_recipes.py --inpath DATA --final NAME

writes ``benchmarks/results/shape_recipes.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from unittest import mock

import pandas as pd

from legibility.config import TrainConfig
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.data.model_data import Augmenter
from legibility.train import train_model

RESULTS = Path(__file__).resolve().parent / "results"
TARGET, INPUTS = "age", ("t1", "flair")
PEER = {"linear_path": True, "linear_path_start": "peer", "linear_path_lr": 1 / 32}
RECIPES = {
    "cpu": ("the cpu preset: input pooled to 16^3, one 16-channel block, flattened; linear path from the "
            "peer's fit", {}),
    "deep32": ("full 32^3 input, blocks 8-16-32-64 (receptive field over the whole 2^3 map), flattened; "
               "linear path from the peer's fit",
               {"model": {"input_pool": 1, "cnn_channels": (8, 16, 32, 64), **PEER}}),
    "deep32_gap": ("deep32 with global average pooling instead of flatten",
                   {"model": {"input_pool": 1, "cnn_channels": (8, 16, 32, 64), "global_pool": True, **PEER}}),
    "deep32_lr1e-3": ("deep32 at a peak rate of 1e-3 (the preset's 3e-3 made the training loss spike in epoch 1)",
                      {"lr": 1e-3, "model": {"input_pool": 1, "cnn_channels": (8, 16, 32, 64), **PEER}}),
    "deep32_gap_lr1e-3": ("deep32_gap at a peak rate of 1e-3",
                          {"lr": 1e-3, "model": {"input_pool": 1, "cnn_channels": (8, 16, 32, 64),
                                                 "global_pool": True, **PEER}}),
    "deep16": ("input pooled to 16^3, blocks 16-32-64, flattened; linear path from the peer's fit",
               {"model": {"input_pool": 2, "cnn_channels": (16, 32, 64), **PEER}}),
    "deep32_affine": ("deep32 with each training head moved by a random affine (p 0.8: up to 2 voxels, 3 degrees, "
                      "3% scale), dropout 0.2 in the blocks and 0.5 before the dense layer, peak rate 1e-3",
                      {"lr": 1e-3, "augment": True,
                       "model": {"input_pool": 1, "cnn_channels": (8, 16, 32, 64), "dropout": 0.2,
                                 "head_dropout": 0.5, **PEER}}),
}
RECIPES["deep32_affine_long"] = ("deep32_affine over a three times longer schedule (run with --epochs 24)",
                                 RECIPES["deep32_affine"][1])
# Recipes whose augmentation is AffineAugmenter's instead of the engine's (the paper's, p 0.05).
AFFINE = {"deep32_affine", "deep32_affine_long"}


class AffineAugmenter:
    """Every training head, with probability ``p``, moved by a random affine: the misregistration
    and head-size nuisance of the anatomical world, so that a network learns what does not move."""

    def __init__(self, p: float = 0.8, voxels: float = 2.0, degrees: float = 3.0, scale: float = 0.03):
        import numpy as np
        from monai.transforms import RandAffine

        self.t = RandAffine(prob=p, rotate_range=(float(np.deg2rad(degrees)),) * 3, translate_range=(voxels,) * 3,
                            scale_range=(scale,) * 3, padding_mode="border")

    def __call__(self, x, rng):
        import torch

        out = x.clone()
        for i in range(x.shape[0]):
            self.t.set_random_state(int(rng.integers(2**31)))
            out[i] = torch.as_tensor(self.t(x[i]))
        return out


def run(cache, name: str, work: Path, epochs: int, patience: int) -> dict:
    fields = json.loads(json.dumps(RECIPES[name][1]))  # a copy
    cfg = TrainConfig(target=TARGET, inputs=INPUTS, preset="cpu", side=32, seed=0, progress=True,
                      epochs=epochs, patience=patience, **fields)
    t = time.perf_counter()
    folder = work / name
    augmenter = AffineAugmenter if name in AFFINE else Augmenter
    with mock.patch("legibility.data.model_data.Augmenter", augmenter):
        train_model(cache, cfg, folder, restore=True)
    progress = pd.read_csv(next(folder.glob("*/training_progress.csv")))
    return {"recipe": name, "change": RECIPES[name][0], "epochs_run": len(progress),
            "best_epoch": int(progress["val_loss"].idxmin()), "minutes": (time.perf_counter() - t) / 60,
            "seconds_per_epoch": float(progress["seconds"].iloc[-1] / len(progress))}


def scores(work: Path, name: str, mode: str) -> dict:
    row = pd.read_csv(next((work / name).glob("*/metrics.csv"))).set_index("Mode").loc[mode]
    key = mode.lower()[:4] if mode == "Test" else "val"
    return {f"{key}_r2": float(row["r2"]), f"{key}_linear_peer": float(row["linear_r2"]),
            f"{key}_ci": f"{row['ci_low']:.3f} to {row['ci_high']:.3f}"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inpath", required=True, type=Path)
    ap.add_argument("--work", default=Path("/tmp/shape_recipes"), type=Path)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--final", default=None, help="the recipe chosen on validation: read its test row")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    record = RESULTS / "shape_recipes.csv"
    table = pd.read_csv(record) if record.exists() else pd.DataFrame()
    if args.final:
        test = scores(args.work, args.final, "Test")
        table.loc[table.recipe == args.final, list(test)] = list(test.values())
    else:
        cache = build_cache(load_dataset(args.inpath), 32)
        for name in args.only or list(RECIPES):
            row = run(cache, name, args.work, args.epochs, args.patience) | scores(args.work, name, "Validation")
            print(json.dumps(row), flush=True)
            table = pd.concat([table[table.recipe != name] if len(table) else table, pd.DataFrame([row])],
                              ignore_index=True)
            table.to_csv(record, index=False)
    table.to_csv(record, index=False)
    page = RESULTS / "shape_recipes.md"
    kept = page.read_text().partition("\n## Reading")[1:] if page.exists() else ("", "")
    page.write_text(report(table) + "".join(kept))  # the written reading stays
    print(report(table))


def report(table: pd.DataFrame) -> str:
    lines = ["# Can a deep model read shape? Recipes on validation", "",
             "Age from T1 + FLAIR on the declared anatomical-world cohort of `benchmarks/anatomical_bounds.py` "
             "(4,000 training, 500 validation participants; shape share 1). Chosen on validation R²; the "
             "test columns are filled for the chosen recipe only (`--final`). `python benchmarks/shape_recipes.py`, "
             "2 CPU cores.", "",
             "| recipe | change | val R² | val linear peer | epochs (best) | min | test R² | test linear peer |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        test = (f"{r['test_r2']:.3f} | {r['test_linear_peer']:.3f}" if pd.notna(r.get("test_r2", float("nan")))
                else " | ")
        lines.append(f"| {r['recipe']} | {r['change']} | {r['val_r2']:.3f} | {r['val_linear_peer']:.3f} | "
                     f"{r['epochs_run']} ({r['best_epoch']}) | {r['minutes']:.0f} | {test} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
