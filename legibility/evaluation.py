"""Reading results beside the truth: a model's test score, its linear peer and its ceiling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from legibility import paths
from legibility.study import target

__all__ = ["ceiling_for", "main_metric"]


def main_metric(target_display: str) -> str:
    """``Balanced accuracy`` for binary targets, ``r2`` for continuous ones."""
    return "Balanced accuracy" if target(target_display).is_binary else "r2"


def ceiling_for(data_path, row: dict) -> pd.DataFrame:
    """One small table: the model's test score, its linear peer's, and the ground-truth ceiling
    of the same (target, input set) where the data are a synthetic cohort."""
    metric = main_metric(row["Target"])
    linear = row["linear_balanced_accuracy"] if metric == "Balanced accuracy" else row["linear_r2"]
    out = {"target": row["Target"], "inputs": row["Inputs"], "metric": metric,
           "deep model": row[metric], "95% CI": f"{row['ci_low']:.3f} to {row['ci_high']:.3f}",
           "linear peer": linear, "ceiling": float("nan")}
    gt = Path(data_path) / paths.GROUND_TRUTH
    if gt.exists():
        g = pd.read_csv(gt)
        hit = g[(g.Target == row["Target"]) & (g.Inputs == row["Inputs"])]
        if len(hit):
            out["ceiling"] = float(hit[metric].iloc[0])
    return pd.DataFrame([out])
